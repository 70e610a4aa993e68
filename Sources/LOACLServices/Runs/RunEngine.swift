import Foundation
import LOACLCore
import LOACLMessages
import LOACLPostgres
import Logging
import Metrics
import Synchronization

/// The runs of one loacld: those it generates (`Run`, each driven by a task of its own that does
/// not belong to any call), and the way to reach runs on other servers sharing the database.
///
/// Cross-server traffic goes through PostgreSQL only (`PostgresListener` on one connection):
/// - each server listens on its own channel (`ServerSignal`: "someone follows run X", "cancel
///   run X");
/// - a server with followers of a run it does not generate listens on that run's channel
///   (`RunNotification`: live events, "persisted up to N");
/// - the running server publishes a run's live events only after some server announced a
///   follower (`RunPublisher`), and persists them in batches (`RunFlusher`) either way.
public final class RunEngine: Sendable {
    public struct Configuration: Sendable {
        /// How often a run's new events are written to `loacl.run_events` (and so the most text a
        /// crash can lose, plus one write).
        public var flushInterval: Duration
        /// The shortest time between two `NOTIFY` round trips carrying live events to followers on
        /// other servers (one transaction for every followed run of this server): what a remote
        /// follower may wait at most, beyond a round trip, for a delta.
        public var publishInterval: Duration
        /// How long a run survives its server's silence before another server ends it
        /// (`incomplete`, reason `server_lost`). Renewed every third of it.
        public var lease: Duration
        /// Followers of one run on this server.
        public var maxFollowers: Int
        /// Events of a run kept in memory; older ones are read back from PostgreSQL.
        public var windowCapacity: Int
        /// After SIGTERM, how long runs may go on before they are stopped (`incomplete`,
        /// reason `shutdown`).
        public var drainGrace: Duration

        public init(flushInterval: Duration = .milliseconds(100), publishInterval: Duration = .milliseconds(10),
                    lease: Duration = .seconds(10), maxFollowers: Int = 16,
                    windowCapacity: Int = 512, drainGrace: Duration = .seconds(10)) {
            self.flushInterval = flushInterval
            self.publishInterval = publishInterval
            self.lease = lease
            self.maxFollowers = maxFollowers
            self.windowCapacity = windowCapacity
            self.drainGrace = drainGrace
        }
    }

    public let configuration: Configuration
    /// `host/pid/key`: stored in `loacl.runs.server_instance`; `key` names this server's channel.
    public let instance: String
    let serverChannel: String
    let database: Database
    let publisher: RunPublisher
    let logger: Logger
    private let listener: PostgresListener
    private let state = Mutex(State())
    private let startedCounter = Counter(label: "loacl_runs_started_total")
    private let activeGauge = Gauge(label: "loacl_runs_active")

    private struct State {
        var runs: [String: Run] = [:]
        /// Channel → feeds of this server's followers of a run generated elsewhere.
        var feeds: [String: [UInt64: AsyncStream<RemoteRunFeed.Signal>.Continuation]] = [:]
        var nextFeedID: UInt64 = 0
        var listening = false
        var closed = false
    }

    public init(database: Database, configuration: Configuration = .init(), logger: Logger = Logger(label: "loacl.runs")) {
        self.configuration = configuration
        self.database = database
        self.logger = logger
        var key = ""
        for _ in 0..<8 { key += String(format: "%02x", UInt8.random(in: 0...255)) }
        let host = ProcessInfo.processInfo.hostName.replacingOccurrences(of: "/", with: "_")
        instance = "\(host)/\(ProcessInfo.processInfo.processIdentifier)/\(key)"
        serverChannel = "loacl_srv_" + key
        publisher = RunPublisher(pool: database.pool, interval: configuration.publishInterval, logger: logger)
        let box = WeakBox()
        listener = PostgresListener(conninfo: database.pool.configuration.conninfo, logger: logger,
                                    resubscribed: { box.engine?.resubscribed() },
                                    deliver: { channel, payload in box.engine?.notification(channel: channel, payload: payload) })
        box.engine = self
    }

    /// Lets the listener's callbacks reach the engine without keeping it alive.
    private final class WeakBox: @unchecked Sendable {
        weak var engine: RunEngine?
    }

    /// Starts listening on this server's channel, once, in the background (so that a CancelRun
    /// or a follower on another server reaches this server's runs). Never waits: a database
    /// that is down must not hold SendMessage, and the listener keeps trying.
    func startListening() {
        let first = state.withLock { state -> Bool in
            defer { state.listening = true }
            return !state.listening && !state.closed
        }
        guard first else { return }
        let listener = self.listener
        let channel = serverChannel
        let logger = self.logger
        Task {
            do { try await listener.listen(channel) } catch {
                logger.notice("not listening for other servers' signals", metadata: ["error": "\(error)"])
            }
        }
    }

    // MARK: - Local runs

