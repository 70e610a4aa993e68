import LOACLCore
import LOACLMessages
import LOACLPostgres
import LOACLServerCore

/// `loacl.v1.ThreadService`: conversations of the calling session's identity. A guest sees the
/// threads of its live sessions, a user those of all its sessions; both only for the assistant
/// of the calling session.
public struct ThreadService: Sendable {
    let database: Database
    let storage: FileStorage
    let turnContexts: TurnContextCache

    init(database: Database, storage: FileStorage, turnContexts: TurnContextCache) {
        self.database = database
        self.storage = storage
        self.turnContexts = turnContexts
    }

    static let columns = """
        id, session_id, assistant_id, title, status, metadata::text AS metadata,
        \(SQL.ms("created_at")), \(SQL.ms("updated_at")), \(SQL.micros("updated_at", as: "cursor"))
        """
    static let maxTitle = 200

    public func createThread(_ request: Loacl_V1_CreateThreadRequest, context: ServerContext) async throws -> Loacl_V1_CreateThreadResponse {
        let session = try CallerIdentity.requireSession()
        let title = try Validate.text(request.title, "title", max: Self.maxTitle)
        let metadata = try Validate.metadata(request.metadataJson)
        let row = try await database.transaction { connection in
            try connection.execParams("""
                INSERT INTO loacl.threads (session_id, assistant_id, title, metadata)
                VALUES ($1, $2, NULLIF($3, ''), $4::jsonb) RETURNING \(Self.columns)
                """, [session.id, session.assistantID, title, metadata]).one("thread")
        }
        var response = Loacl_V1_CreateThreadResponse()
        response.thread = Self.thread(row)
        // A new thread has no history: its first SendMessage may speculate.
        turnContexts.threadCreated(response.thread.id, sessionID: session.id)
        return response
    }

    public func getThread(_ request: Loacl_V1_GetThreadRequest, context: ServerContext) async throws -> Loacl_V1_GetThreadResponse {
        let session = try CallerIdentity.requireSession()
        let id = try Validate.uuid(request.id, "id")
        let row = try await database.transaction { connection in
            try connection.execParams("SELECT \(Self.columns) FROM loacl.threads WHERE id = $1 AND assistant_id = $2",
                                      [id, session.assistantID]).one("thread")
        }
        var response = Loacl_V1_GetThreadResponse()
        response.thread = Self.thread(row)
        return response
    }

    /// One page of the caller's threads, newest first: $1 assistant, $2 statuses, $3/$4 the
    /// cursor (Unix µs, id) or NULL, $5 the row limit.
    static let listPageSQL = """
        SELECT \(columns) FROM loacl.threads
        WHERE session_id = ANY(ARRAY(SELECT v.id FROM loacl.visible_session_ids() AS v(id)))
          AND assistant_id = $1 AND status = ANY($2::text[])
          AND \(SQL.after("updated_at", "id", time: "$3", id: "$4", descending: true))
        ORDER BY updated_at DESC, id DESC LIMIT $5
        """

    public func listThreads(_ request: Loacl_V1_ListThreadsRequest, context: ServerContext) async throws -> Loacl_V1_ListThreadsResponse {
        let session = try CallerIdentity.requireSession()
        let statuses: [String]
        switch request.status {
        case .unspecified: statuses = ["active", "archived"]
        case .active: statuses = ["active"]
        case .archived: statuses = ["archived"]
        case .deleted: statuses = ["deleted"]
        default: throw RPCError.invalidArgument("status is not a known ThreadStatus")
        }
        let pageSize = try Validate.pageSize(request.pageSize)
        let cursor = try PageToken.decode(request.pageToken, expecting: .time)
        // The visible sessions (what RLS allows anyway) as an index condition on
        // threads_session_status_updated_idx.
        let rows = try await database.transaction { connection in
            try connection.commit(after: [PostgresStatement(Self.listPageSQL, [session.assistantID, sqlArray(statuses), cursor.map { SQL.timestampParameter(micros: $0.value) }, cursor?.id,
                      String(pageSize + 1)])])[0].namedRows
        }
        let (page, next) = paginate(rows, pageSize: pageSize) { PageToken(kind: .time, value: $0.int64OrZero("cursor"), id: $0.string("id")) }
        var response = Loacl_V1_ListThreadsResponse()
        response.threads = page.map(Self.thread)
        response.nextPageToken = next
        return response
    }

