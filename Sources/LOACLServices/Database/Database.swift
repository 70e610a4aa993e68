import LOACLCore
import LOACLPostgres
import Logging

/// Runs each RPC's database work in one transaction on the pool, with the caller's identity set
/// as transaction-local settings first, so Row Level Security decides what the work can see.
///
/// Not an actor: every call borrows its own pool connection, so independent calls run in
/// parallel up to the pool size. A write is acknowledged (the function returns) only after
/// COMMIT succeeded. Cancelling the calling task cancels the running statement (the pool sends
/// PQcancel).
public struct Database: Sendable {
    public let pool: PostgresPool
    let logger: Logger

    /// Session settings for the service pool's connections (`PostgresPool.Configuration.setup`).
    ///
    /// - Generic plans: every service statement is prepared once per connection, and its custom
    ///   plans cost more to make than to run (the Row Level Security policies expand into a
    ///   dozen sub-plans: ≈ 1.8 ms of planning for a 0.3 ms ListMessages). The statements are
    ///   written so that a generic plan is right for any parameter value (cursors are plain
    ///   index conditions, see `SQL.after`), so PostgreSQL is told to keep it.
    /// - No JIT: a generic plan's row estimates are pessimistic, and compiling one to machine
    ///   code took ≈ 65 ms for a query that runs in under 1 ms.
    /// - The search path the schema's functions and triggers set for themselves: PostgreSQL
    ///   re-plans a cached statement run under another search path than last time, and the
    ///   same foreign-key checks run from the services' statements and from the triggers (every
    ///   name in the services' SQL is schema-qualified or in pg_catalog).
    /// - Tenancy: `loacl.assert_tenancy_enforced()` fails (SQLSTATE LCT01) when the role
    ///   bypasses Row Level Security or a table's RLS is off, so such a connection is never used
    ///   (see `TenancyGuard`).
    public static let sessionSetup = [
        PostgresStatement("""
            SELECT pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', false),
                   pg_catalog.set_config('jit', 'off', false),
                   pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false),
                   loacl.assert_tenancy_enforced()
            """, prepare: false),
    ]

    public init(pool: PostgresPool, logger: Logger = Logger(label: "loacl.services.database")) {
        self.pool = pool
        self.logger = logger
    }

    /// Runs `body` in a transaction as `identity` (default: the call's identity). Every error
    /// comes out as an `RPCError`.
    ///
    /// `BEGIN` and the identity settings are queued, not sent: they travel with the body's first
    /// statement, so a transaction costs one round trip per body statement plus the COMMIT. A
    /// body may end the transaction itself with `commit(after:)` to save that last round trip.
    public func transaction<T: Sendable>(
        as identity: CallerIdentity = CallerIdentity.current,
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        try await transaction(settings: IdentitySettings(identity), body)
    }

    /// `transaction(as:_:)` with the identity settings given directly (e.g. only a fingerprint,
    /// for a session that does not exist yet).
    func transaction<T: Sendable>(
        settings: IdentitySettings,
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        var attempts = 0
        while true {
            attempts += 1
            do {
                return try await pool.withConnection { connection in
                    do {
                        try connection.enqueue("BEGIN")
                        try settings.enqueue(on: connection)
                        let value = try body(connection)
                        switch connection.transactionState {
                        case .inTransaction:
                            try connection.exec("COMMIT")
                        case .failedTransaction:
                            // A body that swallowed a statement's error: COMMIT would silently
                            // roll back, so say so instead of acknowledging.
                            throw PostgresError(kind: .client, message: "transaction failed but its body returned")
                        case .idle, .active, .unknown:
                            // Committed by the body (`commit(after:)`), or nothing was sent.
                            connection.rollbackIfNeeded()
                        }
                        return value
                    } catch let error as PostgresError
                                where error.kind == .connection && error.sqlState != SQLState.transactionResolutionUnknown {
                        // The connection broke before anything committed (typically a pooled
                        // connection whose server restarted): the whole body can run again.
                        throw StaleConnection(error: error)
                    } catch {
                        connection.rollbackIfNeeded()
                        throw error
                    }
                }
            } catch let stale as StaleConnection {
                if attempts <= pool.configuration.maxConnections, !Task.isCancelled { continue }
                throw ErrorMapping.rpcError(stale.error, logger: logger)
            } catch {
                throw ErrorMapping.rpcError(error, logger: logger)
            }
        }
    }

    /// Runs an idempotent `body` (reads, or writes safe to repeat) without an explicit
    /// transaction: one round trip for a single statement. Retried on a fresh connection when
    /// the connection turns out dead.
    public func idempotent<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        var attempts = 0
        while true {
            attempts += 1
            do {
                return try await pool.withConnection(body)
            } catch let error as PostgresError where error.kind == .connection {
                if attempts <= pool.configuration.maxConnections, !Task.isCancelled { continue }
                throw ErrorMapping.rpcError(error, logger: logger)
            } catch {
                throw ErrorMapping.rpcError(error, logger: logger)
            }
        }
    }

    private struct StaleConnection: Error {
        let error: PostgresError
    }
}

/// The four identity settings of one transaction, set in a single statement.
struct IdentitySettings: Sendable {
    var tenantKeyHash = ""
    var fingerprint = ""
    var userID = ""
    var sessionID = ""

    init(_ identity: CallerIdentity) {
        switch identity {
        case .anonymous:
            break
        case .tenant(let tenant):
            tenantKeyHash = PostgresBytea.hex(tenant.keyHash)
        case .session(let session):
            sessionID = session.id
            switch session.kind {
            case .guest(let fingerprint): self.fingerprint = fingerprint
            case .user(let id): userID = id
            }
        }
    }

    init(fingerprint: String) { self.fingerprint = fingerprint }
    init(userID: String) { self.userID = userID }

    var isEmpty: Bool { tenantKeyHash.isEmpty && fingerprint.isEmpty && userID.isEmpty && sessionID.isEmpty }

    static let sql = """
        SELECT pg_catalog.set_config('loacl.tenant_key_hash', $1, true),
               pg_catalog.set_config('loacl.fingerprint', $2, true),
               pg_catalog.set_config('loacl.user_id', $3, true),
               pg_catalog.set_config('loacl.session_id', $4, true)
        """

    /// As a session: the same settings, and PostgreSQL's word that the session is still live
    /// (the interceptor may have taken it from its cache): SQLSTATE 28000 otherwise, before any
    /// of the call's statements run.
    static let sessionSQL = sql + ", loacl.assert_live_session($4::uuid)"

    var parameters: [String?] { [tenantKeyHash, fingerprint, userID, sessionID] }

    private var text: String { sessionID.isEmpty ? Self.sql : Self.sessionSQL }

    /// The settings as one statement, to go first in a pipeline (outside `BEGIN` the pipeline is
    /// one implicit transaction, so they hold for the statements after it).
    var statement: PostgresStatement { PostgresStatement(text, parameters) }

    /// Queues them to travel with the connection's next statement.
    func enqueue(on connection: PostgresConnection) throws {
        guard !isEmpty else { return }
        try connection.enqueue(text, parameters)
    }
}
