import LOACLCore
import LOACLMessages
import Logging
import NIOCore

/// What a handler knows about its call besides the request: the method, request metadata,
/// deadline and peer. Cancellation (client cancel, deadline, disconnect, shutdown) arrives as
/// Swift task cancellation. The same context reaches the interceptors and the handler whatever
/// transport carried the call; what only one transport knows is in `transportSpecific`.
public struct ServerContext: Sendable {
    /// The call's fixed facts, shared by every copy of the context: a context is copied several
    /// times per call (into the handler's task, through interceptors and observers), and a copy
    /// costs two reference counts (this and the logger) instead of one per string, array and
    /// existential it holds (bench/RESULTS.md, session 11).
    private let call: Call
    public var logger: Logger

    public var method: ProtoMethodDescriptor { call.method }
    public var metadata: Metadata { call.metadata }
    /// When the call's deadline passes, if it has one.
    public var deadline: NIODeadline? { call.deadline }
    public var peer: PeerInfo { call.peer }
    /// Transport details of this call (e.g. the LOACL wire's stream id); cast to the transport's
    /// own type to read them.
    public var transportSpecific: (any ServerContext.TransportSpecific)? { call.transportSpecific }
    /// The executor the handler runs on (the connection's event loop), if the transport runs
    /// handlers on one: work a call starts that outlives it may prefer it too, so that what it
    /// writes back to this call needs no thread hop.
    public var taskExecutor: (any TaskExecutor)? { call.taskExecutor }

    /// A transport's details of one call.
    public protocol TransportSpecific: Sendable {}

    public init(method: ProtoMethodDescriptor, metadata: Metadata, deadline: NIODeadline?, peer: PeerInfo,
                transportSpecific: (any ServerContext.TransportSpecific)? = nil, taskExecutor: (any TaskExecutor)? = nil,
                logger: Logger) {
        self.call = Call(method: method, metadata: metadata, deadline: deadline, peer: peer,
                         transportSpecific: transportSpecific, taskExecutor: taskExecutor)
        self.logger = logger
    }

    private final class Call: Sendable {
        let method: ProtoMethodDescriptor
        let metadata: Metadata
        let deadline: NIODeadline?
        let peer: PeerInfo
        let transportSpecific: (any ServerContext.TransportSpecific)?
        let taskExecutor: (any TaskExecutor)?

        init(method: ProtoMethodDescriptor, metadata: Metadata, deadline: NIODeadline?, peer: PeerInfo,
             transportSpecific: (any ServerContext.TransportSpecific)?, taskExecutor: (any TaskExecutor)?) {
            self.method = method
            self.metadata = metadata
            self.deadline = deadline
            self.peer = peer
            self.transportSpecific = transportSpecific
            self.taskExecutor = taskExecutor
        }
    }
}
