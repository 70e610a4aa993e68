import Foundation
import LOACLCore
import LOACLPostgres
import LOACLServerCore
import Logging

/// Resolves the caller's identity once per call and binds it as `CallerIdentity.current` for the
/// handler:
/// - `x-loacl-api-key`: a tenant (hashed with the master key; nothing is looked up here: a new
///   key registers on its first write, an unknown one simply owns nothing);
/// - `x-loacl-session-token`: a live session, looked up by the token's SHA-256 through
///   `loacl.resolve_session` (or found in the `SessionCache`; PostgreSQL re-checks that the
///   session is live in the call's own transaction); its `last_active_at` is refreshed when
///   older than `touchInterval`;
/// - neither: anonymous.
/// Malformed, unknown, expired or revoked credentials, or both kinds at once: UNAUTHENTICATED.
/// Health and Benchmark calls skip all of this.
public struct AuthInterceptor: ServerInterceptor {
    public static let apiKeyMetadataKey = "x-loacl-api-key"
    public static let sessionTokenMetadataKey = "x-loacl-session-token"
    static let publicServices: Set<String> = ["loacl.v1.HealthService", "loacl.v1.BenchmarkService"]
    /// Calls about the session itself (GetSession shows its row, RefreshSession moves its
    /// expiry, EndSession revokes it) always read it from the database.
    static let sessionService = "loacl.v1.SessionService"

    let database: Database
    let vault: TenantKeyVault
    let touchInterval: Duration
    let sessions: SessionCache

    /// `sessionCacheLifetime`: how long a resolved session is reused without a look-up (zero:
    /// never); half the touch interval by default, so `last_active_at` stays within 1.5 ×
    /// `touchInterval` of the last call.
    public init(database: Database, vault: TenantKeyVault, touchInterval: Duration = .seconds(60),
                sessionCacheLifetime: Duration? = nil) {
        self.database = database
        self.vault = vault
        self.touchInterval = touchInterval
        self.sessions = SessionCache(lifetime: sessionCacheLifetime ?? touchInterval / 2)
    }

    public func intercept(context: ServerContext, next: @Sendable (ServerContext) async throws -> Void) async throws {
        guard !Self.publicServices.contains(context.method.service) else { return try await next(context) }
        let aboutTheSession = context.method.service == Self.sessionService
        let (identity, tokenHash) = try await resolve(context.metadata, fresh: aboutTheSession)
        // Ended or given a new expiry (or tried to): the next call looks it up again.
        defer { if aboutTheSession, let tokenHash { sessions.remove(tokenHash: tokenHash) } }
        do {
            try await CallerIdentity.$current.withValue(identity) {
                try await next(context)
            }
        } catch let error as RPCError where error.code == .unauthenticated {
            // Revoked or expired since it was cached: PostgreSQL refused it.
            if let tokenHash { sessions.remove(tokenHash: tokenHash) }
            throw error
        }
    }

    /// The identity, and the session token's hash when it is a session. `fresh`: skip the cache.
    func resolve(_ metadata: Metadata, fresh: Bool) async throws -> (identity: CallerIdentity, tokenHash: [UInt8]?) {
        let apiKey = metadata[Self.apiKeyMetadataKey]
        let token = metadata[Self.sessionTokenMetadataKey]
        switch (apiKey, token) {
        case (nil, nil):
            return (.anonymous, nil)
        case (.some, .some):
            throw RPCError.unauthenticated("send either x-loacl-api-key or x-loacl-session-token, not both")
        case (let apiKey?, nil):
            guard Self.isPlausibleAPIKey(apiKey) else {
                throw RPCError.unauthenticated("x-loacl-api-key is malformed")
            }
            return (.tenant(TenantCredential(apiKey: apiKey, keyHash: vault.hash(apiKey: apiKey))), nil)
        case (nil, let token?):
            guard let hash = SessionTokens.hash(ofPresented: token) else {
                throw RPCError.unauthenticated("x-loacl-session-token is malformed")
            }
            let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
            if !fresh, let cached = sessions.record(tokenHash: hash, nowMs: nowMs) {
                return (.session(cached), hash)
            }
            let record = try await session(tokenHash: hash)
            if !fresh { sessions.store(record, tokenHash: hash) }
            return (.session(record), hash)
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
