import LOACLCore
import LOACLMessages
import LOACLPostgres
import LOACLServerCore
import LOACLUpstream
import Logging

/// `loacl.v1.MessageService`: a thread's messages, SendMessage (SendMessage.swift and the files
/// it names) and the runs RPCs (StreamRun.swift, CancelRun.swift, RunQueries.swift).
public struct MessageService: Sendable {
    let database: Database
    let storage: FileStorage
    let providers: ChatProviderRegistry
    let vault: TenantKeyVault
    let turnContexts: TurnContextCache
    /// The runs this server generates and the way to runs on other servers.
    let runs: RunEngine
    let logger: Logger

    init(database: Database, storage: FileStorage, providers: ChatProviderRegistry, vault: TenantKeyVault,
         turnContexts: TurnContextCache, runs: RunEngine, logger: Logger = Logger(label: "loacl.services.messages")) {
        self.database = database
        self.storage = storage
        self.providers = providers
        self.vault = vault
        self.turnContexts = turnContexts
        self.runs = runs
        self.logger = logger
    }

    /// One page of a thread's messages, oldest first: $1 thread, $2/$3 the cursor (Unix µs,
    /// id) or NULL, $4 the row limit.
    static let listPageSQL = """
        SELECT \(MessageRows.columns) FROM loacl.messages m
        WHERE m.thread_id = $1
          AND \(SQL.after("m.created_at", "m.id", time: "$2", id: "$3"))
        ORDER BY m.created_at, m.id LIMIT $4
        """

    public func listMessages(_ request: Loacl_V1_ListMessagesRequest, context: ServerContext) async throws -> Loacl_V1_ListMessagesResponse {
        let session = try CallerIdentity.requireSession()
        let threadID = try Validate.uuid(request.threadID, "thread_id")
        let pageSize = try Validate.pageSize(request.pageSize)
        let cursor = try PageToken.decode(request.pageToken, expecting: .time)
        let rows = try await threadPage(threadID, session, sql: Self.listPageSQL, cursor: cursor, pageSize: pageSize)
        let (page, next) = paginate(rows, pageSize: pageSize) { PageToken(kind: .time, value: $0.int64OrZero("cursor"), id: $0.string("id")) }
        var response = Loacl_V1_ListMessagesResponse()
        response.messages = page.map(MessageRows.message)
        response.nextPageToken = next
        return response
    }

    public func getMessage(_ request: Loacl_V1_GetMessageRequest, context: ServerContext) async throws -> Loacl_V1_GetMessageResponse {
        let session = try CallerIdentity.requireSession()
        let id = try Validate.uuid(request.id, "id")
        let row = try await database.transaction { connection in
            try connection.execParams("""
                SELECT \(MessageRows.columns) FROM loacl.messages m
                JOIN loacl.threads t ON t.id = m.thread_id
                WHERE m.id = $1 AND t.assistant_id = $2
                """, [id, session.assistantID]).one("message")
        }
        var response = Loacl_V1_GetMessageResponse()
        response.message = MessageRows.message(row)
        return response
    }

    /// One page of a thread's rows (`sql`: $1 thread, $2/$3 the cursor or NULL, $4 the row
    /// limit) after checking the caller sees the thread, in one round trip: BEGIN, identity, the
    /// thread check, the page, COMMIT. NOT_FOUND for a thread the caller cannot see.
    func threadPage(_ threadID: String, _ session: SessionRecord, sql: String, cursor: PageToken?, pageSize: Int) async throws -> [PostgresRow] {
        try await database.transaction { connection in
            let results = try connection.commit(after: [
                Self.requireThreadStatement(threadID, session),
                PostgresStatement(sql, [threadID, cursor.map { SQL.timestampParameter(micros: $0.value) }, cursor?.id, String(pageSize + 1)]),
            ])
            guard !results[0].isEmpty else { throw RPCError.notFound("thread not found") }
            return results[1].namedRows
        }
    }

    /// The thread's status when the caller may see it (same assistant as its session), else NOT_FOUND.
    @discardableResult
    static func requireThread(_ connection: PostgresConnection, _ threadID: String, _ session: SessionRecord) throws -> String {
        guard let status = try connection.pipeline([requireThreadStatement(threadID, session)])[0].scalar
        else { throw RPCError.notFound("thread not found") }
        return status
    }

    /// The thread's status, or no row when the caller may not see it.
    static func requireThreadStatement(_ threadID: String, _ session: SessionRecord) -> PostgresStatement {
        PostgresStatement("SELECT status FROM loacl.threads WHERE id = $1 AND assistant_id = $2", [threadID, session.assistantID])
    }
}
