import Foundation

/// Why a token was rejected. Messages never include the token or the secret.
public enum JWTError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(String)
    case unsupportedAlgorithm(String)
    case badSignature
    case expired
    case notYetValid
    case invalidClaims(String)

    public var description: String {
        switch self {
        case let .malformed(why): "malformed JWT: \(why)"
        case let .unsupportedAlgorithm(alg): "unsupported JWT algorithm \"\(alg)\" (only HS256 is accepted)"
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

/// Verifies HS256 JSON Web Tokens (RFC 7519) as issued by Supabase Auth: the header must say
/// `"alg":"HS256"`, the HMAC-SHA256 signature must match, `exp` must be in the future and `nbf`
/// (if present) in the past, each allowing `leeway` for clock skew.
public struct JWTVerifier: Sendable {
    private let secret: [UInt8]
    public var leeway: TimeInterval
    /// Tokens without `exp` never expire; by default they are rejected.
    public var requireExpiration: Bool

    public init(secret: [UInt8], leeway: TimeInterval = 30, requireExpiration: Bool = true) {
        self.secret = secret
        self.leeway = leeway
        self.requireExpiration = requireExpiration
    }

    /// Supabase's JWT secret is used as its UTF-8 bytes.
    public init(secret: String, leeway: TimeInterval = 30, requireExpiration: Bool = true) {
        self.init(secret: Array(secret.utf8), leeway: leeway, requireExpiration: requireExpiration)
    }

    public func verify(_ token: String, now: Date = Date()) throws(JWTError) -> JWTClaims {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .malformed("expected 3 dot-separated segments, found \(parts.count)") }
        guard let headerBytes = Base64URL.decode(parts[0]) else { throw .malformed("header is not base64url") }
        guard let payloadBytes = Base64URL.decode(parts[1]) else { throw .malformed("payload is not base64url") }
        guard let signature = Base64URL.decode(parts[2]) else { throw .malformed("signature is not base64url") }

        let header = try Self.object(headerBytes, "header")
        guard case let .string(alg)? = header["alg"] else { throw .malformed("header has no alg") }
        guard alg == "HS256" else { throw .unsupportedAlgorithm(alg) }
        if case let .string(typ)? = header["typ"], typ.uppercased() != "JWT" {
            throw .malformed("unexpected typ \"\(typ)\"")
        }

        // The MAC covers the segments exactly as sent.
        let signingInput = token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count)
        guard HMACSHA256.isValid(signature, key: secret, message: signingInput) else { throw .badSignature }

        let claims = try Self.object(payloadBytes, "payload")
        let expiresAt = try Self.date(claims["exp"], "exp")
        let notBefore = try Self.date(claims["nbf"], "nbf")
        if let expiresAt {
            guard now.timeIntervalSince(expiresAt) < leeway else { throw .expired }
        } else if requireExpiration {
            throw .invalidClaims("exp is missing")
        }
        if let notBefore, notBefore.timeIntervalSince(now) > leeway { throw .notYetValid }

        let audience: [String] = switch claims["aud"] {
        case let .string(single)?: [single]
        case let .array(values)?: values.compactMap(\.stringValue)
        default: []
        }
        return JWTClaims(subject: claims["sub"]?.stringValue, issuer: claims["iss"]?.stringValue,
                         audience: audience, expiresAt: expiresAt, notBefore: notBefore,
                         issuedAt: try Self.date(claims["iat"], "iat"), role: claims["role"]?.stringValue,
                         all: claims)
    }

    private static func object(_ bytes: [UInt8], _ what: String) throws(JWTError) -> [String: JSONValue] {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)),
              case let .object(object) = value else { throw .malformed("\(what) is not a JSON object") }
        return object
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
