import Foundation
import LOACLCrypto
import Logging

/// How StartAuthenticatedSession's JWTs are verified (loacld's `--jwt-*` options).
public struct UserTokenOptions: Sendable {
    /// HS256 shared secret (Supabase's legacy JWT secret).
    public var secret: String?
    /// A JWKS document on disk, read once at start-up.
    public var jwksFile: String?
    /// A JWKS URL (e.g. `https://<project>.supabase.co/auth/v1/.well-known/jwks.json`).
    public var jwksURL: String?
    /// Required `iss`, when set.
    public var issuer: String?
    /// A value `aud` must contain, when set.
    public var audience: String?

    public init(secret: String? = nil, jwksFile: String? = nil, jwksURL: String? = nil,
                issuer: String? = nil, audience: String? = nil) {
        self.secret = secret
        self.jwksFile = jwksFile
        self.jwksURL = jwksURL
        self.issuer = issuer
        self.audience = audience
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// nil when no secret, file or URL is set (authenticated sessions are off). Reads and checks
    /// the JWKS file; starts fetching the URL's keys in the background.
    public func makeVerifier(logger: Logger) throws(Invalid) -> UserTokenVerifier? {
        guard secret != nil || jwksFile != nil || jwksURL != nil else {
            if issuer != nil || audience != nil {
                throw Invalid(description: "--jwt-issuer and --jwt-audience need --jwt-secret, --jwt-jwks-file or --jwt-jwks-url")
            }
            return nil
        }
        var keys = JSONWebKeySet.empty
        if let jwksFile {
            guard let data = FileManager.default.contents(atPath: jwksFile) else {
                throw Invalid(description: "cannot read JWKS file \(jwksFile)")
            }
            do {
                keys = try JSONWebKeySet(json: data)
            } catch {
                throw Invalid(description: "JWKS file \(jwksFile): \(error)")
            }
            if !keys.skipped.isEmpty {
                logger.warning("JWKS file: keys skipped", metadata: ["file": "\(jwksFile)", "skipped": "\(keys.skipped)"])
            }
        }
        var remote: RemoteKeySet?
        if let jwksURL {
            guard let url = URL(string: jwksURL), ["https", "http"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
                throw Invalid(description: "--jwt-jwks-url must be an http(s) URL, not \(jwksURL)")
            }
            let set = RemoteKeySet(url: jwksURL, logger: logger)
            Task { await set.refresh() }
            remote = set
        }
        let verifier = JWTVerifier(secret: secret.map { Array($0.utf8) }, keys: keys, issuer: issuer, audience: audience)
        return UserTokenVerifier(verifier, remote: remote)
    }
}
