import COpenSSL

/// HMAC-SHA256 (RFC 2104) via EVP_MAC.
public enum HMACSHA256 {
    public static let byteCount = 32
    private static let placeholderKey: [UInt8] = [0]

    public static func authenticate(key: some Sequence<UInt8>, message: some Sequence<UInt8>) -> [UInt8] {
        withContiguousBytes(key) { key in
            withContiguousBytes(message) { message in
                if let keyBase = key.baseAddress {
                    return mac(key: keyBase, keyCount: key.count, message: message)
                }
                // EVP_MAC refuses a NULL key even when its length is 0, yet an empty key is legal HMAC.
                return placeholderKey.withUnsafeBufferPointer { mac(key: $0.baseAddress!, keyCount: 0, message: message) }
            }
        }
    }

    public static func authenticate(key: some Sequence<UInt8>, message: String) -> [UInt8] {
        authenticate(key: key, message: message.utf8)
    }

    /// Recomputes the MAC and compares it in constant time.
    public static func isValid(_ mac: some Sequence<UInt8>, key: some Sequence<UInt8>, message: some Sequence<UInt8>) -> Bool {
        ConstantTime.equals(authenticate(key: key, message: message), Array(mac))
    }

    private static func mac(key: UnsafePointer<UInt8>, keyCount: Int, message: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: byteCount) { out, initialized in
            var length = 0
            let result = EVP_Q_mac(nil, "HMAC", nil, "SHA256", nil, key, keyCount,
                                   message.baseAddress, message.count, out.baseAddress, byteCount, &length)
            precondition(result != nil && length == byteCount, "\(CryptoError.fromErrorQueue("HMAC-SHA256 failed"))")
            initialized = byteCount
        }
    }
}
