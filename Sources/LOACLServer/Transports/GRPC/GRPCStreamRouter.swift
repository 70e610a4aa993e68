import LOACLCore
import LOACLServerCore
import LOACLWire
import Logging
import NIOCore
import NIOHTTP2

/// The calls of one gRPC connection, on the connection's own pipeline: `NIOHTTP2Handler` without
/// a stream multiplexer hands every HTTP/2 frame, with its stream id, to this one handler, which
/// routes it to the stream's `GRPCServerStream` (no child channel, pipeline or promise per call).
///
/// What the multiplexer's child channels did, done here:
/// - Writes: every frame a call writes goes out with one flush per read burst or loop tick.
/// - Inbound flow control: connection credit goes back as the HTTP/2 handler reports the window
///   shrinking (on receipt, as swift-nio-http2's multiplexer does: the stream windows bound what
///   is buffered, and one unread stream must not stall the others); a stream's credit goes back
///   as its handler takes the bytes (`returnCredit`), so a stream never buffers more than its
///   window (`targetWindowSize`).
/// - Stream ends: RST_STREAM from the client, or the HTTP/2 handler closing a stream (a stream
///   error), cancels the call; the connection closing cancels every call.
///
/// It sits right after `NIOHTTP2Handler`, so the stream frames and the HTTP/2 handler's per-stream
/// events (about seven per call) stop here instead of crossing every handler after it: stream
/// creation and closure go to `streamDelegate` (the connection manager's idle and graceful-close
/// accounting) as direct calls, window updates are used here only. What the handlers after it
/// need goes on: connection-level frames (SETTINGS, PING, GOAWAY), the first frame of each read
/// (the connection is alive: handshake and keepalive timers), and every other event.
/// Event loop only.
final class GRPCStreamRouter: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let server: ServerCore
    let configuration: GRPCConfiguration
    /// The connection's peer (with its TLS client certificate once the handshake is done).
    private let connection: GRPCConnectionHandler
    private let taskExecutor: EventLoopTaskExecutor?
    private let streamDelegate: (any NIOHTTP2StreamDelegate)?
    private let logger: Logger

    private var context: ChannelHandlerContext?
    private var streams: [HTTP2StreamID: GRPCServerStream] = [:]
    /// The highest stream a call was opened on: HEADERS on a lower, unknown stream belong to a
    /// call that already ended (the client's trailers), never to a new one.
    private var lastStreamID = HTTP2StreamID(0)
    private var inRead = false
    /// Whether a frame went on to the next handler in this read.
    private var forwardedInRead = false
    private var needsFlush = false
    private var flushScheduled = false

    init(server: ServerCore, configuration: GRPCConfiguration, connection: GRPCConnectionHandler,
         taskExecutor: EventLoopTaskExecutor?, streamDelegate: (any NIOHTTP2StreamDelegate)?, logger: Logger) {
        self.server = server
        self.configuration = configuration
        self.connection = connection
        self.taskExecutor = taskExecutor
        self.streamDelegate = streamDelegate
        self.logger = logger
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelAll()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelAll()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inRead = true
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .headers(let headers):
            let opens = frame.streamID > lastStreamID
            if opens { lastStreamID = frame.streamID }
            guard opens ? HTTP2HeaderBlockCheck.isValidRequest(headers.headers)
                        : HTTP2HeaderBlockCheck.isValidTrailers(headers.headers) else {
                malformed(frame.streamID)
                break
            }
            if opens {
                open(frame.streamID, headers)
            } else if let stream = streams[frame.streamID] {
                stream.receiveHeaders(headers)
            }
        case .data(let data):
            // (Looked up first: a stream that ends removes itself from `streams`.)
            if let stream = streams[frame.streamID] { stream.receive(data) }
        case .rstStream:
            if let stream = streams[frame.streamID] { stream.cancel() }
        default:
            break
        }
        if frame.streamID == .rootStream || !forwardedInRead {
            forwardedInRead = true
            context.fireChannelRead(data)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inRead = false
        forwardedInRead = false
        flushIfNeeded()
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let window as NIOHTTP2WindowUpdatedEvent:
            if window.streamID == .rootStream { connectionWindowChanged(window.inboundWindowSize) }
        case let created as NIOHTTP2StreamCreatedEvent:
            streamDelegate?.streamCreated(created.streamID, channel: context.channel)
        case let closed as StreamClosedEvent:
            // Closed under the call (a stream error NIOHTTP2Handler answered): end it.
            if let stream = streams[closed.streamID] { stream.cancel() }
            streamDelegate?.streamClosed(closed.streamID, channel: context.channel)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    // MARK: Calls

    private func open(_ id: HTTP2StreamID, _ headers: HTTP2Frame.FramePayload.Headers) {
        guard let context else { return }
        let stream = GRPCServerStream(id: id, router: self, eventLoop: context.eventLoop, server: server,
                                      configuration: configuration, peer: connection.peer, taskExecutor: taskExecutor,
                                      logger: logger)
        streams[id] = stream
        stream.receiveHeaders(headers)
    }

    /// A malformed header block on `id` (`HTTP2HeaderBlockCheck`): a stream error of type
    /// PROTOCOL_ERROR, as NIOHTTP2Handler's own validation answers it; the call, if any, ends.
    private func malformed(_ id: HTTP2StreamID) {
        streams[id]?.cancel()
        write(.rstStream(.protocolError), on: id)
    }

    /// The call on `id` ended (trailers sent or cancelled): frames for it are dropped from now on.
    func streamClosed(_ id: HTTP2StreamID) {
        streams[id] = nil
    }

    private func cancelAll() {
        guard !streams.isEmpty else { return }
        let open = streams.values
        streams.removeAll()
        for stream in open { stream.cancel() }
    }

    // MARK: Writing (used by the streams)

    var isWritable: Bool { context?.channel.isWritable ?? false }

    /// Writes one frame; it goes out with the read burst's or the loop tick's one flush.
    func write(_ payload: HTTP2Frame.FramePayload, on id: HTTP2StreamID, promise: EventLoopPromise<Void>? = nil) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: payload)), promise: promise)
        needsFlush = true
        guard !inRead, !flushScheduled else { return }
        flushScheduled = true
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            bound.value.flushScheduled = false
            bound.value.flushIfNeeded()
        }
    }

    private func flushIfNeeded() {
        guard needsFlush, let context else { return }
        needsFlush = false
        context.flush()
    }

    // MARK: Inbound flow control

    /// A stream's handler took `n` bytes: WINDOW_UPDATE for them (the stream batches them).
    func returnCredit(_ n: Int, on id: HTTP2StreamID) {
        write(.windowUpdate(windowSizeIncrement: n), on: id)
    }

    /// The connection's receive window is now `size`: top it up to `targetWindowSize` once it is
    /// down to half (or below), as swift-nio-http2's multiplexer does.
    private func connectionWindowChanged(_ size: Int?) {
        guard let size else { return }
        let target = configuration.targetWindowSize
        guard size <= target / 2 else { return }
        write(.windowUpdate(windowSizeIncrement: min(target - size, Int(Int32.max))), on: .rootStream)
    }
}
