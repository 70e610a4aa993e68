import LOACLCrypto
import Logging

/// The keys of a JWKS URL, fetched when first needed and kept in memory.
///
/// Refreshing: the set is fetched again when it is older than the response's
/// `Cache-Control: max-age` (clamped to `minimumRefetchInterval`…`maximumAge`; `defaultMaxAge`
/// without one), or when a token names a `kid` the set lacks (keys were rotated). Either way at
/// most one fetch starts per `minimumRefetchInterval` (a minute), so tokens with made-up `kid`s
/// cannot make loacld hammer the identity provider; concurrent callers share one fetch. A
/// failed fetch (network, HTTP status, bad document) keeps the previous keys and is logged.
public actor RemoteKeySet {
    public typealias Fetch = @Sendable (String) async throws -> JWKSDocument

    public struct Policy: Sendable {
        public var minimumRefetchInterval: Duration = .seconds(60)
        public var defaultMaxAge: Duration = .seconds(600)
        public var maximumAge: Duration = .seconds(86_400)
        public init() {}
    }

    public nonisolated let url: String
    private let fetch: Fetch
    private let policy: Policy
    private let now: @Sendable () -> ContinuousClock.Instant
    private let logger: Logger

    private var keys = JSONWebKeySet.empty
    private var expiresAt: ContinuousClock.Instant?
    private var lastAttempt: ContinuousClock.Instant?
    private var inFlight: Task<Void, Never>?
    /// Fetches started so far (for tests and the log).
    public private(set) var fetchCount = 0

    /// `now` is injectable so tests can move time without sleeping.
    public init(url: String, fetch: @escaping Fetch = { try await JWKSDownload()($0) }, policy: Policy = Policy(),
                now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }, logger: Logger) {
        self.url = url
        self.fetch = fetch
        self.policy = policy
        self.now = now
        self.logger = logger
    }

    /// The current keys, refreshed first if they are stale or lack `keyID` and a fetch is
    /// allowed now.
    public func keys(for keyID: String?) async -> JSONWebKeySet {
        let stale = expiresAt.map { now() >= $0 } ?? true
        let missing = keyID.map { !keys.contains(keyID: $0) } ?? false
        if stale || missing { await refresh() }
        return keys
    }

    /// Fetches now unless a fetch is running (then waits for it) or one started less than
    /// `minimumRefetchInterval` ago.
    public func refresh() async {
        if let inFlight { return await inFlight.value }
        let started = now()
        if let lastAttempt, started - lastAttempt < policy.minimumRefetchInterval { return }
        lastAttempt = started
        fetchCount += 1
        let task = Task { await self.load() }
        inFlight = task
        await task.value
    }

    private func load() async {
        defer { inFlight = nil }
        do {
            let document = try await fetch(url)
            let set = try JSONWebKeySet(json: document.body)
            keys = set
            let maxAge = min(max(document.maxAge ?? policy.defaultMaxAge, policy.minimumRefetchInterval), policy.maximumAge)
            expiresAt = now() + maxAge
            logger.info("JWKS loaded", metadata: ["url": "\(url)", "keys": "\(set.keys.count)",
                                                  "skipped": "\(set.skipped)", "max-age": "\(maxAge)"])
        } catch {
            logger.warning("JWKS fetch failed; keeping the previous keys", metadata: [
                "url": "\(url)", "error": "\(error)", "keys": "\(keys.keys.count)"])
        }
    }
}
