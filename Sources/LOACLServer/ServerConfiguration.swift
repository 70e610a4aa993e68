import LOACLCore
import LOACLTLS
import NIOCore

/// Everything `RPCServer` needs to know besides its methods.
public struct ServerConfiguration: Sendable {
    /// Where to listen: any number of `unix:`, `tcp:` and `tls:` endpoints.
    public var listeners: [Endpoint]
    /// Certificate, key and (for mutual TLS) client CA; required when a `tls:` listener is set.
    public var tls: TLSConfiguration?
    /// Per-connection limits and timers.
    public var connection = ServerConnectionConfiguration()
    /// How long in-flight calls may run after a shutdown starts before they are cancelled.
    public var gracePeriod: TimeAmount = .seconds(10)
    /// Pending connections the kernel queues per listener.
    public var backlog: Int32 = 256
    /// Client connections open at once (all listeners); one more is answered with GOAWAY
    /// RESOURCE_EXHAUSTED once its preface arrives, then closed.
    public var maxConnections = 1024

    public init(listeners: [Endpoint], tls: TLSConfiguration? = nil) {
        self.listeners = listeners
        self.tls = tls
    }
}
