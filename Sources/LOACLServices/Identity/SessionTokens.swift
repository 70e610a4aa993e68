import LOACLCrypto

/// Session bearer tokens: 32 random bytes, base64url without padding (43 characters), never
/// starting with `-` (a token that did — one in 64 — was read as an option on command lines:
/// `loacl chat --session-token -x…` failed with "Missing value"). The database keeps only their
/// SHA-256.
public enum SessionTokens {
    public static func generate() -> (token: String, hash: [UInt8]) {
        var token = Base64URL.encode(SecureRandom.bytes(32))
        while token.utf8.first == UInt8(ascii: "-") { token = Base64URL.encode(SecureRandom.bytes(32)) }
        return (token, SHA256.hash(token))
    }

    /// The hash to look a presented token up by, or nil when it cannot be a token we issued.
    public static func hash(ofPresented token: String) -> [UInt8]? {
        guard token.utf8.count == 43, let bytes = Base64URL.decode(token), bytes.count == 32 else { return nil }
        return SHA256.hash(token)
    }
}
