/// Who is on the other end of a connection, in terms every transport can fill in.
public struct PeerInfo: Sendable, Hashable {
    /// The kind of listener the call came in on (its scheme, docs/GRPC.md for the gRPC ones).
    public enum Transport: String, Sendable {
        case tcp, tls, unix
        case grpc, grpcs
        case grpcUnix = "grpc+unix"
    }
    /// "tcp", "tls", "unix", "grpc", "grpcs" or "grpc+unix".
    public var transport: Transport
    /// Remote address, e.g. "127.0.0.1:51234", or the socket path for Unix sockets.
    public var address: String
    /// Subject of the verified TLS client certificate (mutual TLS), if any.
    public var certificateSubject: String?

    public init(transport: Transport, address: String, certificateSubject: String? = nil) {
        self.transport = transport
        self.address = address
        self.certificateSubject = certificateSubject
    }
}
