import COpenSSL

/// AES-256-GCM authenticated encryption via EVP. A sealed box is `nonce(12) || ciphertext || tag(16)`
/// with a fresh random nonce per message, so one key can safely seal about 2^32 messages.
public enum AESGCM {
    public static let keyByteCount = 32
    public static let nonceByteCount = 12
    public static let tagByteCount = 16

    public static func seal(key32 key: [UInt8], plaintext: [UInt8], aad: [UInt8] = []) throws(CryptoError) -> [UInt8] {
        try seal(key32: key, nonce: SecureRandom.bytes(nonceByteCount), plaintext: plaintext, aad: aad)
    }

    /// Seals with a caller-chosen nonce. Only for known-answer tests: reusing a nonce with the same
    /// key destroys GCM's confidentiality and integrity.
    public static func seal(key32 key: [UInt8], nonce: [UInt8], plaintext: [UInt8], aad: [UInt8] = []) throws(CryptoError) -> [UInt8] {
        try checkKey(key)
        guard nonce.count == nonceByteCount else { throw .openSSL("nonce must be \(nonceByteCount) bytes") }
        let cipher = try CipherContext(encrypt: true, key: key, nonce: nonce)
        try cipher.authenticate(aad)
        let ciphertext = try cipher.update(plaintext)
        try cipher.finish()
        return try nonce + ciphertext + cipher.tag()
    }

    /// Opens a box made by `seal`; throws `.authenticationFailed` if anything was altered.
    public static func open(key32 key: [UInt8], sealed box: [UInt8], aad: [UInt8] = []) throws(CryptoError) -> [UInt8] {
        try checkKey(key)
        guard box.count >= nonceByteCount + tagByteCount else { throw .malformedSealedBox }
        let cipher = try CipherContext(encrypt: false, key: key, nonce: Array(box[..<nonceByteCount]))
        try cipher.authenticate(aad)
        let plaintext = try cipher.update(Array(box[nonceByteCount..<(box.count - tagByteCount)]))
        try cipher.setExpectedTag(Array(box[(box.count - tagByteCount)...]))
        try cipher.finish()
        return plaintext
    }

    private static func checkKey(_ key: [UInt8]) throws(CryptoError) {
        guard key.count == keyByteCount else { throw .invalidKeyLength(expected: keyByteCount, actual: key.count) }
    }
}

/// Owns one EVP_CIPHER_CTX for the duration of a single seal or open.
private final class CipherContext {
    private let pointer: OpaquePointer
    private let encrypt: Bool

    init(encrypt: Bool, key: [UInt8], nonce: [UInt8]) throws(CryptoError) {
        guard let pointer = EVP_CIPHER_CTX_new() else { throw CryptoError.fromErrorQueue("EVP_CIPHER_CTX_new failed") }
        self.pointer = pointer
        self.encrypt = encrypt
        let initialise = encrypt ? EVP_EncryptInit_ex : EVP_DecryptInit_ex
        guard initialise(pointer, EVP_aes_256_gcm(), nil, nil, nil) == 1,
              EVP_CIPHER_CTX_ctrl(pointer, loacl_EVP_CTRL_GCM_SET_IVLEN(), Int32(nonce.count), nil) == 1,
              initialise(pointer, nil, nil, key, nonce) == 1 else {
            throw CryptoError.fromErrorQueue("AES-256-GCM initialisation failed")
        }
    }

    deinit { EVP_CIPHER_CTX_free(pointer) }

    func authenticate(_ aad: [UInt8]) throws(CryptoError) {
        guard !aad.isEmpty else { return }
        var length: Int32 = 0
        let update = encrypt ? EVP_EncryptUpdate : EVP_DecryptUpdate
        guard update(pointer, nil, &length, aad, Int32(aad.count)) == 1 else {
            throw CryptoError.fromErrorQueue("AES-256-GCM AAD failed")
        }
    }

    func update(_ input: [UInt8]) throws(CryptoError) -> [UInt8] {
        guard !input.isEmpty else { return [] }
        var output = [UInt8](repeating: 0, count: input.count)
        var length: Int32 = 0
        let update = encrypt ? EVP_EncryptUpdate : EVP_DecryptUpdate
        guard update(pointer, &output, &length, input, Int32(input.count)) == 1, Int(length) == input.count else {
            throw CryptoError.fromErrorQueue("AES-256-GCM update failed")
        }
        return output
    }

    func setExpectedTag(_ tag: [UInt8]) throws(CryptoError) {
        var tag = tag
        guard EVP_CIPHER_CTX_ctrl(pointer, loacl_EVP_CTRL_GCM_SET_TAG(), Int32(tag.count), &tag) == 1 else {
            throw CryptoError.fromErrorQueue("setting the GCM tag failed")
        }
    }

    /// GCM is a stream mode: the final step emits no bytes, it computes or checks the tag.
    func finish() throws(CryptoError) {
        var scratch = [UInt8](repeating: 0, count: 16)
        var length: Int32 = 0
        let final = encrypt ? EVP_EncryptFinal_ex : EVP_DecryptFinal_ex
        guard final(pointer, &scratch, &length) == 1 else {
            guard encrypt else {
                ERR_clear_error()
                throw .authenticationFailed
            }
            throw CryptoError.fromErrorQueue("AES-256-GCM final failed")
        }
    }

    func tag() throws(CryptoError) -> [UInt8] {
        var tag = [UInt8](repeating: 0, count: AESGCM.tagByteCount)
        guard EVP_CIPHER_CTX_ctrl(pointer, loacl_EVP_CTRL_GCM_GET_TAG(), Int32(tag.count), &tag) == 1 else {
            throw CryptoError.fromErrorQueue("reading the GCM tag failed")
        }
        return tag
    }
}
