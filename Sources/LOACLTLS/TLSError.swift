/// TLS failures: context construction (files, keys) and per-connection (handshake, records).
/// Reasons carry OpenSSL's own error strings.
public enum TLSError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A PEM file named in the configuration does not exist or cannot be read.
    case fileNotFound(path: String)
    case badCertificate(path: String, reason: String)
    case badPrivateKey(path: String, reason: String)
    case keyDoesNotMatchCertificate(reason: String)
    case badCAFile(path: String, reason: String)
    /// The configuration is inconsistent (e.g. a key without a certificate, an empty ALPN name).
    case invalidConfiguration(String)
    /// The peer's certificate chain did not verify (unknown CA, expired, wrong host name, ...).
    /// Raised on the side that did the verifying.
    case certificateVerificationFailed(reason: String)
    /// The handshake failed for another reason: alert from the peer, no common protocol version
    /// or ALPN protocol, missing client certificate, plaintext on a TLS port, ...
    case handshakeFailed(reason: String)
    /// The connection closed before the handshake finished.
    case closedDuringHandshake
    /// A record could not be decrypted or the peer sent a fatal alert after the handshake.
    case protocolError(reason: String)

    public var description: String {
        switch self {
        case let .fileNotFound(path): "TLS file not found or unreadable: \(path)"
        case let .badCertificate(path, reason): "cannot load certificate chain \(path): \(reason)"
        case let .badPrivateKey(path, reason): "cannot load private key \(path): \(reason)"
        case let .keyDoesNotMatchCertificate(reason): "private key does not match the certificate: \(reason)"
        case let .badCAFile(path, reason): "cannot load CA file \(path): \(reason)"
        case let .invalidConfiguration(why): "invalid TLS configuration: \(why)"
        case let .certificateVerificationFailed(reason): "peer certificate verification failed: \(reason)"
        case let .handshakeFailed(reason): "TLS handshake failed: \(reason)"
        case .closedDuringHandshake: "connection closed during the TLS handshake"
        case let .protocolError(reason): "TLS error: \(reason)"
        }
    }
}
