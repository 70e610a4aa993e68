import ArgumentParser
import Foundation
import LOACLCore
import LOACLMessages
import LOACLPostgres
import LOACLServer
import LOACLServerCore
import LOACLServices
import LOACLTLS
import Logging
import Metrics
import Prometheus
import NIOCore
import ServiceLifecycle

/// `loacld serve`: binds the listeners and serves until SIGTERM/SIGINT, then drains.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the server (default command).",
        discussion: """
            Every option can also come from the environment (LOACL_ + the option name in upper \
            case with '-' as '_', e.g. LOACL_LISTEN=tcp:127.0.0.1:7700,unix:/run/loacl.sock) or from \
            a config file given with --config (lines "option-name = value"; '#' starts a comment; \
            repeat "listen" for several listeners). Flags win over the environment, which wins \
            over the file.
            """)

    @Option(help: "Config file of \"option-name = value\" lines.")
    var config: String?

    @Option(name: .customLong("listen"), help: """
        Listener (repeatable): unix:/path, tcp:host:port or tls:host:port (LOACL wire), grpc:host:port \
        (gRPC, cleartext HTTP/2), grpcs:host:port (gRPC over TLS, ALPN h2) or grpc+unix:/path. \
        Default tcp:127.0.0.1:7700.
        """)
    var listen: [String] = []

    @Option(help: "PEM certificate chain for tls: and grpcs: listeners.")
    var tlsCert: String?

    @Option(help: "PEM private key for tls: and grpcs: listeners.")
    var tlsKey: String?

    @Option(help: "PEM CA file to verify client certificates (mutual TLS).")
    var tlsClientCa: String?

    @Option(help: "Client certificates: none, optional or required (needs --tls-client-ca).")
    var tlsClientAuth: String?

    @Option(help: "libpq connection string for the runtime role (optional until the data services are enabled).")
    var databaseURL: String?

    @Option(help: "Database pool size.")
    var databasePoolSize: Int?

    @Option(help: "Maximum concurrent calls per connection (default 256; gRPC: SETTINGS_MAX_CONCURRENT_STREAMS).")
    var maxConcurrentCalls: Int?

    @Option(help: "Maximum frame payload in bytes, and largest gRPC message (default 4194304).")
    var maxFrameSize: Int?

    @Option(help: "Maximum client connections open at once; more are refused with GOAWAY RESOURCE_EXHAUSTED (default 1024).")
    var maxConnections: Int?

    @Option(help: "Seconds a new connection has to complete its TLS handshake and send the LOACL (or HTTP/2) preface (default 10).")
    var handshakeTimeout: Int?

    @Option(help: "Close connections idle for this many seconds (default 300).")
    var idleTimeout: Int?

    @Option(help: "Seconds in-flight calls may run after SIGTERM before they are cancelled (default 10).")
    var gracePeriod: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default info).")
    var logLevel: String?

    @Flag(help: "Do not serve loacl.v1.BenchmarkService.")
    var disableBenchmarkService = false

    // Data services (enabled by --database-url).
    @Option(help: "File with the 32-byte master key (64 hex digits or base64) that encrypts tenants' API keys. Or set LOACL_MASTER_KEY.")
    var masterKeyFile: String?

    @Option(help: "HS256 secret of authenticated sessions' JWTs (Supabase's legacy JWT secret). Or LOACL_JWT_SECRET. With none of --jwt-secret, --jwt-jwks-file and --jwt-jwks-url: no authenticated sessions.")
    var jwtSecret: String?

    @Option(help: "JWKS file (JSON) whose RS256, ES256 and EdDSA keys verify authenticated sessions' JWTs; read at start-up.")
    var jwtJwksFile: String?

    @Option(help: "JWKS URL of the identity provider (Supabase: https://<project>.supabase.co/auth/v1/.well-known/jwks.json). Cached for the response's max-age (60 s to 24 h; 10 min without one), fetched again for an unknown kid at most once a minute.")
    var jwtJwksUrl: String?

    @Option(help: "Required JWT iss (Supabase: https://<project>.supabase.co/auth/v1). Unset: not checked.")
    var jwtIssuer: String?

    @Option(help: "Value the JWT aud must contain (Supabase: authenticated). Unset: not checked.")
    var jwtAudience: String?

    @Option(help: "Folder for uploaded files (default .data/files).")
    var storageDir: String?

    @Option(help: "Largest upload in bytes (default 20971520).")
    var maxFileSize: Int?

    @Option(help: "Seconds between guest-session sweeps (default 60).")
    var sweepInterval: Int?

    @Option(help: "Seconds an expired guest session's data is kept before the sweep deletes it (default 604800).")
    var guestRetention: Int?

    @Option(help: "Seconds a resolved session token is reused without a database look-up (default 30; 0 disables). PostgreSQL still checks on every call that the session is live.")
    var sessionCache: Int?

    @Option(help: "Seconds a thread's last turn context is kept so that its next SendMessage asks the upstream model at once, while PostgreSQL checks the turn (default 30; 0 disables). The request is dropped unless the turn's fresh context is identical; assistants with quotas never speculate.")
    var replySpeculation: Int?

    @Option(help: "Seconds a run outlives its server's silence before another server ends it incomplete (reason server_lost) with the text persisted so far (default 10). Renewed every third of it.")
    var runLease: Int?

    @Option(help: "Followers of one run on this server: SendMessage and StreamRun calls (default 16).")
    var maxRunFollowers: Int?

    @Option(help: "Milliseconds between two NOTIFY round trips that carry live run events to followers on other servers (default 10; 0: one round trip at a time, no pause). All followed runs of this server share each one: the most a remote follower waits for a delta beyond a round trip.")
    var runPublishInterval: Int?

    @Option(help: "Serve Prometheus metrics over HTTP at host:port/metrics (e.g. 127.0.0.1:9464). Off by default; calls are counted and timed only when it is on.")
    var metricsListen: String?

    func run() async throws {
        let settings = try Settings(command: self)
        let levelName = settings.value("log-level") ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else {
            throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), not \(levelName)")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "loacld")
        var metricsChannel: (any Channel)?
        if let address = settings.value("metrics-listen") {
            guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
                throw ValidationError("--metrics-listen must be host:port, not \(address)")
            }
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            metricsChannel = try await MetricsEndpoint.start(host: String(address[..<colon]), port: port, registry: registry, logger: logger)
        }

        var listeners: [Listener] = []
        for text in settings.values("listen", default: ["tcp:127.0.0.1:7700"]) {
            do { listeners.append(try Listener(parsing: text)) } catch { throw ValidationError(error.description) }
        }
        var configuration = ServerConfiguration(listeners: listeners)
        if let cert = settings.value("tls-cert"), let key = settings.value("tls-key") {
            let auth: TLSConfiguration.PeerVerification
            switch settings.value("tls-client-auth") ?? (settings.value("tls-client-ca") == nil ? "none" : "required") {
            case "none": auth = .none
            case "optional": auth = .optional
            case "required": auth = .required
            case let other: throw ValidationError("--tls-client-auth must be none, optional or required, not \(other)")
            }
            configuration.tls = .server(certificateChainFile: cert, privateKeyFile: key,
                                        caFile: settings.value("tls-client-ca"), clientVerification: auth)
        }
        if let n = try settings.int("max-concurrent-calls") {
            configuration.connection.maxConcurrentCalls = n
            configuration.grpc.maxConcurrentStreams = n
        }
        if let n = try settings.int("max-frame-size") {
            configuration.connection.maxFrameSize = n
            configuration.grpc.maxMessageSize = n
        }
        if let n = try settings.int("max-connections") { configuration.maxConnections = n }
        if let n = try settings.int("handshake-timeout") {
            configuration.connection.handshakeTimeout = .seconds(Int64(n))
            configuration.grpc.handshakeTimeout = .seconds(Int64(n))
        }
        if let n = try settings.int("idle-timeout") {
            configuration.connection.idleTimeout = .seconds(Int64(n))
            configuration.grpc.idleTimeout = .seconds(Int64(n))
        }
        if let n = try settings.int("grace-period") { configuration.gracePeriod = .seconds(Int64(n)) }

        var pool: PostgresPool?
        if let url = settings.value("database-url") {
            pool = PostgresPool(configuration: .init(conninfo: url, maxConnections: try settings.int("database-pool-size") ?? 8,
                                                         setup: Database.sessionSetup), logger: logger)
        }
        if let pool {
            do {
                try await TenancyGuard.verify(pool, logger: logger)
            } catch {
                logger.critical("refusing to serve: \(error)")
                await pool.close()
                throw ExitCode(1)
            }
        }

        var methods = MethodTable()
        if !disableBenchmarkService && !["true", "1", "yes"].contains(settings.value("disable-benchmark-service")?.lowercased() ?? "") {
            methods.register(contentsOf: BenchmarkService().serverMethods)
        }
        var dataServices: DataServicesRuntime?
        if let pool {
            let runtime = try makeDataServices(settings, pool: pool, logger: logger)
            methods.register(contentsOf: runtime.services.methods)
            dataServices = runtime
        }
        // LOACL's health service, the standard one (gRPC probes) and server reflection (grpcurl
        // & co) report every service registered above.
        let drainState = ServerDrainState()
        // What both health services answer for: every service of this server, these included.
        let served = methods.serviceNames.union([Loacl_V1_HealthService.name, Grpc_Health_V1_Health.name,
                                                 Grpc_Reflection_V1_ServerReflection.name, Grpc_Reflection_V1Alpha_ServerReflection.name])
        let health = HealthService(database: pool, services: served, drainState: drainState)
        methods.register(contentsOf: health.serverMethods)
        methods.register(contentsOf: StandardHealthService(health: health, services: served, drainState: drainState).serverMethods)
        methods.register(contentsOf: ReflectionService(services: methods.serviceNames).serverMethods)

        let server: RPCServer
        do {
            // Calls are counted and timed only when the metrics are served: without a
            // `--metrics-listen` registry they would go to swift-metrics' no-op backend, at a
            // cost on every call (locks, clock reads, look-ups).
            let metrics: [any ServerCallObserver] = metricsChannel == nil ? [] : [MetricsObserver()]
            server = try RPCServer(configuration: configuration, methods: methods,
                                   interceptors: dataServices.map { [$0.services.authInterceptor] } ?? [],
                                   observers: metrics + [LoggingObserver(logger: logger)], drainState: drainState, logger: logger)
            try await server.start()
        } catch {
            logger.critical("cannot start: \(error)")
            throw ExitCode(1)
        }
        logger.info("loacld \(HealthService.version) serving", metadata: ["methods": "\(methods.paths.count)"])
        // Shut down in reverse: the sweeper, then the server (no new calls; calls in flight
        // finish within the grace period), then the runs (drained, the rest stopped and stored).
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let keeper = dataServices?.leaseKeeper { services.append(.init(service: keeper)) }
        services.append(.init(service: server))
        if let sweeper = dataServices?.sweeper { services.append(.init(service: sweeper)) }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        await dataServices?.shutdown()
        await pool?.close()
        try? await metricsChannel?.close()
        logger.info("loacld stopped")
    }
}

