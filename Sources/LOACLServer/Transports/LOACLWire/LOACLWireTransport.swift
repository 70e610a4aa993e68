import LOACLCore
import LOACLServerCore
import LOACLWire
import Logging
import NIOCore

/// The LOACL wire (docs/PROTOCOL.md): `ServerConnectionHandler`, one per connection, reading
/// frames itself (`FrameReader`).
struct LOACLWireTransport: ConnectionTransport {
    let configuration: ServerConnectionConfiguration
    let server: ServerCore
    let logger: Logger

    func initializeConnection(_ channel: any Channel, peer: PeerInfo, refusal: RPCError?) throws {
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(ServerConnectionHandler(configuration: configuration, server: server, peer: peer,
                                                    refusal: refusal, logger: logger))
    }
}
