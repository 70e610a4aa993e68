import LOACLMessages
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
            let locker = try h.cluster.superuserConnection(h.databaseName)
            defer { locker.close() }
            try locker.exec("BEGIN; LOCK TABLE loacl.threads IN ACCESS EXCLUSIVE MODE")
            let n = 5
            let calls = (0..<n).map { _ in
                Task { () throws -> Int in
                    let response: Loacl_V1_ListThreadsResponse = try await h.call(TS.listThreads, Loacl_V1_ListThreadsRequest(), as: guest)
                    return response.threads.count
                }
            }
            var waiting = 0
            for _ in 0..<250 {
                waiting = Int(try h.superuser("""
                    SELECT count(*) FROM pg_stat_activity
                    WHERE datname = current_database() AND usename = 'loacl_app' AND wait_event_type = 'Lock'
                    """).scalar ?? "0") ?? 0
                if waiting == n { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(waiting == n)
            try locker.exec("COMMIT")
            for call in calls { #expect(try await call.value == 1) }
        }
    }
}
