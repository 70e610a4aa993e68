import LOACLCore
import LOACLMessages
import LOACLServerCore
import LOACLWire
import Logging
import NIOCore
import NIOHPACK
import NIOHTTP2

/// One gRPC call: the handler of one HTTP/2 stream channel, and the call's `ServerCallStream`
/// for the server core. Reads the request headers and length-prefixed messages, opens the call
/// through the core's router and executor, and writes response headers, messages and trailers.
///
/// Flow control: the stream channel does not read on its own (autoRead off). Unary and
/// server-streaming calls read until their one message is complete (bounded by
/// `maxMessageSize`); streaming calls read while fewer than `targetWindowSize` request bytes
/// wait for the handler, so HTTP/2 WINDOW_UPDATEs go out only as the handler takes messages.
/// A response message's write is awaited whenever the stream channel is not writable (its
/// HTTP/2 window or the socket is full), so a slow reader slows the handler.
///
/// Concurrency: every `var` is touched on the channel's event loop only; the handler task's
/// calls hop there (or run there directly on the event-loop executor), hence `@unchecked`.
final class GRPCServerStream: ChannelInboundHandler, InboxCallStream, @unchecked Sendable {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    let eventLoop: any EventLoop
    private let server: ServerCore
    let configuration: GRPCConfiguration
    private let peer: PeerInfo
    private let logger: Logger
    private let taskExecutor: EventLoopTaskExecutor?

    // Touched by GRPCServerStream+Responses.swift too (internal, not private); event loop only.
    var context: ChannelHandlerContext?
    var method: ServerMethod?
    private var callContext: ServerContext?
    private var reader: GRPCMessageReader
    /// Requests' encoding, and responses' (gzip when the request was and the client accepts it).
    private var requestEncoding = GRPCEncoding.identity
    var responseEncoding = GRPCEncoding.identity
    private(set) var receivedRequest: ByteBuffer?
    private(set) var inbox: MessageInbox?
    /// Request bytes in the inbox, not yet taken by the handler.
    private var heldBytes = 0
    private var readPaused = false
    var clientFinished = false
    var sentHeaders = false
    var sentMessages = 0
    var isClosed = false
    /// The core's deadline timer and handler task for this call.
    var call = ServerCallHandle()

    init(eventLoop: any EventLoop, server: ServerCore, configuration: GRPCConfiguration, peer: PeerInfo,
         taskExecutor: EventLoopTaskExecutor?, logger: Logger) {
        self.eventLoop = eventLoop
        self.server = server
        self.configuration = configuration
        self.peer = peer
        self.taskExecutor = taskExecutor
        self.logger = logger
        self.reader = GRPCMessageReader(maxMessageSize: configuration.maxMessageSize)
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        context.read()
        context.fireChannelActive()
    }

    /// The stream closed: the client reset it (RST_STREAM) or the connection went away.
    func channelInactive(context: ChannelHandlerContext) {
        if !isClosed { close() }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if !isClosed { close() }
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isClosed else { return }
        switch unwrapInboundIn(data) {
        case .headers(let headers):
            if method == nil && !clientFinished {
                open(headers.headers)
            }
            if headers.endStream { endOfRequest() }
        case .data(let frame):
            guard case .byteBuffer(let bytes) = frame.data else { return finish(RPCError(.internal, "unexpected file region")) }
            receive(bytes)
            if frame.endStream { endOfRequest() }
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if !isClosed && !clientFinished {
            if heldBytes < configuration.targetWindowSize { context.read() } else { readPaused = true }
        }
        context.fireChannelReadComplete()
    }

    // MARK: Request

    private func open(_ headers: HPACKHeaders) {
        let head: GRPCRequestHead
        do throws(GRPCRequestHead.Rejection) {
            head = try GRPCRequestHead(headers)
        } catch {
            switch error {
            case .http(let status, let reason):
                _ = write(.headers(.init(headers: GRPCHeaders.httpError(status: status, reason: reason), endStream: true)),
                          flush: true)
                return close()
            case .status(let status):
                return finish(status)
            }
        }
        guard let method = server.methods.method(forPath: head.path) else {
            return finish(RPCError(.unimplemented, "unknown method \(head.path.prefix(200))"))
        }
        self.method = method
        requestEncoding = head.encoding
        responseEncoding = head.encoding == .gzip && head.acceptsGzip ? .gzip : .identity
        let streamID = try? context?.channel.syncOptions?.getOption(HTTP2StreamChannelOptions.streamID)
        let callContext = ServerContext(method: method.descriptor, metadata: head.metadata, deadline: head.deadline, peer: peer,
                                        transportSpecific: GRPCCall(streamID: streamID.map { Int($0) }),
                                        taskExecutor: taskExecutor, logger: logger)
        server.executor.armDeadline(head.deadline, on: self, &call)
        if method.takesSingleRequest {
            self.callContext = callContext
        } else {
            inbox = MessageInbox { [unowned self] n in self.consumed(n) }
            start(callContext)
        }
    }

    private func receive(_ bytes: ByteBuffer) {
        guard let method else { return } // refused before; the rest of the body is dropped
        reader.append(bytes)
        do {
            while let next = try reader.next() {
                let message = next.compressed
                    ? try requestEncoding.decompress(next.bytes, limit: configuration.maxMessageSize) : next.bytes
                if method.takesSingleRequest {
                    guard receivedRequest == nil else {
                        return finish(.invalidArgument("\(method.descriptor.path) takes one request message"))
                    }
                    receivedRequest = message
                } else {
                    heldBytes += message.readableBytes
                    inbox?.push(message)
                }
            }
        } catch {
            finish(error)
        }
    }

    private func endOfRequest() {
        guard !clientFinished else { return }
        clientFinished = true
        guard !isClosed, let method else { return }
        if reader.bufferedBytes > 0 {
            return finish(RPCError(.internal, "request ended inside a length-prefixed message"))
        }
        if method.takesSingleRequest {
            guard receivedRequest != nil, let callContext else {
                return finish(.invalidArgument("\(method.descriptor.path) needs exactly one request message"))
            }
            self.callContext = nil
            start(callContext)
        } else {
            inbox?.end()
        }
    }

    /// The handler took `n` request bytes: read on if reading was paused for them.
    private func consumed(_ n: Int) {
        heldBytes -= n
        if readPaused && heldBytes < configuration.targetWindowSize, !isClosed, let context {
            readPaused = false
            context.read()
        }
    }

    private func start(_ callContext: ServerContext) {
        guard let method else { return }
        server.executor.start(method, on: self, context: callContext, executor: taskExecutor, &call)
    }
}
