import LOACLCore
import LOACLMessages
import LOACLWire
import NIOCore

/// One call as the client sees it. State is touched only on the connection's event loop (the
/// public call API hops there), hence `@unchecked Sendable`, and the state read per message is
/// `@exclusivity(unchecked)`: on one thread, the runtime's access checks (`swift_beginAccess`,
/// a thread-local access set) guard against nothing.
final class ClientStream: StreamSender, @unchecked Sendable {
    let id: UInt32
    private unowned let connection: ClientConnectionHandler
    /// Response messages of a server- or bidi-streaming call; ends on TRAILERS OK, fails with the
    /// call's RPCError otherwise. Single-response calls have none (they use `singleResponse`).
    @exclusivity(unchecked) private(set) var inbox: MessageInbox?
    /// Unary and client-streaming calls: the one response, handed over when TRAILERS arrive, so
    /// the caller is resumed exactly once per call.
    private let expectsSingleResponse: Bool
    private var singleResponse: ByteBuffer?
    private var singleWaiter: UnsafeContinuation<ByteBuffer, any Error>?
    @exclusivity(unchecked) var receiveWindow: FlowWindow
    /// Metadata of the server's response HEADERS, if it sent one.
    private(set) var responseMetadata: Metadata = [:]
    @exclusivity(unchecked) private(set) var isFinished = false
    /// We sent END_STREAM.
    var halfClosed = false
    var deadlineTimer: Scheduled<Void>?

    init(id: UInt32, eventLoop: any EventLoop, connection: ClientConnectionHandler, initialWindow: Int, expectsSingleResponse: Bool) {
        self.id = id
        self.expectsSingleResponse = expectsSingleResponse
        self.connection = connection
        self.receiveWindow = FlowWindow(initial: initialWindow)
        // This object is also the call's sender of MESSAGE frames (the base class).
        super.init(eventLoop: eventLoop, initialWindow: initialWindow, sink: connection.core)
        if !expectsSingleResponse { self.inbox = MessageInbox { [unowned self] n in self.consumed(n) } }
    }

    private func consumed(_ n: Int) {
        guard n > 0 else { return }
        if !isFinished {
            if let increment = receiveWindow.credit(n) { connection.core.writeWindowUpdate(streamID: id, increment: increment) }
        }
    }

    // MARK: From the connection (event loop)

    func receiveHeaders(_ metadata: Metadata) { responseMetadata = metadata }

    func receive(_ payload: ByteBuffer) {
        guard expectsSingleResponse else { return inbox!.push(payload) }
        // No stream credit for the one response of a unary or client-streaming call: the server
        // sends nothing more on this stream (docs/PROTOCOL.md §4). Crediting it cost a
        // WINDOW_UPDATE frame per call — at one call in flight, a write syscall on each side.
        guard singleResponse == nil else { return cancel(RPCError(.internal, "server sent more than one response message")) }
        singleResponse = payload
    }

    /// Parks the caller of a unary or client-streaming call until TRAILERS (event loop). The
    /// continuation is resumed exactly once: here if the call is already over, else by the one
    /// `complete` every stream gets (TRAILERS, cancel, deadline, GOAWAY or the connection's end),
    /// so the unchecked kind is safe and spares an allocation per call.
    func awaitSingleResponse(_ continuation: UnsafeContinuation<ByteBuffer, any Error>) {
        precondition(expectsSingleResponse && singleWaiter == nil)
        if isFinished, let response = singleResponse {
            continuation.resume(returning: response)
        } else if isFinished, notProcessed, let finalError {
            continuation.resume(throwing: CallNotProcessed(error: finalError))
        } else if isFinished {
            continuation.resume(throwing: finalError ?? RPCError(.internal, "server ended the call without a response"))
        } else {
            singleWaiter = continuation
        }
    }

    private var finalError: RPCError?
    private var notProcessed = false

    /// What a send after a successful end reports: one boxed error shared by every stream, so that
    /// ending a call allocates nothing.
    private static let alreadyFinished: any Error = RPCError(.failedPrecondition, "call already finished")

    /// TRAILERS arrived (nil = OK), or the call failed locally.
    /// `notProcessed`: the server's GOAWAY says it never started this call, so a unary call may
    /// be retried transparently on a new connection.
    func complete(_ status: RPCError?, notProcessed: Bool = false) {
        guard !isFinished else { return }
        isFinished = true
        deadlineTimer?.cancel()
        if let status { close(status) } else { close(Self.alreadyFinished) }
        finalError = status
        self.notProcessed = notProcessed
        if let waiter = singleWaiter {
            singleWaiter = nil
            if let status {
                waiter.resume(throwing: notProcessed ? CallNotProcessed(error: status) : status)
            } else if let response = singleResponse {
                waiter.resume(returning: response)
            } else {
                waiter.resume(throwing: RPCError(.internal, "server ended the call without a response"))
            }
        }
        if let status {
            // Responses the server sent before its error status are still the call's: readers
            // get them, then the error. (A local cancel has already dropped them.)
            inbox?.finish(throwing: status)
        } else {
            inbox?.end()
        }
        connection.streamClosed(self)
    }

    /// Abandons the call: CANCEL to the server, `error` to local readers and writers.
    func cancel(_ error: RPCError) {
        guard !isFinished else { return }
        var frame = ByteBufferAllocator().buffer(capacity: WireProtocol.headerSize)
        frame.writeEmptyFrame(type: .cancel, streamID: id)
        connection.write(frame)
        // The caller gave up (or the call broke locally): what is still buffered is not wanted.
        inbox?.fail(error)
        complete(error)
    }

    // MARK: From the caller's task

    /// Sends one request message. On the loop, a small one the windows allow is packed straight
    /// into the connection's outgoing bytes (no buffer of its own); elsewhere it is encoded here
    /// and the loop only queues the frame.
    nonisolated(nonsending) func send<M: ProtoMessage>(_ message: M) async throws {
        try await send(message, streamID: id)
    }

    nonisolated(nonsending) func next() async throws -> ByteBuffer? {
        guard let inbox else { preconditionFailure("next() on a single-response call") }
        return try await inbox.next(on: eventLoop)
    }

    /// Sends the half-close HEADERS (END_STREAM, empty payload).
    func finishSending() {
        let body: @Sendable () -> Void = {
            guard !self.isFinished, !self.halfClosed else { return }
            self.halfClosed = true
            var frame = ByteBufferAllocator().buffer(capacity: WireProtocol.headerSize)
            frame.writeEmptyFrame(type: .headers, flags: .endStream, streamID: self.id)
            self.connection.write(frame)
        }
        if eventLoop.inEventLoop { body() } else { eventLoop.execute(body) }
    }

    /// Cancels from any thread.
    func cancelFromAnyThread(_ error: RPCError) {
        if eventLoop.inEventLoop { cancel(error) } else { eventLoop.execute { self.cancel(error) } }
    }
}

/// A single-response call the server never started (above a GOAWAY's last stream id): the
/// connection layer retries it once on a new connection, then reports `error`.
struct CallNotProcessed: Error {
    let error: RPCError
}
