import COpenSSL

/// A public signature key (RSA, EC P-256 or Ed25519) held as an OpenSSL `EVP_PKEY`, built from
/// the raw parameters a JWKS publishes.
///
/// `@unchecked Sendable`: the `EVP_PKEY` is created once in `init`, never modified afterwards,
/// and freed in `deinit`; OpenSSL 3 allows one key to be used by several threads at once for
/// verification (openssl-threads(7)), and each `verify` uses its own `EVP_MD_CTX`.
public final class PublicKey: @unchecked Sendable {
    public enum Kind: String, Sendable, Hashable {
        case rsa = "RSA"
        case ecP256 = "EC P-256"
        case ed25519 = "Ed25519"
    }

    public let kind: Kind
    private let key: OpaquePointer

    /// Smallest RSA modulus accepted, in bits.
    public static let minimumRSABits = 2048

    private init(kind: Kind, key: OpaquePointer) {
        self.kind = kind
        self.key = key
    }

    deinit { EVP_PKEY_free(key) }

    /// RSA from the big-endian modulus and public exponent.
    public static func rsa(modulus: [UInt8], exponent: [UInt8]) throws(CryptoError) -> PublicKey {
        let modulus = Array(modulus.drop { $0 == 0 })
        guard modulus.count * 8 >= minimumRSABits else {
            throw .invalidKeyLength(expected: minimumRSABits / 8, actual: modulus.count)
        }
        guard !exponent.isEmpty, exponent.count <= 8 else { throw .openSSL("RSA exponent has \(exponent.count) bytes") }
        return try fromData(.rsa, type: "RSA", [.unsigned(OSSL_PKEY_PARAM_RSA_N, modulus), .unsigned(OSSL_PKEY_PARAM_RSA_E, exponent)])
    }

    /// EC P-256 from the 32-byte affine coordinates. The point must lie on the curve.
    public static func ecP256(x: [UInt8], y: [UInt8]) throws(CryptoError) -> PublicKey {
        guard x.count == 32 else { throw .invalidKeyLength(expected: 32, actual: x.count) }
        guard y.count == 32 else { throw .invalidKeyLength(expected: 32, actual: y.count) }
        return try fromData(.ecP256, type: "EC", [
            .utf8(OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1"),
            .octets(OSSL_PKEY_PARAM_PUB_KEY, [0x04] + x + y), // uncompressed SEC1 point
        ])
    }

    /// Ed25519 from its 32-byte public key.
    public static func ed25519(_ raw: [UInt8]) throws(CryptoError) -> PublicKey {
        guard raw.count == 32 else { throw .invalidKeyLength(expected: 32, actual: raw.count) }
        guard let key = raw.withUnsafeBufferPointer({ EVP_PKEY_new_raw_public_key_ex(nil, "ED25519", nil, $0.baseAddress, $0.count) }) else {
            throw CryptoError.fromErrorQueue("Ed25519 public key")
        }
        return PublicKey(kind: .ed25519, key: key)
    }

    /// Checks `signature` over `message`: RSASSA-PKCS1-v1_5 with SHA-256 (RSA), ECDSA with
    /// SHA-256 and a DER signature (EC), or pure Ed25519.
    public func isValidSignature(_ signature: [UInt8], for message: some Sequence<UInt8>) -> Bool {
        guard let context = EVP_MD_CTX_new() else { return false }
        defer {
            EVP_MD_CTX_free(context)
            ERR_clear_error() // a failed verification leaves entries behind
        }
        let digest: String? = kind == .ed25519 ? nil : "SHA256"
        guard EVP_DigestVerifyInit_ex(context, nil, digest, nil, nil, key, nil) == 1 else { return false }
        return withContiguousBytes(message) { message in
            signature.withUnsafeBufferPointer { signature in
                EVP_DigestVerify(context, signature.baseAddress, signature.count, message.baseAddress, message.count) == 1
            }
        }
    }

    // MARK: EVP_PKEY_fromdata

    /// One entry of the OSSL_PARAM array for EVP_PKEY_fromdata.
    private enum Parameter {
        /// An unsigned integer, given big-endian.
        case unsigned(String, [UInt8])
        case utf8(String, String)
        case octets(String, [UInt8])
    }

    private static func fromData(_ kind: Kind, type: String, _ parameters: [Parameter]) throws(CryptoError) -> PublicKey {
        // An OSSL_PARAM only points at its name and data: copy both into memory that lives
        // until EVP_PKEY_fromdata has returned.
        var allocations: [UnsafeMutableRawPointer] = []
        defer { allocations.forEach { $0.deallocate() } }
        func copy(_ bytes: [UInt8]) -> UnsafeMutableRawPointer {
            let memory = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
            bytes.withUnsafeBytes { memory.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(memory), byteCount: bytes.count) }
            allocations.append(memory)
            return memory
        }
        func cString(_ text: String) -> UnsafeMutablePointer<CChar> {
            copy(Array(text.utf8) + [0]).bindMemory(to: CChar.self, capacity: text.utf8.count + 1)
        }
        let littleEndian = 1.littleEndian == 1
        var params = parameters.map { parameter in
            switch parameter {
            case let .unsigned(name, bigEndian):
                // OSSL_PARAM integers are in the machine's byte order.
                let native = littleEndian ? Array(bigEndian.reversed()) : bigEndian
                return OSSL_PARAM_construct_BN(cString(name), copy(native).bindMemory(to: UInt8.self, capacity: native.count), native.count)
            case let .utf8(name, value):
                return OSSL_PARAM_construct_utf8_string(cString(name), cString(value), 0)
            case let .octets(name, bytes):
                return OSSL_PARAM_construct_octet_string(cString(name), copy(bytes), bytes.count)
            }
        }
        params.append(OSSL_PARAM_construct_end())

        guard let context = EVP_PKEY_CTX_new_from_name(nil, type, nil) else { throw .fromErrorQueue("\(type) key context") }
        defer { EVP_PKEY_CTX_free(context) }
        var key: OpaquePointer?
        guard EVP_PKEY_fromdata_init(context) == 1,
              EVP_PKEY_fromdata(context, &key, loacl_EVP_PKEY_PUBLIC_KEY(), &params) == 1, let key else {
            throw .fromErrorQueue("\(kind.rawValue) public key")
        }
        let publicKey = PublicKey(kind: kind, key: key)
        try publicKey.check()
        return publicKey
    }

    /// EVP_PKEY_public_check: the EC point is on the curve, the RSA modulus is odd and so on.
    private func check() throws(CryptoError) {
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, key, nil) else { throw .fromErrorQueue("key check context") }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_public_check(context) == 1 else { throw .fromErrorQueue("\(kind.rawValue) public key check") }
    }
}
