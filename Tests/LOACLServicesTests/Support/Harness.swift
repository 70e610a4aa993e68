import Foundation
import LOACLTestKeys
import LOACLClient
import LOACLCore
import LOACLCrypto
import LOACLMessages
import LOACLPostgres
import LOACLServer
import LOACLServerCore
import LOACLServices
import Logging
import NIOConcurrencyHelpers

/// Collects every log line (message and metadata) so tests can search them for secrets.
final class LogCapture: Sendable {
    let lines = NIOLockedValueBox<[String]>([])
    /// `.trace` for tests (every line searched for secrets); benchmarks use loacld's default,
    /// `.info`, so per-call debug lines cost what they cost in production: nothing.
    let level: Logger.Level

    init(level: Logger.Level = .trace) {
        self.level = level
    }

    var logger: Logger {
        var logger = Logger(label: "loacl.services.tests") { label in CaptureHandler(capture: self, label: label) }
        logger.logLevel = level
        return logger
    }

    struct CaptureHandler: LogHandler {
        let capture: LogCapture
        let label: String
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = self.metadata.merging(event.metadata ?? [:]) { $1 }
            capture.lines.withLockedValue { $0.append("\(event.level) \(event.message) \(all) \(event.error.map { "\($0)" } ?? "")") }
        }
    }
}

/// A migrated database, the data services on a real TCP socket, and a client connection.
/// One per test suite (`Harness.shared`), so suites run against separate databases.
final class Harness: Sendable {
    static let masterKey = SecureRandom.bytes(32)
    static let jwtSecret = "test-jwt-secret-0123456789abcdef0123456789"

    let cluster: PGCluster
    let databaseName: String
    let pool: PostgresPool
    let server: RPCServer
    let client: LOACLClientConnection
    let storageRoot: String
    let logs: LogCapture
    let services: DataServices

    private init(cluster: PGCluster, databaseName: String, pool: PostgresPool, server: RPCServer, client: LOACLClientConnection,
                 storageRoot: String, logs: LogCapture, services: DataServices) {
        self.cluster = cluster
        self.databaseName = databaseName
        self.pool = pool
        self.server = server
        self.client = client
        self.storageRoot = storageRoot
        self.logs = logs
        self.services = services
    }

    static func start(cluster: PGCluster? = nil, maxFileSize: UInt64 = 64 * 1024, poolSize: Int = 6,
                      acquireTimeout: Duration = .seconds(5), logLevel: Logger.Level = .trace,
                      userTokens: UserTokenVerifier = UserTokenVerifier(JWTVerifier(secret: jwtSecret))) async throws -> Harness {
        let cluster = try cluster ?? PGCluster.fromEnvironment()
        // Off the cooperative pool: CREATE DATABASE and every migration, for each of the many
        // tests that start a harness at once, would otherwise hold its threads (every async test
        // of the process stalled for 15–25 s at the start of a run).
        let name = try await offCooperativePool { try cluster.createMigratedDatabase() }
        let logs = LogCapture(level: logLevel)
        let pool = PostgresPool(configuration: .init(conninfo: cluster.conninfo(database: name, user: "loacl_app"),
                                                     maxConnections: poolSize, acquireTimeout: acquireTimeout,
                                                     setup: Database.sessionSetup),
                                logger: logs.logger)
        let storageRoot = NSTemporaryDirectory() + "loacl-files-" + UUID().uuidString.prefix(8)
        let services = DataServices(
            pool: pool, vault: try TenantKeyVault(masterKey: masterKey), userTokens: userTokens,
            providers: ChatProviderRegistry([EchoProvider(), EndlessProvider()], defaultName: "offline"),
            storage: FileStorage(root: storageRoot, maxFileSize: maxFileSize), logger: logs.logger)
        var methods = MethodTable()
        methods.register(contentsOf: services.methods)
        methods.register(contentsOf: HealthService(database: pool).serverMethods)
        let server = try RPCServer(
            configuration: ServerConfiguration(listeners: [.tcp(host: "127.0.0.1", port: 0)]), methods: methods,
            interceptors: [services.authInterceptor], observers: [LoggingObserver(logger: logs.logger)], logger: logs.logger)
        let bound = try await server.start()
        guard case .tcp(_, let port)? = bound.first else { throw RPCError.internal("no port") }
        var configuration = ClientConfiguration(endpoint: .tcp(host: "127.0.0.1", port: port))
        configuration.maxConnectAttempts = 2
        let client = try LOACLClientConnection(configuration: configuration)
        return Harness(cluster: cluster, databaseName: name, pool: pool, server: server, client: client,
                       storageRoot: storageRoot, logs: logs, services: services)
    }

    func stop() async {
        await client.close()
        await server.shutdownGracefully()
        services.runs.close()
        await pool.close()
        let cluster = self.cluster, databaseName = self.databaseName
        _ = try? await offCooperativePool { cluster.dropDatabase(databaseName) }
        try? FileManager.default.removeItem(atPath: storageRoot)
    }

    /// Runs `sql` as the superuser (bypassing RLS) on the test database, on a thread of its own
    /// (libpq's connect and query block): not the cooperative pool, and not queued behind the
    /// databases `offCooperativePool` is creating for other tests (tests poll with this).
    @discardableResult
    func superuser(_ sql: String, _ parameters: [String?] = []) async throws -> PostgresResult {
        let cluster = self.cluster, databaseName = self.databaseName
        return try await onOwnThread {
            let connection = try cluster.superuserConnection(databaseName)
            defer { connection.close() }
            return try connection.execParams(sql, parameters)
        }
    }
}

/// Credentials a test call runs with.
enum Caller: Sendable {
    case anonymous
    case tenant(String)
    case session(String)

    var metadata: Metadata {
        switch self {
        case .anonymous: [:]
        case .tenant(let key): ["x-loacl-api-key": .text(key)]
        case .session(let token): ["x-loacl-session-token": .text(token)]
        }
    }

    static func newTenant() -> Caller { .tenant("sk-test-" + Base64URL.encode(SecureRandom.bytes(18))) }
}

extension Harness {
    func call<Req: ProtoMessage, Res: ProtoMessage>(
        _ method: ProtoMethodDescriptor, _ request: Req, as caller: Caller, _: Res.Type = Res.self
    ) async throws -> Res {
        try await client.unary(method, request, options: CallOptions(timeout: .seconds(20), metadata: caller.metadata))
    }

    /// The status code a call fails with (nil if it succeeds).
    func code<Req: ProtoMessage, Res: ProtoMessage>(
        _ method: ProtoMethodDescriptor, _ request: Req, as caller: Caller, _: Res.Type
    ) async -> StatusCode? {
        do {
            let _: Res = try await call(method, request, as: caller)
            return nil
        } catch let error as RPCError {
            return error.code
        } catch {
            return .unknown
        }
    }
}
