import CLibPQ

// libpq results and errors as LOACL's types: a PGresult materialised into a `PostgresResult`
// (and freed), a failed one into a `PostgresError` with its SQLSTATE and fields.
extension PostgresConnection {
    static func open(_ conn: RawHandle?) throws(PostgresError) -> OpaquePointer {
        guard let conn else { throw PostgresError(kind: .connection, message: "connection is closed") }
        return conn.pointer
    }

    static func connectionMessage(_ conn: OpaquePointer) -> String {
        let message = String(cString: PQerrorMessage(conn)).trimmingTrailingNewlines()
        return message.isEmpty ? "connection to the server was lost" : message
    }

    /// Converts and frees a PGresult.
    static func consume(_ result: OpaquePointer?, _ conn: OpaquePointer) throws(PostgresError) -> PostgresResult {
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

    static func materialise(_ result: OpaquePointer) -> PostgresResult {
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

    static func error(from result: OpaquePointer, _ conn: OpaquePointer) -> PostgresError {
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
