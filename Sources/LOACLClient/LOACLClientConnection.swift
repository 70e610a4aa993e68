import LOACLCore
import LOACLMessages
import LOACLTLS
import LOACLWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Synchronization

/// A connection to a LOACL server that any number of concurrent calls share (multiplexed as
/// streams on one socket). It connects on first use and, after the connection drops or the
/// server sends GOAWAY, reconnects on the next call with exponential backoff.
///
/// Use the generated typed clients (`Loacl_V1_ThreadServiceClient(connection)`) or the generic
/// `unary`/`serverStreaming`/`clientStreaming`/`bidirectional` methods.
public final class LOACLClientConnection: Sendable {
    public let configuration: ClientConfiguration
    /// The event loop every connection of this client runs on (picked once, kept across
    /// reconnects), so `taskExecutor` stays valid for the client's lifetime.
    private let eventLoop: any EventLoop
    /// Runs Swift tasks on `eventLoop`. Calls made from a task with this executor preference
    /// start and finish on the connection's own thread: no hop to the loop and back per call.
    public let taskExecutor: any TaskExecutor
    private let logger: Logger
    /// A `Mutex` (a futex, no pthread mutex): every call reads it once.
    private let state = Mutex(State.idle)
    /// Built once: loading CA files and keys is too slow to repeat per connection.
    private let tlsContext: TLSContext?
    /// HEADERS frames of calls without metadata or timeout, by method path: encoded once.
    private let plainHeaders = Mutex<[String: ByteBuffer]>([:])
    private static let plainHeadersLimit = 256

    private enum State {
        case idle
        case connecting(EventLoopFuture<Connected>)
        case ready(Connected)
        case closed
    }

    /// The live connection every call picks up: a class, so handing it to a call is one
    /// reference count (as a struct of a channel, a loop-bound handler and a locked box it was
    /// four, and a lock to read the flag: bench/RESULTS.md, session 12).
    final class Connected: Sendable {
        let channel: any Channel
        let handler: NIOLoopBound<ClientConnectionHandler>
        /// Cleared when the server said GOAWAY or the socket closed.
        let usable: UsableFlag

        init(channel: any Channel, handler: NIOLoopBound<ClientConnectionHandler>, usable: UsableFlag) {
            self.channel = channel
            self.handler = handler
            self.usable = usable
        }
    }

    /// Whether a connection may take new calls; read without a lock on every call.
    final class UsableFlag: Sendable {
        private let value = Atomic(true)
        var isSet: Bool { value.load(ordering: .acquiring) }
        func clear() { value.store(false, ordering: .releasing) }
    }

