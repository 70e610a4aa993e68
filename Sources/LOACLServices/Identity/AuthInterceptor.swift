import LOACLCore
import LOACLPostgres
import LOACLServer
import Logging

/// Resolves the caller's identity once per call and binds it as `CallerIdentity.current` for the
/// handler:
/// - `x-loacl-api-key`: a tenant (hashed with the master key; nothing is looked up here: a new
///   key registers on its first write, an unknown one simply owns nothing);
/// - `x-loacl-session-token`: a live session, looked up by the token's SHA-256 through
///   `loacl.resolve_session`; its `last_active_at` is refreshed when older than `touchInterval`;
/// - neither: anonymous.
/// Malformed, unknown, expired or revoked credentials, or both kinds at once: UNAUTHENTICATED.
/// Health and Benchmark calls skip all of this.
public struct AuthInterceptor: ServerInterceptor {
    public static let apiKeyMetadataKey = "x-loacl-api-key"
    public static let sessionTokenMetadataKey = "x-loacl-session-token"
    static let publicServices: Set<String> = ["loacl.v1.HealthService", "loacl.v1.BenchmarkService"]

    let database: Database
    let vault: TenantKeyVault
    let touchInterval: Duration

    public init(database: Database, vault: TenantKeyVault, touchInterval: Duration = .seconds(60)) {
        self.database = database
        self.vault = vault
        self.touchInterval = touchInterval
    }

    public func intercept(context: ServerContext, next: @Sendable (ServerContext) async throws -> Void) async throws {
        guard !Self.publicServices.contains(context.method.service) else { return try await next(context) }
        let identity = try await resolve(context.metadata)
        try await CallerIdentity.$current.withValue(identity) {
            try await next(context)
        }
    }

    func resolve(_ metadata: Metadata) async throws -> CallerIdentity {
        let apiKey = metadata[Self.apiKeyMetadataKey]
        let token = metadata[Self.sessionTokenMetadataKey]
        switch (apiKey, token) {
        case (nil, nil):
            return .anonymous
        case (.some, .some):
            throw RPCError.unauthenticated("send either x-loacl-api-key or x-loacl-session-token, not both")
        case (let apiKey?, nil):
            guard Self.isPlausibleAPIKey(apiKey) else {
                throw RPCError.unauthenticated("x-loacl-api-key is malformed")
            }
            return .tenant(TenantCredential(apiKey: apiKey, keyHash: vault.hash(apiKey: apiKey)))
        case (nil, let token?):
            guard let hash = SessionTokens.hash(ofPresented: token) else {
                throw RPCError.unauthenticated("x-loacl-session-token is malformed")
            }
            return .session(try await session(tokenHash: hash))
        }
    }

    /// 8–512 printable ASCII characters without spaces (OpenAI keys are `sk-...`).
    static func isPlausibleAPIKey(_ key: String) -> Bool {
        let bytes = key.utf8
        return (8...512).contains(bytes.count) && bytes.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
    }

    private func session(tokenHash: [UInt8]) async throws -> SessionRecord {
        let staleSeconds = Int(touchInterval.components.seconds)
        let hashParameter = PostgresBytea.encode(tokenHash)
        // One statement in autocommit; the touch (rare) is a second round trip.
        let record: SessionRecord? = try await database.idempotent { connection in
            let result = try connection.execParams("""
                SELECT id, assistant_id, session_type, user_id, fingerprint, status, metadata::text AS metadata,
                       \(SQL.ms("created_at")), \(SQL.ms("expires_at")), \(SQL.ms("last_active_at")),
                       last_active_at < now() - $2::int * interval '1 second' AS stale
                FROM loacl.resolve_session($1::bytea)
                """, [hashParameter, String(staleSeconds)])
            guard let row = result.first, let record = SessionRows.record(row) else { return nil }
            // Refresh last_active_at at most once per interval instead of writing on every call.
            // The identity and the update travel as one pipeline: one round trip, one implicit
            // transaction.
            if row.bool("stale") == true {
                try connection.pipeline([
                    IdentitySettings(.session(record)).statement,
                    PostgresStatement("UPDATE loacl.sessions SET last_active_at = now() WHERE id = $1", [record.id]),
                ])
            }
            return record
        }
        guard let record else {
            throw RPCError.unauthenticated("session token is unknown, expired or revoked")
        }
        return record
    }
}
