import LOACLCore
import LOACLMessages
import LOACLTestKeys
import Testing

@Suite("Independent calls run in parallel")
struct ConcurrencyTests {
    /// N concurrent calls to one service hold N pool connections at once: while a superuser
    /// transaction locks the threads table, N ListThreads calls must all be waiting inside
    /// PostgreSQL together (nothing in the services serialises them).
    @Test func concurrentCallsUseSeparateConnections() async throws {
        try await withHarness { h in
            let assistant = try await h.createAssistant(Caller.newTenant())
            let (guest, _) = try await h.startGuest(assistant.id)
            _ = try await h.createThread(guest)
            let cluster = h.cluster, database = h.databaseName
            let locker = try await onOwnThread {
                let locker = try cluster.superuserConnection(database)
                try locker.exec("BEGIN; LOCK TABLE loacl.threads IN ACCESS EXCLUSIVE MODE")
                return locker
            }
            defer { locker.close() }
            let n = 5
            let calls = (0..<n).map { _ in
                Task { () throws -> Int in
                    let response: Loacl_V1_ListThreadsResponse = try await h.call(TS.listThreads, Loacl_V1_ListThreadsRequest(), as: guest)
                    return response.threads.count
                }
            }
            var waiting = 0
            for _ in 0..<250 {
                waiting = Int(try await h.superuser("""
                    SELECT count(*) FROM pg_stat_activity
                    WHERE datname = current_database() AND usename = 'loacl_app' AND wait_event_type = 'Lock'
                    """).scalar ?? "0") ?? 0
                if waiting == n { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(waiting == n)
            try await onOwnThread { try locker.exec("COMMIT") }
            for call in calls { #expect(try await call.value == 1) }
        }
    }

    /// The per-guest daily quota holds under concurrency: sends from several sessions of one
    /// fingerprint take turns, so exactly `limit` of them get through, whatever the timing.
    @Test func guestQuotaHoldsForConcurrentSendsFromSeveralSessions() async throws {
        try await withHarness { h in
            let limit = 3
            let assistant = try await h.createAssistant(Caller.newTenant()) {
                $0.configuration.messagesPerGuestPerDay = UInt32(limit)
                $0.configuration.followUpCount = request { $0.value = 0 }
            }
            let fingerprint = "shared-device-" + String(Int.random(in: 0..<1_000_000))
            // A thread takes one run at a time, so each send has a thread of its own.
            var targets: [(Caller, String)] = []
            for _ in 0..<3 {
                let (guest, _) = try await h.startGuest(assistant.id, fingerprint: fingerprint)
                for _ in 0..<3 { targets.append((guest, try await h.createThread(guest).id)) }
            }
            let outcomes = await withTaskGroup(of: Result<Void, any Error>.self) { group in
                for (guest, thread) in targets {
                    for n in 0..<1 {
                        group.addTask {
                            do {
                                _ = try await h.send(guest, thread: thread, "message \(n)")
                                return .success(())
                            } catch { return .failure(error) }
                        }
                    }
                }
                var all: [Result<Void, any Error>] = []
                for await outcome in group { all.append(outcome) }
                return all
            }
            let succeeded = outcomes.filter { if case .success = $0 { true } else { false } }.count
            let exhausted = outcomes.filter {
                if case .failure(let error as RPCError) = $0 { error.code == .resourceExhausted } else { false }
            }.count
            #expect(succeeded == limit)
            #expect(exhausted == outcomes.count - limit)
            let stored = try await h.superuser("""
                SELECT count(*) FROM loacl.messages m JOIN loacl.threads t ON t.id = m.thread_id
                JOIN loacl.sessions s ON s.id = t.session_id WHERE s.fingerprint = $1 AND m.role = 'user'
                """, [fingerprint]).scalar
            #expect(stored == String(limit))
        }
    }
}
