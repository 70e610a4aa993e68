import LOACLCore
import LOACLMessages
import LOACLWire
import Logging
import NIOCore

/// The client side of one LOACL connection: opens calls, routes frames to them, runs flow
/// control, answers PINGs and handles GOAWAY. Lives on the connection's event loop only, so the
/// state read per frame is `@exclusivity(unchecked)` (see `ClientStream`).
final class ClientConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var context: ChannelHandlerContext?
    /// Coalesced writes and connection-level flow control.
    let core = ConnectionCore(earlyFlushBytes: ConnectionCore.clientEarlyFlushBytes)
    @exclusivity(unchecked) private var streams: [UInt32: ClientStream] = [:]
    private var nextStreamID: UInt32 = 1
    /// Set once the connection must not take new calls (GOAWAY received, closed, ids used up).
    private var unusable: RPCError?
    /// Told (from the event loop) when this connection stops taking new calls.
    private let onUnusable: @Sendable () -> Void
    private let logger: Logger
    /// Cuts the bytes read into the server's preface and frames, handled in place.
    @exclusivity(unchecked) private var reader: FrameReader

    init(logger: Logger, maxFrameSize: Int, onUnusable: @escaping @Sendable () -> Void) {
        self.logger = logger
        self.onUnusable = onUnusable
        self.reader = FrameReader(expectPreface: true, maxFrameSize: maxFrameSize)
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        core.attach(context)
        if context.channel.isActive { sendPreface(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        sendPreface(context)
        context.fireChannelActive()
    }

    private var prefaceSent = false
    private func sendPreface(_ context: ChannelHandlerContext) {
        guard !prefaceSent else { return }
        prefaceSent = true
        var buffer = context.channel.allocator.buffer(capacity: WireProtocol.preface.count)
        buffer.writeBytes(WireProtocol.preface)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        markUnusable(RPCError(.unavailable, "connection closed"))
        for stream in Array(streams.values) { stream.complete(RPCError(.unavailable, "connection closed before the call finished")) }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        core.attach(nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("client connection error", metadata: ["error": "\(error)"])
        markUnusable(RPCError(.unavailable, "connection failed: \(error)"))
        context.close(promise: nil)
    }

    private func markUnusable(_ error: RPCError) {
        guard unusable == nil else { return }
        unusable = error
        onUnusable()
    }

    // MARK: Opening calls (event loop)

    /// Opens a call: HEADERS, then (for single-request calls) the request MESSAGE with END_STREAM
    /// when the windows allow; `firstMessage` is a MESSAGE frame encoded with stream id 0.
    func startCall(headers: ByteBuffer, firstMessage: ByteBuffer?, timeout: Duration?, expectsSingleResponse: Bool) throws -> ClientStream {
        let stream = try openStream(headers: headers, timeout: timeout, expectsSingleResponse: expectsSingleResponse)
        if let firstMessage { try sendRequest(firstMessage, on: stream) }
        return stream
    }

    /// Opens a unary call and sends its request, packed straight into the connection's outgoing
    /// bytes when it is small and the windows allow it (no buffer of its own).
    func startUnary<Request: ProtoMessage>(headers: ByteBuffer, request: Request, timeout: Duration?) throws -> ClientStream {
        let stream = try openStream(headers: headers, timeout: timeout, expectsSingleResponse: true)
        let id = stream.id
        let sent = try request.withPacked { size, pack in
            try stream.sendPacked(streamID: id, flags: .endStream, payloadSize: size, pack: pack)
        }
        if sent {
            stream.halfClosed = true
        } else {
            try sendRequest(request.messageFrame(streamID: 0, flags: .endStream), on: stream)
        }
        return stream
    }

    private func openStream(headers: ByteBuffer, timeout: Duration?, expectsSingleResponse: Bool) throws -> ClientStream {
        if let unusable { throw unusable }
        guard context != nil else { throw RPCError(.unavailable, "not connected") }
        let id = nextStreamID
        if nextStreamID >= UInt32.max - 1 { markUnusable(RPCError(.unavailable, "stream ids exhausted")) } else { nextStreamID += 1 }
        let stream = ClientStream(id: id, eventLoop: context!.eventLoop, connection: self, initialWindow: core.initialWindow,
                                  expectsSingleResponse: expectsSingleResponse)
        streams[id] = stream
        // HEADERS was encoded for stream 0 (the caller's thread does not know the id); the id
        // goes into the copy the connection writes.
        core.write(headers, streamID: id)
        if let timeout {
            let nanos = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
            stream.deadlineTimer = context!.eventLoop.scheduleTask(in: .nanoseconds(nanos)) { [weak stream] in
                stream?.cancel(RPCError(.deadlineExceeded, "deadline exceeded"))
            }
        }
        return stream
    }

    /// Sends a single request's MESSAGE frame (END_STREAM, encoded for stream 0): now if the
    /// windows allow, else once they open.
    private func sendRequest(_ message: ByteBuffer, on stream: ClientStream) throws {
        stream.halfClosed = true
        if !(try stream.sendNow(message, streamID: stream.id)) {
            var message = message
            message.setInteger(stream.id, at: message.readerIndex + WireProtocol.streamIDOffset)
            let sender: StreamSender = stream
            Task { [message] in try? await sender.send(message) }
        }
    }

    // MARK: Inbound frames

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        core.inRead = true
        do throws(FrameDecodingError) {
            try reader.read(unwrapInboundIn(data)) { event in
                if case .frame(let frame) = event { receive(frame, context) }
                return unusable == nil || context.channel.isActive
            }
        } catch {
            protocolError("\(error)")
        }
    }

    private func receive(_ frame: Frame, _ context: ChannelHandlerContext) {
        switch frame.type {
        case .headers:
            if let stream = streams[frame.streamID], let headers = try? Loacl_Wire_V1_CallHeaders(framePayload: frame.payload) {
                stream.receiveHeaders((try? Metadata(wire: headers.metadata)) ?? [:])
            }
        case .message:
            let size = frame.payload.readableBytes
            guard core.acceptInbound(size) else { return protocolError("server exceeded the connection window") }
            guard let stream = streams[frame.streamID] else {
                return
            }
            guard stream.receiveWindow.allows(size) else { return protocolError("server exceeded a stream window") }
            stream.receiveWindow.consume(size)
            stream.receive(frame.payload)
        case .trailers:
            guard let stream = streams[frame.streamID] else { return }
            // OK with nothing else to say is an empty CallStatus: nothing to decode.
            if frame.payload.readableBytes == 0 { return stream.complete(nil) }
            do {
                let status = try Loacl_Wire_V1_CallStatus(framePayload: frame.payload)
                stream.complete(status.rpcError)
            } catch {
                stream.complete(RPCError(.internal, "server sent undecodable TRAILERS: \(error)"))
            }
        case .windowUpdate:
            guard let increment = frame.windowIncrement else { return protocolError("malformed WINDOW_UPDATE") }
            if frame.streamID == 0 {
                guard core.grantConnectionWindow(increment) else { return protocolError("connection window overflow") }
            } else if let stream = streams[frame.streamID] {
                guard stream.grant(increment) else { return protocolError("stream window overflow") }
            }
        case .ping:
            guard !frame.flags.contains(.ack), frame.payload.readableBytes == 8 else { return }
            var reply = context.channel.allocator.buffer(capacity: WireProtocol.headerSize + 8)
            reply.writeFrame(type: .ping, flags: .ack, streamID: 0, payload: frame.payload)
            write(reply)
        case .goAway:
            let goAway = (try? Loacl_Wire_V1_GoAway(framePayload: frame.payload)) ?? Loacl_Wire_V1_GoAway()
            receiveGoAway(goAway)
        default:
            protocolError("unexpected frame \(frame.type) from server")
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        core.inRead = false
        core.flushIfNeeded()
        context.fireChannelReadComplete()
    }

    private func receiveGoAway(_ goAway: Loacl_Wire_V1_GoAway) {
        let reason = goAway.reason.isEmpty ? "server sent GOAWAY" : "server sent GOAWAY: \(goAway.reason)"
        if goAway.code != 0 {
            logger.warning("server closed the connection", metadata: ["code": "\(StatusCode(rawValue: goAway.code))", "reason": "\(goAway.reason)"])
        }
        markUnusable(RPCError(.unavailable, reason))
        // Calls the server will not process can be retried on a new connection.
        for (id, stream) in streams where id > goAway.lastStreamID {
            stream.complete(RPCError(.unavailable, "\(reason); call not processed"), notProcessed: true)
        }
        if streams.isEmpty { context?.close(promise: nil) }
    }

    private func protocolError(_ reason: String) {
        logger.warning("protocol error from server; closing", metadata: ["reason": "\(reason)"])
        markUnusable(RPCError(.internal, reason))
        context?.close(promise: nil)
    }

    // MARK: Used by streams (event loop)

    func write(_ buffer: ByteBuffer) { core.write(buffer) }

    func streamClosed(_ stream: ClientStream) {
        streams[stream.id] = nil
        core.forget(stream)
        if unusable != nil && streams.isEmpty { context?.close(promise: nil) }
    }
}
