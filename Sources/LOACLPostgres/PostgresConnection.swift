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
    private struct RawHandle: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    private struct State: Sendable {
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

    // MARK: - Pipeline

    /// One round trip: the queued statements, then `statements`, then a sync point. Unprepared
    /// statements are prepared in the same round trip (Parse travels with Bind/Execute).
    ///
    /// Everything is sent before any result is read, on a blocking socket: meant for a handful
    /// of statements whose parameters fit the socket's send buffer (hundreds of KiB), as the
    /// services' are. Far larger batches could fill both directions' buffers and wait on each
    /// other; libpq's non-blocking mode would be needed for those.
    private static func runPipeline(
        _ state: inout State, _ conn: OpaquePointer, _ statements: [PostgresStatement]
    ) throws(PostgresError) -> [PostgresResult] {
        let all = state.queued + statements
        state.queued.removeAll()
        let touchesCommit = all.contains { $0.isCommit }

        guard PQenterPipelineMode(conn) == 1 else {
            throw PostgresError(kind: .connection, message: connectionMessage(conn))
        }
        // What was sent, in order, so the results can be matched: a prepare (with the SQL it
        // prepares) or a statement.
        enum Sent { case prepare(sql: String, name: String), statement }
        var sent: [Sent] = []
        var sendFailure: PostgresError?
        var preparing: [String: String] = [:]
        for statement in all {
            var name = statement.prepare ? (state.prepared[statement.sql] ?? preparing[statement.sql]) : nil
            if statement.prepare, name == nil, state.prepared.count + preparing.count < statementCacheCapacity {
                state.nextStatement += 1
                let newName = "loacl_\(state.nextStatement)"
                guard PQsendPrepare(conn, newName, statement.sql, Int32(statement.parameters.count), nil) == 1 else {
                    sendFailure = PostgresError(kind: .connection, message: connectionMessage(conn))
                    break
                }
                sent.append(.prepare(sql: statement.sql, name: newName))
                preparing[statement.sql] = newName
                name = newName
            }
            let ok = withCStrings(statement.parameters) { values in
                if let name {
                    PQsendQueryPrepared(conn, name, Int32(values.count), values, nil, nil, 0)
                } else {
                    PQsendQueryParams(conn, statement.sql, Int32(values.count), nil, values, nil, nil, 0)
                }
            }
            guard ok == 1 else {
                sendFailure = PostgresError(kind: .connection, message: connectionMessage(conn))
                break
            }
            sent.append(.statement)
        }
        var results: [PostgresResult] = []
        var firstError: PostgresError? = nil
        var broken = false
        if PQpipelineSync(conn) != 1 {
            broken = true
            firstError = PostgresError(kind: .connection, message: connectionMessage(conn))
        }
        // Each sent command yields its result(s) and then NULL; the sync point yields
        // PGRES_PIPELINE_SYNC. A broken connection yields an error and then NULL for ever.
        for command in sent where !broken {
            while let result = PQgetResult(conn) {
                defer { PQclear(result) }
                switch PQresultStatus(result) {
                case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
                    switch command {
                    case .prepare(let sql, let name): state.prepared[sql] = name
                    case .statement: results.append(materialise(result))
                    }
                case PGRES_PIPELINE_ABORTED:
                    break
                case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
                    let error = error(from: result, conn)
                    if firstError == nil { firstError = error }
                    if case .prepare(let sql, _) = command { state.prepared[sql] = nil }
                default:
                    if firstError == nil {
                        firstError = PostgresError(kind: .client, message: "unsupported result status (COPY is not supported)")
                    }
                }
            }
            if PQstatus(conn) != CONNECTION_OK { broken = true }
        }
        if !broken {
            // The sync point's own result.
            while let result = PQgetResult(conn) {
                let status = PQresultStatus(result)
                PQclear(result)
                if status == PGRES_PIPELINE_SYNC { break }
                if PQstatus(conn) != CONNECTION_OK { broken = true; break }
            }
        }
        if PQstatus(conn) != CONNECTION_OK { broken = true }
        if !broken { _ = PQexitPipelineMode(conn) }

        if broken, firstError?.kind != .connection {
            firstError = PostgresError(kind: .connection, sqlState: "08006", message: connectionMessage(conn))
        }
        if let error = firstError ?? sendFailure {
            if touchesCommit { throw markingUnknownCommit(error, "COMMIT") }
            if error.sqlState == SQLState.featureNotSupported {
                // "cached plan must not change result type" after DDL: prepare afresh next time.
                for statement in all { state.prepared[statement.sql] = nil }
            }
            throw error
        }
        return Array(results.suffix(statements.count))
    }

    /// A broken connection during COMMIT leaves the outcome unknown (SQLSTATE 08007,
    /// transaction_resolution_unknown): callers must not blindly retry such a write.
    private static func markingUnknownCommit(_ error: PostgresError, _ sql: String) -> PostgresError {
        guard error.kind == .connection, PostgresStatement.isCommit(sql) else { return error }
        var error = error
        error.sqlState = SQLState.transactionResolutionUnknown
        return error
    }

    private static func forgetIfStale(_ state: inout State, _ sql: String, _ error: PostgresError) {
        if error.sqlState == SQLState.featureNotSupported { state.prepared[sql] = nil }
    }

    private static func checkParameters(_ parameters: [String?]) throws(PostgresError) {
        for (index, parameter) in parameters.enumerated() where parameter?.utf8.contains(0) == true {
            throw PostgresError(
                kind: .client, sqlState: SQLState.characterNotInRepertoire,
                message: "parameter $\(index + 1) contains a NUL character, which PostgreSQL text cannot hold")
        }
    }

    /// Runs `body` with the parameters as C strings (`nil` = SQL NULL), freed afterwards.
    private static func withCStrings<R, E: Error>(
        _ parameters: [String?], _ body: ([UnsafePointer<CChar>?]) throws(E) -> R
    ) throws(E) -> R {
        let values: [UnsafeMutablePointer<CChar>?] = parameters.map { $0.flatMap { strdup($0) } }
        defer { values.forEach { free($0) } }
        return try body(values.map { UnsafePointer($0) })
    }

    // MARK: - libpq plumbing

    private static func open(_ conn: RawHandle?) throws(PostgresError) -> OpaquePointer {
        guard let conn else { throw PostgresError(kind: .connection, message: "connection is closed") }
        return conn.pointer
    }

    private static func connectionMessage(_ conn: OpaquePointer) -> String {
        let message = String(cString: PQerrorMessage(conn)).trimmingTrailingNewlines()
        return message.isEmpty ? "connection to the server was lost" : message
    }

    /// Converts and frees a PGresult.
    private static func consume(_ result: OpaquePointer?, _ conn: OpaquePointer) throws(PostgresError) -> PostgresResult {
        guard let result else {
            throw PostgresError(kind: .connection, message: connectionMessage(conn))
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return materialise(result)
        case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
            throw error(from: result, conn)
        default:
            throw PostgresError(kind: .client, message: "unsupported result status (COPY is not supported)")
        }
    }

    private static func materialise(_ result: OpaquePointer) -> PostgresResult {
        let columnCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
        var rows: [[String?]] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<Int32(rowCount) {
            rows.append((0..<Int32(columnCount)).map { column in
                PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
            })
        }
        return PostgresResult(
            columns: columns, rows: rows,
            commandStatus: String(cString: PQcmdStatus(result)),
            affectedRows: Int(String(cString: PQcmdTuples(result))) ?? 0)
    }

    private static func error(from result: OpaquePointer, _ conn: OpaquePointer) -> PostgresError {
        func field(_ code: Character) -> String? {
            guard let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        let sqlState = field("C")
        let broken = PQstatus(conn) != CONNECTION_OK
        let message = field("M")
            ?? String(cString: PQresultErrorMessage(result)).trimmingTrailingNewlines()
        return PostgresError(
            kind: broken ? .connection : .server,
            sqlState: sqlState, message: message.isEmpty ? connectionMessage(conn) : message,
            detail: field("D"), hint: field("H"), constraint: field("n"))
    }
}

extension String {
    fileprivate func trimmingTrailingNewlines() -> String {
        var text = self
        while text.last?.isNewline == true { text.removeLast() }
        return text
    }
}
