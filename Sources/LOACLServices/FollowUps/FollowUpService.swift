import LOACLCore
import LOACLMessages
import LOACLPostgres
import LOACLServerCore

/// `loacl.v1.FollowUpService`: suggestions made after assistant replies.
public struct FollowUpService: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    static let columns = """
        id, thread_id, message_id, suggestion, \(SQL.ms("created_at")), \(SQL.ms("used_at"))
        """
    /// The same columns for `loacl.follow_up_suggestions s` in a join.
    static let aliasedColumns = """
        s.id, s.thread_id, s.message_id, s.suggestion,
        \(SQL.ms("s.created_at", as: "created_at_ms")), \(SQL.ms("s.used_at", as: "used_at_ms"))
        """

    public func listFollowUpSuggestions(_ request: Loacl_V1_ListFollowUpSuggestionsRequest, context: ServerContext) async throws -> Loacl_V1_ListFollowUpSuggestionsResponse {
        let session = try CallerIdentity.requireSession()
        let threadID = try Validate.uuid(request.threadID, "thread_id")
        let messageID = try Validate.optionalUUID(request.messageID, "message_id")
        let pageSize = try Validate.pageSize(request.pageSize)
        // Offset paging: the order (newest message first, display order within it) mixes two
        // tables' timestamps, and a thread's suggestion count is small.
        let offset = try PageToken.decode(request.pageToken, expecting: .offset)?.value ?? 0
        guard offset >= 0 else { throw RPCError.invalidArgument("page_token is not a valid page token") }
        let includeUsed = request.includeUsed
        let rows = try await database.transaction { connection in
            try MessageService.requireThread(connection, threadID, session)
            return try connection.execParams("""
                SELECT \(Self.aliasedColumns)
                FROM loacl.follow_up_suggestions s JOIN loacl.messages m ON m.id = s.message_id
                WHERE s.thread_id = $1 AND ($2::uuid IS NULL OR s.message_id = $2::uuid) AND ($3 OR s.used_at IS NULL)
                ORDER BY m.created_at DESC, m.id DESC, s.created_at, s.id
                OFFSET $4 LIMIT $5
                """, [threadID, messageID, includeUsed ? "true" : "false", String(offset), String(pageSize + 1)]).namedRows
        }
        var response = Loacl_V1_ListFollowUpSuggestionsResponse()
        response.suggestions = rows.prefix(pageSize).map(Self.suggestion)
        if rows.count > pageSize {
            response.nextPageToken = PageToken(kind: .offset, value: offset + Int64(pageSize), id: "").encoded()
        }
        return response
    }

    public func markFollowUpUsed(_ request: Loacl_V1_MarkFollowUpUsedRequest, context: ServerContext) async throws -> Loacl_V1_MarkFollowUpUsedResponse {
        let session = try CallerIdentity.requireSession()
        let id = try Validate.uuid(request.id, "id")
        let row = try await database.transaction { connection in
            try connection.execParams("""
                UPDATE loacl.follow_up_suggestions s SET used_at = COALESCE(s.used_at, now())
                FROM loacl.threads t
                WHERE s.id = $1 AND t.id = s.thread_id AND t.assistant_id = $2
                RETURNING \(Self.aliasedColumns)
                """, [id, session.assistantID]).one("suggestion")
        }
        var response = Loacl_V1_MarkFollowUpUsedResponse()
        response.suggestion = Self.suggestion(row)
        return response
    }

    static func suggestion(_ row: PostgresRow) -> Loacl_V1_FollowUpSuggestion {
        var suggestion = Loacl_V1_FollowUpSuggestion()
        suggestion.id = row.string("id")
        suggestion.threadID = row.string("thread_id")
        suggestion.messageID = row.string("message_id")
        suggestion.suggestion = row.string("suggestion")
        suggestion.createdAtMs = row.int64OrZero("created_at_ms")
        suggestion.usedAtMs = row.int64OrZero("used_at_ms")
        return suggestion
    }
}
