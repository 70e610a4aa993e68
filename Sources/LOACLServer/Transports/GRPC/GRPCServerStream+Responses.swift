import LOACLCore
import LOACLMessages
import LOACLServerCore
import NIOCore
import NIOHTTP2

/// The response side of a gRPC call: messages, response headers, trailers (see `GRPCServerStream`).
extension GRPCServerStream {
    // MARK: ServerCallStream (from the handler task)

    func send<M: ProtoMessage>(_ message: M) async throws {
        let buffer = try packed(message)
        try await onLoop { stream in
            let streaming = stream.method?.descriptor.serverStreaming ?? false
            if !streaming && stream.sentMessages > 0 {
                throw RPCError.internal("sent more than one response")
            }
            stream.sendHeadersIfNeeded(Metadata())
            stream.sentMessages += 1
            // A single response goes out with the trailers (one flush); a stream's messages at once.
            let written = stream.write(.data(.init(data: .byteBuffer(buffer))), flush: streaming)
            // Wait for the write (flushed) only when the stream's window or the socket is full.
            guard let context = stream.context, !context.channel.isWritable else { return nil }
            if !streaming { context.flush() }
            return written
        }
    }

    func sendNow<M: ProtoMessage>(_ message: M) -> Bool {
        guard eventLoop.inEventLoop, !isClosed, method?.descriptor.serverStreaming == true,
              let context, context.channel.isWritable, let buffer = try? packed(message) else { return false }
        sendHeadersIfNeeded(Metadata())
        sentMessages += 1
        _ = write(.data(.init(data: .byteBuffer(buffer))), flush: true)
        return true
    }

    /// `message` as one length-prefixed gRPC message (compressed when responses are), on whichever
    /// thread the handler runs; the loop only writes.
    private func packed<M: ProtoMessage>(_ message: M) throws -> ByteBuffer {
        let limit = configuration.maxMessageSize
        var packed: ByteBuffer = try message.withPacked { size, pack in
            guard size <= limit else {
                throw RPCError(.resourceExhausted, "response message of \(size) bytes exceeds the limit of \(limit)")
            }
            var buffer = ByteBufferAllocator().buffer(capacity: 5 + size)
            buffer.writeGRPCMessage(size: size, pack: pack)
            return buffer
        }
        if responseEncoding == .gzip {
            let compressed = try GRPCEncoding.gzipped(packed.getSlice(at: packed.readerIndex + 5, length: packed.readableBytes - 5)!)
            packed.clear()
            packed.writeGRPCPrefix(compressed: true, length: compressed.readableBytes)
            packed.writeImmutableBuffer(compressed)
        }
        return packed
    }

    func sendHeaders(_ metadata: Metadata) async throws {
        try await onLoop { stream in
            guard !stream.sentHeaders else { throw RPCError.internal("response headers sent twice or after a message") }
            stream.sendHeadersIfNeeded(metadata)
            return stream.write(nil, flush: true)
        }
    }

    /// Runs `body` on the event loop (at once when already there) and awaits the write it returns,
    /// if any.
    func onLoop(_ body: @escaping @Sendable (GRPCServerStream) throws -> EventLoopFuture<Void>?) async throws {
        let future: EventLoopFuture<Void>?
        if eventLoop.inEventLoop {
            guard !isClosed else { throw CancellationError() }
            future = try body(self)
        } else {
            future = try await eventLoop.submit {
                guard !self.isClosed else { throw CancellationError() }
                return try body(self)
            }.get()
        }
        try await future?.get()
    }

    func sendHeadersIfNeeded(_ metadata: Metadata) {
        guard !sentHeaders else { return }
        sentHeaders = true
        _ = write(.headers(.init(headers: GRPCHeaders.response(metadata, encoding: responseEncoding))), flush: false)
    }

    /// Writes `payload` (if any), flushing when asked; the future completes once it is written.
    func write(_ payload: HTTP2Frame.FramePayload?, flush: Bool) -> EventLoopFuture<Void> {
        guard let context else { return eventLoop.makeFailedFuture(CancellationError()) }
        let promise = eventLoop.makePromise(of: Void.self)
        if let payload {
            context.write(wrapOutboundOut(payload), promise: promise)
        } else {
            promise.succeed(())
        }
        if flush { context.flush() }
        return promise.futureResult
    }

    // MARK: Ending the call (event loop)

    /// Sends the trailers (Trailers-Only when nothing was sent yet) and ends the call.
    func finish(_ status: RPCError?) {
        guard !isClosed else { return }
        if status == nil, method?.descriptor.serverStreaming == false, sentMessages == 0 {
            return finish(RPCError.internal("handler returned without a response"))
        }
        let trailers = GRPCHeaders.trailers(status, trailersOnly: !sentHeaders)
        _ = write(.headers(.init(headers: trailers, endStream: true)), flush: clientFinished)
        if !clientFinished {
            // The response is complete before the request: the client need not send the rest.
            _ = write(.rstStream(.noError), flush: true)
        }
        close()
    }

    func close() {
        isClosed = true
        call.cancel()
        inbox?.fail(CancellationError())
    }
}
