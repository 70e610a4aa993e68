import LOACLCrypto
import LOACLTLS
import NIOCore
import NIOPosix
import Synchronization

/// Echoes plaintext back, one flush per read burst.
final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Counts outbound writes that reach the socket (placed between the socket and TLS).
final class WriteCounter: ChannelOutboundHandler, Sendable {
    typealias OutboundIn = ByteBuffer
    private let count = Mutex(0)
    var writes: Int { count.withLock { $0 } }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        count.withLock { $0 += 1 }
        context.write(data, promise: promise)
    }
}

typealias HandshakeOutcome = Result<TLSHandshakeCompleted, any Error>

/// Reports a server connection's `TLSHandshakeCompleted` user event, or its first error.
final class HandshakeRecorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let continuation: AsyncStream<HandshakeOutcome>.Continuation
    private var reported = false

    init(_ continuation: AsyncStream<HandshakeOutcome>.Continuation) { self.continuation = continuation }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let completed = event as? TLSHandshakeCompleted { report(.success(completed)) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        report(.failure(error))
        context.fireErrorCaught(error)
    }

    private func report(_ outcome: HandshakeOutcome) {
        guard !reported else { return }
        reported = true
        continuation.yield(outcome)
    }
}

/// A TLS echo server on 127.0.0.1 that reports each connection's handshake outcome.
struct TLSEchoServer {
    let channel: any Channel
    let outcomes: AsyncStream<HandshakeOutcome>
    var port: Int { channel.localAddress!.port! }

    static func start(_ configuration: TLSConfiguration) async throws -> TLSEchoServer {
        let context = try TLSContext(configuration: configuration)
        let (outcomes, continuation) = AsyncStream.makeStream(of: HandshakeOutcome.self)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addTLSServerHandler(context: context)
                    try channel.pipeline.syncOperations.addHandler(HandshakeRecorder(continuation))
                    try channel.pipeline.syncOperations.addHandler(EchoHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return TLSEchoServer(channel: channel, outcomes: outcomes)
    }

    func nextOutcome() async -> HandshakeOutcome? {
        var iterator = outcomes.makeAsyncIterator()
        return await iterator.next()
    }

    func stop() async throws { try await channel.close() }
}

/// A connected TLS client whose plaintext is read and written through NIOAsyncChannel.
struct TLSTestClient {
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    let handshake: EventLoopFuture<TLSHandshakeCompleted>
    let counter: WriteCounter

    static func connect(port: Int, _ configuration: TLSConfiguration, serverName: String? = nil) async throws -> TLSTestClient {
        let context = try TLSContext(configuration: configuration)
        let counter = WriteCounter()
        let (channel, handshake) = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handshake = try channel.pipeline.syncOperations.addTLSClientHandler(context: context, serverName: serverName)
                    try channel.pipeline.syncOperations.addHandler(counter, position: .first)
                    let async = try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    return (async, handshake)
                }
            }
        return TLSTestClient(channel: channel, handshake: handshake, counter: counter)
    }

    /// Closes a client that made no `roundTrip` or `exchange` (one whose handshake failed):
    /// NIOAsyncChannel stops a debug process when its writer is released unfinished, which
    /// happens when the channel has not seen its own close yet.
    func close() async {
        try? await channel.executeThenClose { _, _ in }
    }

    /// Sends `chunks` (one flush for all of them), reads until as many bytes came back, closes.
    func roundTrip(_ chunks: [ByteBuffer]) async throws -> ByteBuffer {
        try await exchange(chunks).echo
    }

    /// Like `roundTrip`, also counting the socket writes made before the close.
    func exchange(_ chunks: [ByteBuffer]) async throws -> (echo: ByteBuffer, socketWrites: Int) {
        let total = chunks.reduce(0) { $0 + $1.readableBytes }
        return try await channel.executeThenClose { inbound, outbound in
            let writesBefore = counter.writes
            try await outbound.write(contentsOf: chunks)
            var received = ByteBuffer()
            for try await chunk in inbound {
                received.writeImmutableBuffer(chunk)
                if received.readableBytes >= total { break }
            }
            return (received, counter.writes - writesBefore)
        }
    }
}

func randomBuffer(_ count: Int) -> ByteBuffer {
    ByteBuffer(bytes: SecureRandom.bytes(count))
}

let loaclServerConfiguration: TLSConfiguration = .server(
    certificateChainFile: TestCertificates.shared.serverCertificate, privateKeyFile: TestCertificates.shared.serverKey)

let loaclClientConfiguration: TLSConfiguration = .client(
    caFile: TestCertificates.shared.caFile, serverName: "localhost")
