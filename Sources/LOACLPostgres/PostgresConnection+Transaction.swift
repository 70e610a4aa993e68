extension PostgresConnection {
    /// Runs `body` inside `BEGIN` ... `COMMIT`; rolls back and rethrows if `body` throws or the
    /// commit fails.
    public func transaction<T>(
        _ isolation: IsolationLevel = .readCommitted,
        _ body: (PostgresConnection) throws -> T
    ) throws -> T {
        try exec("BEGIN ISOLATION LEVEL \(isolation.sql)")
        do {
            let value = try body(self)
            try exec("COMMIT")
            return value
        } catch {
            rollbackIfNeeded()
            throw error
        }
    }

    /// Drops statements queued but not sent, then ends an open or failed transaction block; a
    /// no-op when idle. Errors are ignored because
    /// the connection is either fine afterwards or already broken (then `isHealthy` is false).
    public func rollbackIfNeeded() {
        discardQueued()
        switch transactionState {
        case .inTransaction, .failedTransaction:
            _ = try? exec("ROLLBACK")
        case .idle, .active, .unknown:
            break
        }
    }

    /// Runs `statements` and then `COMMIT` in one round trip (with anything queued before them)
    /// and returns the statements' results. If one fails, the rest and the COMMIT are skipped
    /// and the transaction block is left failed (roll it back).
    @discardableResult
    public func commit(after statements: [PostgresStatement]) throws(PostgresError) -> [PostgresResult] {
        Array(try pipeline(statements + [PostgresStatement("COMMIT", prepare: false)]).dropLast())
    }

    /// Sets a transaction-local setting (`set_config(name, value, true)`), e.g. the identity
    /// settings `loacl.user_id`, `loacl.fingerprint`, `loacl.tenant_key_hash`, `loacl.session_id`.
    public func setLocal(_ name: String, _ value: String) throws(PostgresError) {
        try execParams("SELECT pg_catalog.set_config($1, $2, true)", [name, value])
    }

    public enum IsolationLevel: Sendable {
        case readCommitted, repeatableRead, serializable

        var sql: String {
            switch self {
            case .readCommitted: "READ COMMITTED"
            case .repeatableRead: "REPEATABLE READ"
            case .serializable: "SERIALIZABLE"
            }
        }
    }
}
