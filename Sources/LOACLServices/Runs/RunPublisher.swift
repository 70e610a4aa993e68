import LOACLMessages
import LOACLPostgres
import Logging
import Synchronization

/// Sends live events of followed runs to other servers as `NOTIFY` payloads.
///
/// One round trip at a time for the whole server, at most one per `interval`: the first event
/// after a quiet spell leaves at once; events that arrive while a round trip is on its way or
/// within `interval` of the last one wait and go together in the next (every run's, as one
/// pipeline of `pg_notify` calls in one transaction, committed asynchronously: no WAL flush to
/// wait for). So a followed run costs at most one transaction per `interval` however quick its
/// stream, and every followed run of the server shares it; a remote follower gets a delta at most `interval` (plus a round trip) later. An
/// event too large for a payload is announced (`RunNotification.tooLarge`) and read from
/// PostgreSQL once persisted.
final class RunPublisher: Sendable {
    typealias Event = Loacl_V1_SendMessageEvent

    private let pool: PostgresPool
    private let interval: Duration
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        /// Channel → events waiting, in order, and the order channels first appeared in.
        var pending: [String: [Event]] = [:]
        var order: [String] = []
        var sending = false
    }

    init(pool: PostgresPool, interval: Duration, logger: Logger) {
        self.pool = pool
        self.interval = interval
        self.logger = logger
    }

    func publish(_ channel: String, _ events: [Event]) {
        guard !events.isEmpty else { return }
        let start = state.withLock { state -> Bool in
            if state.pending[channel] == nil { state.order.append(channel) }
            state.pending[channel, default: []].append(contentsOf: events)
            defer { state.sending = true }
            return !state.sending
        }
        if start { Task { await self.send() } }
    }

    private func send() async {
        var lastSent: ContinuousClock.Instant?
        while true {
            if let lastSent {
                // Whatever arrives meanwhile goes together; nothing arrived: the sender stops.
                try? await Task.sleep(until: lastSent + interval, clock: .continuous)
            }
            let batch = state.withLock { state -> [(String, [Event])] in
                let batch = state.order.map { ($0, state.pending[$0] ?? []) }
                state.pending.removeAll()
                state.order.removeAll()
                if batch.isEmpty { state.sending = false }
                return batch
            }
            if batch.isEmpty { return }
            lastSent = .now
            var statements: [PostgresStatement] = []
            for (channel, events) in batch {
                for notification in Self.notifications(events) {
                    statements.append(PostgresStatement("SELECT pg_catalog.pg_notify($1, $2)", [channel, notification.payload]))
                }
            }
            // One transaction (one xid, one commit, not one per payload), committed without
            // waiting for its WAL to reach the disk: a notification matters only live, and a
            // crash losing one costs followers nothing they cannot read from `run_events`.
            statements.insert(contentsOf: [PostgresStatement("BEGIN", prepare: false),
                                           PostgresStatement("SET LOCAL synchronous_commit TO off", prepare: false)], at: 0)
            statements.append(PostgresStatement("COMMIT", prepare: false))
            do {
                _ = try await pool.withConnection { [statements] connection in try connection.pipeline(statements) }
            } catch {
                // Followers notice the gap and read the events once persisted.
                logger.notice("could not publish run events", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Events packed into as few payloads as fit.
    static func notifications(_ events: [Event]) -> [RunNotification] {
        var notifications: [RunNotification] = []
        var bytes: [UInt8] = []
        for event in events {
            var one: [UInt8] = []
            RunEventCodec.append(event, to: &one)
            if one.count > RunNotification.maxBatchBytes {
                if !bytes.isEmpty { notifications.append(.events(bytes)); bytes = [] }
                notifications.append(.tooLarge(event.sequenceNumber))
                continue
            }
            if bytes.count + one.count > RunNotification.maxBatchBytes {
                notifications.append(.events(bytes))
                bytes = []
            }
            bytes += one
        }
        if !bytes.isEmpty { notifications.append(.events(bytes)) }
        return notifications
    }
}
