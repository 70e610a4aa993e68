import COpenSSL

/// SHA-256 (FIPS 180-4) via EVP.
public enum SHA256 {
    public static let byteCount = 32

    public static func hash(_ message: some Sequence<UInt8>) -> [UInt8] {
        withContiguousBytes(message) { input in
            [UInt8](unsafeUninitializedCapacity: byteCount) { out, initialized in
                var length: UInt32 = 0
                let ok = EVP_Digest(input.baseAddress, input.count, out.baseAddress, &length, EVP_sha256(), nil)
                precondition(ok == 1 && length == 32, "EVP_Digest(SHA-256) failed")
                initialized = byteCount
            }
        }
    }

    public static func hash(_ message: String) -> [UInt8] { hash(message.utf8) }
}
