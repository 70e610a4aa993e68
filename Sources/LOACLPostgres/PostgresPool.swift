import Logging
import NIOPosix
import Synchronization

/// A bounded pool of `PostgresConnection`s for async code.
///
/// `withConnection` borrows a connection and runs the (synchronous, blocking) closure on an
/// `NIOThreadPool` thread, never on the caller's executor or an event loop. At most
/// `maxConnections` connections exist; a caller that finds none free waits in FIFO order up to
/// `acquireTimeout`. Broken connections are dropped on return and replaced by fresh ones on
/// demand. Cancelling the calling task sends a PQcancel to the running statement, and such a
/// connection is not reused (a late cancel must not hit the next borrower's query).
public final class PostgresPool: Sendable {
    public struct Configuration: Sendable {
        /// libpq connection string or URI.
        public var conninfo: String
        public var maxConnections: Int
        public var acquireTimeout: Duration
        /// Statements run once on every new connection before first use (session settings).
        public var setup: [PostgresStatement]

        public init(conninfo: String, maxConnections: Int = 4, acquireTimeout: Duration = .seconds(10),
                    setup: [PostgresStatement] = []) {
            precondition(maxConnections > 0, "maxConnections must be positive")
            self.conninfo = conninfo
            self.maxConnections = maxConnections
            self.acquireTimeout = acquireTimeout
            self.setup = setup
        }
    }

    public struct Statistics: Sendable, Equatable {
        /// Connections that exist or are being opened.
        public var open: Int
        public var idle: Int
        public var waiting: Int
    }

    public let configuration: Configuration
    private let threadPool: NIOThreadPool
    private let ownsThreadPool: Bool
    private let logger: Logger
    private let state = Mutex(State())

    /// - Parameter threadPool: where the blocking libpq calls run. When nil the pool starts its
    ///   own with one thread per connection and shuts it down in `close()`.
    public init(
        configuration: Configuration,
        threadPool: NIOThreadPool? = nil,
        logger: Logger = Logger(label: "loacl.postgres.pool")
    ) {
        self.configuration = configuration
        self.logger = logger
        if let threadPool {
            self.threadPool = threadPool
            self.ownsThreadPool = false
        } else {
            let own = NIOThreadPool(numberOfThreads: configuration.maxConnections)
            own.start()
            self.threadPool = own
            self.ownsThreadPool = true
        }
    }

