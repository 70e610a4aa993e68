import Foundation

/// Why a token was rejected. Messages never include the token, a secret or key material.
public enum JWTError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(String)
    /// `none`, an algorithm LOACL does not implement, or HS256 without a configured secret.
    case unsupportedAlgorithm(String)
    /// The `kid` names no key of the set; nil: the token has no `kid` and the set has several keys.
    case unknownKey(String?)
    /// The key the `kid` names is of another type than the token's `alg` says.
    case algorithmMismatch(String)
    case badSignature
    case expired
    case notYetValid
    case invalidClaims(String)

    public var description: String {
        switch self {
        case let .malformed(why): "malformed JWT: \(why)"
        case let .unsupportedAlgorithm(alg): "unsupported JWT algorithm \(alg.quoted(32))"
        case let .unknownKey(kid?): "JWT kid \(kid.quoted(64)) is not in the key set"
        case .unknownKey(nil): "JWT has no kid and the key set has several keys"
        case let .algorithmMismatch(alg): "JWT algorithm \(alg.quoted(32)) does not match its key's type"
        case .badSignature: "JWT signature does not verify"
        case .expired: "JWT has expired"
        case .notYetValid: "JWT is not valid yet (nbf)"
        case let .invalidClaims(why): "invalid JWT claims: \(why)"
        }
    }
}

/// The verified claims of a token.
public struct JWTClaims: Sendable, Hashable {
    /// `sub`: for Supabase tokens, the user's id.
    public let subject: String?
    public let issuer: String?
    /// `aud`, normalised to a list (it may be a string or an array).
    public let audience: [String]
    public let expiresAt: Date?
    public let notBefore: Date?
    public let issuedAt: Date?
    /// `role` (Supabase: `authenticated`, `anon`, `service_role`).
    public let role: String?
    /// Every claim, including the ones above.
    public let all: [String: JSONValue]
}

/// Verifies JSON Web Tokens (RFC 7519) as identity providers issue them:
/// - HS256 against the shared `secret` (Supabase's legacy JWT secret) and only against it;
/// - RS256, ES256 and EdDSA (Ed25519) against the `keys` of a JWKS, chosen by `kid` (required
///   when the set holds more than one key), whose type must match the token's `alg`;
/// - `none` and every other algorithm are rejected.
/// Then `exp` must be in the future (and present, unless `requireExpiration` is off), `nbf` (if
/// present) in the past, each allowing `leeway` for clock skew; `iss` must equal `issuer` and
/// `aud` (a string or an array) must contain `audience` when those are set.
public struct JWTVerifier: Sendable {
    private let secret: [UInt8]?
    public var keys: JSONWebKeySet
    public var issuer: String?
    public var audience: String?
    public var leeway: TimeInterval
    /// Tokens without `exp` never expire; by default they are rejected.
    public var requireExpiration: Bool

    /// The algorithms verified with a JWKS key (HS256 uses the secret; nothing else is accepted).
    public static let keySetAlgorithms: Set<String> = ["RS256", "ES256", "EdDSA"]

    public init(secret: [UInt8]?, keys: JSONWebKeySet = .empty, issuer: String? = nil, audience: String? = nil,
                leeway: TimeInterval = 30, requireExpiration: Bool = true) {
        self.secret = secret
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.requireExpiration = requireExpiration
    }

    /// Supabase's JWT secret is used as its UTF-8 bytes.
    public init(secret: String, leeway: TimeInterval = 30, requireExpiration: Bool = true) {
        self.init(secret: Array(secret.utf8), leeway: leeway, requireExpiration: requireExpiration)
    }

    public func verify(_ token: String, now: Date = Date()) throws(JWTError) -> JWTClaims {
        try verify(JWT(parsing: token), now: now)
    }

    public func verify(_ jwt: JWT, now: Date = Date()) throws(JWTError) -> JWTClaims {
        try verifySignature(jwt)
        return try checkedClaims(jwt.claims, now: now)
    }

    private func verifySignature(_ jwt: JWT) throws(JWTError) {
        switch jwt.algorithm {
        case "HS256":
            // Never against a JWKS key: an HS256 token "signed" with a public key must fail.
            guard let secret else { throw .unsupportedAlgorithm(jwt.algorithm) }
            guard HMACSHA256.isValid(jwt.signature, key: secret, message: jwt.signingInput) else { throw .badSignature }
        case "RS256", "EdDSA":
            let key = try keys.key(algorithm: jwt.algorithm, keyID: jwt.keyID)
            guard key.isValidSignature(jwt.signature, for: jwt.signingInput) else { throw .badSignature }
        case "ES256":
            let key = try keys.key(algorithm: jwt.algorithm, keyID: jwt.keyID)
            guard let der = ECDSASignature.der(fromRawP256: jwt.signature),
                  key.isValidSignature(der, for: jwt.signingInput) else { throw .badSignature }
        default:
            throw .unsupportedAlgorithm(jwt.algorithm)
        }
    }

    private func checkedClaims(_ claims: [String: JSONValue], now: Date) throws(JWTError) -> JWTClaims {
        let expiresAt = try Self.date(claims["exp"], "exp")
        let notBefore = try Self.date(claims["nbf"], "nbf")
        if let expiresAt {
            guard now.timeIntervalSince(expiresAt) < leeway else { throw .expired }
        } else if requireExpiration {
            throw .invalidClaims("exp is missing")
        }
        if let notBefore, notBefore.timeIntervalSince(now) > leeway { throw .notYetValid }

        let audience: [String]
        switch claims["aud"] {
        case nil, .null?: audience = []
        case let .string(single)?: audience = [single]
        case let .array(values)?: audience = values.compactMap(\.stringValue)
        default: throw .invalidClaims("aud is neither a string nor an array")
        }
        let issuer = claims["iss"]?.stringValue
        if let expected = self.issuer, issuer != expected { throw .invalidClaims("iss is not the configured issuer") }
        if let expected = self.audience, !audience.contains(expected) {
            throw .invalidClaims("aud does not include the configured audience")
        }
        return JWTClaims(subject: claims["sub"]?.stringValue, issuer: issuer,
                         audience: audience, expiresAt: expiresAt, notBefore: notBefore,
                         issuedAt: try Self.date(claims["iat"], "iat"), role: claims["role"]?.stringValue,
                         all: claims)
    }

    private static func date(_ value: JSONValue?, _ name: String) throws(JWTError) -> Date? {
        switch value {
        case nil, .null?: return nil
        case let .number(seconds)? where seconds.isFinite: return Date(timeIntervalSince1970: seconds)
        default: throw .invalidClaims("\(name) is not a number")
        }
    }
}

extension JWTVerifier {
    /// Makes an HS256 token; for tests and tools (the server only verifies).
    public static func sign(claims json: String, secret: [UInt8], header: String = #"{"alg":"HS256","typ":"JWT"}"#) -> String {
        let input = Base64URL.encode(header.utf8) + "." + Base64URL.encode(json.utf8)
        return input + "." + Base64URL.encode(HMACSHA256.authenticate(key: secret, message: input))
    }
}
