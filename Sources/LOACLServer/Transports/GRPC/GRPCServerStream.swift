import LOACLCore
import LOACLServerCore
import LOACLWire
import Logging
import NIOCore
import NIOHPACK
import NIOHTTP2

/// One gRPC call on one HTTP/2 stream, and the call's `ServerCallStream` for the server core.
/// `GRPCStreamRouter` hands it the stream's frames; it reads the request headers and
/// length-prefixed messages, opens the call through the core's router and executor, and writes
/// response headers, messages and trailers through the router (GRPCServerStream+Responses).
///
/// Flow control: received bytes are credited back (WINDOW_UPDATE, batched by half a window)
/// while fewer than `targetWindowSize` request bytes wait for the handler, and held back
/// otherwise until the handler takes messages: a client never has more than about two windows
/// of requests buffered for a slow handler. A single request is bounded by `maxMessageSize`
/// (checked from its prefix). Responses: see `send`.
///
/// Concurrency: every `var` is touched on the connection's event loop only; the handler task's
/// calls hop there (or run there directly on the event-loop executor), hence `@unchecked`.
/// `router` is only touched while the call is open: the router ends every call before it goes.
final class GRPCServerStream: InboxCallStream, @unchecked Sendable {
    let id: HTTP2StreamID
    unowned let router: GRPCStreamRouter
    let eventLoop: any EventLoop
    private let server: ServerCore
    let configuration: GRPCConfiguration
    private let peer: PeerInfo
    private let logger: Logger
    private let taskExecutor: EventLoopTaskExecutor?

    // Touched by GRPCServerStream+Responses.swift too (internal, not private); event loop only.
    var method: ServerMethod?
    private var callContext: ServerContext?
    private var reader: GRPCMessageReader
    /// Requests' encoding, and responses' (gzip when the request was and the client accepts it).
    private var requestEncoding = GRPCEncoding.identity
    var responseEncoding = GRPCEncoding.identity
    private(set) var receivedRequest: ByteBuffer?
    private(set) var inbox: MessageInbox?
    /// Request bytes (as flow control counts them) received and not yet credited back.
    private var uncredited = 0
    /// Request bytes in the inbox, not yet taken by the handler.
    private var heldBytes = 0
    var clientFinished = false
    var sentHeaders = false
    var sentMessages = 0
    /// Response bytes written and not yet on the socket (streaming responses only).
    var unconfirmedBytes = 0
    var isClosed = false
    /// The core's deadline timer and handler task for this call.
    var call = ServerCallHandle()

    init(id: HTTP2StreamID, router: GRPCStreamRouter, eventLoop: any EventLoop, server: ServerCore,
         configuration: GRPCConfiguration, peer: PeerInfo, taskExecutor: EventLoopTaskExecutor?, logger: Logger) {
        self.id = id
        self.router = router
        self.eventLoop = eventLoop
        self.server = server
        self.configuration = configuration
        self.peer = peer
        self.taskExecutor = taskExecutor
        self.logger = logger
        self.reader = GRPCMessageReader(maxMessageSize: configuration.maxMessageSize)
    }

    // MARK: Frames (from the router)

    func receiveHeaders(_ headers: HTTP2Frame.FramePayload.Headers) {
        guard !isClosed else { return }
        if method == nil && !clientFinished {
            open(headers.headers)
        }
        if headers.endStream { endOfRequest() }
    }

    func receive(_ frame: HTTP2Frame.FramePayload.Data) {
        guard !isClosed else { return }
        guard case .byteBuffer(let bytes) = frame.data else { return finish(RPCError(.internal, "unexpected file region")) }
        uncredited += bytes.readableBytes + (frame.paddingBytes.map { $0 + 1 } ?? 0)
        receive(bytes)
        if frame.endStream { endOfRequest() }
        creditIfReady()
    }

    // MARK: Request

    private func open(_ headers: HPACKHeaders) {
        let head: GRPCRequestHead
        do throws(GRPCRequestHead.Rejection) {
            head = try GRPCRequestHead(headers)
        } catch {
            switch error {
            case .http(let status, let reason):
                return end(httpStatus: status, reason: reason)
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
        let callContext = ServerContext(method: method.descriptor, metadata: head.metadata, deadline: head.deadline, peer: peer,
                                        transportSpecific: GRPCCall(streamID: Int(id)),
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

    /// The handler took `n` request bytes.
    private func consumed(_ n: Int) {
        heldBytes -= n
        creditIfReady()
    }

    /// Credits received bytes back once they add up to half a window, unless the handler is a
    /// window behind (then when it catches up); nothing once the client stopped sending.
    private func creditIfReady() {
        let window = configuration.targetWindowSize
        guard uncredited >= window / 2, heldBytes < window, !clientFinished, !isClosed else { return }
        router.returnCredit(uncredited, on: id)
        uncredited = 0
    }

    /// Runs the handler. On the event loop's executor it starts inside this call and may finish
    /// the call before this returns (an echo does): the task is kept only if the call is still open.
    private func start(_ callContext: ServerContext) {
        guard let method else { return }
        let task = server.executor.start(method, on: self, context: callContext, executor: taskExecutor)
        if !isClosed { call.task = task }
    }
}
