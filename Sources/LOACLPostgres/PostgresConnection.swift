import CLibPQ
import Glibc
import Synchronization

/// One libpq connection. Blocking: every call waits for the server, so in async code use it
/// through `PostgresPool`, which runs the calls on an `NIOThreadPool` thread.
///
/// The `PGconn` handle is owned by this class alone and every use goes through a `Mutex`, so
/// the object is `Sendable` (only the raw pointer boxes below are `@unchecked`): a connection
/// can move between threads (the pool does that), and
/// accidental concurrent use is serialised instead of corrupting libpq's state. `cancel()` uses
/// libpq's separate, thread-safe `PGcancel` object and so does not wait for a running query.
///
/// Parameters are always sent separately from the SQL text (extended query protocol), never
/// escaped into it. Statements are prepared once per connection and several can travel in one
/// round trip (libpq pipeline mode), which is how a whole short transaction costs one round trip.
public final class PostgresConnection: Sendable {
    private let state: Mutex<State>
    private let cancelHandle: Mutex<RawHandle?>

    /// Prepared statements kept per connection; past this many, further statements run unnamed
    /// (ad-hoc SQL must not grow the server's memory without bound).
    public static let statementCacheCapacity = 256

    /// A libpq pointer. `@unchecked Sendable` because it is only ever dereferenced while the
    /// owning `Mutex` is held (PGcancel: libpq documents PQcancel as thread-safe).
    struct RawHandle: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    struct State: Sendable {
        var raw: RawHandle?
        /// SQL text → name of the server-side prepared statement on this connection.
        var prepared: [String: String] = [:]
        var nextStatement = 0
        /// Statements queued by `enqueue`, sent with the next round trip.
        var queued: [PostgresStatement] = []
    }

    private init(handle: OpaquePointer) {
        self.state = Mutex(State(raw: RawHandle(pointer: handle)))
        self.cancelHandle = Mutex(PQgetCancel(handle).map(RawHandle.init))
    }

    deinit {
        close()
    }

    /// Connects with a libpq connection string (`host=/path/to/socket port=5432 dbname=x user=y`)
    /// or URI (`postgresql://...`). The client encoding is forced to UTF8.
    public static func connect(_ conninfo: String) throws(PostgresError) -> PostgresConnection {
        guard let raw = PQconnectdb(conninfo) else {
            throw PostgresError(kind: .connection, message: "out of memory creating a libpq connection")
        }
        guard PQstatus(raw) == CONNECTION_OK else {
            let message = Self.connectionMessage(raw)
            PQfinish(raw)
            throw PostgresError(kind: .connection, sqlState: "08001", message: message)
        }
        // NOTICE/WARNING messages would go to stderr by default; the server log has them.
        PQsetNoticeProcessor(raw, { _, _ in }, nil)
        if PQsetClientEncoding(raw, "UTF8") != 0 {
            let message = Self.connectionMessage(raw)
            PQfinish(raw)
            throw PostgresError(kind: .connection, message: message)
        }
        return PostgresConnection(handle: raw)
    }

    /// Runs one or more SQL statements with no parameters (simple query protocol). With several
    /// statements, the result of the last one is returned; an error stops at the failing one.
    /// Statements queued with `enqueue` go out first in the same round trip; `sql` must then be
    /// a single statement.
    @discardableResult
    public func exec(_ sql: String) throws(PostgresError) -> PostgresResult {
        try state.withLock { (state: inout State) throws(PostgresError) -> PostgresResult in
            let conn = try Self.open(state.raw)
            if !state.queued.isEmpty {
                return try Self.runPipeline(&state, conn, [PostgresStatement(sql, prepare: false)]).last!
            }
            do throws(PostgresError) {
                return try Self.consume(PQexec(conn, sql), conn)
            } catch {
                throw Self.markingUnknownCommit(error, sql)
            }
        }
    }

    /// Runs one statement with text parameters `$1`, `$2`, ... (`nil` = SQL NULL). Parameter
    /// types are inferred by the server; cast in SQL where needed (`$1::uuid`).
    ///
    /// The statement is prepared on first use and kept per connection (up to
    /// `statementCacheCapacity`), so later runs skip parsing and, once PostgreSQL settles on a
    /// generic plan, planning too. Statements queued with `enqueue` go out first in the same
    /// round trip.
    @discardableResult
    public func execParams(_ sql: String, _ parameters: [String?]) throws(PostgresError) -> PostgresResult {
        try pipeline([PostgresStatement(sql, parameters)]).last!
    }

    /// Variadic form of `execParams(_:_:)`.
    @discardableResult
    public func query(_ sql: String, _ parameters: String?...) throws(PostgresError) -> PostgresResult {
        try execParams(sql, parameters)
    }

