import Foundation
import LOACLClient
import LOACLMessages
import LOACLPostgres
@testable import LOACLServices
import LOACLTestKeys
import Testing

/// Not a test: the data-services benchmark, run by bench/data-services.sh (LOACL_BENCH=1).
/// Prints figures; asserts nothing about speed.
@Suite("Data services benchmark", .enabled(if: ProcessInfo.processInfo.environment["LOACL_BENCH"] == "1"))
struct DataServicesBenchmark {
    static let concurrency = 8
    static let duration: Duration = .seconds(5)

    @Test func storedMessagesPerSecondAndListLatency() async throws {
        let h = try await Harness.start(poolSize: Self.concurrency, logLevel: .info)
        do {
            try await run(h)
        } catch {
            await h.stop()
            throw error
        }
        await h.stop()
    }

    func run(_ h: Harness) async throws {
        let assistant = try await h.createAssistant(Caller.newTenant()) { $0.configuration.followUpCount = request { $0.value = 0 } }
        var sessions: [(Caller, String)] = []
        for _ in 0..<Self.concurrency {
            let (guest, _) = try await h.startGuest(assistant.id)
            sessions.append((guest, try await h.createThread(guest).id))
        }
        // 1. SendMessage through the RPC path: user message + reply stored per call (RLS, triggers).
        //    Meanwhile the pool's busy connections are sampled: independent calls must use
        //    separate connections at once (nothing in the services serialises them).
        let clock = ContinuousClock()
        let sampler = Task {
            var busy: [Int] = []
            while !Task.isCancelled {
                let statistics = h.pool.statistics
                busy.append(statistics.open - statistics.idle)
                try? await Task.sleep(for: .milliseconds(1))
            }
            return busy
        }
        let rpcCalls = try await withThrowingTaskGroup(of: Int.self) { group in
            let end = clock.now + Self.duration
            for (guest, thread) in sessions {
                group.addTask {
                    var n = 0
                    while clock.now < end {
                        _ = try await h.send(guest, thread: thread, "benchmark message \(n)")
                        n += 1
                    }
                    return n
                }
            }
            return try await group.reduce(0, +)
        }
        let rpcRate = Double(rpcCalls * 2) / Double(Self.duration.components.seconds)
        sampler.cancel()
        let busy = await sampler.value
        let busyMean = Double(busy.reduce(0, +)) / Double(max(busy.count, 1))

        // 2. The same INSERTs straight through libpq as loacl_app, identity set per transaction:
        //    (a) both messages in one transaction; (b) exactly SendMessage's writes: the user
        //    message with its `messages` usage row and a COMMIT, then the reply and a COMMIT.
        let conninfo = h.cluster.conninfo(database: h.databaseName, user: "loacl_app")
        let guestFingerprints = try await h.superuser("SELECT t.id, s.fingerprint, s.id, t.assistant_id FROM loacl.threads t JOIN loacl.sessions s ON s.id = t.session_id").namedRows
        let identity = "SELECT set_config('loacl.fingerprint', $1, true), set_config('loacl.session_id', $2, true)"
        let insert = "INSERT INTO loacl.messages (thread_id, role, content, tokens_used) VALUES ($1, $2, $3, $4::int)"
        var rawLoopsRunning = 0
        func measureRaw(_ turn: @escaping @Sendable (PostgresConnection, _ thread: String, _ fingerprint: String, _ session: String,
                                                  _ assistant: String, _ n: Int) throws -> Void) async throws -> Double {
            // One OS thread per connection: the loops block in libpq, and on the cooperative
            // pool (one thread per core) only two of the eight would run at a time.
            let end = clock.now + Self.duration
            let counts = try await withThrowingTaskGroup(of: Int.self) { group in
                for row in guestFingerprints.prefix(Self.concurrency) {
                    let thread = row[0]!, fingerprint = row[1]!, session = row[2]!, assistant = row[3]!
                    group.addTask {
                        try await onOwnThread {
                            let connection = try PostgresConnection.connect(conninfo)
                            defer { connection.close() }
                            var n = 0
                            while clock.now < end {
                                try turn(connection, thread, fingerprint, session, assistant, n)
                                n += 2
                            }
                            return n
                        }
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            let stored = counts.reduce(0, +)
            rawLoopsRunning = counts.filter { $0 > 0 }.count
            return Double(stored) / Double(Self.duration.components.seconds)
        }
        // Each transaction in one round trip (libpq pipeline: BEGIN, identity, INSERTs, COMMIT),
        // as SendMessage sends its statements: the raw side at its fastest.
        @Sendable func transaction(_ c: PostgresConnection, _ fingerprint: String, _ session: String, _ inserts: [PostgresStatement]) throws {
            try c.pipeline([PostgresStatement("BEGIN", prepare: false), PostgresStatement(identity, [fingerprint, session])]
                           + inserts + [PostgresStatement("COMMIT", prepare: false)])
        }
        let rawRate = try await measureRaw { c, thread, fingerprint, session, _, n in
            try transaction(c, fingerprint, session, [
                PostgresStatement(insert, [thread, "user", "raw message \(n)", "5"]),
                PostgresStatement(insert, [thread, "assistant", "raw reply \(n)", "7"]),
            ])
        }
        let sameWritesRate = try await measureRaw { c, thread, fingerprint, session, assistant, n in
            try transaction(c, fingerprint, session, [PostgresStatement("""
                WITH usage AS (
                    INSERT INTO loacl.usage_metrics (assistant_id, session_id, thread_id, metric_type, metric_value)
                    VALUES ($5, $6, $1, 'messages', 1)
                )
                INSERT INTO loacl.messages (thread_id, role, content, tokens_used) VALUES ($1, $2, $3, $4::int)
                """, [thread, "user", "raw message \(n)", "5", assistant, session])])
            try transaction(c, fingerprint, session, [PostgresStatement(insert, [thread, "assistant", "raw reply \(n)", "7"])])
        }

        print("""
            BENCH concurrency=\(Self.concurrency) duration=\(Self.duration)
            BENCH stored messages/s via SendMessage RPC: \(Int(rpcRate))
            BENCH stored messages/s via raw libpq INSERTs: \(Int(rawRate))
            BENCH RPC/raw: \(String(format: "%.0f%%", 100 * rpcRate / max(rawRate, 1)))
            BENCH stored messages/s via raw libpq, SendMessage's own writes (user message + usage row, COMMIT; reply, COMMIT): \(Int(sameWritesRate))
            BENCH RPC/raw with SendMessage's own writes: \(String(format: "%.0f%%", 100 * rpcRate / max(sameWritesRate, 1)))
            BENCH raw loops that stored messages: \(rawLoopsRunning) of \(Self.concurrency)
            BENCH pool connections busy during SendMessage: max \(busy.max() ?? 0) of \(Self.concurrency), mean \(String(format: "%.1f", busyMean)) (\(busy.count) samples)
            """)
        // LOACL_BENCH_WRITES_ONLY=1: stop here (the list phase loads a million rows first).
        if ProcessInfo.processInfo.environment["LOACL_BENCH_WRITES_ONLY"] == "1" { return }

        // 3. p99 of ListMessages on a 10,000-message thread and of ListThreads with 1,000,000
        //    messages in the database.
        let (guest, thread) = sessions[0]
        try await h.superuser("""
            INSERT INTO loacl.messages (thread_id, role, content, created_at)
            SELECT $1, 'user', 'filler ' || i, now() - (i || ' seconds')::interval FROM generate_series(1, 10000) i
            """, [thread])
        // Statistics as autovacuum would have them a minute later (a freshly bulk-loaded table
        // otherwise looks empty to the planner).
        try await h.superuser("ANALYZE loacl.messages")
        let listMessages = try await latencies(200) {
            let _: Loacl_V1_ListMessagesResponse = try await h.call(MS.listMessages, request(Loacl_V1_ListMessagesRequest.self) { $0.threadID = thread }, as: guest)
        }
        let other = try await h.startGuest(assistant.id)
        for _ in 0..<20 { _ = try await h.createThread(other.0) }
        try await h.superuser("""
            INSERT INTO loacl.messages (thread_id, role, content)
            SELECT t.id, 'user', 'bulk' FROM loacl.threads t, generate_series(1, 40000) i
            WHERE t.session_id <> (SELECT session_id FROM loacl.threads WHERE id = $1) LIMIT 990000
            """, [thread])
        try await h.superuser("ANALYZE loacl.messages")
        let total = try await h.superuser("SELECT count(*) FROM loacl.messages").scalar ?? "?"
        let listThreads = try await latencies(200) {
            let _: Loacl_V1_ListThreadsResponse = try await h.call(TS.listThreads, Loacl_V1_ListThreadsRequest(), as: other.0)
        }
        if ProcessInfo.processInfo.environment["LOACL_BENCH_EXPLAIN"] == "1" {
            try await explain(conninfo, h, thread: thread, other: other.1.id)
        }
        print("""
            BENCH ListMessages (10,000-message thread, page 50): p50 \(ms(listMessages, 0.5)) ms, p99 \(ms(listMessages, 0.99)) ms
            BENCH ListThreads (\(total) messages in the database): p50 \(ms(listThreads, 0.5)) ms, p99 \(ms(listThreads, 0.99)) ms
            """)
    }

    /// EXPLAIN ANALYZE of the two list queries exactly as the services run them: prepared on the
    /// connection (with the pool's session settings) and executed 8 times as `loacl_app` with the caller's identity set (past the
    /// point where PostgreSQL may switch to a generic plan), then explained; printed as
    /// `BENCH-PLAN` lines with the statement's generic/custom plan counts.
    func explain(_ conninfo: String, _ h: Harness, thread: String, other session: String) async throws {
        let connection = try PostgresConnection.connect(conninfo)
        defer { connection.close() }
        try connection.pipeline(Database.sessionSetup) // as the server's pool connections
        let owner = try await h.superuser("SELECT s.fingerprint, s.id, s.assistant_id FROM loacl.sessions s JOIN loacl.threads t ON t.session_id = s.id WHERE t.id = $1", [thread]).namedRows[0]
        let listed = try await h.superuser("SELECT fingerprint, id, assistant_id FROM loacl.sessions WHERE id = $1::uuid", [session]).namedRows[0]
        let queries: [(String, String, [String?], [String?])] = [
            ("ListMessages", MessageService.listPageSQL, [thread, nil, nil, "51"], [owner[0], owner[1]]),
            ("ListThreads", ThreadService.listPageSQL, [listed[2], "{active,archived}", nil, nil, "51"], [listed[0], listed[1]]),
        ]
        for (name, sql, parameters, identity) in queries {
            try connection.transaction { c in
                try c.execParams("SELECT set_config('loacl.fingerprint', $1, true), set_config('loacl.session_id', $2, true)", identity)
                for _ in 0..<8 { try c.execParams(sql, parameters) }
                let statement = try c.execParams("SELECT name, generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1", [sql])[0]
                print("BENCH-PLAN \(name): \(statement.string("name")) generic_plans=\(statement.string("generic_plans")) custom_plans=\(statement.string("custom_plans"))")
                let arguments = parameters.map { $0.map { "'\($0)'" } ?? "NULL" }.joined(separator: ", ")
                for row in try c.exec("EXPLAIN ANALYZE EXECUTE \(statement.string("name"))(\(arguments))").rows {
                    print("BENCH-PLAN \(row[0] ?? "")")
                }
            }
        }
    }

    func latencies(_ count: Int, _ body: () async throws -> Void) async throws -> [Duration] {
        let clock = ContinuousClock()
        for _ in 0..<10 { try await body() }
        var samples: [Duration] = []
        for _ in 0..<count { samples.append(try await clock.measure { try await body() }) }
        return samples.sorted()
    }

    func ms(_ sorted: [Duration], _ quantile: Double) -> String {
        let d = sorted[min(sorted.count - 1, Int(Double(sorted.count) * quantile))]
        return String(format: "%.2f", Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000)
    }
}
