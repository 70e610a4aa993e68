import LOACLPostgres
import LOACLTestKeys
import Testing

@Suite("Async connection pool")
struct PostgresPoolTests {
    let database: TestDatabase

    init() async throws {
        database = try await offCooperativePool { try TestDatabase() }
    }

    func makePool(max: Int, timeout: Duration = .seconds(10)) -> PostgresPool {
        PostgresPool(configuration: .init(
            conninfo: database.conninfo(user: "loacl_owner"), maxConnections: max, acquireTimeout: timeout))
    }

    /// Polls until `condition` holds (bounded; no assertion on how long it took).
    func eventually(_ condition: () throws -> Bool) async throws {
        for _ in 0..<500 {
            if try condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("condition not reached")
    }

    @Test func neverOpensMoreThanMaxConnections() async throws {
        // What is checked is the bound, not the wait: in the whole parallel suite on two cores
        // each hand-off of a connection to the next of the 12 callers waits behind hundreds of
        // other tests' tasks, and 10 s (the default acquire timeout) ran out there.
        let pool = makePool(max: 2, timeout: .seconds(120))
        let pids = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<12 {
                group.addTask {
                    try await pool.withConnection { connection in
                        try connection.value("SELECT pg_backend_pid() FROM pg_sleep(0.01)") ?? ""
                    }
                }
            }
            var pids: Set<String> = []
            for try await pid in group { pids.insert(pid) }
            return pids
        }
        #expect(pids.count <= 2)
        #expect(pool.statistics.open <= 2)
        #expect(pool.statistics.waiting == 0)
        await pool.close()
    }

    @Test func transactionLeftOpenIsRolledBack() async throws {
        let pool = makePool(max: 1)
        _ = try await pool.withConnection { try $0.exec("CREATE TABLE public.p (id int)") }
        _ = try await pool.withConnection { connection in
            try connection.exec("BEGIN")
            try connection.exec("INSERT INTO public.p VALUES (1)")
        }
        let count = try await pool.withConnection { try $0.value("SELECT count(*) FROM public.p") }
        #expect(count == "0")
        let committed = try await pool.withTransaction { connection in
            try connection.exec("INSERT INTO public.p VALUES (2)")
            return try connection.value("SELECT count(*) FROM public.p")
        }
        #expect(committed == "1")
        await pool.close()
    }

    @Test func acquireTimesOutWhenAllConnectionsAreBusy() async throws {
        let pool = makePool(max: 1, timeout: .milliseconds(200))
        let gate = try database.connect(as: "loacl_owner")
        defer { gate.close() }
        try gate.exec("SELECT pg_advisory_lock(4242)")

        let holder = Task { try await pool.withConnection { try $0.exec("SELECT pg_advisory_lock(4242)") } }
        try await eventually { pool.statistics.open == 1 && pool.statistics.idle == 0 }

        await #expect { try await pool.withConnection { try $0.value("SELECT 1") } } throws: { error in
            (error as? PostgresError)?.kind == .poolTimeout
        }
        try gate.exec("SELECT pg_advisory_unlock(4242)")
        _ = try await holder.value
        #expect(try await pool.withConnection { try $0.value("SELECT 1") } == "1")
        await pool.close()
    }

    @Test func cancellingTheTaskCancelsTheQuery() async throws {
        let pool = makePool(max: 1)
        let observer = try database.connect(as: "postgres")
        defer { observer.close() }
        let sleeper = Task { try await pool.withConnection { try $0.exec("SELECT pg_sleep(60)") } }
        try await eventually {
            try observer.value(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = 'SELECT pg_sleep(60)' AND state = 'active'") == "1"
        }
        sleeper.cancel()
        await #expect { try await sleeper.value } throws: { error in
            (error as? PostgresError)?.isQueryCanceled == true
        }
        // The cancelled connection is not reused.
        #expect(pool.statistics.open == 0)
        #expect(try await pool.withConnection { try $0.value("SELECT 2") } == "2")
        await pool.close()
    }

    @Test func brokenConnectionIsReplaced() async throws {
        let pool = makePool(max: 1)
        let admin = try database.connect(as: "postgres")
        defer { admin.close() }
        let pid = try await pool.withConnection { try $0.value("SELECT pg_backend_pid()") }
        try admin.query("SELECT pg_terminate_backend($1::int)", pid)
        try await eventually {
            try admin.value("SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int", pid) == "0"
        }
        // The idle connection is dead: the next use fails as a connection error and drops it...
        await #expect { try await pool.withConnection { try $0.value("SELECT 1") } } throws: { error in
            (error as? PostgresError)?.kind == .connection
        }
        #expect(pool.statistics.open == 0)
        // ...and the pool opens a new one.
        let newPID = try await pool.withConnection { try $0.value("SELECT pg_backend_pid()") }
        #expect(newPID != pid)
        await pool.close()
    }

    @Test func closedPoolRejectsCallers() async throws {
        let pool = makePool(max: 1)
        #expect(try await pool.withConnection { try $0.value("SELECT 1") } == "1")
        await pool.close()
        await #expect { try await pool.withConnection { try $0.value("SELECT 1") } } throws: { error in
            (error as? PostgresError)?.kind == .poolClosed
        }
    }
}
