import LOACLCore
import LOACLMessages
import LOACLServerCore
import LOACLWire
import Logging
import NIOCore

/// One call on a LOACL wire connection: the LOACL wire's `ServerCallStream` (MESSAGE, HEADERS and
/// TRAILERS frames, per-stream flow control).
///
/// Concurrency: every `var` below is read and written only on the connection's event loop.
/// The handler's task calls `send`, `nextRequest` and `sendHeaders`; those make their state
/// changes on the loop (directly when the task already runs there, which it does when the
/// server runs handlers on the event-loop executor). That confinement is why the class can be
/// `@unchecked Sendable`.
final class ServerStream: StreamSender, InboxCallStream, @unchecked Sendable {
    let id: UInt32
    let method: ServerMethod
    private unowned let connection: ServerConnectionHandler

    /// The single request of a unary or server-streaming call.
    private(set) var receivedRequest: ByteBuffer?
    /// Request bytes received and not yet taken by the handler (or dropped with the call),
    /// counted against the connection's `maxInboundBuffer`.
    private var heldBytes = 0
    /// A single-request call's context, kept until its request message arrives.
    var pendingContext: ServerContext?
    /// Requests of a client- or bidi-streaming call (nil for single-request calls).
    private(set) var inbox: MessageInbox?
    /// The client half-closed (END_STREAM).
    private(set) var clientFinished = false
    /// MESSAGE bytes the client may still send on this stream.
    var receiveWindow: FlowWindow
    private var sentHeaders = false
    /// The core's deadline timer and handler task for this call.
    var call = ServerCallHandle()

    init(id: UInt32, method: ServerMethod, eventLoop: any EventLoop, connection: ServerConnectionHandler, initialWindow: Int) {
        self.id = id
        self.method = method
        self.connection = connection
        self.receiveWindow = FlowWindow(initial: initialWindow)
        // This object is also the call's sender of MESSAGE frames (the base class); it is closed
        // (`isClosed`) once TRAILERS went out or the call was cancelled: nothing more goes out.
        super.init(eventLoop: eventLoop, initialWindow: initialWindow, sink: connection.core)
        if method.descriptor.clientStreaming {
            self.inbox = MessageInbox { [unowned self] n in self.consumed(n) }
        }
    }

    // MARK: Inbound (event loop)

    /// A request MESSAGE of a streaming call arrived.
    func receive(_ payload: ByteBuffer) {
        hold(payload.readableBytes)
        inbox?.push(payload)
    }

    /// The request of a single-request call arrived; held until the call ends.
    func receiveSingleRequest(_ payload: ByteBuffer) {
        hold(payload.readableBytes)
        receivedRequest = payload
    }

    private func hold(_ n: Int) {
        heldBytes += n
        connection.inboundHeld(n)
    }

    private func release(_ n: Int) {
        let n = min(n, heldBytes)
        heldBytes -= n
        connection.inboundHeld(-n)
    }

    func receiveEndOfStream() {
        clientFinished = true
        inbox?.end()
    }

    /// The application took `n` bytes: give the client its credit back.
    private func consumed(_ n: Int) {
        guard n > 0 else { return }
        release(n)
        if !clientFinished && !isClosed {
            if let increment = receiveWindow.credit(n) { connection.core.writeWindowUpdate(streamID: id, increment: increment) }
        }
    }

    // MARK: Called from the handler task

    func send<M: ProtoMessage>(_ message: M) async throws {
        if !method.descriptor.serverStreaming && sentMessages > 0 {
            throw RPCError.internal("\(method.descriptor.path) sent more than one response")
        }
        try await send(message, streamID: id)
    }

    func sendNow<M: ProtoMessage>(_ message: M) -> Bool {
        guard eventLoop.inEventLoop, !isClosed, method.descriptor.serverStreaming else { return false }
        return (try? sendNow(message.messageFrame(streamID: id))) ?? false
    }

    func sendHeaders(_ metadata: Metadata) async throws {
        var headers = Loacl_Wire_V1_CallHeaders()
        headers.metadata = metadata.wireEntries
        var buffer = ByteBufferAllocator().buffer(capacity: 64)
        buffer.writeFrame(type: .headers, streamID: id, message: headers)
        let frame = buffer
        let write: @Sendable () throws -> Void = {
            if self.isClosed { throw CancellationError() }
            guard !self.sentHeaders, self.sentMessages == 0 else {
                throw RPCError.internal("response headers sent twice or after a message")
            }
            self.sentHeaders = true
            self.connection.write(frame)
        }
        if eventLoop.inEventLoop { return try write() }
        try await eventLoop.submit(write).get()
    }

    // MARK: Ending the call (event loop)

    /// The handler finished: send TRAILERS with `status` (nil = OK) unless the call already ended.
    func finish(_ status: RPCError?) {
        guard !isClosed else { return }
        if status == nil && !method.descriptor.serverStreaming && sentMessages == 0 {
            return finish(RPCError.internal("handler returned without a response"))
        }
        let id = self.id
        if let status {
            let message = Loacl_Wire_V1_CallStatus(status)
            connection.core.writeFrame { $0.writeFrame(type: .trailers, streamID: id, message: message) }
        } else {
            connection.core.writeFrame { $0.writeEmptyFrame(type: .trailers, streamID: id) }
        }
        closeCall()
    }

    /// Ends the call without TRAILERS (client CANCEL, connection gone) and cancels the handler.
    func cancel() {
        guard !isClosed else { return }
        closeCall()
    }

    private func closeCall() {
        close()
        call.cancel()
        inbox?.fail(StreamSender.cancelled)
        release(heldBytes)
        connection.streamClosed(self)
    }
}
