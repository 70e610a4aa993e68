import Foundation

/// One signature-verification key from a JWKS (RFC 7517).
public struct JSONWebKey: Sendable {
    /// `kid`, if the set gives one.
    public let keyID: String?
    /// The JWS `alg` this key verifies: RS256 (RSA), ES256 (EC P-256) or EdDSA (Ed25519).
    /// A key whose own `alg` names anything else is not loaded.
    public let algorithm: String
    public let publicKey: PublicKey

    public init(keyID: String?, publicKey: PublicKey) {
        self.keyID = keyID
        self.publicKey = publicKey
        algorithm = switch publicKey.kind {
        case .rsa: "RS256"
        case .ecP256: "ES256"
        case .ed25519: "EdDSA"
        }
    }
}

/// Why a JWKS document could not be used at all.
public enum JWKSError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(String)
    /// The document parsed but held no key LOACL can verify with; the reasons per key.
    case noUsableKeys([String])

    public var description: String {
        switch self {
        case let .malformed(why): "malformed JWKS: \(why)"
        case let .noUsableKeys(reasons):
            "JWKS has no usable signature key (RS256, ES256 or EdDSA)" + (reasons.isEmpty ? "" : ": " + reasons.joined(separator: "; "))
        }
    }
}

/// The usable keys of a JWKS document. Keys for encryption (`use: enc`), other algorithms
/// (RS384, PS256, …), other curves, and RSA moduli under 2048 bits are skipped and listed in
/// `skipped`; a set with no usable key at all is an error.
public struct JSONWebKeySet: Sendable {
    public let keys: [JSONWebKey]
    /// Why each skipped key was skipped (for the log; no key material).
    public let skipped: [String]

    public static let empty = JSONWebKeySet(keys: [], skipped: [])

    public init(keys: [JSONWebKey], skipped: [String] = []) {
        self.keys = keys
        self.skipped = skipped
    }

    public init(json: some Sequence<UInt8>) throws(JWKSError) {
        guard let document = try? JSONDecoder().decode(JSONValue.self, from: Data(json)),
              case let .object(object) = document else { throw .malformed("not a JSON object") }
        guard case let .array(entries)? = object["keys"] else { throw .malformed("no \"keys\" array") }
        var keys: [JSONWebKey] = []
        var skipped: [String] = []
        for (index, entry) in entries.enumerated() {
            guard case let .object(fields) = entry else {
                skipped.append("key \(index): not an object")
                continue
            }
            do {
                keys.append(try Self.key(fields))
            } catch {
                let name = fields["kid"]?.stringValue.map { $0.quoted(64) } ?? "\(index)"
                skipped.append("key \(name): \(error.reason)")
            }
        }
        guard !keys.isEmpty else { throw .noUsableKeys(skipped) }
        self.init(keys: keys, skipped: skipped)
    }

    /// These keys followed by `other`'s.
    public func merging(_ other: JSONWebKeySet) -> JSONWebKeySet {
        JSONWebKeySet(keys: keys + other.keys, skipped: skipped + other.skipped)
    }

    public func contains(keyID: String) -> Bool {
        keys.contains { $0.keyID == keyID }
    }

    /// The key that must verify a token with this `alg` and `kid`. Without a `kid` the set must
    /// hold exactly one key (a set with several keys gives no way to choose one safely).
    public func key(algorithm: String, keyID: String?) throws(JWTError) -> PublicKey {
        // No JWKS configured: only HS256 can be accepted.
        guard !keys.isEmpty else { throw .unsupportedAlgorithm(algorithm) }
        let candidates: [JSONWebKey]
        if let keyID {
            candidates = keys.filter { $0.keyID == keyID }
            guard !candidates.isEmpty else { throw .unknownKey(keyID) }
        } else {
            guard keys.count == 1 else { throw .unknownKey(nil) }
            candidates = keys
        }
        guard let key = candidates.first(where: { $0.algorithm == algorithm }) else { throw .algorithmMismatch(algorithm) }
        return key.publicKey
    }

    // MARK: One key

    private struct Skip: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    private static func key(_ fields: [String: JSONValue]) throws(Skip) -> JSONWebKey {
        if let use = fields["use"]?.stringValue, use != "sig" { throw Skip("use is \(use.quoted(16))") }
        if case let .array(operations)? = fields["key_ops"], !operations.contains(.string("verify")) {
            throw Skip("key_ops has no \"verify\"")
        }
        let keyType = fields["kty"]?.stringValue ?? ""
        let publicKey: PublicKey
        do {
            switch (keyType, fields["crv"]?.stringValue) {
            case ("RSA", _):
                publicKey = try .rsa(modulus: bytes(fields, "n"), exponent: bytes(fields, "e"))
            case ("EC", "P-256"?):
                publicKey = try .ecP256(x: bytes(fields, "x"), y: bytes(fields, "y"))
            case ("OKP", "Ed25519"?):
                publicKey = try .ed25519(bytes(fields, "x"))
            case let (type, curve):
                throw Skip("unsupported key type \(type.quoted(16))" + (curve.map { " curve \($0.quoted(16))" } ?? ""))
            }
        } catch let error as Skip {
            throw error
        } catch {
            throw Skip("\(error)")
        }
        let key = JSONWebKey(keyID: fields["kid"]?.stringValue, publicKey: publicKey)
        if let declared = fields["alg"]?.stringValue, declared != key.algorithm {
            // Ed25519 keys sometimes say "Ed25519" (draft-ietf-jose-fully-specified-algorithms).
            guard declared == "Ed25519" && key.algorithm == "EdDSA" else {
                throw Skip("alg \(declared.quoted(16)) is not supported for \(publicKey.kind.rawValue) keys")
            }
        }
        return key
    }

    private static func bytes(_ fields: [String: JSONValue], _ name: String) throws(Skip) -> [UInt8] {
        guard let text = fields[name]?.stringValue, let bytes = Base64URL.decode(text), !bytes.isEmpty else {
            throw Skip("\"\(name)\" is missing or not base64url")
        }
        return bytes
    }
}
