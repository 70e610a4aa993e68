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
/// within the handshake timeout (slowloris), and answers one over the server's limit with GOAWAY.
final class GRPCConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private(set) var peer: PeerInfo
    private let refusal: RPCError?
    private let handshakeTimeout: TimeAmount
    private let logger: Logger
    private var handshakeTimer: Scheduled<Void>?

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
        context.writeAndFlush(wrapOutboundOut(goAway)).whenComplete { _ in context.close(promise: nil) }
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

    /// HTTP/2 protocol errors: NIOHTTP2Handler has already answered them (RST_STREAM for a
    /// stream's, GOAWAY for the connection's), so other streams live on. A peer that stays after
    /// a connection GOAWAY is closed by the idle timeout.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("HTTP/2 protocol error", metadata: ["peer": "\(peer.address)", "error": "\(error)"])
    }
}
