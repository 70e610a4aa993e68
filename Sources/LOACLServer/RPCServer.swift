import LOACLCore
import LOACLServerCore
import LOACLTLS
import LOACLWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The LOACL RPC server: binds every configured listener (TCP, TLS, Unix; LOACL wire or gRPC) on
/// one event loop group, hands each accepted connection to its listener's transport, which feeds
/// its calls to one `ServerCore` (method table, interceptors), and shuts down gracefully
/// (GOAWAY, drain, grace period) when its `run()` task is told to by ServiceLifecycle or
/// `shutdownGracefully()` is called.
public final class RPCServer: Service, Sendable {
    public let configuration: ServerConfiguration
    private let loaclWire: LOACLWireTransport
    private let grpc: GRPCTransport
    private let group: any EventLoopGroup
    private let logger: Logger
    /// TLS for `tls:` listeners (ALPN `loacl/1`) and for `grpcs:` ones (ALPN `h2`).
    private let tlsContexts: [Listener.Wire: TLSContext]
    private let state = NIOLockedValueBox(State())
    /// Set once the graceful shutdown starts.
    public let drainState: ServerDrainState
    private let closedPromise: EventLoopPromise<Void>

    private struct State {
        var listeners: [any Channel] = []
        var connections: [ObjectIdentifier: any Channel] = [:]
        var shuttingDown = false
    }

    /// Throws `TLSError` when the TLS certificate, key or CA cannot be loaded, and
    /// `RPCServerError.missingTLSConfiguration` for a `tls:` or `grpcs:` listener without TLS settings.
    /// - Parameter interceptors: run around every call, outermost first (authentication).
    /// - Parameter observers: told of every call's start and end, outside the interceptors (logging, metrics).
    /// - Parameter drainState: set when the graceful shutdown starts (for readiness reporting).
    public init(configuration: ServerConfiguration, methods: MethodTable, interceptors: [any ServerInterceptor] = [],
                observers: [any ServerCallObserver] = [], drainState: ServerDrainState = ServerDrainState(),
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger = Logger(label: "loacl.server")) throws {
        self.configuration = configuration
        self.drainState = drainState
        let core = ServerCore(methods: methods, interceptors: interceptors, observers: observers)
        self.loaclWire = LOACLWireTransport(configuration: configuration.connection, server: core, logger: logger)
        self.grpc = GRPCTransport(configuration: configuration.grpc, server: core,
                                  runHandlersOnEventLoop: configuration.connection.runHandlersOnEventLoop, logger: logger)
        self.group = group
        self.logger = logger
        var tlsContexts: [Listener.Wire: TLSContext] = [:]
        for listener in configuration.listeners {
            guard case .tls = listener.endpoint, tlsContexts[listener.wire] == nil else { continue }
            guard var tls = configuration.tls else { throw RPCServerError.missingTLSConfiguration }
            if listener.wire == .grpc { tls.alpnProtocols = ["h2"] }
            tlsContexts[listener.wire] = try TLSContext(configuration: tls)
        }
        self.tlsContexts = tlsContexts
        self.closedPromise = group.any().makePromise()
    }

    /// A server released without a graceful shutdown (one whose `start()` failed, say) completes
    /// its closed promise here: NIO stops a process (debug builds) that leaks an open promise.
    /// After a shutdown this is a no-op (a promise completes once).
    deinit {
        closedPromise.succeed(())
    }

    /// Binds every listener. Returns the bound endpoints (with the real port for `:0`), in the
    /// order of `configuration.listeners`.
    @discardableResult
    public func start() async throws -> [Endpoint] {
        var bound: [Endpoint] = []
        do {
            for listener in configuration.listeners {
                let channel = try await bind(listener)
                state.withLockedValue { $0.listeners.append(channel) }
                let endpoint = Self.boundEndpoint(listener.endpoint, channel)
                bound.append(endpoint)
                logger.info("listening", metadata: ["endpoint": "\(Listener(listener.wire, endpoint))"])
            }
        } catch {
            for channel in state.withLockedValue({ $0.listeners }) { try? await channel.close() }
            throw RPCServerError.bindFailed(endpoint: "\(configuration.listeners[bound.count])", underlying: "\(error)")
        }
        return bound
    }

    /// Open client connections (for tests and logs).
    public var connectionCount: Int { state.withLockedValue { $0.connections.count } }

    /// ServiceLifecycle entry point: starts (if needed), serves until graceful shutdown, drains.
    public func run() async throws {
        if state.withLockedValue({ $0.listeners.isEmpty }) { try await start() }
        try await withGracefulShutdownHandler {
            try await closedPromise.futureResult.get()
        } onGracefulShutdown: {
            Task { await self.shutdownGracefully() }
        }
    }

