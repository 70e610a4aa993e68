import LOACLEncoding

/// `bytea` in PostgreSQL's hex text format (`\x` followed by two hex digits per byte), the form
/// used for text-format parameters and results.
public enum PostgresBytea {
    /// Text parameter for a `bytea` value.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        "\\x" + Hex.encode(bytes)
    }

    /// Bytes of a hex-format `bytea` value; `nil` if `text` is not in that format.
    public static func decode(_ text: String) -> [UInt8]? {
        guard text.utf8.starts(with: "\\x".utf8) else { return nil }
        return Hex.decode(String(text.dropFirst(2)))
    }

    /// Lowercase hex without the `\x` prefix (the form of the `loacl.tenant_key_hash` setting).
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        Hex.encode(bytes)
    }
}
