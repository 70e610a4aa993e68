import LOACLCore
import LOACLServerCore
import NIOCore

/// A wire protocol the server speaks on accepted connections: it builds each connection's
/// pipeline (after TLS, which the listener adds) and feeds the calls it reads to the shared
/// `ServerCore`. `RPCServer` picks one per listener.
protocol ConnectionTransport: Sendable {
    /// Sets up `channel`'s pipeline. `refusal` is set for a connection over the server's limit:
    /// the transport answers it with this error as the protocol allows, then closes it.
    func initializeConnection(_ channel: any Channel, peer: PeerInfo, refusal: RPCError?) throws
}