    /// Throws `TLSError` when a `tls:` endpoint's CA or client certificate files cannot be loaded.
    public init(configuration: ClientConfiguration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "loacl.client")) throws {
        self.configuration = configuration
        if case .tls(let host, _) = configuration.endpoint {
            var tls = configuration.tls ?? .client()
            if tls.serverName == nil { tls.serverName = host }
            self.tlsContext = try TLSContext(configuration: tls)
        } else {
            self.tlsContext = nil
        }
        self.eventLoop = eventLoopGroup.next()
        self.taskExecutor = EventLoopTaskExecutor(eventLoop)
        self.logger = logger
    }

    /// `unix:/path`, `tcp:host:port` or `tls:host:port`.
    public convenience init(_ endpoint: String, tls: TLSConfiguration? = nil) throws {
        try self.init(configuration: ClientConfiguration(endpoint: try Endpoint(parsing: endpoint), tls: tls))
    }

    /// Closes the connection; calls in flight fail with UNAVAILABLE.
    public func close() async {
        let current: Connected? = state.withLock { state in
            defer { state = .closed }
            if case .ready(let c) = state { return c }
            return nil
        }
        try? await current?.channel.close()
    }

    // MARK: Connecting

    nonisolated(nonsending) func connected() async throws -> Connected {
        // Fast path: a usable connection, no suspension.
        let ready: Connected? = state.withLock { state in
            if case .ready(let c) = state, c.usable.isSet { return c }
            return nil
        }
        if let ready { return ready }
        var attempt = 0
        var delay = configuration.reconnectInitialDelay
        while true {
            do {
                return try await connectOnce()
            } catch let error as RPCError where error.code == .unavailable {
                attempt += 1
                guard attempt < configuration.maxConnectAttempts else { throw error }
                logger.debug("connect failed; retrying", metadata: ["attempt": "\(attempt)", "error": "\(error)"])
                try await Task.sleep(nanoseconds: UInt64(delay.nanoseconds))
                delay = min(.nanoseconds(Int64(Double(delay.nanoseconds) * configuration.reconnectMultiplier)), configuration.reconnectMaxDelay)
            }
        }
    }

    private func connectOnce() async throws -> Connected {
        let future: EventLoopFuture<Connected> = try state.withLock { state in
            switch state {
            case .ready(let c) where c.usable.isSet:
                return eventLoop.makeSucceededFuture(c)
            case .connecting(let f):
                return f
            case .closed:
                throw RPCError(.unavailable, "client connection closed")
            default:
                let f = makeConnection()
                state = .connecting(f)
                return f
            }
        }
        do {
            let c = try await future.get()
            state.withLock { state in
                if case .connecting = state { state = .ready(c) }
            }
            return c
        } catch {
            state.withLock { state in
                if case .connecting = state { state = .idle }
            }
            if let error = error as? RPCError { throw error }
            throw RPCError(.unavailable, "cannot connect to \(configuration.endpoint): \(error)")
        }
    }

    private func makeConnection() -> EventLoopFuture<Connected> {
        let usable = UsableFlag()
        let logger = self.logger
        let maxFrameSize = configuration.maxFrameSize
        let tlsContext = self.tlsContext
        let endpoint = configuration.endpoint
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tlsContext { try sync.addTLSClientHandler(context: tlsContext) }
                    try sync.addHandler(ClientConnectionHandler(logger: logger, maxFrameSize: maxFrameSize) { usable.clear() })
                }
            }
        let channelFuture: EventLoopFuture<any Channel>
        switch endpoint {
        case .unix(let path):
            channelFuture = bootstrap.connect(unixDomainSocketPath: path)
        case .tcp(let host, let port), .tls(let host, let port):
            channelFuture = bootstrap.connect(host: host, port: port)
        }
        return channelFuture.flatMapThrowing { channel in
            let handler = try channel.pipeline.syncOperations.handler(type: ClientConnectionHandler.self)
            return Connected(channel: channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop), usable: usable)
        }
    }

    // MARK: Starting calls

    /// CallHeaders for `method` as a HEADERS frame with stream id 0 (patched when the call starts).
    private func headersFrame(_ method: ProtoMethodDescriptor, _ options: CallOptions) -> ByteBuffer {
        let plain = options.timeout == nil && options.metadata.isEmpty
        if plain, let frame = plainHeaders.withLock({ $0[method.path] }) { return frame }
        let frame = encodeHeadersFrame(method, options)
        if plain {
            plainHeaders.withLock { cache in
                if cache.count < Self.plainHeadersLimit { cache[method.path] = frame }
            }
        }
        return frame
    }

    private func encodeHeadersFrame(_ method: ProtoMethodDescriptor, _ options: CallOptions) -> ByteBuffer {
        var headers = Loacl_Wire_V1_CallHeaders()
        headers.method = method.path
        if let timeout = options.timeout {
            let ms = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
            headers.timeoutMs = UInt64(max(1, ms))
        }
        headers.metadata = options.metadata.wireEntries
        var frame = ByteBufferAllocator().buffer(capacity: 64)
        frame.writeFrame(type: .headers, streamID: 0, message: headers)
        return frame
    }

    /// Opens a stream on a usable connection, reconnecting once if the connection we had went away.
    func startCall(_ method: ProtoMethodDescriptor, options: CallOptions, firstMessage: ByteBuffer?) async throws -> ClientStream {
        let headersFrame = headersFrame(method, options)
        let single = !method.serverStreaming
        for attempt in 0..<2 {
            let connection = try await connected()
            do {
                let start: @Sendable () throws -> ClientStream = {
                    try connection.handler.value.startCall(headers: headersFrame, firstMessage: firstMessage,
                                                           timeout: options.timeout, expectsSingleResponse: single)
                }
                if connection.channel.eventLoop.inEventLoop { return try start() }
                return try await connection.channel.eventLoop.submit(start).get()
            } catch let error as RPCError where error.code == .unavailable && attempt == 0 {
                connection.usable.clear()
                continue
            }
        }
        throw RPCError(.unavailable, "no usable connection")
    }

    /// A unary call in one hop to the event loop and one back (none from a task that prefers
    /// `taskExecutor`): the loop opens the stream, writes HEADERS and the request, and parks the
    /// caller until TRAILERS.
    nonisolated(nonsending) func unaryCall<Request: ProtoMessage>(_ method: ProtoMethodDescriptor, options: CallOptions, request: Request) async throws -> ByteBuffer {
        let headersFrame = headersFrame(method, options)
        for attempt in 0..<2 {
            let connection = try await connected()
            let started = StartedStream()
            do {
                return try await withTaskCancellationHandler {
                    try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<ByteBuffer, any Error>) in
                        // A caller already on the loop (its task prefers `taskExecutor`) starts the
                        // call in place, with no closure to allocate; any other hops there once.
                        if connection.channel.eventLoop.inEventLoop {
                            Self.startUnary(connection, headersFrame, request, options.timeout, started, continuation)
                        } else {
                            connection.channel.eventLoop.execute {
                                Self.startUnary(connection, headersFrame, request, options.timeout, started, continuation)
                            }
                        }
                    }
                } onCancel: {
                    started.cancel()
                }
            } catch let error as RPCError where error.code == .unavailable && attempt == 0 && !started.didStart {
                connection.usable.clear()
                continue
            } catch let notProcessed as CallNotProcessed {
                // GOAWAY overtook this call: the server never ran it, so it is safe to send again.
                connection.usable.clear()
                if attempt == 0 { continue }
                throw notProcessed.error
            }
        }
        throw RPCError(.unavailable, "no usable connection")
    }
}

