import LOACLCore
import LOACLServerCore
import LOACLTLS
import Logging
import NIOCore
import NIOHTTP2

/// The connection-level part of the gRPC transport that swift-nio-http2 does not do itself:
/// turns the server's `GracefulShutdown` into NIO's quiesce event (GOAWAY, drain, close by
/// `NIOHTTP2ServerConnectionManagementHandler`), keeps the peer (with its TLS client
/// certificate) for new streams, closes a connection whose first HTTP/2 frame does not arrive
/// within the handshake timeout (slowloris), answers one over the server's limit with GOAWAY, and
/// closes the connection after the GOAWAY of a connection error (as its `NIOHTTP2FrameDelegate`,
/// it sees the frames `NIOHTTP2Handler` writes).
final class GRPCConnectionHandler: ChannelInboundHandler, NIOHTTP2FrameDelegate {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private(set) var peer: PeerInfo
    private let refusal: RPCError?
    private let handshakeTimeout: TimeAmount
    private let logger: Logger
    private var handshakeTimer: Scheduled<Void>?
    /// NIOHTTP2Handler wrote GOAWAY with an error code: a connection error, whose error follows.
    private var sentErrorGoAway = false
    /// The close after that GOAWAY is scheduled.
    private var closing = false

    init(peer: PeerInfo, refusal: RPCError?, handshakeTimeout: TimeAmount, logger: Logger) {
        self.peer = peer
        self.refusal = refusal
        self.handshakeTimeout = handshakeTimeout
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        handshakeTimer = context.eventLoop.scheduleTask(in: handshakeTimeout) {
            let (handler, context) = bound.value
            handler.logger.info("HTTP/2 preface not received in time; closing connection",
                                metadata: ["peer": "\(handler.peer.address)", "timeout": "\(handler.handshakeTimeout)"])
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        handshakeTimer?.cancel()
    }

    /// A frame arrived: the client's preface and SETTINGS are in (the handshake is done).
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        handshakeTimer?.cancel()
        handshakeTimer = nil
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        handshakeTimer?.cancel()
        context.fireChannelInactive()
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        guard let refusal else { return }
        // After NIOHTTP2Handler's SETTINGS: GOAWAY with no stream accepted, then close.
        let reason = context.channel.allocator.buffer(string: refusal.message)
        let goAway = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: .rootStream, errorCode: .refusedStream, opaqueData: reason))
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(goAway)).whenComplete { _ in bound.value.close(promise: nil) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is GracefulShutdown:
            context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        case let handshake as TLSHandshakeCompleted:
            peer.certificateSubject = handshake.peerSubject
            context.fireUserInboundEventTriggered(event)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// HTTP/2 protocol errors: NIOHTTP2Handler has already answered them, RST_STREAM for a
    /// stream's (the connection serves on) and GOAWAY for the connection's. After that GOAWAY the
    /// connection is closed (RFC 9113 §5.4.1: the endpoint MUST close the TCP connection), so a
    /// peer cannot hold it open; other connections are not touched.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("HTTP/2 protocol error", metadata: ["peer": "\(peer.address)", "error": "\(error)",
                                                        "connectionError": "\(sentErrorGoAway)"])
        guard sentErrorGoAway, !closing else { return }
        // On the next loop tick, after a flush: an error can come while NIOHTTP2Handler is still
        // writing (the GOAWAY not yet flushed), and closing then would drop the GOAWAY.
        closing = true
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            bound.value.flush()
            bound.value.close(promise: nil)
        }
    }

    /// Every frame NIOHTTP2Handler writes (one enum check each).
    func wroteFrame(_ frame: HTTP2Frame) {
        if case .goAway(_, let code, _) = frame.payload, code != .noError { sentErrorGoAway = true }
    }
}