    /// Borrows a connection for `body`, run on the thread pool. A transaction `body` leaves open
    /// is rolled back before the connection goes back.
    public func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        let connection = try await acquire()
        do {
            let value = try await withTaskCancellationHandler {
                try await threadPool.runIfActive {
                    defer { connection.rollbackIfNeeded() }
                    return try body(connection)
                }
            } onCancel: {
                connection.cancel()
            }
            release(connection, discard: Task.isCancelled)
            return value
        } catch {
            release(connection, discard: Task.isCancelled)
            throw error
        }
    }

    /// `withConnection` + `PostgresConnection.transaction`.
    public func withTransaction<T: Sendable>(
        _ isolation: PostgresConnection.IsolationLevel = .readCommitted,
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        try await withConnection { connection in try connection.transaction(isolation, body) }
    }

    public var statistics: Statistics {
        state.withLock { Statistics(open: $0.open, idle: $0.idle.count, waiting: $0.waiters.count) }
    }

    /// Fails waiting callers with `.poolClosed`, closes idle connections (borrowed ones close
    /// when returned) and stops the pool's own thread pool.
    public func close() async {
        let (idle, waiters) = state.withLock { state in
            state.closed = true
            state.open -= state.idle.count
            defer { state.idle.removeAll(); state.waiters.removeAll() }
            return (state.idle, state.waiters)
        }
        for waiter in waiters {
            waiter.timeout?.cancel()
            waiter.continuation.resume(throwing: PostgresError(kind: .poolClosed, message: "pool closed"))
        }
        idle.forEach { $0.close() }
        if ownsThreadPool {
            try? await threadPool.shutdownGracefully()
        }
    }

    // MARK: - Leasing

    private enum Lease: Sendable {
        case reuse(PostgresConnection)
        /// A slot was reserved: open a new connection.
        case create
    }

    private struct Waiter: Sendable {
        let id: UInt64
        let continuation: CheckedContinuation<Lease, any Error>
        var timeout: Task<Void, Never>?
    }

    private struct State: Sendable {
        var idle: [PostgresConnection] = []
        var open = 0
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        var closed = false
    }

    private func acquire() async throws -> PostgresConnection {
        if case .reuse(let connection) = try await lease() {
            if connection.isHealthy { return connection }
            logger.debug("dropping broken idle connection")
            connection.close() // its slot is reused for the new connection below
        }
        let conninfo = configuration.conninfo
        let setup = configuration.setup
        do {
            let connection = try await threadPool.runIfActive {
                let connection = try PostgresConnection.connect(conninfo)
                if !setup.isEmpty { try connection.pipeline(setup) }
                return connection
            }
            logger.debug("opened connection", metadata: ["open": "\(statistics.open)"])
            return connection
        } catch {
            slotFreed()
            throw error
        }
    }

    private func lease() async throws -> Lease {
        let id = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        let maxConnections = configuration.maxConnections
        let timeout = configuration.acquireTimeout
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Lease, any Error>) in
                enum Immediate { case lease(Lease), fail(any Error), wait }
                let immediate: Immediate = state.withLock { state in
                    if state.closed { return .fail(PostgresError(kind: .poolClosed, message: "pool closed")) }
                    if Task.isCancelled { return .fail(CancellationError()) }
                    if let connection = state.idle.popLast() { return .lease(.reuse(connection)) }
                    if state.open < maxConnections {
                        state.open += 1
                        return .lease(.create)
                    }
                    let timer = Task { [weak self] in
                        guard (try? await Task.sleep(for: timeout)) != nil else { return }
                        self?.failWaiter(id, PostgresError(
                            kind: .poolTimeout,
                            message: "no connection available within \(timeout) (max \(maxConnections))"))
                    }
                    state.waiters.append(Waiter(id: id, continuation: continuation, timeout: timer))
                    return .wait
                }
                switch immediate {
                case .lease(let lease): continuation.resume(returning: lease)
                case .fail(let error): continuation.resume(throwing: error)
                case .wait: break
                }
            }
        } onCancel: {
            failWaiter(id, CancellationError())
        }
    }

    private func failWaiter(_ id: UInt64, _ error: any Error) {
        let waiter: Waiter? = state.withLock { state in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        guard let waiter else { return }
        waiter.timeout?.cancel()
        waiter.continuation.resume(throwing: error)
    }

    /// Gives a connection back: to the first waiter, to the idle list, or closes it.
    private func release(_ connection: PostgresConnection, discard: Bool) {
        let reusable = !discard && connection.isHealthy && connection.transactionState == .idle
        enum Action { case none, close, hand(Waiter, Lease), closeAndHand(Waiter) }
        let action: Action = state.withLock { state in
            if state.closed {
                state.open -= 1
                return .close
            }
            if !state.waiters.isEmpty {
                let waiter = state.waiters.removeFirst()
                return reusable ? .hand(waiter, .reuse(connection)) : .closeAndHand(waiter)
            }
            if reusable {
                state.idle.append(connection)
                return .none
            }
            state.open -= 1
            return .close
        }
        switch action {
        case .none:
            break
        case .close:
            connection.close()
        case .hand(let waiter, let lease):
            waiter.timeout?.cancel()
            waiter.continuation.resume(returning: lease)
        case .closeAndHand(let waiter):
            connection.close()
            waiter.timeout?.cancel()
            waiter.continuation.resume(returning: .create)
        }
        if !reusable { logger.debug("discarded connection", metadata: ["cancelled": "\(discard)"]) }
    }

    /// A reserved slot ended without a connection (connect failed): pass it to a waiter.
    private func slotFreed() {
        let waiter: Waiter? = state.withLock { state in
            if !state.closed, !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.open -= 1
            return nil
        }
        guard let waiter else { return }
        waiter.timeout?.cancel()
        waiter.continuation.resume(returning: .create)
    }
}
