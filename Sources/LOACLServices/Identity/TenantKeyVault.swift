import Foundation
import LOACLCrypto

/// Protects tenants' API keys with the server's 32-byte master key: AES-256-GCM for storage and
/// HMAC-SHA256 for look-ups. Both use subkeys derived from the master key (HMAC with a fixed
/// label), so the encryption key and the hashing key are never the same bytes.
public struct TenantKeyVault: Sendable {
    private let encryptionKey: [UInt8]
    private let hashKey: [UInt8]

    public struct InvalidMasterKey: Error, CustomStringConvertible {
        public var description: String {
            "the master key must be 32 bytes, written as 64 hex digits or base64 (44 characters)"
        }
    }

    public init(masterKey: [UInt8]) throws(InvalidMasterKey) {
        guard masterKey.count == 32 else { throw InvalidMasterKey() }
        encryptionKey = HMACSHA256.authenticate(key: masterKey, message: "loacl tenant key encryption v1")
        hashKey = HMACSHA256.authenticate(key: masterKey, message: "loacl tenant key hash v1")
    }

    /// Parses a master key written as 64 hex digits or as standard/URL-safe base64 of 32 bytes
    /// (surrounding whitespace, e.g. a key file's newline, is ignored).
    public static func parseMasterKey(_ text: String) throws(InvalidMasterKey) -> [UInt8] {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.utf8.count == 64, let bytes = Hex.decode(trimmed) { return bytes }
        if let data = Data(base64Encoded: trimmed), data.count == 32 { return [UInt8](data) }
        if let bytes = Base64URL.decode(trimmed), bytes.count == 32 { return bytes }
        throw InvalidMasterKey()
    }

    /// The keyed hash stored in `tenants.api_key_hash` and set as `loacl.tenant_key_hash`.
    public func hash(apiKey: String) -> [UInt8] {
        HMACSHA256.authenticate(key: hashKey, message: apiKey)
    }

    /// `nonce || ciphertext || tag`, bound to the key's hash as associated data so a ciphertext
    /// cannot be moved to another tenant's row.
    public func seal(apiKey: String, hash: [UInt8]) throws -> [UInt8] {
        try AESGCM.seal(key32: encryptionKey, plaintext: Array(apiKey.utf8), aad: hash)
    }

    public func open(_ sealed: [UInt8], hash: [UInt8]) throws -> String {
        String(decoding: try AESGCM.open(key32: encryptionKey, sealed: sealed, aad: hash), as: UTF8.self)
    }

    /// A recognisable, non-secret hint such as `sk-...abcd` (last four characters only).
    public static func hint(for apiKey: String) -> String {
        let prefix = apiKey.hasPrefix("sk-") ? "sk-" : ""
        return prefix + "..." + String(apiKey.suffix(apiKey.count >= 12 ? 4 : 0))
    }
}
