import LOACLCore
import LOACLMessages
import LOACLWire
import NIOCore

extension LOACLClientConnection {
    /// One request, one response.
    nonisolated(nonsending) public func unary<Request: ProtoMessage, Response: ProtoMessage>(
        _ method: ProtoMethodDescriptor, _ request: Request, options: CallOptions = CallOptions(),
        responseType: Response.Type = Response.self
    ) async throws -> Response {
        let payload = try await unaryCall(method, options: options, request: request)
        return try decodeResponse(Response.self, payload)
    }

    /// One request, a stream of responses. The stream is valid inside `body`; when `body` returns
    /// before the stream ended, the call is cancelled, and so it is when the calling task is
    /// cancelled meanwhile.
    public func serverStreaming<Request: ProtoMessage, Response: ProtoMessage, Result: Sendable>(
        _ method: ProtoMethodDescriptor, _ request: Request, options: CallOptions = CallOptions(),
        responseType: Response.Type = Response.self,
        _ body: (ResponseStream<Response>) async throws -> Result
    ) async throws -> Result {
        let message = request.messageFrame(streamID: 0, flags: .endStream)
        let stream = try await startCall(method, options: options, firstMessage: message)
        defer { stream.cancelFromAnyThread(RPCError(.cancelled, "call abandoned")) }
        return try await withCallCancellation(stream) { owner in
            try await body(ResponseStream(stream: stream, owner: owner))
        }
    }

    /// A stream of requests written by `body`, one response.
    public func clientStreaming<Request: ProtoMessage, Response: ProtoMessage>(
        _ method: ProtoMethodDescriptor, options: CallOptions = CallOptions(),
        requestType: Request.Type = Request.self, responseType: Response.Type = Response.self,
        _ body: (RequestWriter<Request>) async throws -> Void
    ) async throws -> Response {
        let stream = try await startCall(method, options: options, firstMessage: nil)
        let writer = RequestWriter<Request>(stream: stream)
        do {
            try await withTaskCancellationHandler {
                try await body(writer)
            } onCancel: {
                stream.cancelFromAnyThread(RPCError(.cancelled, "cancelled by the client"))
            }
        } catch {
            stream.cancelFromAnyThread(RPCError(.cancelled, "request writer failed"))
            throw error
        }
        stream.finishSending()
        let payload = try await stream.singleResponse()
        return try decodeResponse(Response.self, payload)
    }

    /// Requests written by `body` while it reads responses, both directions at once. When `body`
    /// returns, the request side is half-closed; the call is cancelled if responses remain unread,
    /// and when the calling task is cancelled meanwhile.
    public func bidirectional<Request: ProtoMessage, Response: ProtoMessage, Result: Sendable>(
        _ method: ProtoMethodDescriptor, options: CallOptions = CallOptions(),
        requestType: Request.Type = Request.self, responseType: Response.Type = Response.self,
        _ body: (RequestWriter<Request>, ResponseStream<Response>) async throws -> Result
    ) async throws -> Result {
        let stream = try await startCall(method, options: options, firstMessage: nil)
        defer { stream.cancelFromAnyThread(RPCError(.cancelled, "call abandoned")) }
        return try await withCallCancellation(stream) { owner in
            try await body(RequestWriter(stream: stream), ResponseStream(stream: stream, owner: owner))
        }
    }

    /// Runs `body` with the calling task's cancellation cancelling the call: one cancellation
    /// handler for the whole call, so that reading a response in that task needs none of its own
    /// (installing and removing one per message took the task's status-record lock twice and two
    /// executor checks; bench/RESULTS.md, session 13). `body` gets the task's identity.
    private func withCallCancellation<Result>(
        _ stream: ClientStream, _ body: (TaskIdentity) async throws -> Result
    ) async throws -> Result {
        try await withTaskCancellationHandler {
            try await body(TaskIdentity.current)
        } onCancel: {
            stream.cancelFromAnyThread(RPCError(.cancelled, "cancelled by the client"))
        }
    }
}

