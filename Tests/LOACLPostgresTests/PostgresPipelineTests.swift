import Foundation
import LOACLPostgres
import LOACLTestKeys
import Testing

/// Prepared-statement caching, pipelines (several statements per round trip), queued statements
/// and what a broken connection during COMMIT reports.
@Suite("libpq prepared statements and pipelines")
struct PostgresPipelineTests {
    let database: TestDatabase
    let connection: PostgresConnection

    init() async throws {
        database = try await offCooperativePool { try TestDatabase() }
        connection = try database.connect(as: "loacl_owner")
        try connection.exec("CREATE TABLE public.p (id int PRIMARY KEY, label text NOT NULL)")
    }

    /// The server's own view of this session's prepared statements.
    func serverPrepared() throws -> [String] {
        try connection.exec("SELECT statement FROM pg_prepared_statements ORDER BY name").rows.map { $0[0] ?? "" }
    }

    @Test func statementsArePreparedOncePerConnection() throws {
        let sql = "SELECT $1::int * 2 AS doubled"
        for n in 1...7 {
            #expect(try connection.execParams(sql, [String(n)]).first?.int("doubled") == n * 2)
        }
        #expect(connection.preparedStatementCount == 1)
        #expect(try serverPrepared() == [sql])
        // A second statement gets its own entry; unprepared statements none.
        try connection.execParams("SELECT $1::text AS t", ["x"])
        try connection.pipeline([PostgresStatement("SELECT 1 AS one", prepare: false)])
        #expect(connection.preparedStatementCount == 2)
        #expect(try serverPrepared().count == 2)
    }

