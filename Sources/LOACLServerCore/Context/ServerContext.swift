import LOACLCore
import LOACLMessages
import Logging
import NIOCore

/// What a handler knows about its call besides the request: the method, request metadata,
/// deadline and peer. Cancellation (client cancel, deadline, disconnect, shutdown) arrives as
/// Swift task cancellation. The same context reaches the interceptors and the handler whatever
/// transport carried the call; what only one transport knows is in `transportSpecific`.
public struct ServerContext: Sendable {
    public let method: ProtoMethodDescriptor
    public let metadata: Metadata
    /// When the call's deadline passes, if it has one.
    public let deadline: NIODeadline?
    public let peer: PeerInfo
    /// Transport details of this call (e.g. the LOACL wire's stream id); cast to the transport's
    /// own type to read them.
    public let transportSpecific: (any ServerContext.TransportSpecific)?
    public var logger: Logger

    /// A transport's details of one call.
    public protocol TransportSpecific: Sendable {}

    public init(method: ProtoMethodDescriptor, metadata: Metadata, deadline: NIODeadline?, peer: PeerInfo,
                transportSpecific: (any ServerContext.TransportSpecific)? = nil, logger: Logger) {
        self.method = method
        self.metadata = metadata
        self.deadline = deadline
        self.peer = peer
        self.transportSpecific = transportSpecific
        self.logger = logger
    }
}