/// Option lookup: command-line flag, then LOACL_* environment variable, then config file.
struct Settings {
    private var flags: [String: [String]] = [:]
    private var file: [String: [String]] = [:]
    private let environment = ProcessInfo.processInfo.environment

    init(command: Serve) throws {
        func flag(_ name: String, _ value: String?) { if let value { flags[name] = [value] } }
        if !command.listen.isEmpty { flags["listen"] = command.listen }
        flag("tls-cert", command.tlsCert)
        flag("tls-key", command.tlsKey)
        flag("tls-client-ca", command.tlsClientCa)
        flag("tls-client-auth", command.tlsClientAuth)
        flag("database-url", command.databaseURL)
        flag("database-pool-size", command.databasePoolSize.map(String.init))
        flag("max-concurrent-calls", command.maxConcurrentCalls.map(String.init))
        flag("max-frame-size", command.maxFrameSize.map(String.init))
        flag("max-connections", command.maxConnections.map(String.init))
        flag("handshake-timeout", command.handshakeTimeout.map(String.init))
        flag("idle-timeout", command.idleTimeout.map(String.init))
        flag("grace-period", command.gracePeriod.map(String.init))
        flag("log-level", command.logLevel)
        flag("master-key-file", command.masterKeyFile)
        flag("jwt-secret", command.jwtSecret)
        flag("jwt-jwks-file", command.jwtJwksFile)
        flag("jwt-jwks-url", command.jwtJwksUrl)
        flag("jwt-issuer", command.jwtIssuer)
        flag("jwt-audience", command.jwtAudience)
        flag("storage-dir", command.storageDir)
        flag("max-file-size", command.maxFileSize.map(String.init))
        flag("sweep-interval", command.sweepInterval.map(String.init))
        flag("guest-retention", command.guestRetention.map(String.init))
        flag("session-cache", command.sessionCache.map(String.init))
        flag("reply-speculation", command.replySpeculation.map(String.init))
        flag("metrics-listen", command.metricsListen)
        flag("run-lease", command.runLease.map(String.init))
        flag("max-run-followers", command.maxRunFollowers.map(String.init))
        flag("run-publish-interval", command.runPublishInterval.map(String.init))
        if let path = command.config ?? environment["LOACL_CONFIG"] {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("cannot read config file \(path)")
            }
            for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0].trimmingCharacters(in: .whitespaces)
                guard !line.isEmpty else { continue }
                guard let eq = line.firstIndex(of: "=") else { throw ValidationError("\(path):\(number + 1): expected \"option = value\"") }
                let key = line[..<eq].trimmingCharacters(in: .whitespaces)
                let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
                file[key, default: []].append(value)
            }
        }
    }

    func values(_ name: String, default defaults: [String]) -> [String] {
        if let v = flags[name] { return v }
        if let env = environment["LOACL_" + name.uppercased().replacingOccurrences(of: "-", with: "_")], !env.isEmpty {
            return env.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        return file[name] ?? defaults
    }

    func value(_ name: String) -> String? { values(name, default: []).last }

    /// `minimum` 1: a positive integer; 0: zero allowed too (e.g. "no pause").
    func int(_ name: String, minimum: Int = 1) throws -> Int? {
        guard let text = value(name) else { return nil }
        guard let n = Int(text), n >= minimum else {
            throw ValidationError("\(name) must be \(minimum == 0 ? "a non-negative" : "a positive") integer, not \(text)")
        }
        return n
    }
}
