/// Everything needed to build a `TLSContext`. Plain data: build it, then make one context from it.
public struct TLSConfiguration: Sendable, Hashable {
    /// How strictly the peer's certificate is checked.
    public enum PeerVerification: Sendable, Hashable {
        /// Don't check. A server does not ask for a client certificate; a client accepts any
        /// server certificate (tests only: it defeats TLS against an active attacker).
        case none
        /// Server: ask for a client certificate and verify it if one is sent, but accept clients
        /// without one. Client: same as `.required`.
        case optional
        /// Server: a client certificate signed by `caFile` is mandatory (mutual TLS).
        /// Client: the server's chain must verify against `caFile` (or the system roots) and, if
        /// `serverName` is set, match it.
        case required
    }

    public enum ProtocolVersion: Sendable, Hashable, Comparable {
        case tls1_2
        case tls1_3
    }

    /// PEM file with the leaf certificate first, then any intermediates. Required for servers.
    public var certificateChainFile: String?
    /// PEM file with the private key for the leaf certificate (unencrypted).
    public var privateKeyFile: String?
    /// PEM file of CA certificates trusted to sign the peer's certificate. A client without one
    /// uses the system's trust store.
    public var caFile: String?
    public var peerVerification: PeerVerification
    /// ALPN protocols in preference order. A server refuses clients that offer ALPN but none of
    /// these; clients that offer no ALPN at all are accepted.
    public var alpnProtocols: [String]
    /// Client only: sent as SNI (unless it is an IP address) and checked against the server
    /// certificate's subjectAltName DNS or IP entries. A handler can override it per connection.
    public var serverName: String?
    public var minimumVersion: ProtocolVersion
    public var maximumVersion: ProtocolVersion

    /// The ALPN protocol spoken by LOACL's RPC wire protocol.
    public static let loaclALPN = "loacl/1"

    public init(certificateChainFile: String? = nil, privateKeyFile: String? = nil, caFile: String? = nil,
                peerVerification: PeerVerification, alpnProtocols: [String] = [TLSConfiguration.loaclALPN],
                serverName: String? = nil, minimumVersion: ProtocolVersion = .tls1_2,
                maximumVersion: ProtocolVersion = .tls1_3) {
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
        self.caFile = caFile
        self.peerVerification = peerVerification
        self.alpnProtocols = alpnProtocols
        self.serverName = serverName
        self.minimumVersion = minimumVersion
        self.maximumVersion = maximumVersion
    }

    /// A server. For mutual TLS pass `caFile` (the CA that signs client certificates) and
    /// `clientVerification: .required`.
    public static func server(certificateChainFile: String, privateKeyFile: String, caFile: String? = nil,
                              clientVerification: PeerVerification = .none,
                              alpnProtocols: [String] = [loaclALPN]) -> TLSConfiguration {
        TLSConfiguration(certificateChainFile: certificateChainFile, privateKeyFile: privateKeyFile,
                         caFile: caFile, peerVerification: clientVerification, alpnProtocols: alpnProtocols)
    }

    /// A client that verifies the server against `caFile` (or the system roots) and `serverName`.
    /// Pass a certificate and key to present a client certificate (mutual TLS).
    public static func client(caFile: String? = nil, serverName: String? = nil,
                              certificateChainFile: String? = nil, privateKeyFile: String? = nil,
                              serverVerification: PeerVerification = .required,
                              alpnProtocols: [String] = [loaclALPN]) -> TLSConfiguration {
        TLSConfiguration(certificateChainFile: certificateChainFile, privateKeyFile: privateKeyFile,
                         caFile: caFile, peerVerification: serverVerification, alpnProtocols: alpnProtocols,
                         serverName: serverName)
    }
}
