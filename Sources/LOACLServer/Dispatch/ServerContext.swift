import LOACLCore
import LOACLMessages
import Logging
import NIOCore

/// Who is on the other end of a connection.
public struct PeerInfo: Sendable, Hashable {
    public enum Transport: String, Sendable { case tcp, tls, unix }
    /// "tcp", "tls" or "unix".
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

/// What a handler knows about its call besides the request: the method, request metadata,
/// deadline and peer. Cancellation (client CANCEL, deadline, disconnect, shutdown) arrives as
/// Swift task cancellation.
public struct ServerContext: Sendable {
    public let method: ProtoMethodDescriptor
    public let metadata: Metadata
    /// When the call's deadline passes, if it has one.
    public let deadline: NIODeadline?
    public let peer: PeerInfo
    public let streamID: UInt32
    public var logger: Logger

    public init(method: ProtoMethodDescriptor, metadata: Metadata, deadline: NIODeadline?, peer: PeerInfo, streamID: UInt32, logger: Logger) {
        self.method = method
        self.metadata = metadata
        self.deadline = deadline
        self.peer = peer
        self.streamID = streamID
        self.logger = logger
    }
}
