import LOACLCore
import LOACLMessages
import LOACLWire
import NIOCore

/// One method the server can run: its descriptor and a type-erased body. Build them with the
/// typed factories (`unary`, `serverStreaming`, `clientStreaming`, `bidirectional`), which decode
/// requests and encode responses; the generated service glue does this for every proto method.
public struct ServerMethod: Sendable {
    public let descriptor: ProtoMethodDescriptor
    let body: @Sendable (ServerStream, ServerContext) async throws -> Void

    init(descriptor: ProtoMethodDescriptor, body: @escaping @Sendable (ServerStream, ServerContext) async throws -> Void) {
        self.descriptor = descriptor
        self.body = body
    }

    /// Whether the client sends exactly one request message (unary and server-streaming).
    var takesSingleRequest: Bool { !descriptor.clientStreaming }

    private static func check<Req: ProtoMessage, Res: ProtoMessage>(
        _ d: ProtoMethodDescriptor, _: Req.Type, _: Res.Type, clientStreaming: Bool, serverStreaming: Bool
    ) {
        precondition(d.clientStreaming == clientStreaming && d.serverStreaming == serverStreaming,
                     "\(d.path): handler kind does not match the proto definition")
        precondition(d.requestType == Req.protoMessageName && d.responseType == Res.protoMessageName,
                     "\(d.path): handler message types do not match the proto definition")
    }

    public static func unary<Req: ProtoMessage, Res: ProtoMessage>(
        _ d: ProtoMethodDescriptor,
        _ handler: @escaping @Sendable (Req, ServerContext) async throws -> Res
    ) -> ServerMethod {
        check(d, Req.self, Res.self, clientStreaming: false, serverStreaming: false)
        return ServerMethod(descriptor: d) { stream, context in
            let request: Req = try stream.decodeSingleRequest()
            let response = try await handler(request, context)
            try await stream.send(response)
        }
    }

    public static func serverStreaming<Req: ProtoMessage, Res: ProtoMessage>(
        _ d: ProtoMethodDescriptor,
        _ handler: @escaping @Sendable (Req, ResponseWriter<Res>, ServerContext) async throws -> Void
    ) -> ServerMethod {
        check(d, Req.self, Res.self, clientStreaming: false, serverStreaming: true)
        return ServerMethod(descriptor: d) { stream, context in
            let request: Req = try stream.decodeSingleRequest()
            try await handler(request, ResponseWriter(stream: stream), context)
        }
    }

    public static func clientStreaming<Req: ProtoMessage, Res: ProtoMessage>(
        _ d: ProtoMethodDescriptor,
        _ handler: @escaping @Sendable (RequestStream<Req>, ServerContext) async throws -> Res
    ) -> ServerMethod {
        check(d, Req.self, Res.self, clientStreaming: true, serverStreaming: false)
        return ServerMethod(descriptor: d) { stream, context in
            let response = try await handler(RequestStream(stream: stream), context)
            try await stream.send(response)
        }
    }

    public static func bidirectional<Req: ProtoMessage, Res: ProtoMessage>(
        _ d: ProtoMethodDescriptor,
        _ handler: @escaping @Sendable (RequestStream<Req>, ResponseWriter<Res>, ServerContext) async throws -> Void
    ) -> ServerMethod {
        check(d, Req.self, Res.self, clientStreaming: true, serverStreaming: true)
        return ServerMethod(descriptor: d) { stream, context in
            try await handler(RequestStream(stream: stream), ResponseWriter(stream: stream), context)
        }
    }
}

/// The request messages of a client- or bidirectional-streaming call, in order. Iteration ends
/// when the client half-closes; a message that does not decode ends the call with
/// INVALID_ARGUMENT. Taking a message returns its flow-control credit to the client.
public struct RequestStream<Request: ProtoMessage>: AsyncSequence, Sendable {
    public typealias Element = Request
    let stream: ServerStream

    public struct AsyncIterator: AsyncIteratorProtocol {
        let stream: ServerStream
        public mutating func next() async throws -> Request? {
            guard let payload = try await stream.nextRequest() else { return nil }
            do {
                return try Request(framePayload: payload)
            } catch {
                throw RPCError.invalidArgument("request message is not a valid \(Request.protoMessageName): \(error)")
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(stream: stream) }
}

/// Sends the response messages of a server- or bidirectional-streaming call. `write` waits
/// while the client's flow-control window is exhausted, so a slow reader slows the handler
/// instead of growing a buffer. Writes must not overlap (await each one).
public struct ResponseWriter<Response: ProtoMessage>: Sendable {
    let stream: ServerStream

    public func write(_ message: Response) async throws {
        try await stream.send(message)
    }

    /// Sends response metadata in a HEADERS frame; only before the first message, at most once.
    public func writeHeaders(_ metadata: Metadata) async throws {
        try await stream.sendHeaders(metadata)
    }
}
