import LOACLCore

/// Who is calling, resolved once per call by `AuthInterceptor` and bound as a task-local.
public enum CallerIdentity: Sendable {
    /// No credentials (StartGuestSession, StartAuthenticatedSession, Health, Benchmark).
    case anonymous
    /// A tenant, by its API key (`x-loacl-api-key`).
    case tenant(TenantCredential)
    /// A live guest or authenticated session (`x-loacl-session-token`).
    case session(SessionRecord)

    /// The identity of the running call.
    @TaskLocal public static var current: CallerIdentity = .anonymous

    /// The calling tenant, or UNAUTHENTICATED.
    public static func requireTenant() throws(RPCError) -> TenantCredential {
        guard case .tenant(let tenant) = current else {
            throw RPCError.unauthenticated("this method needs tenant credentials (metadata x-loacl-api-key)")
        }
        return tenant
    }

    /// The calling session, or UNAUTHENTICATED.
    public static func requireSession() throws(RPCError) -> SessionRecord {
        guard case .session(let session) = current else {
            throw RPCError.unauthenticated("this method needs a session (metadata x-loacl-session-token)")
        }
        return session
    }
}

/// A tenant's API key as presented on a call. The key itself is kept only to encrypt it when the
/// tenant registers and to call upstream; it never appears in descriptions or logs.
public struct TenantCredential: Sendable, CustomStringConvertible {
    /// HMAC-SHA256 of the key (the `loacl.tenant_key_hash` setting, lowercase hex).
    public let keyHash: [UInt8]
    let apiKey: String

    init(apiKey: String, keyHash: [UInt8]) {
        self.apiKey = apiKey
        self.keyHash = keyHash
    }

    public var description: String { "TenantCredential(<redacted>)" }
}

/// A session as stored (`loacl.sessions`), as resolved from its token.
public struct SessionRecord: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case guest(fingerprint: String)
        case user(id: String)
    }

    public var id: String
    public var assistantID: String
    public var kind: Kind
    public var status: String
    public var createdAtMs: Int64
    /// 0 when the session does not expire.
    public var expiresAtMs: Int64
    public var lastActiveAtMs: Int64
    public var metadataJSON: String
}