    /// Queues a statement to be sent with the next `exec`/`execParams`/`pipeline` call, in the
    /// same round trip (e.g. `BEGIN` and transaction settings). Its result is checked then: an
    /// error fails that call. Dropped by `rollbackIfNeeded` and `close`.
    public func enqueue(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) {
        try Self.checkParameters(parameters)
        state.withLock { $0.queued.append(PostgresStatement(sql, parameters)) }
    }

    /// Sends every statement (after any queued ones) in one round trip using libpq's pipeline
    /// mode, and returns their results in order. The first failing statement's error is thrown
    /// and the later ones are skipped by the server. Outside an explicit transaction block the
    /// statements form one implicit transaction: all of them take effect or none.
    @discardableResult
    public func pipeline(_ statements: [PostgresStatement]) throws(PostgresError) -> [PostgresResult] {
        for statement in statements { try Self.checkParameters(statement.parameters) }
        return try state.withLock { (state: inout State) throws(PostgresError) -> [PostgresResult] in
            let conn = try Self.open(state.raw)
            // The common case, a statement already prepared and nothing queued: no pipeline.
            if state.queued.isEmpty, statements.count == 1, let name = state.prepared[statements[0].sql] {
                let statement = statements[0]
                do throws(PostgresError) {
                    return [try Self.withCStrings(statement.parameters) { values throws(PostgresError) in
                        try Self.consume(PQexecPrepared(conn, name, Int32(values.count), values, nil, nil, 0), conn)
                    }]
                } catch {
                    Self.forgetIfStale(&state, statement.sql, error)
                    throw error
                }
            }
            return try Self.runPipeline(&state, conn, statements)
        }
    }

    /// Asks the server to cancel the statement currently running on this connection (from any
    /// thread). The statement then fails with SQLSTATE 57014. Returns false if the request could
    /// not be sent.
    @discardableResult
    public func cancel() -> Bool {
        cancelHandle.withLock { cancel in
            guard let cancel else { return false }
            var buffer = [CChar](repeating: 0, count: 256)
            return PQcancel(cancel.pointer, &buffer, Int32(buffer.count)) == 1
        }
    }

    /// Re-establishes a broken connection with the same parameters.
    public func reset() throws(PostgresError) {
        try state.withLock { (state: inout State) throws(PostgresError) in
            let conn = try Self.open(state.raw)
            // A new server session has no prepared statements.
            state.prepared.removeAll()
            state.queued.removeAll()
            PQreset(conn)
            guard PQstatus(conn) == CONNECTION_OK else {
                throw PostgresError(kind: .connection, message: Self.connectionMessage(conn))
            }
            PQsetClientEncoding(conn, "UTF8")
            cancelHandle.withLock { cancel in
                if let cancel { PQfreeCancel(cancel.pointer) }
                cancel = PQgetCancel(conn).map(RawHandle.init)
            }
        }
    }

    /// Closes the connection; later calls fail with `.connection`. Idempotent.
    public func close() {
        cancelHandle.withLock { cancel in
            if let cancel { PQfreeCancel(cancel.pointer) }
            cancel = nil
        }
        state.withLock { state in
            if let conn = state.raw { PQfinish(conn.pointer) }
            state.raw = nil
            state.queued.removeAll()
        }
    }

    /// False once closed or once the connection broke. Also reads whatever the server sent
    /// while the connection sat idle (without blocking), so a server that restarted or closed
    /// the connection is noticed here rather than in the middle of the next query.
    public var isHealthy: Bool {
        state.withLock { state in
            guard let conn = state.raw?.pointer else { return false }
            if PQstatus(conn) == CONNECTION_OK, PQtransactionStatus(conn) == PQTRANS_IDLE {
                _ = PQconsumeInput(conn)
            }
            return PQstatus(conn) == CONNECTION_OK
        }
    }

    /// Drops queued statements that were never sent.
    func discardQueued() {
        state.withLock { $0.queued.removeAll() }
    }

    /// Number of statements prepared on this connection (for tests and diagnostics).
    public var preparedStatementCount: Int {
        state.withLock { $0.prepared.count }
    }

    public enum TransactionState: Sendable, Equatable {
        case idle, active, inTransaction, failedTransaction, unknown
    }

    /// Where the connection stands with respect to a transaction block.
    public var transactionState: TransactionState {
        state.withLock { state in
            guard let conn = state.raw else { return .unknown }
            switch PQtransactionStatus(conn.pointer) {
            case PQTRANS_IDLE: return .idle
            case PQTRANS_ACTIVE: return .active
            case PQTRANS_INTRANS: return .inTransaction
            case PQTRANS_INERROR: return .failedTransaction
            default: return .unknown
            }
        }
    }

    /// Server version as an integer, e.g. 150018 for 15.18 (0 when closed).
    public var serverVersion: Int {
        state.withLock { state in state.raw.map { Int(PQserverVersion($0.pointer)) } ?? 0 }
    }
}
