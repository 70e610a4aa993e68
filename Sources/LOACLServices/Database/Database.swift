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

    public init(pool: PostgresPool, logger: Logger = Logger(label: "loacl.services.database")) {
        self.pool = pool
        self.logger = logger
    }

    /// Runs `body` in a transaction as `identity` (default: the call's identity). Every error
    /// comes out as an `RPCError`.
    public func transaction<T: Sendable>(
        as identity: CallerIdentity = CallerIdentity.current,
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        let settings = IdentitySettings(identity)
        // A pooled connection may have died while idle (e.g. the server restarted); that shows
        // up at BEGIN, before anything was done, so taking another connection is safe.
        var attempts = 0
        while true {
            attempts += 1
            do {
                return try await pool.withConnection { connection in
                    // BEGIN and the identity settings go out as one simple query: one round trip.
                    do {
                        if let begin = settings.beginSQL {
                            try connection.exec(begin)
                        } else {
                            try connection.exec("BEGIN")
                            try settings.apply(connection)
                        }
                    } catch let error as PostgresError where error.kind == .connection {
                        throw StaleConnection(error: error)
                    } catch {
                        connection.rollbackIfNeeded()
                        throw error
                    }
                    do {
                        let value = try body(connection)
                        try connection.exec("COMMIT")
                        return value
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

    func apply(_ connection: PostgresConnection) throws {
        guard !isEmpty else { return }
        try connection.execParams("""
            SELECT pg_catalog.set_config('loacl.tenant_key_hash', $1, true),
                   pg_catalog.set_config('loacl.fingerprint', $2, true),
                   pg_catalog.set_config('loacl.user_id', $3, true),
                   pg_catalog.set_config('loacl.session_id', $4, true)
            """, [tenantKeyHash, fingerprint, userID, sessionID])
    }

    /// `BEGIN` followed by the settings as transaction-local values. Simple queries take no
    /// parameters, so the values are quoted as escape-string literals (see `literal`); nil when
    /// a value holds a NUL, which no literal can carry (then `apply` sends them as parameters).
    var beginSQL: String? {
        guard !isEmpty else { return "BEGIN" }
        let values = [tenantKeyHash, fingerprint, userID, sessionID]
        guard !values.contains(where: { $0.unicodeScalars.contains("\0") }) else { return nil }
        return """
            BEGIN; SELECT pg_catalog.set_config('loacl.tenant_key_hash', \(Self.literal(tenantKeyHash)), true),
                   pg_catalog.set_config('loacl.fingerprint', \(Self.literal(fingerprint)), true),
                   pg_catalog.set_config('loacl.user_id', \(Self.literal(userID)), true),
                   pg_catalog.set_config('loacl.session_id', \(Self.literal(sessionID)), true)
            """
    }

    /// `E'…'` with backslashes and quotes doubled: safe whatever `standard_conforming_strings`
    /// says (the connection's client encoding is UTF-8). Callers keep NUL out.
    static func literal(_ value: String) -> String {
        var out = "E'"
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "'": out += "''"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "'"
    }
}