    public func updateThread(_ request: Loacl_V1_UpdateThreadRequest, context: ServerContext) async throws -> Loacl_V1_UpdateThreadResponse {
        let session = try CallerIdentity.requireSession()
        let id = try Validate.uuid(request.id, "id")
        let mask = try Validate.updateMask(request.updateMask, allowed: ["title", "metadata_json"])
        var assignments: [String] = []
        var parameters: [String?] = [id, session.assistantID]
        if mask.contains("title") {
            parameters.append(try Validate.text(request.title, "title", max: Self.maxTitle))
            assignments.append("title = NULLIF($\(parameters.count), '')")
        }
        if mask.contains("metadata_json") {
            parameters.append(try Validate.metadata(request.metadataJson))
            assignments.append("metadata = $\(parameters.count)::jsonb")
        }
        let sql = "UPDATE loacl.threads SET \(assignments.joined(separator: ", ")) WHERE id = $1 AND assistant_id = $2 AND status <> 'deleted' RETURNING \(Self.columns)"
        let values = parameters
        let row = try await database.transaction { connection in
            if let row = try connection.execParams(sql, values).first { return row }
            throw try Self.whyNotWritable(connection, id: id, assistantID: session.assistantID)
        }
        var response = Loacl_V1_UpdateThreadResponse()
        response.thread = Self.thread(row)
        return response
    }

    public func archiveThread(_ request: Loacl_V1_ArchiveThreadRequest, context: ServerContext) async throws -> Loacl_V1_ArchiveThreadResponse {
        let session = try CallerIdentity.requireSession()
        let id = try Validate.uuid(request.id, "id")
        let row = try await database.transaction { connection in
            if let row = try connection.execParams("""
                UPDATE loacl.threads SET status = 'archived'
                WHERE id = $1 AND assistant_id = $2 AND status <> 'deleted' RETURNING \(Self.columns)
                """, [id, session.assistantID]).first { return row }
            throw try Self.whyNotWritable(connection, id: id, assistantID: session.assistantID)
        }
        var response = Loacl_V1_ArchiveThreadResponse()
        response.thread = Self.thread(row)
        return response
    }

    public func deleteThread(_ request: Loacl_V1_DeleteThreadRequest, context: ServerContext) async throws -> Loacl_V1_DeleteThreadResponse {
        let session = try CallerIdentity.requireSession()
        let id = try Validate.uuid(request.id, "id")
        if request.hard {
            let paths = try await database.transaction { connection in
                let paths = try connection.execParams("SELECT storage_path FROM loacl.files WHERE thread_id = $1", [id])
                    .rows.compactMap { $0[0] }
                let deleted = try connection.execParams("DELETE FROM loacl.threads WHERE id = $1 AND assistant_id = $2",
                                                        [id, session.assistantID]).affectedRows
                guard deleted == 1 else { throw RPCError.notFound("thread not found") }
                return paths
            }
            await storage.remove(relativePaths: paths)
        } else {
            let updated = try await database.transaction { connection in
                try connection.execParams("""
                    UPDATE loacl.threads SET status = 'deleted', deleted_at = COALESCE(deleted_at, now())
                    WHERE id = $1 AND assistant_id = $2
                    """, [id, session.assistantID]).affectedRows
            }
            guard updated == 1 else { throw RPCError.notFound("thread not found") }
        }
        return Loacl_V1_DeleteThreadResponse()
    }

    /// After an UPDATE matched nothing: NOT_FOUND, or FAILED_PRECONDITION for a deleted thread.
    static func whyNotWritable(_ connection: PostgresConnection, id: String, assistantID: String) throws -> RPCError {
        let status = try connection.execParams("SELECT status FROM loacl.threads WHERE id = $1 AND assistant_id = $2",
                                               [id, assistantID]).scalar
        return status == nil ? RPCError.notFound("thread not found") : RPCError(.failedPrecondition, "thread is \(status!)")
    }

    static func thread(_ row: PostgresRow) -> Loacl_V1_Thread {
        var thread = Loacl_V1_Thread()
        thread.id = row.string("id")
        thread.sessionID = row.string("session_id")
        thread.assistantID = row.string("assistant_id")
        thread.title = row.string("title")
        thread.status = switch row["status"] {
        case "active": .active
        case "archived": .archived
        case "deleted": .deleted
        default: .unspecified
        }
        thread.metadataJson = row.string("metadata")
        thread.createdAtMs = row.int64OrZero("created_at_ms")
        thread.updatedAtMs = row.int64OrZero("updated_at_ms")
        return thread
    }
}
