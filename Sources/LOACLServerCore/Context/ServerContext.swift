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
    /// The executor the handler runs on (the connection's event loop), if the transport runs
    /// handlers on one: work a call starts that outlives it may prefer it too, so that what it
    /// writes back to this call needs no thread hop.
    public let taskExecutor: (any TaskExecutor)?
    public var logger: Logger

    /// A transport's details of one call.
    public protocol TransportSpecific: Sendable {}

    public init(method: ProtoMethodDescriptor, metadata: Metadata, deadline: NIODeadline?, peer: PeerInfo,
                transportSpecific: (any ServerContext.TransportSpecific)? = nil, taskExecutor: (any TaskExecutor)? = nil,
                logger: Logger) {
        self.method = method
        self.metadata = metadata
        self.deadline = deadline
        self.peer = peer
        self.transportSpecific = transportSpecific
        self.taskExecutor = taskExecutor
        self.logger = logger
    }
}
