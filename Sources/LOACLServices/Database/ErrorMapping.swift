import LOACLCore
import LOACLPostgres
import Logging

/// How database failures reach the client. Details of server-side errors stay in the log; the
/// client gets a status code and a short message.
enum ErrorMapping {
    static func rpcError(_ error: any Error, logger: Logger) -> RPCError {
        switch error {
        case let error as RPCError:
            return error
        case let error as PostgresError:
            return rpcError(error, logger: logger)
        case is CancellationError:
            return RPCError(.cancelled, "call cancelled")
        default:
            logger.error("unexpected error", metadata: ["error": "\(error)"])
            return RPCError.internal("internal error")
        }
    }

    static func rpcError(_ error: PostgresError, logger: Logger) -> RPCError {
        switch error.kind {
        case .connection where error.sqlState == SQLState.transactionResolutionUnknown:
            logger.error("database connection lost during COMMIT", metadata: ["error": "\(error.message)"])
            return RPCError(.unknown, "database connection lost while committing: the change may or may not have been saved")
        case .connection:
            logger.warning("database unreachable", metadata: ["error": "\(error.message)"])
            return .unavailable("database unavailable, retry later")
        case .poolTimeout:
            return .unavailable("database busy: no connection available in time")
        case .poolClosed:
            return .unavailable("server is shutting down")
        case .client, .server:
            break
        }
        let state = error.sqlState ?? ""
        switch state {
        // Raised by LOACL's own functions (class LC) with a message meant for the client.
        case "LCN01": return .notFound(error.message)
        case "LCP01": return RPCError(.failedPrecondition, error.message)
        case "LCR01": return RPCError(.resourceExhausted, error.message)
        case TenancyGuard.sqlState:
            // A new pool connection failed the Row Level Security check: never serve on it.
            logger.critical("database refused for tenancy", metadata: ["error": "\(TenancyGuard.refusal(error))"])
            return .internal("internal error")
        case SQLState.uniqueViolation where error.constraint == "runs_one_unfinished_per_thread":
            // Two sends on one thread at once: the other one's run started first.
            return RPCError(.failedPrecondition, "thread has an unfinished run: wait for it to end or cancel it (CancelRun)")
        case SQLState.uniqueViolation:
            return RPCError(.alreadyExists, "already exists")
        case SQLState.checkViolation, SQLState.notNullViolation, SQLState.invalidTextRepresentation,
             SQLState.characterNotInRepertoire, "22001", "22003", "22007", "22008", "22023", "22P05", "2202E":
            return .invalidArgument("invalid value\(error.constraint.map { " (\($0))" } ?? "")")
        case SQLState.foreignKeyViolation, SQLState.insufficientPrivilege:
            // A parent that does not exist or is not the caller's, or a row RLS refused.
            return .notFound("not found")
        case SQLState.invalidAuthorization:
            return .unauthenticated("session is unknown, expired or revoked")
        case SQLState.queryCanceled:
            return RPCError(.cancelled, "call cancelled")
        case SQLState.serializationFailure, SQLState.deadlockDetected:
            return RPCError(.aborted, "concurrent update, retry")
        case "57P01", "57P02", "57P03", "53300", "53400":
            return .unavailable("database unavailable, retry later")
        default:
            if state.hasPrefix("08") { return .unavailable("database unavailable, retry later") }
            logger.error("database error", metadata: ["error": "\(error)"])
            return .internal("internal error")
        }
    }
}