extension LOACLClientConnection {
    /// On the loop: opens a unary call's stream, writes HEADERS and the request, and parks
    /// `continuation` until the response and TRAILERS.
    fileprivate static func startUnary<Request: ProtoMessage>(
        _ connection: Connected, _ headers: ByteBuffer, _ request: Request, _ timeout: Duration?,
        _ started: StartedStream, _ continuation: UnsafeContinuation<ByteBuffer, any Error>
    ) {
        do {
            let stream = try connection.handler.value.startUnary(headers: headers, request: request, timeout: timeout)
            started.set(stream)
            stream.awaitSingleResponse(continuation)
        } catch {
            continuation.resume(throwing: error)
        }
    }
}

/// The stream of a call being started on the event loop, for a cancellation that races it.
/// (A `Mutex`, stored inline: one allocation per call where a locked box was two.)
final class StartedStream: Sendable {
    private let state = Mutex<(stream: ClientStream?, cancelled: Bool)>((nil, false))

    var didStart: Bool { state.withLock { $0.stream != nil } }

    /// Called on the loop once the stream exists; cancels it at once if cancellation came first.
    func set(_ stream: ClientStream) {
        let cancelled = state.withLock { s in
            s.stream = stream
            return s.cancelled
        }
        if cancelled { stream.cancel(RPCError(.cancelled, "cancelled by the client")) }
    }

    func cancel() {
        let stream = state.withLock { s in
            s.cancelled = true
            return s.stream
        }
        stream?.cancelFromAnyThread(RPCError(.cancelled, "cancelled by the client"))
    }
}
