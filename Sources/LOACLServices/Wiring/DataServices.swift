import LOACLCrypto
import LOACLPostgres
import LOACLServerCore
import Logging

/// Every database-backed service, built from one set of dependencies, with the interceptor that
/// authenticates their calls and the sweeper that expires guest sessions. loacld registers
/// `methods`, adds `authInterceptor` and runs `sweeper` when it has a database.
public struct DataServices: Sendable {
    public let database: Database
    public let storage: FileStorage
    public let authInterceptor: AuthInterceptor
    public let assistants: AssistantService
    public let sessions: SessionService
    public let threads: ThreadService
    public let messages: MessageService
    public let files: FileService
    public let guidedQuestions: GuidedQuestionService
    public let followUps: FollowUpService
    public let usage: UsageService
    let turnContexts: TurnContextCache
    /// Runs: generated here, followed and stopped from anywhere.
    public let runs: RunEngine

    /// `sessionCacheLifetime`: how long a resolved session token is reused (nil: 30 s);
    /// `replySpeculation`: how long a thread's last turn context is kept to start the next
    /// reply's upstream request early (nil: 30 s; zero: never speculate).
    public init(pool: PostgresPool, vault: TenantKeyVault, userTokens: UserTokenVerifier?, providers: ChatProviderRegistry,
                storage: FileStorage, sessionCacheLifetime: Duration? = nil, replySpeculation: Duration? = nil,
                runs: RunEngine.Configuration = .init(), logger: Logger = Logger(label: "loacl.services")) {
        let database = Database(pool: pool, logger: logger)
        let engine = RunEngine(database: database, configuration: runs, logger: logger)
        self.runs = engine
        self.database = database
        self.storage = storage
        turnContexts = TurnContextCache(lifetime: replySpeculation ?? .seconds(30))
        authInterceptor = AuthInterceptor(database: database, vault: vault, sessionCacheLifetime: sessionCacheLifetime)
        assistants = AssistantService(database: database, vault: vault, storage: storage)
        sessions = SessionService(database: database, userTokens: userTokens)
        threads = ThreadService(database: database, storage: storage, turnContexts: turnContexts)
        messages = MessageService(database: database, storage: storage, providers: providers, vault: vault,
                                  turnContexts: turnContexts, runs: engine, logger: logger)
        files = FileService(database: database, storage: storage)
        guidedQuestions = GuidedQuestionService(database: database)
        followUps = FollowUpService(database: database)
        usage = UsageService(database: database)
    }

    /// With a fixed verifier (HS256 secret and/or JWKS file keys), as tests build it.
    public init(pool: PostgresPool, vault: TenantKeyVault, jwtVerifier: JWTVerifier?, providers: ChatProviderRegistry,
                storage: FileStorage, sessionCacheLifetime: Duration? = nil, replySpeculation: Duration? = nil,
                runs: RunEngine.Configuration = .init(), logger: Logger = Logger(label: "loacl.services")) {
        self.init(pool: pool, vault: vault, userTokens: jwtVerifier.map { UserTokenVerifier($0) }, providers: providers,
                  storage: storage, sessionCacheLifetime: sessionCacheLifetime, replySpeculation: replySpeculation,
                  runs: runs, logger: logger)
    }

    /// The service that renews this server's run leases, ends runs whose server was lost, and
    /// drains runs at shutdown.
    public func leaseKeeper(logger: Logger = Logger(label: "loacl.runs.leases")) -> RunLeaseKeeper {
        RunLeaseKeeper(engine: runs, database: database, logger: logger)
    }

    public func sweeper(_ configuration: SessionSweeper.Configuration, logger: Logger = Logger(label: "loacl.services.sweeper")) -> SessionSweeper {
        SessionSweeper(database: database, storage: storage, configuration: configuration, logger: logger)
    }
}
