import LOACLCore
import LOACLMessages
import LOACLPostgres
import LOACLServerCore

/// `loacl.v1.GuidedQuestionService`: tenants manage their assistants' opening questions;
/// sessions list the active ones of their own assistant.
public struct GuidedQuestionService: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    static let columns = """
        id, assistant_id, question, category, priority, is_active, metadata::text AS metadata, \(SQL.ms("created_at"))
        """

    public func createGuidedQuestion(_ request: Loacl_V1_CreateGuidedQuestionRequest, context: ServerContext) async throws -> Loacl_V1_CreateGuidedQuestionResponse {
        _ = try CallerIdentity.requireTenant()
        let assistantID = try Validate.uuid(request.assistantID, "assistant_id")
        let question = try Validate.text(request.question, "question", min: 1, max: 1000, multiline: true)
        let category = try Validate.text(request.category, "category", max: 100)
        let metadata = try Validate.metadata(request.metadataJson)
        let active = request.hasIsActive ? request.isActive.value : true
        let row = try await database.transaction { connection in
            try connection.execParams("""
                INSERT INTO loacl.guided_questions (assistant_id, question, category, priority, is_active, metadata)
                VALUES ($1, $2, NULLIF($3, ''), $4, $5, $6::jsonb) RETURNING \(Self.columns)
                """, [assistantID, question, category, String(request.priority), active ? "true" : "false", metadata]).one("assistant")
        }
        var response = Loacl_V1_CreateGuidedQuestionResponse()
        response.question = Self.question(row)
        return response
    }

    public func listGuidedQuestions(_ request: Loacl_V1_ListGuidedQuestionsRequest, context: ServerContext) async throws -> Loacl_V1_ListGuidedQuestionsResponse {
        let pageSize = try Validate.pageSize(request.pageSize)
        let cursor = try PageToken.decode(request.pageToken, expecting: .priority)
        let assistantID: String
        let includeInactive: Bool
        switch CallerIdentity.current {
        case .tenant:
            assistantID = try Validate.uuid(request.assistantID, "assistant_id")
            includeInactive = request.includeInactive
        case .session(let session):
            let requested = try Validate.optionalUUID(request.assistantID, "assistant_id")
            guard requested == nil || requested == session.assistantID else {
                throw RPCError.notFound("assistant not found")
            }
            assistantID = session.assistantID
            includeInactive = false
        case .anonymous:
            throw RPCError.unauthenticated("ListGuidedQuestions needs tenant credentials or a session")
        }
        let isTenant: Bool = if case .tenant = CallerIdentity.current { true } else { false }
        let rows = try await database.transaction { connection in
            if isTenant, try connection.execParams("SELECT 1 FROM loacl.assistants WHERE id = $1", [assistantID]).isEmpty {
                throw RPCError.notFound("assistant not found")
            }
            return try connection.execParams("""
                SELECT \(Self.columns) FROM loacl.guided_questions
                WHERE assistant_id = $1 AND ($2 OR is_active)
                  AND ($3::int IS NULL OR priority < $3::int OR (priority = $3::int AND id > $4::uuid))
                ORDER BY priority DESC, id LIMIT $5
                """, [assistantID, includeInactive ? "true" : "false", cursor.map { String($0.value) }, cursor?.id,
                      String(pageSize + 1)]).namedRows
        }
        let (page, next) = paginate(rows, pageSize: pageSize) { PageToken(kind: .priority, value: $0.int64OrZero("priority"), id: $0.string("id")) }
        var response = Loacl_V1_ListGuidedQuestionsResponse()
        response.questions = page.map(Self.question)
        response.nextPageToken = next
        return response
    }

    public func updateGuidedQuestion(_ request: Loacl_V1_UpdateGuidedQuestionRequest, context: ServerContext) async throws -> Loacl_V1_UpdateGuidedQuestionResponse {
        _ = try CallerIdentity.requireTenant()
        let id = try Validate.uuid(request.id, "id")
        let mask = try Validate.updateMask(request.updateMask, allowed: ["question", "category", "priority", "is_active", "metadata_json"])
        let new = request.question
        var assignments: [String] = []
        var parameters: [String?] = [id]
        func set(_ expression: (String) -> String, _ value: String) {
            parameters.append(value)
            assignments.append(expression("$\(parameters.count)"))
        }
        if mask.contains("question") {
            set({ "question = \($0)" }, try Validate.text(new.question, "question.question", min: 1, max: 1000, multiline: true))
        }
        if mask.contains("category") { set({ "category = NULLIF(\($0), '')" }, try Validate.text(new.category, "question.category", max: 100)) }
        if mask.contains("priority") { set({ "priority = \($0)::int" }, String(new.priority)) }
        if mask.contains("is_active") { set({ "is_active = \($0)::bool" }, new.isActive ? "true" : "false") }
        if mask.contains("metadata_json") { set({ "metadata = \($0)::jsonb" }, try Validate.metadata(new.metadataJson, "question.metadata_json")) }
        let sql = "UPDATE loacl.guided_questions SET \(assignments.joined(separator: ", ")) WHERE id = $1 RETURNING \(Self.columns)"
        let values = parameters
        let row = try await database.transaction { connection in
            try connection.execParams(sql, values).one("guided question")
        }
        var response = Loacl_V1_UpdateGuidedQuestionResponse()
        response.question = Self.question(row)
        return response
    }

    public func deleteGuidedQuestion(_ request: Loacl_V1_DeleteGuidedQuestionRequest, context: ServerContext) async throws -> Loacl_V1_DeleteGuidedQuestionResponse {
        _ = try CallerIdentity.requireTenant()
        let id = try Validate.uuid(request.id, "id")
        let deleted = try await database.transaction { connection in
            try connection.execParams("DELETE FROM loacl.guided_questions WHERE id = $1", [id]).affectedRows
        }
        guard deleted == 1 else { throw RPCError.notFound("guided question not found") }
        return Loacl_V1_DeleteGuidedQuestionResponse()
    }

    static func question(_ row: PostgresRow) -> Loacl_V1_GuidedQuestion {
        var question = Loacl_V1_GuidedQuestion()
        question.id = row.string("id")
        question.assistantID = row.string("assistant_id")
        question.question = row.string("question")
        question.category = row.string("category")
        question.priority = Int32(clamping: row.int64OrZero("priority"))
        question.isActive = row.bool("is_active") ?? false
        question.metadataJson = row.string("metadata")
        question.createdAtMs = row.int64OrZero("created_at_ms")
        return question
    }
}
