import Foundation
import LOACLCrypto
import LOACLPostgres
import LOACLUpstream
import Logging

/// What loacld needs to know to run the data services.
public struct DataServicesOptions: Sendable {
    /// The 32-byte master key as 64 hex digits or base64 (never logged).
    public var masterKey: String
    /// How authenticated sessions' JWTs are verified; none set disables StartAuthenticatedSession.
    public var userTokens: UserTokenOptions
    public var storageDirectory: String
    public var maxFileSize: UInt64
    public var sweep: SessionSweeper.Configuration
    /// How long a resolved session is reused without a look-up; nil: the default (30 s).
    public var sessionCacheLifetime: Duration?
    /// How long a thread's last turn context is kept for speculative upstream requests; nil:
    /// the default (30 s), zero: never speculate.
    public var replySpeculation: Duration?
    /// Runs: flush interval, lease, followers per run, drain grace.
    public var runs: RunEngine.Configuration
    /// Where `LOACL_UPSTREAM_*` provider settings are read from.
    public var environment: [String: String]

    public init(masterKey: String, userTokens: UserTokenOptions = UserTokenOptions(), storageDirectory: String = ".data/files",
                maxFileSize: UInt64 = 20 * 1024 * 1024, sweep: SessionSweeper.Configuration = .init(),
                sessionCacheLifetime: Duration? = nil, replySpeculation: Duration? = nil, runs: RunEngine.Configuration = .init(),
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.runs = runs
        self.masterKey = masterKey
        self.userTokens = userTokens
        self.storageDirectory = storageDirectory
        self.maxFileSize = maxFileSize
        self.sweep = sweep
        self.sessionCacheLifetime = sessionCacheLifetime
        self.replySpeculation = replySpeculation
        self.environment = environment
    }
}

/// The data services with their upstream providers and sweeper, as loacld runs them.
public struct DataServicesRuntime: Sendable {
    public let services: DataServices
    public let sweeper: SessionSweeper
    public let leaseKeeper: RunLeaseKeeper
    private let providerFactory: ChatProviderFactory

    public struct ConfigurationError: Error, CustomStringConvertible {
        public let description: String
    }

    public init(options: DataServicesOptions, pool: PostgresPool, logger: Logger) throws {
        let vault: TenantKeyVault
        do {
            vault = try TenantKeyVault(masterKey: TenantKeyVault.parseMasterKey(options.masterKey))
        } catch {
            throw ConfigurationError(description: "master key: \(error)")
        }
        let upstream: UpstreamConfiguration
        do {
            upstream = try UpstreamConfiguration.fromEnvironment(options.environment)
        } catch {
            throw ConfigurationError(description: "upstream settings: \(error)")
        }
        let userTokens: UserTokenVerifier?
        do {
            userTokens = try options.userTokens.makeVerifier(logger: logger)
        } catch {
            throw ConfigurationError(description: "\(error)")
        }
        let factory = ChatProviderFactory(configuration: upstream)
        // Every tenant registered with an upstream key, so the factory's default for "has a key".
        let registry = ChatProviderRegistry([factory.offline, factory.responses, factory.chat],
                                            defaultName: factory.resolvedName(assistantProvider: "", hasAPIKey: true))
        let storage = FileStorage(root: options.storageDirectory, maxFileSize: options.maxFileSize)
        services = DataServices(pool: pool, vault: vault, userTokens: userTokens,
                                providers: registry, storage: storage, sessionCacheLifetime: options.sessionCacheLifetime,
                                replySpeculation: options.replySpeculation, runs: options.runs,
                                logger: logger)
        sweeper = services.sweeper(options.sweep, logger: logger)
        leaseKeeper = services.leaseKeeper(logger: logger)
        providerFactory = factory
    }

    /// Closes upstream connections.
    public func shutdown() async {
        try? await providerFactory.shutdown()
    }
}
