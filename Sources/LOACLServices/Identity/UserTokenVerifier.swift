import Foundation
import LOACLCrypto

/// Verifies the identity provider's JWT of StartAuthenticatedSession: the HS256 secret and the
/// JWKS file's keys are fixed at start-up (`verifier`); the keys of a JWKS URL (`remote`) are
/// looked up per token, so a rotated key is fetched when a token first names its `kid`.
public struct UserTokenVerifier: Sendable {
    public let verifier: JWTVerifier
    public let remote: RemoteKeySet?

    public init(_ verifier: JWTVerifier, remote: RemoteKeySet? = nil) {
        self.verifier = verifier
        self.remote = remote
    }

    public func verify(_ token: String, now: Date = Date()) async throws(JWTError) -> JWTClaims {
        let jwt = try JWT(parsing: token)
        // Only a token that a JWKS key could verify may make the remote set refresh.
        guard let remote, JWTVerifier.keySetAlgorithms.contains(jwt.algorithm) else { return try verifier.verify(jwt, now: now) }
        var withRemoteKeys = verifier
        withRemoteKeys.keys = verifier.keys.merging(await remote.keys(for: jwt.keyID))
        return try withRemoteKeys.verify(jwt, now: now)
    }
}
