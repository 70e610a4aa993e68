/// An error from libpq or the PostgreSQL server, or from this wrapper before anything was sent.
public struct PostgresError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Could not connect, or the connection broke.
        case connection
        /// The server answered with an error (see `sqlState`).
        case server
        /// Rejected by this wrapper before sending (e.g. a NUL character in a parameter).
        case client
        /// `PostgresPool` could not hand out a connection in time.
        case poolTimeout
        /// `PostgresPool` was closed.
        case poolClosed
    }

    public var kind: Kind
    /// Five-character SQLSTATE code (`23505`, `42501`, ...) when the server or libpq provided one.
    public var sqlState: String?
    public var message: String
    public var detail: String?
    public var hint: String?
    /// Constraint name for integrity violations.
    public var constraint: String?

    public init(
        kind: Kind, sqlState: String? = nil, message: String,
        detail: String? = nil, hint: String? = nil, constraint: String? = nil
    ) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
        self.constraint = constraint
    }

    public var description: String {
        var text = "PostgresError(\(kind)"
        if let sqlState { text += ", \(sqlState)" }
        text += "): \(message)"
        if let detail { text += " DETAIL: \(detail)" }
        if let hint { text += " HINT: \(hint)" }
        return text
    }
}

/// SQLSTATE codes the services branch on.
public enum SQLState {
    public static let uniqueViolation = "23505"
    public static let foreignKeyViolation = "23503"
    public static let notNullViolation = "23502"
    public static let checkViolation = "23514"
    /// Also raised for row-level-security WITH CHECK failures.
    public static let insufficientPrivilege = "42501"
    public static let invalidTextRepresentation = "22P02"
    public static let characterNotInRepertoire = "22021"
    public static let serializationFailure = "40001"
    public static let deadlockDetected = "40P01"
    public static let queryCanceled = "57014"
    public static let protocolViolation = "08P01"
    /// The connection broke during COMMIT: the transaction may or may not have committed.
    public static let transactionResolutionUnknown = "08007"
    /// Also "cached plan must not change result type" after DDL changed a prepared statement's table.
    public static let featureNotSupported = "0A000"
    /// Raised by `loacl.assert_live_session` for a session that is no longer live.
    public static let invalidAuthorization = "28000"
}

extension PostgresError {
    public var isUniqueViolation: Bool { sqlState == SQLState.uniqueViolation }
    public var isForeignKeyViolation: Bool { sqlState == SQLState.foreignKeyViolation }
    public var isCheckViolation: Bool { sqlState == SQLState.checkViolation }
    /// Permission denied or a row-level-security policy refused the row.
    public var isInsufficientPrivilege: Bool { sqlState == SQLState.insufficientPrivilege }
    public var isQueryCanceled: Bool { sqlState == SQLState.queryCanceled }
    /// Worth retrying the whole transaction.
    public var isTransient: Bool {
        sqlState == SQLState.serializationFailure || sqlState == SQLState.deadlockDetected
    }
}
