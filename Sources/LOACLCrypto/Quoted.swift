extension StringProtocol {
    /// At most `limit` characters of a value from a token or a JWKS, for error messages and
    /// logs: anything but printable ASCII becomes `?`, so a crafted `kid` cannot forge log lines.
    func quoted(_ limit: Int) -> String {
        "\"" + String(prefix(limit).unicodeScalars.map { (0x20..<0x7F).contains($0.value) && $0 != "\"" ? Character($0) : "?" }) + "\""
    }
}
