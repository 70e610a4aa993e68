import LOACLCore
import LOACLTLS
import NIOCore

/// Everything `RPCServer` needs to know besides its methods.
public struct ServerConfiguration: Sendable {
    /// Where to listen and in which protocol: any number of `unix:`, `tcp:`, `tls:` (the LOACL
    /// wire) and `grpc:`, `grpcs:`, `grpc+unix:` (gRPC) listeners.
    public var listeners: [Listener]
    /// Certificate, key and (for mutual TLS) client CA; required when a `tls:` or `grpcs:`
    /// listener is set. Its ALPN list is for the LOACL wire; `grpcs:` listeners offer `h2`.
    public var tls: TLSConfiguration?
    /// Per-connection limits and timers of the LOACL wire.
    public var connection = ServerConnectionConfiguration()
    /// Limits and timers of gRPC connections.
    public var grpc = GRPCConfiguration()
    /// How long in-flight calls may run after a shutdown starts before they are cancelled.
    public var gracePeriod: TimeAmount = .seconds(10)
    /// Pending connections the kernel queues per listener.
    public var backlog: Int32 = 256
    /// Client connections open at once (all listeners); one more is answered with GOAWAY
    /// RESOURCE_EXHAUSTED once its preface arrives, then closed.
    public var maxConnections = 1024

    public init(listeners: [Listener], tls: TLSConfiguration? = nil) {
        self.listeners = listeners
        self.tls = tls
    }
}
