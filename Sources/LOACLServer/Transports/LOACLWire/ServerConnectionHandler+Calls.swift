import LOACLCore
import LOACLMessages
import LOACLServerCore
import LOACLWire
import NIOCore

// Opening a call: a HEADERS frame checked, decoded (or found in the last-HEADERS cache), routed
// to its method and turned into a `ServerStream`; then its handler started, or the call refused.
extension ServerConnectionHandler {
    func receiveHeaders(_ frame: Frame) {
        let id = frame.streamID
        guard id != 0 else { return connectionError(.invalidArgument, "HEADERS on stream 0") }
        guard id > highestStreamID else {
            // The one HEADERS allowed on an existing stream: empty, END_STREAM = half-close.
            if frame.flags.contains(.endStream) && frame.payload.readableBytes == 0 {
                if let stream = streams[id], !stream.clientFinished { halfClose(stream) }
                return
            }
            return connectionError(.invalidArgument, "stream id \(id) is not greater than \(highestStreamID)")
        }
        highestStreamID = id
        if draining { return refuse(id, RPCError(.unavailable, "server is shutting down; retry on a new connection")) }
        guard frame.payload.readableBytes <= configuration.maxHeadersSize else {
            return refuse(id, RPCError(.resourceExhausted, "call headers of \(frame.payload.readableBytes) bytes exceed the limit of \(configuration.maxHeadersSize)"))
        }
        let opened: OpenedCall
        if let cached = headersCache.lookUp(frame.payload) {
            opened = cached
        } else {
            let headers: Loacl_Wire_V1_CallHeaders
            do {
                headers = try Loacl_Wire_V1_CallHeaders(framePayload: frame.payload)
            } catch {
                return refuse(id, .invalidArgument("HEADERS payload is not a valid CallHeaders: \(error)"))
            }
            guard let method = server.methods.method(forPath: headers.method) else {
                return refuse(id, RPCError(.unimplemented, "unknown method \(headers.method.prefix(200))"))
            }
            let metadata: Metadata
            do {
                metadata = try Metadata(wire: headers.metadata)
            } catch {
                return refuse(id, error)
            }
            opened = OpenedCall(method: method, metadata: metadata, timeoutMs: headers.timeoutMs)
            headersCache.remember(frame.payload, opened)
        }
        let method = opened.method, metadata = opened.metadata
        guard streams.count < configuration.maxConcurrentCalls else {
            return refuse(id, RPCError(.resourceExhausted, "more than \(configuration.maxConcurrentCalls) concurrent calls on one connection"))
        }
        let stream = ServerStream(id: id, method: method, eventLoop: context.eventLoop, connection: self, initialWindow: configuration.initialWindow)
        streams[id] = stream
        let deadline = opened.timeoutMs > 0 ? NIODeadline.now() + .milliseconds(Int64(clamping: opened.timeoutMs)) : nil
        server.executor.armDeadline(deadline, on: stream, &stream.call)
        let callContext = ServerContext(method: method.descriptor, metadata: metadata, deadline: deadline, peer: peer,
                                        transportSpecific: LOACLWireCall(streamID: id), taskExecutor: taskExecutor, logger: logger)
        if frame.flags.contains(.endStream) {
            stream.receiveEndOfStream()
            if method.takesSingleRequest {
                return stream.finish(.invalidArgument("\(method.descriptor.path) needs exactly one request message"))
            }
        }
        if method.takesSingleRequest {
            stream.pendingContext = callContext
        } else {
            start(stream, callContext)
        }
    }

    // MARK: Running calls

    /// Runs the call's handler. On the event loop's executor it begins inside this call (and an
    /// echo runs, responds and finishes here): the task is kept only if the call is still open.
    func start(_ stream: ServerStream, _ callContext: ServerContext) {
        let task = server.executor.start(stream.method, on: stream, context: callContext, executor: taskExecutor)
        if !stream.isClosed { stream.call.task = task }
    }

    /// Answers a call that will not run with TRAILERS.
    func refuse(_ id: UInt32, _ error: RPCError) {
        var trailers = context.channel.allocator.buffer(capacity: 64)
        trailers.writeFrame(type: .trailers, streamID: id, message: Loacl_Wire_V1_CallStatus(error))
        write(trailers)
    }
}
