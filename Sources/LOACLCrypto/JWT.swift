import Foundation

/// A compact-serialised JWS (RFC 7515) split and decoded, not yet verified: what a verifier
/// needs to pick the key (`alg`, `kid`) and check the signature.
public struct JWT: Sendable {
    /// `alg` from the header, exactly as sent.
    public let algorithm: String
    /// `kid` from the header, if any.
    public let keyID: String?
    /// The claims, not yet trusted.
    let claims: [String: JSONValue]
    /// `header.payload` exactly as sent: what the signature covers.
    let signingInput: [UInt8]
    let signature: [UInt8]

    public init(parsing token: String) throws(JWTError) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .malformed("expected 3 dot-separated segments, found \(parts.count)") }
        guard let headerBytes = Base64URL.decode(parts[0]) else { throw .malformed("header is not base64url") }
        guard let payloadBytes = Base64URL.decode(parts[1]) else { throw .malformed("payload is not base64url") }
        guard let signature = Base64URL.decode(parts[2]) else { throw .malformed("signature is not base64url") }

        let header = try Self.object(headerBytes, "header")
        guard case let .string(alg)? = header["alg"] else { throw .malformed("header has no alg") }
        if case let .string(typ)? = header["typ"], typ.uppercased() != "JWT" {
            throw .malformed("unexpected typ \(typ.quoted(32))")
        }
        switch header["kid"] {
        case nil: keyID = nil
        case let .string(kid)?: keyID = kid
        default: throw .malformed("kid is not a string")
        }
        // Critical extensions are not understood, so a token that requires one is refused (RFC 7515 §4.1.11).
        guard header["crit"] == nil else { throw .malformed("crit header parameters are not supported") }
        algorithm = alg
        claims = try Self.object(payloadBytes, "payload")
        signingInput = Array(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        self.signature = signature
    }

    private static func object(_ bytes: [UInt8], _ what: String) throws(JWTError) -> [String: JSONValue] {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)),
              case let .object(object) = value else { throw .malformed("\(what) is not a JSON object") }
        return object
    }
}