    @Test func aStatementThatFailsToParseIsNotCached() throws {
        #expect { try connection.execParams("SELEC $1::int", ["1"]) } throws: { error in
            (error as? PostgresError)?.sqlState == "42601"
        }
        #expect(connection.preparedStatementCount == 0)
        #expect(try connection.execParams("SELECT $1::int AS v", ["5"]).first?.int("v") == 5)
    }

    @Test func pipelineReturnsEveryResultInOrder() throws {
        let results = try connection.pipeline([
            PostgresStatement("INSERT INTO public.p VALUES ($1::int, $2)", ["1", "a"]),
            PostgresStatement("INSERT INTO public.p VALUES ($1::int, $2)", ["2", "b"]),
            PostgresStatement("SELECT count(*) AS n FROM public.p"),
        ])
        #expect(results.count == 3)
        #expect(results[0].affectedRows == 1 && results[1].affectedRows == 1)
        #expect(results[2].first?.int("n") == 2)
        // The same SQL twice in one pipeline is prepared once.
        #expect(connection.preparedStatementCount == 2)
    }

    @Test func aFailingStatementUndoesTheImplicitTransactionAndSkipsTheRest() throws {
        #expect {
            try connection.pipeline([
                PostgresStatement("INSERT INTO public.p VALUES ($1::int, $2)", ["1", "kept?"]),
                PostgresStatement("INSERT INTO public.p VALUES ($1::int, $2)", ["1", "duplicate"]),
                PostgresStatement("INSERT INTO public.p VALUES ($1::int, $2)", ["3", "skipped"]),
            ])
        } throws: { error in
            (error as? PostgresError)?.isUniqueViolation == true
        }
        // Outside BEGIN the pipeline is one implicit transaction: nothing of it stayed.
        #expect(try connection.exec("SELECT count(*) FROM public.p").scalar == "0")
        #expect(connection.transactionState == .idle)
        #expect(connection.isHealthy)
    }

    @Test func queuedStatementsTravelWithTheNextOneAndTheirErrorsSurface() throws {
        try connection.enqueue("BEGIN")
        try connection.enqueue("SELECT pg_catalog.set_config('loacl.test', $1, true)", ["queued"])
        // Nothing was sent yet.
        #expect(connection.transactionState == .idle)
        #expect(try connection.execParams("SELECT current_setting('loacl.test') AS v", []).first?["v"] == "queued")
        #expect(connection.transactionState == .inTransaction)
        try connection.commit(after: [PostgresStatement("INSERT INTO public.p VALUES (7, 'seven')")])
        #expect(connection.transactionState == .idle)
        #expect(try connection.exec("SELECT label FROM public.p WHERE id = 7").scalar == "seven")

        // A queued statement's error fails the call that sent it.
        try connection.enqueue("SELECT 1/0")
        #expect { try connection.execParams("SELECT 1", []) } throws: { error in
            (error as? PostgresError)?.sqlState == "22012"
        }
        // Queued but never sent: dropped by rollbackIfNeeded.
        try connection.enqueue("INSERT INTO public.p VALUES (8, 'never')")
        connection.rollbackIfNeeded()
        #expect(try connection.exec("SELECT count(*) FROM public.p WHERE id = 8").scalar == "0")
    }

    @Test func aFailedStatementBeforeCommitLeavesTheBlockFailed() throws {
        try connection.enqueue("BEGIN")
        #expect {
            try connection.commit(after: [
                PostgresStatement("INSERT INTO public.p VALUES (1, 'a')"),
                PostgresStatement("INSERT INTO public.p VALUES (1, 'again')"),
            ])
        } throws: { error in (error as? PostgresError)?.isUniqueViolation == true }
        #expect(connection.transactionState == .failedTransaction)
        connection.rollbackIfNeeded()
        #expect(try connection.exec("SELECT count(*) FROM public.p").scalar == "0")
    }

    @Test func aTableChangeUnderAPreparedStatementIsRepreparedNextTime() throws {
        let sql = "SELECT * FROM public.p WHERE id = $1::int"
        try connection.execParams("INSERT INTO public.p VALUES ($1::int, $2)", ["1", "a"])
        #expect(try connection.execParams(sql, ["1"]).columns == ["id", "label"])
        try connection.exec("ALTER TABLE public.p ADD COLUMN extra text")
        // PostgreSQL refuses the cached plan once ("cached plan must not change result type");
        // the statement is then prepared again.
        let retried = try (try? connection.execParams(sql, ["1"])) ?? connection.execParams(sql, ["1"])
        #expect(retried.columns == ["id", "label", "extra"])
    }

    @Test func aConnectionLostDuringCommitReportsAnUnknownOutcome() throws {
        let victim = try database.connect(as: "loacl_owner")
        try victim.enqueue("BEGIN")
        #expect {
            try victim.commit(after: [
                PostgresStatement("INSERT INTO public.p VALUES (1, 'a')"),
                PostgresStatement("SELECT pg_terminate_backend(pg_backend_pid())"),
            ])
        } throws: { error in
            let error = error as? PostgresError
            return error?.kind == .connection && error?.sqlState == SQLState.transactionResolutionUnknown
        }
        #expect(!victim.isHealthy)
        // Without a COMMIT in flight a lost connection is a plain connection error.
        let other = try database.connect(as: "loacl_owner")
        #expect { try other.execParams("SELECT pg_terminate_backend(pg_backend_pid())", []) } throws: { error in
            let error = error as? PostgresError
            return error?.kind == .connection && error?.sqlState != SQLState.transactionResolutionUnknown
        }
    }

    @Test func anIdleConnectionWhoseServerWentAwayIsSeenAsUnhealthy() async throws {
        let idle = try database.connect(as: "loacl_owner")
        let pid = try #require(try idle.exec("SELECT pg_backend_pid()").scalar)
        #expect(idle.isHealthy)
        try connection.execParams("SELECT pg_terminate_backend($1::int)", [pid])
        // The server's goodbye arrives asynchronously; isHealthy reads it without blocking.
        var healthy = true
        for _ in 0..<200 where healthy {
            healthy = idle.isHealthy
            if healthy { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(!healthy)
    }
}
