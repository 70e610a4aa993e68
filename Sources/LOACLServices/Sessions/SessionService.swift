import Foundation
import LOACLCore
import LOACLCrypto
import LOACLMessages
import LOACLPostgres
import LOACLServerCore

/// `loacl.v1.SessionService`: guest and authenticated sessions and their bearer tokens.
public struct SessionService: Sendable {
    let database: Database
    /// nil: authenticated sessions are disabled (no JWT secret or JWKS configured).
    let userTokens: UserTokenVerifier?

    public init(database: Database, userTokens: UserTokenVerifier?) {
        self.database = database
        self.userTokens = userTokens
    }

    public func startGuestSession(_ request: Loacl_V1_StartGuestSessionRequest, context: ServerContext) async throws -> Loacl_V1_StartSessionResponse {
        let assistantID = try Validate.uuid(request.assistantID, "assistant_id")
        let fingerprint = try Validate.fingerprint(request.fingerprint)
        let metadata = try Validate.metadata(request.metadataJson)
        let (token, hash) = SessionTokens.generate()
        let settings = IdentitySettings(fingerprint: fingerprint)
        let record = try await database.transaction(settings: settings) { connection in
            try connection.commit(after: [PostgresStatement("""
                INSERT INTO loacl.sessions (assistant_id, session_type, fingerprint, token_hash, metadata)
                VALUES ($1, 'guest', $2, $3::bytea, $4::jsonb) RETURNING \(SessionRows.columns)
                """, [assistantID, fingerprint, PostgresBytea.encode(hash), metadata])])[0].one("session")
        }
        return try Self.started(record, token: token)
    }

    public func startAuthenticatedSession(_ request: Loacl_V1_StartAuthenticatedSessionRequest, context: ServerContext) async throws -> Loacl_V1_StartSessionResponse {
        let assistantID = try Validate.uuid(request.assistantID, "assistant_id")
        let metadata = try Validate.metadata(request.metadataJson)
        guard !request.jwt.isEmpty else { throw RPCError.invalidArgument("jwt is required") }
        guard let userTokens else {
            throw RPCError(.failedPrecondition, "authenticated sessions are disabled on this server (no JWT secret or JWKS)")
        }
        let claims: JWTClaims
        do {
            claims = try await userTokens.verify(request.jwt)
        } catch {
            throw RPCError.unauthenticated("\(error)")
        }
        guard let subject = claims.subject, let userID = UUID(uuidString: subject)?.uuidString.lowercased() else {
            throw RPCError.unauthenticated("JWT sub must be a user id (UUID)")
        }
        // The session ends when the token does; an `exp`-less token (only accepted when the
        // verifier allows it) gives a session without expiry.
        let expiresMs = claims.expiresAt.map { String(Int64($0.timeIntervalSince1970 * 1000)) }
        let (token, hash) = SessionTokens.generate()
        let settings = IdentitySettings(userID: userID)
        let record = try await database.transaction(settings: settings) { connection in
            try connection.commit(after: [PostgresStatement("""
                INSERT INTO loacl.sessions (assistant_id, session_type, user_id, token_hash, metadata, expires_at)
                VALUES ($1, 'authenticated', $2, $3::bytea, $4::jsonb,
                        CASE WHEN $5::int8 IS NULL THEN NULL ELSE \(SQL.timestamp(millis: "$5")) END)
                RETURNING \(SessionRows.columns)
                """, [assistantID, userID, PostgresBytea.encode(hash), metadata, expiresMs])])[0].one("session")
        }
        return try Self.started(record, token: token)
    }

    public func getSession(_ request: Loacl_V1_GetSessionRequest, context: ServerContext) async throws -> Loacl_V1_GetSessionResponse {
        // The interceptor just read the session row (and refreshed last_active_at if needed).
        var response = Loacl_V1_GetSessionResponse()
        response.session = SessionRows.message(try CallerIdentity.requireSession())
        return response
    }

    public func refreshSession(_ request: Loacl_V1_RefreshSessionRequest, context: ServerContext) async throws -> Loacl_V1_RefreshSessionResponse {
        let session = try CallerIdentity.requireSession()
        guard case .guest = session.kind else {
            throw RPCError(.failedPrecondition, "authenticated sessions last as long as their JWT; start a new session with a fresh token")
        }
        let row = try await database.transaction { connection in
            try connection.execParams("""
                UPDATE loacl.sessions
                SET expires_at = now() + (SELECT a.guest_session_ttl FROM loacl.session_assistant() a),
                    last_active_at = now()
                WHERE id = $1 RETURNING \(SessionRows.columns)
                """, [session.id]).one("session")
        }
        guard let record = SessionRows.record(row) else { throw RPCError.internal("unreadable session row") }
        var response = Loacl_V1_RefreshSessionResponse()
        response.session = SessionRows.message(record)
        return response
    }

    public func endSession(_ request: Loacl_V1_EndSessionRequest, context: ServerContext) async throws -> Loacl_V1_EndSessionResponse {
        let session = try CallerIdentity.requireSession()
        let revoked = try await database.transaction { connection in
            try connection.execParams("SELECT loacl.revoke_session($1::uuid)", [session.id]).scalar == "t"
        }
        guard revoked else { throw RPCError.unauthenticated("session is no longer active") }
        return Loacl_V1_EndSessionResponse()
    }

    private static func started(_ row: PostgresRow, token: String) throws(RPCError) -> Loacl_V1_StartSessionResponse {
        guard let record = SessionRows.record(row) else { throw RPCError.internal("unreadable session row") }
        var response = Loacl_V1_StartSessionResponse()
        response.session = SessionRows.message(record)
        response.sessionToken = token
        return response
    }
}