/// Which task is running, to tell the task that started a call from others (a child task
/// reading its responses, say). Only compared, never dereferenced; the task it names outlives
/// every comparison (a call's streams are valid only while the call's body runs).
struct TaskIdentity: Equatable, Sendable {
    private let address: UInt

    static var current: TaskIdentity {
        withUnsafeCurrentTask { task in TaskIdentity(address: task.map { unsafeBitCast($0, to: UInt.self) } ?? 0) }
    }
}

/// Decodes a response payload; a payload that does not decode is the server's bug: INTERNAL.
func decodeResponse<Response: ProtoMessage>(_: Response.Type, _ payload: ByteBuffer) throws -> Response {
    do {
        return try Response(framePayload: payload)
    } catch {
        throw RPCError(.internal, "response is not a valid \(Response.protoMessageName): \(error)")
    }
}

extension ClientStream {
    /// Waits for TRAILERS of a single-response call; Task cancellation sends CANCEL.
    func singleResponse() async throws -> ByteBuffer {
        do {
            return try await withTaskCancellationHandler {
                try await withUnsafeThrowingContinuation { continuation in
                    if eventLoop.inEventLoop {
                        awaitSingleResponse(continuation)
                    } else {
                        eventLoop.execute { self.awaitSingleResponse(continuation) }
                    }
                }
            } onCancel: {
                cancelFromAnyThread(RPCError(.cancelled, "cancelled by the client"))
            }
        } catch let notProcessed as CallNotProcessed {
            // A client-streaming call's requests are gone: it cannot be resent transparently.
            throw notProcessed.error
        }
    }
}

/// The responses of a call, in order. Iteration ends after TRAILERS with OK and throws the
/// call's `RPCError` otherwise. Cancelling the task that started the call sends CANCEL at any
/// time; another task reading the responses sends it when cancelled while it waits.
public struct ResponseStream<Response: ProtoMessage>: AsyncSequence, Sendable {
    public typealias Element = Response
    let stream: ClientStream
    /// The task whose cancellation already cancels the call (the one that started it).
    let owner: TaskIdentity

    /// The server's response metadata (HEADERS), once the first response arrived.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let stream: ClientStream
        let owner: TaskIdentity
        nonisolated(nonsending) public mutating func next() async throws -> Response? {
            let stream = self.stream
            let payload: ByteBuffer?
            if TaskIdentity.current == owner {
                payload = try await stream.next()
            } else {
                // Another task reads: its own cancellation must cancel the call too.
                payload = try await withTaskCancellationHandler {
                    try await stream.next()
                } onCancel: {
                    stream.cancelFromAnyThread(RPCError(.cancelled, "cancelled by the client"))
                }
            }
            guard let payload else { return nil }
            do {
                return try Response(framePayload: payload)
            } catch {
                throw RPCError(.internal, "response is not a valid \(Response.protoMessageName): \(error)")
            }
        }

        /// What `for try await` calls: runs on the caller's executor (the protocol's default calls
        /// `next()` as a plain nonisolated function: an executor switch per message).
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(any Error) -> Response? {
            try await next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(stream: stream, owner: owner) }
}

/// Writes the requests of a client- or bidi-streaming call. `write` waits while the server's
/// flow-control window is full. Call `finish()` to half-close (done automatically when a
/// client-streaming body returns).
public struct RequestWriter<Request: ProtoMessage>: Sendable {
    let stream: ClientStream

    /// Runs on the caller's executor (`nonisolated(nonsending)`); on the connection's event loop
    /// a small request is packed straight into the connection's outgoing bytes.
    nonisolated(nonsending) public func write(_ request: Request) async throws {
        try await stream.send(request)
    }

    /// Half-closes the request side: the server sees the end of the request stream.
    public func finish() {
        stream.finishSending()
    }
}
