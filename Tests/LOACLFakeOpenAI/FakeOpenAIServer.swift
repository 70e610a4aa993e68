// A local HTTP/1.1 server that stands in for OpenAI in tests (target LOACLFakeOpenAI, shared by
// the upstream and services tests). Self-contained: NIOCore, NIOPosix, NIOHTTP1, Foundation,
// Synchronization; nothing from LOACL.
//
//     let server = try await FakeOpenAIServer.start(.sequence([
//         .status(429, headers: [("Retry-After", "1")], body: #"{"error":{"message":"slow down"}}"#),
//         .stream(OpenAIWire.responses(deltas: ["Hel", "lo"], usage: (12, 2, 14))),
//     ]))
//     defer { Task { await server.stop() } }
//     // point the provider at server.baseURL; afterwards inspect server.requests,
//     // server.closedConnections, or await server.waitForClosedConnections(1)
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Scripted OpenAI stand-in: every request is recorded, then answered with a `Reply`.
public final class FakeOpenAIServer: Sendable {
    /// One request as received.
    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
        /// When its last byte arrived.
        public var receivedAt = ContinuousClock.now

        public func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
        /// The body parsed as a JSON object (nil if it is not one).
        public var json: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        }
    }

    /// How a streamed response ends after its chunks.
    public enum StreamEnd: Sendable {
        /// The terminating zero-length chunk: a clean end of body.
        case finish
        /// Close the connection without ending the body: a connection dropped mid-stream. Whether
        /// the client reads the chunks before it sees the close depends on timing; a test that needs
        /// the client to have them holds the reply (`.hold`) and calls `dropConnections()`.
        case drop
        /// Keep the connection open until the client closes it.
        case hold
    }

    public enum Reply: Sendable {
        /// 200 `text/event-stream`, each chunk written and flushed on its own, `delay` apart;
        /// the first one `firstDelay` after the request arrived (a model's time to first token,
        /// counted from the request like a remote server's, whatever else this process does).
        case stream([String], delay: Duration = .zero, end: StreamEnd = .finish, firstDelay: Duration = .zero)
        /// Any status with a JSON (or text) body.
        case status(Int, headers: [(String, String)] = [], body: String = "")

        /// Replies in order, one per request; the last repeats.
        public static func sequence(_ replies: [Reply]) -> @Sendable (Request, Int) -> Reply {
            { _, index in replies[min(index, replies.count - 1)] }
        }
    }

    private struct State {
        var requests: [Request] = []
        var firstChunks: [Int: ContinuousClock.Instant] = [:]
        var openedConnections = 0
        var closedConnections = 0
        /// Client connections still open, by channel identity.
        var open: [ObjectIdentifier: any Channel] = [:]
    }

    private let state = Mutex(State())
    private let respond: @Sendable (Request, Int) -> Reply
    private let channel: any Channel

    /// `http://127.0.0.1:<port>`
    public let baseURL: String
    public let port: Int

    /// Starts listening on an ephemeral port of 127.0.0.1. `respond` gets each request and
    /// its index (0 for the first request the server received).
    public static func start(_ respond: @escaping @Sendable (Request, Int) -> Reply) async throws -> FakeOpenAIServer {
        let box = Mutex<FakeOpenAIServer?>(nil)
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let server = box.withLock({ $0 }) else { throw ChannelError.ioOnClosedChannel }
                    server.connectionOpened(channel)
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(Handler(server: server))
                }
            }
        let channel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        let server = FakeOpenAIServer(channel: channel, respond: respond)
        box.withLock { $0 = server }
        return server
    }

    private init(channel: any Channel, respond: @escaping @Sendable (Request, Int) -> Reply) {
        self.channel = channel
        self.respond = respond
        port = channel.localAddress?.port ?? 0
        baseURL = "http://127.0.0.1:\(port)"
    }

    public func stop() async {
        try? await channel.close()
    }

    /// Every request received so far, in order.
    public var requests: [Request] { state.withLock { $0.requests } }
    /// When the reply to request `index` wrote its first body chunk.
    public func firstChunkAt(_ index: Int) -> ContinuousClock.Instant? { state.withLock { $0.firstChunks[index] } }
    public var openedConnections: Int { state.withLock { $0.openedConnections } }
    /// Client connections that have closed (by either side).
    public var closedConnections: Int { state.withLock { $0.closedConnections } }

    /// Waits (polling, up to `timeout`) until at least `count` connections have closed. 10 s by
    /// default, as the services tests wait: in the first seconds of a whole-suite run every test
    /// starts at once, and both upstream providers' cancellation tests once saw no close within
    /// 5 s, at the same moment (session 14). A connection that is never closed still fails.
    public func waitForClosedConnections(_ count: Int, timeout: Duration = .seconds(10)) async -> Bool {
        let clock = ContinuousClock()
        let end = clock.now + timeout
        while clock.now < end {
            if closedConnections >= count { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return closedConnections >= count
    }

    /// Closes every client connection now: a connection dropped mid-stream, at the moment the
    /// test chooses (after the client has seen what the reply sent so far, with `.hold` replies).
    /// Dropping right after the last chunk instead (`.drop`) races the client's reading: under
    /// load AsyncHTTPClient can see the close before it hands the buffered chunks on, and then
    /// nothing of the attempt reached the caller, so it is retried.
    public func dropConnections() {
        let open = state.withLock { Array($0.open.values) }
        for channel in open { channel.close(promise: nil) }
    }

    private func connectionOpened(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        state.withLock {
            $0.openedConnections += 1
            $0.open[id] = channel
        }
        channel.closeFuture.whenComplete { _ in
            self.state.withLock {
                $0.closedConnections += 1
                $0.open[id] = nil
            }
        }
    }

    fileprivate func received(_ request: Request) -> (Reply, index: Int) {
        let index = state.withLock { state in
            state.requests.append(request)
            return state.requests.count - 1
        }
        return (respond(request, index), index)
    }

    fileprivate func firstChunkWritten(_ index: Int) {
        state.withLock { $0.firstChunks[index] = .now }
    }

    /// Writes `reply` on the channel's event loop, waiting with the loop's timers: no Swift task is
    /// involved, so replies keep their timing even while every thread of the test process's
    /// cooperative pool is busy (a test blocked in a synchronous call, hundreds of tests starting
    /// at once). A reply written from a task waited for a free pool thread, and a wait over the
    /// client's 10 s read timeout made it retry: one request too many in the tests' counts.
    /// Writes to a client that has gone fail silently. Call on the channel's event loop.
    fileprivate static func send(_ reply: Reply, on channel: any Channel, receivedAt: ContinuousClock.Instant,
                                 firstChunk: @escaping @Sendable () -> Void = {}) {
        switch reply {
        case .status(let code, let extra, let body):
            var headers = HTTPHeaders(extra)
            if !headers.contains(name: "content-type") { headers.add(name: "Content-Type", value: "application/json") }
            headers.add(name: "Content-Length", value: "\(body.utf8.count)")
            let head = HTTPResponseHead(version: .http1_1, status: .init(statusCode: code), headers: headers)
            channel.write(HTTPServerResponsePart.head(head), promise: nil)
            channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: body))), promise: nil)
            channel.writeAndFlush(HTTPServerResponsePart.end(nil), promise: nil)
        case .stream(let chunks, let delay, let end, let firstDelay):
            // No Content-Length: NIO's encoder sends the body chunked, as OpenAI does.
            let headers = HTTPHeaders([("Content-Type", "text/event-stream; charset=utf-8"), ("Cache-Control", "no-cache")])
            let head = HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))
            let loop = channel.eventLoop
            // Chunks from `index` on: without a delay all in this turn (each flushed on its own),
            // with one, the next chunk after `delay` on the loop's timer.
            @Sendable func write(from index: Int) {
                var i = index
                while i < chunks.count {
                    channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: chunks[i]))), promise: nil)
                    i += 1
                    if delay > .zero, i < chunks.count {
                        let next = i
                        loop.scheduleTask(in: timeAmount(delay)) { write(from: next) }
                        return
                    }
                }
                switch end {
                case .finish: channel.writeAndFlush(HTTPServerResponsePart.end(nil), promise: nil)
                case .drop: channel.close(promise: nil)
                case .hold: break // left open until the client closes it
                }
            }
            if firstDelay > .zero {
                channel.writeAndFlush(head, promise: nil)
                let wait = firstDelay - (ContinuousClock.now - receivedAt)
                loop.scheduleTask(in: timeAmount(max(wait, .zero))) {
                    firstChunk()
                    write(from: 0)
                }
            } else {
                firstChunk()
                channel.writeAndFlush(head, promise: nil)
                write(from: 0)
            }
        }
    }

    private static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let server: FakeOpenAIServer
        private var head: HTTPRequestHead?
        private var body: [UInt8] = []

        init(server: FakeOpenAIServer) {
            self.server = server
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                body = []
            case .body(let buffer):
                body += buffer.readableBytesView
            case .end:
                guard let head else { return }
                let request = Request(method: head.method.rawValue, path: head.uri,
                                      headers: head.headers.map { (name: $0.name, value: $0.value) }, body: body)
                let (reply, index) = server.received(request)
                let channel = context.channel
                let server = self.server
                FakeOpenAIServer.send(reply, on: channel, receivedAt: request.receivedAt) { server.firstChunkWritten(index) }
            }
        }
    }
}
