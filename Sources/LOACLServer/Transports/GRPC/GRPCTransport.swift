import LOACLCore
import LOACLServerCore
import LOACLWire
import Logging
import NIOCore
import NIOHTTP2

/// gRPC over HTTP/2 (docs/GRPC.md), on swift-nio-http2: `GRPCWriteCoalescer` (one socket write
/// per flush) → `NIOHTTP2Handler` (frames, HPACK, the HTTP/2 state machine; no stream
/// multiplexer) → `GRPCStreamRouter` (each stream's frames to its `GRPCServerStream`; stream
/// events to the manager's delegate) → `GRPCConnectionHandler` (shutdown, peer, refusal) →
/// `NIOHTTP2ServerConnectionManagementHandler` (idle timeout, keepalive PINGs, graceful GOAWAY).
/// Calls go to the same `ServerCore` as the LOACL wire's.
struct GRPCTransport: ConnectionTransport {
    let configuration: GRPCConfiguration
    let server: ServerCore
    /// Run handlers on the connection's event loop (as the LOACL wire does).
    let runHandlersOnEventLoop: Bool
    let logger: Logger

    func initializeConnection(_ channel: any Channel, peer: PeerInfo, refusal: RPCError?) throws {
        let connection = GRPCConnectionHandler(peer: peer, refusal: refusal, handshakeTimeout: configuration.handshakeTimeout,
                                               logger: logger)
        let manager = NIOHTTP2ServerConnectionManagementHandler(
            eventLoop: channel.eventLoop,
            configuration: .init(maxIdleTime: configuration.idleTimeout, maxAge: nil, maxGraceTime: nil,
                                 keepalive: .init(pingInterval: configuration.keepaliveInterval,
                                                  ackTimeout: configuration.keepaliveTimeout)))
        var connectionConfiguration = NIOHTTP2Handler.ConnectionConfiguration()
        connectionConfiguration.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: configuration.maxConcurrentStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: configuration.maxHeaderListSize),
            HTTP2Setting(parameter: .initialWindowSize, value: configuration.targetWindowSize),
        ]
        // Received header blocks are checked by GRPCStreamRouter (HTTP2HeaderBlockCheck), sent ones are
        // LOACL's own (constants, and handler metadata GRPCHeaders filters): the one flag covers both.
        connectionConfiguration.headerBlockValidation = .disabled
        let http2 = NIOHTTP2Handler(mode: .server, frameDelegate: connection, connectionConfiguration: connectionConfiguration)
        let router = GRPCStreamRouter(
            server: server, configuration: configuration, connection: connection,
            taskExecutor: runHandlersOnEventLoop ? EventLoopTaskExecutor(channel.eventLoop) : nil,
            streamDelegate: manager.http2StreamDelegate, logger: logger)
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(GRPCWriteCoalescer())
        try sync.addHandler(http2)
        try sync.addHandler(router)
        try sync.addHandler(connection)
        try sync.addHandler(manager)
    }
}
