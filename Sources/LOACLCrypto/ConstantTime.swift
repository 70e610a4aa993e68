import COpenSSL

public enum ConstantTime {
    /// Compares two byte strings without an early exit on the first difference (CRYPTO_memcmp).
    /// Only the lengths, which are not secret for MACs and hashes, leak through timing.
    public static func equals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        guard !lhs.isEmpty else { return true }
        return lhs.withUnsafeBytes { a in
            rhs.withUnsafeBytes { b in CRYPTO_memcmp(a.baseAddress, b.baseAddress, a.count) == 0 }
        }
    }
}
