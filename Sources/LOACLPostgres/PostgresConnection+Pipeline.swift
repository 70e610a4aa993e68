import CLibPQ
import Glibc

// One round trip of several statements (libpq pipeline mode), and the parameter checks and
// conversions every statement goes through.
extension PostgresConnection {
    /// One round trip: the queued statements, then `statements`, then a sync point. Unprepared
    /// statements are prepared in the same round trip (Parse travels with Bind/Execute).
    ///
    /// Everything is sent before any result is read, on a blocking socket: meant for a handful
    /// of statements whose parameters fit the socket's send buffer (hundreds of KiB), as the
    /// services' are. Far larger batches could fill both directions' buffers and wait on each
    /// other; libpq's non-blocking mode would be needed for those.
    static func runPipeline(
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
    static func markingUnknownCommit(_ error: PostgresError, _ sql: String) -> PostgresError {
        guard error.kind == .connection, PostgresStatement.isCommit(sql) else { return error }
        var error = error
        error.sqlState = SQLState.transactionResolutionUnknown
        return error
    }

    static func forgetIfStale(_ state: inout State, _ sql: String, _ error: PostgresError) {
        if error.sqlState == SQLState.featureNotSupported { state.prepared[sql] = nil }
    }

    static func checkParameters(_ parameters: [String?]) throws(PostgresError) {
        for (index, parameter) in parameters.enumerated() where parameter?.utf8.contains(0) == true {
            throw PostgresError(
                kind: .client, sqlState: SQLState.characterNotInRepertoire,
                message: "parameter $\(index + 1) contains a NUL character, which PostgreSQL text cannot hold")
        }
    }

    /// Runs `body` with the parameters as C strings (`nil` = SQL NULL), freed afterwards.
    static func withCStrings<R, E: Error>(
        _ parameters: [String?], _ body: ([UnsafePointer<CChar>?]) throws(E) -> R
    ) throws(E) -> R {
        let values: [UnsafeMutablePointer<CChar>?] = parameters.map { $0.flatMap { strdup($0) } }
        defer { values.forEach { free($0) } }
        return try body(values.map { UnsafePointer($0) })
    }
}
