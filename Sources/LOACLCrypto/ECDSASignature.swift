import COpenSSL

/// ECDSA signature encodings: JWS (RFC 7518 §3.4) sends `r || s` as two fixed-size big-endian
/// integers; OpenSSL verifies the DER `ECDSA-Sig-Value` SEQUENCE.
public enum ECDSASignature {
    /// DER for a raw P-256 signature (exactly 64 bytes: 32 for r, 32 for s); nil for any other
    /// length or a zero component.
    public static func der(fromRawP256 raw: [UInt8]) -> [UInt8]? {
        guard raw.count == 64 else { return nil }
        let half = raw.count / 2
        guard raw[..<half].contains(where: { $0 != 0 }), raw[half...].contains(where: { $0 != 0 }) else { return nil }
        guard let signature = ECDSA_SIG_new() else { return nil }
        defer { ECDSA_SIG_free(signature) }
        let r = raw.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32(half), nil) }
        let s = raw.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress! + half, Int32(half), nil) }
        // ECDSA_SIG_set0 takes ownership of both numbers on success only.
        guard let r, let s, ECDSA_SIG_set0(signature, r, s) == 1 else {
            BN_free(r)
            BN_free(s)
            return nil
        }
        let length = i2d_ECDSA_SIG(signature, nil)
        guard length > 0 else { return nil }
        return [UInt8](unsafeUninitializedCapacity: Int(length)) { buffer, initialized in
            var cursor = buffer.baseAddress
            initialized = Int(max(0, i2d_ECDSA_SIG(signature, &cursor)))
        }
    }
}
