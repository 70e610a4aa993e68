import CLibPQ
import Glibc
import Synchronization

/// One libpq connection. Blocking: every call waits for the server, so in async code use it
/// through `PostgresPool`, which runs the calls on an `NIOThreadPool` thread.
///
/// The `PGconn` handle is owned by this class alone and every use goes through a `Mutex`, so
/// the object is `Sendable` (only the raw pointer boxes below are `@unchecked`): a connection can move between threads (the pool does that), and
/// accidental concurrent use is serialised instead of corrupting libpq's state. `cancel()` uses
/// libpq's separate, thread-safe `PGcancel` object and so does not wait for a running query.
///
/// Parameters are always sent separately from the SQL text (`PQexecParams`), never escaped
/// into it.
public final class PostgresConnection: Sendable {
    private let handle: Mutex<RawHandle?>
    private let cancelHandle: Mutex<RawHandle?>

    /// A libpq pointer. `@unchecked Sendable` because it is only ever dereferenced while the
    /// owning `Mutex` is held (PGcancel: libpq documents PQcancel as thread-safe).
    private struct RawHandle: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    private init(handle: OpaquePointer) {
        self.handle = Mutex(RawHandle(pointer: handle))
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
    @discardableResult
    public func exec(_ sql: String) throws(PostgresError) -> PostgresResult {
        try handle.withLock { (conn: inout RawHandle?) throws(PostgresError) -> PostgresResult in
            let conn = try Self.open(conn)
            return try Self.consume(PQexec(conn, sql), conn)
        }
    }

    /// Runs one statement with text parameters `$1`, `$2`, ... (`nil` = SQL NULL). Parameter
    /// types are inferred by the server; cast in SQL where needed (`$1::uuid`).
    @discardableResult
    public func execParams(_ sql: String, _ parameters: [String?]) throws(PostgresError) -> PostgresResult {
        for (index, parameter) in parameters.enumerated() where parameter?.utf8.contains(0) == true {
            throw PostgresError(
                kind: .client, sqlState: SQLState.characterNotInRepertoire,
                message: "parameter $\(index + 1) contains a NUL character, which PostgreSQL text cannot hold")
        }
        return try handle.withLock { (conn: inout RawHandle?) throws(PostgresError) -> PostgresResult in
            let conn = try Self.open(conn)
            let values: [UnsafeMutablePointer<CChar>?] = parameters.map { $0.flatMap { strdup($0) } }
            defer { values.forEach { free($0) } }
            let raw = values.map { UnsafePointer($0) }
            return try Self.consume(
                PQexecParams(conn, sql, Int32(raw.count), nil, raw, nil, nil, 0), conn)
        }
    }

    /// Variadic form of `execParams(_:_:)`.
    @discardableResult
    public func query(_ sql: String, _ parameters: String?...) throws(PostgresError) -> PostgresResult {
        try execParams(sql, parameters)
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
        try handle.withLock { (conn: inout RawHandle?) throws(PostgresError) in
            let conn = try Self.open(conn)
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
        handle.withLock { conn in
            if let conn { PQfinish(conn.pointer) }
            conn = nil
        }
    }

    /// False once closed or once libpq noticed the connection broke.
    public var isHealthy: Bool {
        handle.withLock { conn in conn.map { PQstatus($0.pointer) == CONNECTION_OK } ?? false }
    }

    public enum TransactionState: Sendable, Equatable {
        case idle, active, inTransaction, failedTransaction, unknown
    }

    /// Where the connection stands with respect to a transaction block.
    public var transactionState: TransactionState {
        handle.withLock { conn in
            guard let conn else { return .unknown }
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
        handle.withLock { conn in conn.map { Int(PQserverVersion($0.pointer)) } ?? 0 }
    }

    // MARK: - libpq plumbing

    private static func open(_ conn: RawHandle?) throws(PostgresError) -> OpaquePointer {
        guard let conn else { throw PostgresError(kind: .connection, message: "connection is closed") }
        return conn.pointer
    }

    private static func connectionMessage(_ conn: OpaquePointer) -> String {
        String(cString: PQerrorMessage(conn)).trimmingTrailingNewlines()
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
