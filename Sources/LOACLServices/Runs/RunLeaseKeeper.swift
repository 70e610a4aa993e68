import Foundation
import LOACLCore
import LOACLMessages
import LOACLPostgres
import LOACLUpstream
import Logging
import ServiceLifecycle

/// Keeps runs from outliving their server, as a ServiceLifecycle service:
/// - renews the leases of this server's runs every third of the lease;
/// - takes over runs whose lease expired (their server was killed, crashed or cut off) and ends
///   them `incomplete` (reason `server_lost`), storing the text their server had persisted;
/// - at graceful shutdown lets runs finish within the drain grace, then stops the rest
///   (`incomplete`, reason `shutdown`, stored).
public struct RunLeaseKeeper: Service, CustomStringConvertible {
    let engine: RunEngine
    let database: Database
    let logger: Logger

    public init(engine: RunEngine, database: Database, logger: Logger = Logger(label: "loacl.runs.leases")) {
        self.engine = engine
        self.database = database
        self.logger = logger
    }

    public var description: String { "RunLeaseKeeper" }

    public func run() async throws {
        engine.startListening()
        await cancelWhenGracefulShutdown {
            let lease = engine.configuration.lease
            let renewEvery = lease / 3
            var sinceSweep = Duration.zero
            while !Task.isCancelled {
                do {
                    if !engine.activeRunIDs.isEmpty { try await renew() }
                    if sinceSweep >= lease / 2 {
                        sinceSweep = .zero
                        try await sweep()
                    }
                } catch {
                    logger.warning("run lease work failed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: renewEvery)
                sinceSweep += renewEvery
            }
        }
        await engine.drain()
    }

    /// Extends this server's leases and stops runs with a cancel request whose notification
    /// was lost (one round trip).
    func renew() async throws {
        let server = engine.instance
        let lease = Self.interval(engine.configuration.lease)
        let cancelled = try await database.transaction(as: .anonymous) { connection in
            try connection.commit(after: [
                PostgresStatement("SELECT loacl.renew_run_leases($1, $2::interval)", [server, lease]),
                PostgresStatement("SELECT id FROM loacl.cancel_requested_runs($1) AS c(id)", [server]),
            ])[1].namedRows.map { $0.string("id") }
        }
        for id in cancelled { engine.localRun(id)?.requestStop(.cancelled) }
    }

    /// Ends every run whose lease expired; returns how many.
    @discardableResult
    public func sweep() async throws -> Int {
        let server = engine.instance
        let lease = Self.interval(engine.configuration.lease)
        var ended = 0
        while true {
            let lost = try await database.transaction(as: .anonymous) { connection in
                try connection.commit(after: [PostgresStatement(
                    "SELECT * FROM loacl.claim_lost_runs($1, $2::interval, 16)", [server, lease])])[0].namedRows
            }
            for row in lost {
                await endLost(row)
                ended += 1
            }
            if lost.count < 16 { return ended }
        }
    }

    /// Ends one claimed run as its own session: the persisted text becomes the stored reply.
    private func endLost(_ row: PostgresRow) async {
        let runID = row.string("run_id")
        let threadID = row.string("thread_id")
        let provider = row.string("provider")
        let settings: IdentitySettings? = switch row["session_type"] {
        case "guest": row["fingerprint"].map { IdentitySettings(fingerprint: $0) }
        case "authenticated": row["user_id"].map { IdentitySettings(userID: $0) }
        default: nil
        }
        do {
            guard let settings, try await endLost(runID: runID, threadID: threadID, provider: provider, settings: settings) else {
                // Nobody can see it any more (an expired guest session): end the bookkeeping only.
                let server = engine.instance
                try await database.transaction(as: .anonymous) { connection in
                    _ = try connection.commit(after: [PostgresStatement("SELECT loacl.abandon_run($1, $2, 'server_lost')", [runID, server])])
                }
                return
            }
            logger.notice("ended a run whose server was lost", metadata: ["run": "\(runID)"])
        } catch {
            logger.warning("could not end a lost run", metadata: ["run": "\(runID)", "error": "\(error)"])
        }
    }

    private func endLost(runID: String, threadID: String, provider: String, settings: IdentitySettings) async throws -> Bool {
        try await database.transaction(settings: settings) { connection in
            let read = try connection.pipeline([
                RunStore.select(runID),
                PostgresStatement("""
                    SELECT COALESCE(string_agg(e.text, '' ORDER BY e.first_seq), '') AS text, COALESCE(max(e.last_seq), 0) AS last
                    FROM loacl.run_events e WHERE e.run_id = $1
                    """, [runID]),
            ])
            guard let runRow = read[0].namedRows.first, let stored = read[1].namedRows.first else { return false }
            var run = RunStore.run(runRow)
            let text = stored.string("text")
            var sequence = UInt64(clamping: stored.int64OrZero("last"))
            var events: [Loacl_V1_SendMessageEvent] = []
            if !text.isEmpty {
                let info: [String: Any] = ["incomplete": true, "incomplete_reason": "server_lost", "provider": provider, "run_id": runID]
                let metadata = JSONText.object(info)
                let message = MessageRows.message(try connection.execParams("""
                    WITH m AS (
                        INSERT INTO loacl.messages AS m (thread_id, role, content, tokens_used, metadata)
                        VALUES ($1, 'assistant', $2, $3, $4::jsonb) RETURNING *
                    ), r AS (UPDATE loacl.runs SET reply_message_id = (SELECT id FROM m) WHERE id = $5)
                    SELECT \(MessageRows.insertedColumns) FROM m
                    """, [threadID, text, String(TokenEstimator.estimate(text)), metadata, runID]).one("message"))
                run.replyMessageID = message.id
                sequence += 1
                var event = Loacl_V1_SendMessageEvent()
                event.assistantMessage = message
                event.runID = runID
                event.sequenceNumber = sequence
                events.append(event)
            }
            sequence += 1
            run.status = .incomplete
            run.incompleteReason = "server_lost"
            run.endedAtMs = Int64(Date().timeIntervalSince1970 * 1000)
            run.lastSequence = sequence
            var final = Loacl_V1_SendMessageEvent()
            final.run = run
            final.runID = runID
            final.sequenceNumber = sequence
            events.append(final)
            _ = try connection.commit(after: RunStore.persist(events, runID: runID, threadID: threadID) + [RunStore.finish(run)])
            return true
        }
    }

    /// A Duration as a PostgreSQL interval literal.
    static func interval(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return "\(seconds).\(String(format: "%03d", attoseconds / 1_000_000_000_000_000)) seconds"
    }
}
