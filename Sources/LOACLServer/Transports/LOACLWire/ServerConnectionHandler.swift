import LOACLCore
import LOACLMessages
import LOACLServerCore
import LOACLTLS
import LOACLWire
import Logging
import NIOCore

/// The server side of one LOACL connection: validates frames, opens and routes calls, runs flow
/// control, timers and graceful shutdown. Lives on the connection's event loop only.
final class ServerConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let configuration: ServerConnectionConfiguration
    /// The method router and call executor every transport shares.
    let server: ServerCore
    var logger: Logger
    var peer: PeerInfo

    var context: ChannelHandlerContext!
    var taskExecutor: EventLoopTaskExecutor?
    var streams: [UInt32: ServerStream] = [:]
    /// The last HEADERS payload decoded and the call it opens (most calls repeat it byte for byte).
    var headersCache = CallHeadersCache()
    /// Cuts the bytes read into the preface and frames, handled in place.
    private var reader: FrameReader
    var highestStreamID: UInt32 = 0
    /// Request bytes the connection's calls hold and their handlers have not taken yet.
    var inboundBuffered = 0
    /// Coalesced writes and connection-level flow control.
    let core: ConnectionCore
    var draining = false
    var closing: Bool {
        get { core.isClosing }
        set { core.isClosing = newValue }
    }
    /// Keepalive, PING-ACK and idle deadlines.
    var liveness: ConnectionLiveness
    /// The connection's one timer, armed for the next keepalive, PING-ACK or idle deadline
    /// (not a periodic tick: an idle connection wakes the loop once per keepalive interval).
    var timer: Scheduled<Void>?
    var timerDeadline: NIODeadline?
    /// Closes the connection unless its preface arrives in time (slowloris).
    var handshakeTimer: Scheduled<Void>?
    /// Set for a connection over the server's limit: answered with this GOAWAY after the preface.
    private let refusal: RPCError?

    init(configuration: ServerConnectionConfiguration, server: ServerCore, peer: PeerInfo, refusal: RPCError? = nil, logger: Logger) {
        self.configuration = configuration
        self.server = server
        self.peer = peer
        self.refusal = refusal
        self.logger = logger
        self.core = ConnectionCore(initialWindow: configuration.initialWindow,
                                   resumedFlushBytes: ConnectionCore.serverResumedFlushBytes)
        self.reader = FrameReader(expectPreface: true, maxFrameSize: configuration.maxFrameSize)
        self.liveness = ConnectionLiveness(
            limits: .init(keepaliveInterval: configuration.keepaliveInterval, keepaliveTimeout: configuration.keepaliveTimeout,
                          idleTimeout: configuration.idleTimeout, resolution: configuration.timerResolution),
            now: .now())
    }

    // MARK: Channel lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        core.attach(context)
        if configuration.runHandlersOnEventLoop { taskExecutor = EventLoopTaskExecutor(context.eventLoop) }
        armTimer()
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        handshakeTimer = context.eventLoop.scheduleTask(in: configuration.handshakeTimeout) {
            bound.value.handshakeTimedOut()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closing = true
        timer?.cancel()
        handshakeTimer?.cancel()
        for stream in Array(streams.values) { stream.cancel() }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        handshakeTimer?.cancel()
        self.context = nil
        core.attach(nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let handshake as TLSHandshakeCompleted:
            peer.certificateSubject = handshake.peerSubject
        case is GracefulShutdown:
            startDraining(reason: "server shutting down")
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.info("connection error", metadata: ["peer": "\(peer.address)", "error": "\(error)"])
        closing = true
        context.close(promise: nil)
    }

    // MARK: Inbound frames

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        liveness.activity(at: .now())
        core.inRead = true
        do throws(FrameDecodingError) {
            try reader.read(unwrapInboundIn(data)) { event in
                switch event {
                case .preface: prefaceReceived()
                case .frame(let frame): receive(frame)
                }
                return !closing
            }
        } catch {
            switch error {
            case .badPreface:
                connectionError(.invalidArgument, "connection preface is not LOACL/1")
            case .frameTooLarge(let length, let limit):
                connectionError(.resourceExhausted, "frame payload of \(length) bytes exceeds the limit of \(limit)")
            }
        }
    }

    private func prefaceReceived() {
        handshakeTimer?.cancel()
        handshakeTimer = nil
        var preface = context.channel.allocator.buffer(capacity: WireProtocol.preface.count)
        preface.writeBytes(WireProtocol.preface)
        write(preface)
        if let refusal { connectionError(refusal.code, refusal.message) }
    }

    private func receive(_ frame: Frame) {
        switch frame.type {
        case .headers: receiveHeaders(frame)
        case .message: receiveMessage(frame)
        case .cancel:
            guard frame.streamID != 0 else { return connectionError(.invalidArgument, "CANCEL on stream 0") }
            streams[frame.streamID]?.cancel()
        case .windowUpdate: receiveWindowUpdate(frame)
        case .ping: receivePing(frame)
        case .goAway:
            guard frame.streamID == 0 else { return connectionError(.invalidArgument, "GOAWAY on stream \(frame.streamID)") }
            draining = true
            closeIfDrained()
        case .trailers:
            connectionError(.invalidArgument, "TRAILERS may only be sent by the server")
        default:
            connectionError(.invalidArgument, "unknown frame type 0x\(String(frame.type.rawValue, radix: 16))")
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        core.inRead = false
        core.flushIfNeeded()
        closeIfPeerStopsReading()
        context.fireChannelReadComplete()
    }

    func halfClose(_ stream: ServerStream) {
        stream.receiveEndOfStream()
        if stream.method.takesSingleRequest && stream.receivedRequest == nil {
            stream.finish(.invalidArgument("\(stream.method.descriptor.path) needs exactly one request message"))
        }
    }

    private func receiveMessage(_ frame: Frame) {
        let id = frame.streamID
        guard id != 0 else { return connectionError(.invalidArgument, "MESSAGE on stream 0") }
        guard id <= highestStreamID else { return connectionError(.invalidArgument, "MESSAGE for stream \(id), which was never opened") }
        let size = frame.payload.readableBytes
        guard core.acceptInbound(size) else {
            return connectionError(.resourceExhausted, "flow-control window exceeded")
        }
        guard let stream = streams[id] else {
            // A finished or refused call: drop the message (its connection credit was counted on receipt).
            return
        }
        guard stream.receiveWindow.allows(size) else {
            return connectionError(.resourceExhausted, "flow-control window exceeded")
        }
        stream.receiveWindow.consume(size)
        if stream.clientFinished {
            return stream.finish(.invalidArgument("MESSAGE after END_STREAM"))
        }
        if stream.method.takesSingleRequest {
            guard frame.flags.contains(.endStream) else {
                return stream.finish(.invalidArgument("\(stream.method.descriptor.path) takes one request message, which must carry END_STREAM"))
            }
            stream.receiveEndOfStream()
            stream.receiveSingleRequest(frame.payload)
            if let callContext = stream.pendingContext {
                stream.pendingContext = nil
                start(stream, callContext)
            }
        } else {
            stream.receive(frame.payload)
            if frame.flags.contains(.endStream) { stream.receiveEndOfStream() }
        }
        if inboundBuffered > configuration.maxInboundBuffer {
            connectionError(.resourceExhausted, "more than \(configuration.maxInboundBuffer) bytes of requests not yet read on one connection")
        }
    }

    private func receiveWindowUpdate(_ frame: Frame) {
        guard let increment = frame.windowIncrement else { return connectionError(.invalidArgument, "malformed WINDOW_UPDATE") }
        if frame.streamID == 0 {
            guard core.grantConnectionWindow(increment) else { return connectionError(.invalidArgument, "connection window overflow") }
        } else if let stream = streams[frame.streamID] {
            guard stream.grant(increment) else { return connectionError(.invalidArgument, "stream window overflow") }
        }
    }

    private func receivePing(_ frame: Frame) {
        guard frame.streamID == 0 else { return connectionError(.invalidArgument, "PING on stream \(frame.streamID)") }
        guard frame.payload.readableBytes == 8 else { return connectionError(.invalidArgument, "PING payload must be 8 bytes") }
        if frame.flags.contains(.ack) {
            liveness.pingAcknowledged()
            return
        }
        var reply = context.channel.allocator.buffer(capacity: WireProtocol.headerSize + 8)
        reply.writeFrame(type: .ping, flags: .ack, streamID: 0, payload: frame.payload)
        write(reply)
    }

    // MARK: Used by streams (event loop)

    func write(_ buffer: ByteBuffer) { core.write(buffer) }

    /// A stream holds `delta` more (or, negative, fewer) request bytes.
    func inboundHeld(_ delta: Int) { inboundBuffered += delta }

    func streamClosed(_ stream: ServerStream) {
        streams[stream.id] = nil
        core.forget(stream)
        closeIfDrained()
        // The idle deadline only applies without calls: bring the timer forward if it is later.
        if streams.isEmpty, let armed = timerDeadline, armed > liveness.idleDeadline { armTimer() }
    }
}

/// Sent down a connection's pipeline to start a graceful shutdown (GOAWAY, drain, close).
public struct GracefulShutdown: Sendable { public init() {} }