    /// Registers a run this server generates and starts `drive` for it, in a task of its own
    /// (the caller's task-local identity is inherited; its cancellation is not), preferring
    /// `executor`: the calling connection's event loop, so that each delta goes from the
    /// upstream's loop to the caller's in one hop (`Run.Handoff`).
    func start(_ run: Run, executor: (any TaskExecutor)? = nil, drive: @escaping @Sendable (Run) async -> Void) {
        let active = state.withLock { state in
            state.runs[run.id] = run
            return state.runs.count
        }
        activeGauge.record(active)
        run.observe { [weak self, weak run] event in
            guard let self, let run else { return }
            self.appended(event, of: run)
        }
        startedCounter.increment()
        let operation: @Sendable () async -> Void = { [identity = CallerIdentity.current] in
            await CallerIdentity.$current.withValue(identity) {
                await drive(run)
            }
            self.finished(run)
        }
        let task = Task.detached(executorPreference: executor, operation: operation)
        run.onStop { task.cancel() }
    }

    private func finished(_ run: Run) {
        let active = state.withLock { state in
            state.runs.removeValue(forKey: run.id)
            return state.runs.count
        }
        activeGauge.record(active)
        let status = run.finalStatus.map { $0.sqlName } ?? "unknown"
        Counter(label: "loacl_runs_finished_total", dimensions: [("status", status)]).increment()
    }

    func localRun(_ id: String) -> Run? {
        state.withLock { $0.runs[id] }
    }

    var activeRunIDs: [String] { state.withLock { Array($0.runs.keys) } }

    /// An event appended to one of this server's runs: published to other servers when one of
    /// them follows it.
    private func appended(_ event: Loacl_V1_SendMessageEvent, of run: Run) {
        if run.hasRemoteFollowers { publisher.publish(run.channel, [event]) }
    }

    // MARK: - Notifications (on the listener's thread)

    private func notification(channel: String, payload: String) {
        if channel == serverChannel {
            guard let signal = ServerSignal(payload: payload) else { return }
            switch signal {
            case .follow(let id):
                guard let run = localRun(id) else { return }
                if run.remoteFollowerJoined() {
                    // What the follower may have missed before publishing began.
                    publisher.publish(run.channel, run.windowEvents(after: 0))
                }
            case .cancel(let id):
                localRun(id)?.requestStop(.cancelled)
            case .outputs(let id):
                localRun(id)?.toolOutputsSubmitted()
            }
            return
        }
        guard let notification = RunNotification(payload: payload) else { return }
        let feeds = state.withLock { Array(($0.feeds[channel] ?? [:]).values) }
        for feed in feeds { feed.yield(.notification(notification)) }
    }

    private func resubscribed() {
        let feeds = state.withLock { $0.feeds.values.flatMap(\.values) }
        for feed in feeds { feed.yield(.resync) }
    }

    // MARK: - Remote feeds

    /// A stream of what arrives on `channel`, listened to before this returns.
    func subscribe(_ channel: String) async throws -> RemoteRunFeed.Subscription {
        let (stream, continuation) = AsyncStream<RemoteRunFeed.Signal>.makeStream(bufferingPolicy: .bufferingOldest(1024))
        let limit = configuration.maxFollowers
        let subscribed = state.withLock { state -> (UInt64, Bool)? in
            guard (state.feeds[channel]?.count ?? 0) < limit else { return nil }
            state.nextFeedID += 1
            let first = state.feeds[channel] == nil
            state.feeds[channel, default: [:]][state.nextFeedID] = continuation
            return (state.nextFeedID, first)
        }
        guard let (id, first) = subscribed else {
            throw RPCError(.resourceExhausted, "run has \(limit) followers on this server already")
        }
        if first {
            do {
                try await listener.listen(channel)
            } catch {
                unsubscribe(channel, id)
                throw error
            }
        }
        return RemoteRunFeed.Subscription(id: id, signals: stream, continuation: continuation)
    }

    func unsubscribe(_ channel: String, _ id: UInt64) {
        let (continuation, last) = state.withLock { state -> (AsyncStream<RemoteRunFeed.Signal>.Continuation?, Bool) in
            let continuation = state.feeds[channel]?.removeValue(forKey: id)
            if state.feeds[channel]?.isEmpty == true { state.feeds[channel] = nil; return (continuation, true) }
            return (continuation, false)
        }
        continuation?.finish()
        if last { listener.unlisten(channel) }
    }

    /// Tells the server running a run (by its `server_instance`) something.
    func signal(_ signal: ServerSignal, instance: String) async {
        guard let channel = ServerSignal.channel(instance: instance) else { return }
        do {
            _ = try await database.pool.withConnection { connection in
                try connection.execParams("SELECT pg_catalog.pg_notify($1, $2)", [channel, signal.payload])
            }
        } catch {
            logger.notice("could not signal another server", metadata: ["signal": "\(signal.payload)", "error": "\(error)"])
        }
    }

    // MARK: - Shutdown

    /// Lets runs finish for up to `drainGrace`, stops the rest (`incomplete`, reason
    /// `shutdown`, stored) and closes the listener.
    public func drain() async {
        let deadline = ContinuousClock.now + configuration.drainGrace
        while !activeRunIDs.isEmpty, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let remaining = state.withLock { Array($0.runs.values) }
        if !remaining.isEmpty {
            logger.notice("stopping runs at shutdown", metadata: ["runs": "\(remaining.count)"])
        }
        for run in remaining { run.requestStop(.shutdown) }
        let stopDeadline = ContinuousClock.now + .seconds(5)
        while !activeRunIDs.isEmpty, ContinuousClock.now < stopDeadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        close()
    }

    public func close() {
        state.withLock { $0.closed = true }
        listener.close()
    }
}
