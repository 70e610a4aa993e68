import LOACLCore
import LOACLMessages
import NIOCore

/// One method the server can run: its descriptor and a type-erased body. Build them with the
/// typed factories (`unary`, `serverStreaming`, `clientStreaming`, `bidirectional`), which decode
/// requests and encode responses; the generated service glue does this for every proto method.
/// A class: each call holds its method (in its stream and its handler's task), and a copy of a
/// class is one reference count where this pair of descriptor and closure was two.
public final class ServerMethod: Sendable {
    public let descriptor: ProtoMethodDescriptor
    /// Runs the call on a transport's stream (the typed factories below build it).
    package let body: @Sendable (any ServerCallStream, ServerContext) async throws -> Void

    init(descriptor: ProtoMethodDescriptor, body: @escaping @Sendable (any ServerCallStream, ServerContext) async throws -> Void) {
        self.descriptor = descriptor
        self.body = body
    }

    /// Whether the client sends exactly one request message (unary and server-streaming).
    package var takesSingleRequest: Bool { !descriptor.clientStreaming }

    private static func check<Req: ProtoMessage, Res: ProtoMessage>(
        _ d: ProtoMethodDescriptor, _: Req.Type, _: Res.Type, clientStreaming: Bool, serverStreaming: Bool
    ) {
        precondition(d.clientStreaming == clientStreaming && d.serverStreaming == serverStreaming,
                     "\(d.path): handler kind does not match the proto definition")
        precondition(d.requestType == Req.protoMessageName && d.responseType == Res.protoMessageName,
                     "\(d.path): handler message types do not match the proto definition")
    }

    /// Decodes a request message; one that does not decode ends the call with INVALID_ARGUMENT.
    @usableFromInline
    static func decode<Req: ProtoMessage>(_: Req.Type, _ payload: ByteBuffer) throws -> Req {
        do {
            return try payload.withUnsafeReadableBytes { raw in try Req(serializedBytes: raw) } // no copy
        } catch {
            throw RPCError.invalidArgument("request message is not a valid \(Req.protoMessageName): \(error)")
        }
    }

    public static func unary<Req: ProtoMessage, Res: ProtoMessage>(
        _ d: ProtoMethodDescriptor,
        _ handler: @escaping @Sendable (Req, ServerContext) async throws -> Res
    ) -> ServerMethod {
        check(d, Req.self, Res.self, clientStreaming: false, serverStreaming: false)
        return ServerMethod(descriptor: d) { stream, context in
            let request = try decode(Req.self, try stream.singleRequest())
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
            let request = try decode(Req.self, try stream.singleRequest())
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
