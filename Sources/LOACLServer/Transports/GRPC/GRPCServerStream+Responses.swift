import LOACLCore
import LOACLMessages
import LOACLServerCore
import LOACLWire
import NIOCore
import NIOHPACK
import NIOHTTP2

/// The response side of a gRPC call: messages, response headers, trailers (see `GRPCServerStream`).
extension GRPCServerStream {
    // MARK: ServerCallStream (from the handler task)

    /// A single response goes out with the trailers (the router flushes once per loop tick). A
    /// streamed one is written at once; the handler waits for it to reach the socket when more
    /// than `maxBufferedResponseBytes` of the call's responses are not there yet (the client's
    /// HTTP/2 window is used up: NIOHTTP2Handler holds them) or the socket is full, so a slow
    /// reader slows the handler instead of growing a buffer.
    func send<M: ProtoMessage>(_ message: M) async throws {
        let buffer = try packed(message)
        let wait: EventLoopFuture<Void>?
        if eventLoop.inEventLoop {
            wait = try write(message: buffer)
        } else {
            wait = try await eventLoop.submit { try self.write(message: buffer) }.get()
        }
        try await wait?.get()
    }

    func sendNow<M: ProtoMessage>(_ message: M) -> Bool {
        guard eventLoop.inEventLoop, !isClosed, method?.descriptor.serverStreaming == true, !mustWait,
              let buffer = try? packed(message) else { return false }
        _ = try? write(message: buffer)
        return true
    }

    /// Whether a streamed response must wait for the ones before it to reach the socket.
    private var mustWait: Bool {
        unconfirmedBytes > configuration.maxBufferedResponseBytes || !router.isWritable
    }

    /// Writes one response message (event loop); returns what to await before the next, if any.
    private func write(message buffer: ByteBuffer) throws -> EventLoopFuture<Void>? {
        guard !isClosed else { throw CancellationError() }
        let streaming = method?.descriptor.serverStreaming ?? false
        if !streaming && sentMessages > 0 {
            throw RPCError.internal("sent more than one response")
        }
        sendHeadersIfNeeded(Metadata())
        sentMessages += 1
        let data = HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(buffer)))
        guard streaming else {
            guard !router.isWritable else {
                router.write(data, on: id)
                return nil
            }
            let written = eventLoop.makePromise(of: Void.self)
            router.write(data, on: id, promise: written)
            return written.futureResult
        }
        let size = buffer.readableBytes
        let written = eventLoop.makePromise(of: Void.self)
        unconfirmedBytes += size
        written.futureResult.whenComplete { _ in self.unconfirmedBytes -= size }
        router.write(data, on: id, promise: written)
        return mustWait ? written.futureResult : nil
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
        if eventLoop.inEventLoop { return try writeHeaders(metadata) }
        try await eventLoop.submit { try self.writeHeaders(metadata) }.get()
    }

    private func writeHeaders(_ metadata: Metadata) throws {
        guard !isClosed else { throw CancellationError() }
        guard !sentHeaders else { throw RPCError.internal("response headers sent twice or after a message") }
        sendHeadersIfNeeded(metadata)
    }

    func sendHeadersIfNeeded(_ metadata: Metadata) {
        guard !sentHeaders else { return }
        sentHeaders = true
        router.write(.headers(.init(headers: GRPCHeaders.response(metadata, encoding: responseEncoding))), on: id)
    }

    // MARK: Ending the call (event loop)

    /// Sends the trailers (Trailers-Only when nothing was sent yet) and ends the call.
    func finish(_ status: RPCError?) {
        guard !isClosed else { return }
        if status == nil, method?.descriptor.serverStreaming == false, sentMessages == 0 {
            return finish(RPCError.internal("handler returned without a response"))
        }
        end(GRPCHeaders.trailers(status, trailersOnly: !sentHeaders))
    }

    /// Sends `trailers` (END_STREAM) and ends the call. When the response is complete before the
    /// request, the stream is reset with NO_ERROR: the client need not send the rest.
    func end(_ trailers: HPACKHeaders) {
        guard !isClosed else { return }
        // Closed first: the write may close the HTTP/2 stream, whose event comes back here.
        isClosed = true
        router.write(.headers(.init(headers: trailers, endStream: true)), on: id)
        if !clientFinished {
            router.write(.rstStream(.noError), on: id)
        }
        tearDown()
    }

    /// Answers a request that is not gRPC (wrong method or content type): the HTTP status and
    /// `reason`, in a header and as the text/plain body, and ends the call. No RST_STREAM follows
    /// (HTTP clients such as curl report a reset mid-upload as a failure).
    func end(httpStatus status: Int, reason: String) {
        guard !isClosed else { return }
        isClosed = true
        router.write(.headers(.init(headers: GRPCHeaders.httpError(status: status, reason: reason))), on: id)
        let body = ByteBuffer(string: reason + "\n")
        router.write(.data(.init(data: .byteBuffer(body), endStream: true)), on: id)
        tearDown()
    }

    /// Ends the call without trailers (RST_STREAM from the client, the stream or the connection
    /// closed) and cancels its handler.
    func cancel() {
        guard !isClosed else { return }
        isClosed = true
        tearDown()
    }

    private func tearDown() {
        call.cancel()
        inbox?.fail(StreamSender.cancelled) // shared box: no allocation per call
        router.streamClosed(id)
    }
}