    /// Stops accepting, sends GOAWAY to every connection, lets in-flight calls finish within the
    /// grace period, then closes whatever is left. Idempotent.
    public func shutdownGracefully() async {
        let (listeners, connections, already) = state.withLockedValue { s in
            defer { s.shuttingDown = true }
            return (s.listeners, Array(s.connections.values), s.shuttingDown)
        }
        guard !already else {
            try? await closedPromise.futureResult.get()
            return
        }
        drainState.startDraining()
        logger.info("shutting down", metadata: ["connections": "\(connections.count)"])
        for listener in listeners { try? await listener.close() }
        for connection in connections {
            connection.pipeline.fireUserInboundEventTriggered(GracefulShutdown())
        }
        let deadline = NIODeadline.now() + configuration.gracePeriod
        while NIODeadline.now() < deadline {
            if state.withLockedValue({ $0.connections.isEmpty }) { break }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        let left = state.withLockedValue { Array($0.connections.values) }
        if !left.isEmpty { logger.warning("grace period over; closing connections", metadata: ["connections": "\(left.count)"]) }
        for connection in left { try? await connection.close() }
        closedPromise.succeed(())
    }

    // MARK: Binding

    private func bind(_ listener: Listener) async throws -> any Channel {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: configuration.backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture { try self.initializeConnection(channel, listener: listener) }
            }
        switch listener.endpoint {
        case .unix(let path):
            return try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        case .tcp(let host, let port), .tls(let host, let port):
            return try await bootstrap.childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .bind(host: host, port: port).get()
        }
    }

    private func initializeConnection(_ channel: any Channel, listener: Listener) throws {
        let key = ObjectIdentifier(channel)
        let maxConnections = configuration.maxConnections
        let admitted = state.withLockedValue { s -> Bool? in
            guard !s.shuttingDown else { return nil }
            guard s.connections.count < maxConnections else { return false }
            s.connections[key] = channel
            return true
        }
        guard let admitted else { throw RPCServerError.shuttingDown }
        // Over the limit: not counted, answered with GOAWAY once its preface is in (or closed by
        // the handshake timeout).
        let refusal = admitted ? nil : RPCError(.resourceExhausted, "more than \(maxConnections) connections; retry later")
        if admitted {
            channel.closeFuture.whenComplete { [state] _ in state.withLockedValue { _ = $0.connections.removeValue(forKey: key) } }
        } else {
            logger.notice("connection limit reached; refusing a connection", metadata: ["limit": "\(maxConnections)"])
        }

        if case .tls = listener.endpoint, let tlsContext = tlsContexts[listener.wire] {
            try channel.pipeline.syncOperations.addTLSServerHandler(context: tlsContext)
        }
        let peer = PeerInfo(transport: Self.peerTransport(listener), address: Self.peerAddress(listener.endpoint, channel))
        switch listener.wire {
        case .loacl: try loaclWire.initializeConnection(channel, peer: peer, refusal: refusal)
        case .grpc: try grpc.initializeConnection(channel, peer: peer, refusal: refusal)
        }
    }

    private static func peerTransport(_ listener: Listener) -> PeerInfo.Transport {
        switch (listener.wire, listener.endpoint) {
        case (.loacl, .unix): .unix
        case (.loacl, .tcp): .tcp
        case (.loacl, .tls): .tls
        case (.grpc, .unix): .grpcUnix
        case (.grpc, .tcp): .grpc
        case (.grpc, .tls): .grpcs
        }
    }

    private static func peerAddress(_ endpoint: Endpoint, _ channel: any Channel) -> String {
        if case .unix(let path) = endpoint { return path }
        return channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
    }

    private static func boundEndpoint(_ endpoint: Endpoint, _ channel: any Channel) -> Endpoint {
        switch endpoint {
        case .unix: return endpoint
        case .tcp(let host, _): return .tcp(host: host, port: channel.localAddress?.port ?? 0)
        case .tls(let host, _): return .tls(host: host, port: channel.localAddress?.port ?? 0)
        }
    }
}

public enum RPCServerError: Error, CustomStringConvertible {
    case missingTLSConfiguration
    case bindFailed(endpoint: String, underlying: String)
    case shuttingDown

    public var description: String {
        switch self {
        case .missingTLSConfiguration: "a tls: or grpcs: listener needs --tls-cert and --tls-key"
        case .bindFailed(let endpoint, let underlying): "cannot listen on \(endpoint): \(underlying)"
        case .shuttingDown: "server is shutting down"
        }
    }
}
