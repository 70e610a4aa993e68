/// Fired by `OpenSSLHandler` as a user inbound event when the handshake succeeds (before any
/// plaintext), and used to succeed its handshake promise. Lets RPC handlers see who the peer is.
public struct TLSHandshakeCompleted: Sendable, Hashable {
    /// "TLSv1.2" or "TLSv1.3".
    public let protocolVersion: String
    /// The ALPN protocol both sides agreed on, or nil if ALPN was not used.
    public let alpnProtocol: String?
    /// OpenSSL's cipher suite name, e.g. "TLS_AES_256_GCM_SHA384".
    public let cipher: String
    /// The peer certificate's subject in RFC 2253 form ("CN=client,O=LOACL"), or nil if the peer
    /// sent none. Only trust it when verification was on (`.optional`/`.required`).
    public let peerSubject: String?
    /// The subject's commonName, if any.
    public let peerCommonName: String?
    /// Server side: the SNI host name the client asked for. Client side: the name it sent.
    public let serverName: String?
}
