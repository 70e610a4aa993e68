import LOACLPostgres
import Logging

/// Row Level Security is LOACL's only tenancy boundary, and PostgreSQL skips it for superusers,
/// `BYPASSRLS` roles and table owners. Every pool connection runs
/// `loacl.assert_tenancy_enforced()` (migrations/0011_tenancy_guard.sql) in its setup statement
/// (`Database.sessionSetup`), so a connection on which RLS would not bind is never used; this type
/// is the startup side: loacld opens one connection before it listens and refuses to serve if
/// the check fails. There is no override.
public enum TenancyGuard {
    /// SQLSTATE of the check's refusals.
    public static let sqlState = "LCT01"

    /// Why loacld will not serve with this database; `description` names the role or table and
    /// says what to do.
    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
    }

    /// Opens (and returns to the pool) one connection, whose setup runs the check.
    ///
    /// A database that cannot be reached is not a refusal (loacld starts and answers UNAVAILABLE
    /// until it is back, as before): it is logged, and the check runs when a connection opens.
    public static func verify(_ pool: PostgresPool, logger: Logger) async throws(Refusal) {
        do {
            try await pool.withConnection { _ in }
        } catch let error as PostgresError where error.kind == .connection {
            logger.warning("database unreachable at startup; each connection is checked for row level security when it opens",
                           metadata: ["error": "\(error.message)"])
        } catch let error as PostgresError {
            throw Refusal(description: refusal(error))
        } catch {
            throw Refusal(description: "cannot check the database role: \(error)")
        }
    }

    static func refusal(_ error: PostgresError) -> String {
        let hint = error.hint.map { " (\($0))" } ?? ""
        switch error.sqlState ?? "" {
        case Self.sqlState:
            return error.message + hint
        case "42883", "3F000":
            return "the database has no loacl.assert_tenancy_enforced(): run `loacld migrate` as the migration role first (\(error.message))"
        case SQLState.insufficientPrivilege:
            return "the database role may not use schema loacl (\(error.message)): connect as the runtime role loacl_app, which the migrations grant (docs/SCHEMA.md, \"Runtime role\")"
        default:
            return "cannot check the database role: \(error.message)\(hint)"
        }
    }
}
