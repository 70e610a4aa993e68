import COpenSSL

/// Failures of the OpenSSL-backed primitives in this module.
public enum CryptoError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A key had the wrong size for the algorithm.
    case invalidKeyLength(expected: Int, actual: Int)
    /// A sealed box was too short to hold a nonce and a tag.
    case malformedSealedBox
    /// The tag did not verify: the ciphertext, nonce, tag, AAD or key is wrong or was tampered with.
    case authenticationFailed
    /// OpenSSL reported an error (its error string is attached).
    case openSSL(String)

    public var description: String {
        switch self {
        case let .invalidKeyLength(expected, actual): "invalid key length \(actual), expected \(expected) bytes"
        case .malformedSealedBox: "sealed box is too short"
        case .authenticationFailed: "authentication failed: data was tampered with or the key is wrong"
        case let .openSSL(message): "OpenSSL error: \(message)"
        }
    }

    /// Builds an `.openSSL` error from (and clears) the thread's OpenSSL error queue.
    static func fromErrorQueue(_ what: String) -> CryptoError {
        var messages: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return .openSSL(messages.isEmpty ? what : "\(what): \(messages.joined(separator: "; "))")
    }
}
