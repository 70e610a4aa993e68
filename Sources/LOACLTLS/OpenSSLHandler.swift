import NIOCore

/// TLS for a SwiftNIO channel, on OpenSSL through memory BIOs. Put it first in the pipeline:
/// handlers after it read and write plaintext `ByteBuffer`s.
///
/// - The handshake starts when the channel becomes active (or when the handler is added to an
///   active channel). On success it fires a `TLSHandshakeCompleted` user event before any
///   plaintext; on failure it fires a `TLSError` and closes the channel.
/// - Writes are buffered until `flush()`, then encrypted together into one outbound write.
/// - `close()` sends close_notify, waits for it to be written, then closes the socket; a
///   close_notify from the peer is answered and closes the channel.
/// - Reading is driven by the handlers after it (`read()` passes through), so back-pressure works
///   as without TLS; during the handshake the handler asks for reads itself.
public final class OpenSSLHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    public enum Mode: Sendable, Hashable {
        case server
        case client
    }

    private enum State {
        case idle
        case handshaking
        case active
        /// close_notify sent (or a fatal error): nothing more is read or written.
        case closing
        case closed
    }

    private let tlsContext: TLSContext
    private let mode: Mode
    private let serverName: String?
    private var handshakePromise: EventLoopPromise<TLSHandshakeCompleted>?
    private var connection: SSLConnection?
    private var state = State.idle
    private var outputClosed = false
    /// Plaintext waiting for a flush (or for the handshake), with the number already flushed.
    private var pendingWrites = CircularBuffer<(data: ByteBuffer, promise: EventLoopPromise<Void>?)>(initialCapacity: 8)
    private var flushedWriteCount = 0
    /// Reused for decrypted data and for ciphertext; copy-on-write gives fresh storage whenever
    /// the previous contents are still held downstream.
    private var plaintextBuffer: ByteBuffer
    private var ciphertextBuffer: ByteBuffer

    /// What the handshake negotiated; nil until it completes.
    public private(set) var handshakeResult: TLSHandshakeCompleted?

    /// - Parameters:
    ///   - serverName: client only; overrides the configuration's `serverName` for this connection.
    ///   - handshakePromise: succeeded with the handshake result, or failed with a `TLSError`.
    public init(context: TLSContext, mode: Mode, serverName: String? = nil,
                handshakePromise: EventLoopPromise<TLSHandshakeCompleted>? = nil) {
        self.tlsContext = context
        self.mode = mode
        self.serverName = mode == .client ? (serverName ?? context.configuration.serverName) : nil
        self.handshakePromise = handshakePromise
        let allocator = ByteBufferAllocator()
        plaintextBuffer = allocator.buffer(capacity: 0)
        ciphertextBuffer = allocator.buffer(capacity: 0)
    }

    // MARK: Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        plaintextBuffer = context.channel.allocator.buffer(capacity: 16_384 + 64)
        ciphertextBuffer = context.channel.allocator.buffer(capacity: 16_384 + 64)
        if context.channel.isActive { startHandshake(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        failPendingWrites(ChannelError.ioOnClosedChannel)
        handshakePromise?.fail(TLSError.closedDuringHandshake)
        handshakePromise = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        startHandshake(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        let wasHandshaking = state == .handshaking || state == .idle
        state = .closed
        failPendingWrites(ChannelError.ioOnClosedChannel)
        if wasHandshaking, let promise = handshakePromise {
            handshakePromise = nil
            promise.fail(TLSError.closedDuringHandshake)
            context.fireErrorCaught(TLSError.closedDuringHandshake)
        }
        context.fireChannelInactive()
    }

    private func startHandshake(context: ChannelHandlerContext) {
        guard state == .idle else { return }
        state = .handshaking
        do {
            connection = try SSLConnection(context: tlsContext, server: mode == .server, serverName: serverName)
        } catch {
            fail(context: context, error: error)
            return
        }
        advanceHandshake(context: context)
    }

    // MARK: Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let ciphertext = unwrapInboundIn(data)
        if state == .idle { startHandshake(context: context) }
        guard state == .handshaking || state == .active, let connection else { return }
        connection.receive(ciphertext)
        if state == .handshaking {
            advanceHandshake(context: context)
        }
        if state == .active {
            decrypt(context: context, connection: connection)
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        // Handlers after us may not read until they see the handshake result; keep it going.
        if state == .handshaking { context.read() }
        context.fireChannelReadComplete()
    }

    private func advanceHandshake(context: ChannelHandlerContext) {
        guard let connection else { return }
        switch connection.handshake() {
        case .needsMoreData:
            sendOutput(context: context)
        case let .failed(error):
            fail(context: context, error: error)
        case .complete:
            sendOutput(context: context)
            state = .active
            let result = connection.handshakeCompleted(sentServerName: serverName)
            handshakeResult = result
            context.fireUserInboundEventTriggered(result)
            handshakePromise?.succeed(result)
            handshakePromise = nil
            if state == .active, flushedWriteCount > 0 { encryptFlushedWrites(context: context) }
        }
    }

    /// Decrypts everything buffered and passes it on as one `ByteBuffer`.
    private func decrypt(context: ChannelHandlerContext, connection: SSLConnection) {
        plaintextBuffer.clear()
        var outcome = SSLConnection.ReadResult.needsMoreData
        reading: while true {
            outcome = connection.read(into: &plaintextBuffer)
            if case .readPlaintext = outcome { continue reading }
            break reading
        }
        if plaintextBuffer.readableBytes > 0 {
            context.fireChannelRead(wrapInboundOut(plaintextBuffer))
        }
        guard state == .active else { return } // a handler closed the channel meanwhile
        switch outcome {
        case .readPlaintext, .needsMoreData:
            // Post-handshake messages (TLS 1.3 KeyUpdate) may need an answer.
            if connection.hasPendingOutput { sendOutput(context: context) }
        case .closeNotify:
            closeGracefully(context: context, mode: .all, promise: nil)
        case let .failed(error):
            fail(context: context, error: error)
        }
    }

    // MARK: Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch state {
        case .closing, .closed:
            promise?.fail(ChannelError.ioOnClosedChannel)
        case .idle, .handshaking, .active:
            if outputClosed {
                promise?.fail(ChannelError.outputClosed)
                return
            }
            pendingWrites.append((unwrapOutboundIn(data), promise))
        }
    }

    public func flush(context: ChannelHandlerContext) {
        flushedWriteCount = pendingWrites.count
        if state == .active { encryptFlushedWrites(context: context) }
    }

    public func read(context: ChannelHandlerContext) {
        context.read()
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch (state, mode) {
        case (_, .input):
            context.close(mode: .input, promise: promise)
        case (.active, _):
            closeGracefully(context: context, mode: mode, promise: promise)
        case (.idle, _), (.handshaking, _):
            state = .closing
            failPendingWrites(ChannelError.ioOnClosedChannel)
            context.close(mode: mode, promise: promise)
        case (.closing, _), (.closed, _):
            context.close(mode: mode, promise: promise)
        }
    }

    /// Encrypts every flushed write into one buffer and sends it with a single write and flush.
    private func encryptFlushedWrites(context: ChannelHandlerContext) {
        guard flushedWriteCount > 0, let connection else { return }
        ciphertextBuffer.clear()
        var writePromise: EventLoopPromise<Void>?
        while flushedWriteCount > 0 {
            let (plaintext, promise) = pendingWrites.removeFirst()
            flushedWriteCount -= 1
            if let error = connection.write(plaintext, into: &ciphertextBuffer) {
                promise?.fail(error)
                writePromise?.fail(error)
                fail(context: context, error: error)
                return
            }
            // All promises complete when the one outbound write does.
            if let promise {
                if let writePromise { writePromise.futureResult.cascade(to: promise) } else { writePromise = promise }
            }
        }
        context.write(wrapOutboundOut(ciphertextBuffer), promise: writePromise)
        context.flush()
    }

    /// Writes whatever ciphertext OpenSSL has produced (handshake messages, alerts, replies).
    @discardableResult
    private func sendOutput(context: ChannelHandlerContext) -> EventLoopFuture<Void>? {
        guard let connection, connection.hasPendingOutput else { return nil }
        ciphertextBuffer.clear()
        connection.drainOutput(into: &ciphertextBuffer)
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(ciphertextBuffer), promise: promise)
        return promise.futureResult
    }

    /// Sends flushed data and close_notify, then closes once they are written.
    private func closeGracefully(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        encryptFlushedWrites(context: context)
        guard state == .active else {
            context.close(mode: mode, promise: promise)
            return
        }
        if mode == .output {
            outputClosed = true
        } else {
            state = .closing
        }
        failPendingWrites(ChannelError.ioOnClosedChannel)
        connection?.shutdown()
        closeAfter(sendOutput(context: context), context: context, mode: mode, promise: promise)
    }

    private func closeAfter(_ written: EventLoopFuture<Void>?, context: ChannelHandlerContext,
                            mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard let written else {
            context.close(mode: mode, promise: promise)
            return
        }
        written.assumeIsolated().whenComplete { _ in
            context.close(mode: mode, promise: promise)
        }
    }

    // MARK: Failure

    /// Reports `error`, sends any alert OpenSSL queued, and closes the channel.
    private func fail(context: ChannelHandlerContext, error: any Error) {
        guard state != .closing, state != .closed else { return }
        state = .closing
        failPendingWrites(error)
        if let promise = handshakePromise {
            handshakePromise = nil
            promise.fail(error)
        }
        context.fireErrorCaught(error)
        closeAfter(sendOutput(context: context), context: context, mode: .all, promise: nil)
    }

    private func failPendingWrites(_ error: any Error) {
        flushedWriteCount = 0
        while let write = pendingWrites.popFirst() {
            write.promise?.fail(error)
        }
    }
}

@available(*, unavailable)
extension OpenSSLHandler: Sendable {}
