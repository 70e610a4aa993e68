import LOACLCore
import LOACLMessages
import LOACLPostgres
import LOACLServerCore

/// `loacl.v1.AssistantService`: a tenant's assistants. A tenant is registered on its first
/// CreateAssistant (API key stored encrypted plus its keyed hash).
public struct AssistantService: Sendable {
    let database: Database
    let vault: TenantKeyVault
    let storage: FileStorage

    public init(database: Database, vault: TenantKeyVault, storage: FileStorage) {
        self.database = database
        self.vault = vault
        self.storage = storage
    }

    static let columns = """
        id, assistant_id AS external_id, name, instructions, configuration::text AS configuration,
        tools_enabled, metadata::text AS metadata, \(SQL.ms("created_at")), \(SQL.ms("updated_at")),
        \(SQL.micros("created_at", as: "cursor"))
        """

    public func createAssistant(_ request: Loacl_V1_CreateAssistantRequest, context: ServerContext) async throws -> Loacl_V1_CreateAssistantResponse {
        let tenant = try CallerIdentity.requireTenant()
        let name = try Validate.text(request.name, "name", min: 1, max: 200)
        let instructions = try Self.instructions(request.instructions)
        let settings = try AssistantSettings(validating: request.configuration)
        let tools = try Self.tools(request.toolsEnabled)
        let metadata = try Validate.metadata(request.metadataJson)
        let externalID = try Self.externalID(request.externalID)
        let sealed = try vault.seal(apiKey: tenant.apiKey, hash: tenant.keyHash)
        let hint = TenantKeyVault.hint(for: tenant.apiKey)
        let row = try await database.transaction { connection in
            try connection.execParams("""
                INSERT INTO loacl.tenants (api_key_hash, api_key_ciphertext, key_hint) VALUES ($1::bytea, $2::bytea, $3)
                ON CONFLICT (api_key_hash) DO NOTHING
                """, [PostgresBytea.encode(tenant.keyHash), PostgresBytea.encode(sealed), hint])
            return try connection.execParams("""
                INSERT INTO loacl.assistants (tenant_id, assistant_id, name, instructions, guest_session_ttl,
                                              configuration, tools_enabled, metadata)
                VALUES ((SELECT loacl.current_tenant_id()), $1, $2, $3, $4::interval, $5::jsonb, $6::text[], $7::jsonb)
                RETURNING \(Self.columns)
                """, [externalID, name, instructions, settings.guestTTLInterval, settings.json, sqlArray(tools), metadata])
                .one("assistant")
        }
        var response = Loacl_V1_CreateAssistantResponse()
        response.assistant = Self.assistant(row)
        return response
    }

    public func getAssistant(_ request: Loacl_V1_GetAssistantRequest, context: ServerContext) async throws -> Loacl_V1_GetAssistantResponse {
        let id = try Validate.uuid(request.id, "id")
        var response = Loacl_V1_GetAssistantResponse()
        switch CallerIdentity.current {
        case .tenant:
            let row = try await database.transaction { connection in
                try connection.execParams("SELECT \(Self.columns) FROM loacl.assistants WHERE id = $1", [id]).one("assistant")
            }
            response.assistant = Self.assistant(row)
        case .session(let session):
            // A session sees its own assistant's public face only: no instructions or configuration.
            guard session.assistantID == id else { throw RPCError.notFound("assistant not found") }
            let row = try await database.transaction { connection in
                try connection.execParams(
                    "SELECT id, assistant_id AS external_id, name, tools_enabled FROM loacl.session_assistant()", []
                ).one("assistant")
            }
            response.assistant = Self.assistant(row)
        case .anonymous:
            throw RPCError.unauthenticated("GetAssistant needs tenant credentials or a session")
        }
        return response
    }

    public func listAssistants(_ request: Loacl_V1_ListAssistantsRequest, context: ServerContext) async throws -> Loacl_V1_ListAssistantsResponse {
        _ = try CallerIdentity.requireTenant()
        let pageSize = try Validate.pageSize(request.pageSize)
        let cursor = try PageToken.decode(request.pageToken, expecting: .time)
        let rows = try await database.transaction { connection in
            try connection.execParams("""
                SELECT \(Self.columns) FROM loacl.assistants
                WHERE tenant_id = (SELECT loacl.current_tenant_id())
                  AND \(SQL.after("created_at", "id", time: "$1", id: "$2", descending: true))
                ORDER BY created_at DESC, id DESC LIMIT $3
                """, [cursor.map { SQL.timestampParameter(micros: $0.value) }, cursor?.id, String(pageSize + 1)]).namedRows
        }
        let (page, next) = paginate(rows, pageSize: pageSize) { PageToken(kind: .time, value: $0.int64OrZero("cursor"), id: $0.string("id")) }
        var response = Loacl_V1_ListAssistantsResponse()
        response.assistants = page.map(Self.assistant)
        response.nextPageToken = next
        return response
    }

    public func updateAssistant(_ request: Loacl_V1_UpdateAssistantRequest, context: ServerContext) async throws -> Loacl_V1_UpdateAssistantResponse {
        _ = try CallerIdentity.requireTenant()
        let id = try Validate.uuid(request.id, "id")
        let mask = try Validate.updateMask(request.updateMask, allowed: ["name", "instructions", "configuration", "tools_enabled", "metadata_json", "external_id"])
        let new = request.assistant
        var assignments: [String] = []
        var parameters: [String?] = [id]
        func set(_ column: String, _ value: String?, cast: String = "") {
            parameters.append(value)
            assignments.append("\(column) = $\(parameters.count)\(cast)")
        }
        if mask.contains("name") { set("name", try Validate.text(new.name, "assistant.name", min: 1, max: 200)) }
        if mask.contains("instructions") { set("instructions", try Self.instructions(new.instructions)) }
        if mask.contains("configuration") {
            let settings = try AssistantSettings(validating: new.configuration)
            set("configuration", settings.json, cast: "::jsonb")
            set("guest_session_ttl", settings.guestTTLInterval, cast: "::interval")
        }
        if mask.contains("tools_enabled") { set("tools_enabled", sqlArray(try Self.tools(new.toolsEnabled)), cast: "::text[]") }
        if mask.contains("metadata_json") { set("metadata", try Validate.metadata(new.metadataJson, "assistant.metadata_json"), cast: "::jsonb") }
        if mask.contains("external_id") { set("assistant_id", try Self.externalID(new.externalID)) }
        let sql = "UPDATE loacl.assistants SET \(assignments.joined(separator: ", ")) WHERE id = $1 RETURNING \(Self.columns)"
        let values = parameters
        let row = try await database.transaction { connection in
            try connection.execParams(sql, values).one("assistant")
        }
        var response = Loacl_V1_UpdateAssistantResponse()
        response.assistant = Self.assistant(row)
        return response
    }

    public func deleteAssistant(_ request: Loacl_V1_DeleteAssistantRequest, context: ServerContext) async throws -> Loacl_V1_DeleteAssistantResponse {
        _ = try CallerIdentity.requireTenant()
        let id = try Validate.uuid(request.id, "id")
        let deleted = try await database.transaction { connection in
            try connection.execParams("DELETE FROM loacl.assistants WHERE id = $1", [id]).affectedRows
        }
        guard deleted == 1 else { throw RPCError.notFound("assistant not found") }
        // Rows are gone (committed); now the bytes of every file under the assistant.
        await storage.removeAssistant(id)
        return Loacl_V1_DeleteAssistantResponse()
    }

    // MARK: - Fields

    static func instructions(_ value: String) throws(RPCError) -> String {
        guard value.utf8.count <= 32 * 1024 else { throw RPCError.invalidArgument("instructions must be at most 32 KiB") }
        return try Validate.text(value, "instructions", max: 32 * 1024, multiline: true)
    }

    static func tools(_ tools: [String]) throws(RPCError) -> [String] {
        guard tools.count <= 16 else { throw RPCError.invalidArgument("tools_enabled has more than 16 entries") }
        for tool in tools {
            let ok = (1...64).contains(tool.utf8.count) && tool.utf8.allSatisfy { c in
                (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x5F
            }
            guard ok else { throw RPCError.invalidArgument("tools_enabled entries must match [a-z0-9_]{1,64}") }
        }
        return tools
    }

    static func externalID(_ value: String) throws(RPCError) -> String? {
        value.isEmpty ? nil : try Validate.text(value, "external_id", max: 255)
    }

    static func assistant(_ row: PostgresRow) -> Loacl_V1_Assistant {
        var assistant = Loacl_V1_Assistant()
        assistant.id = row.string("id")
        assistant.externalID = row.string("external_id")
        assistant.name = row.string("name")
        assistant.instructions = row.string("instructions")
        if let configuration = row["configuration"] {
            assistant.configuration = AssistantSettings(json: configuration).message
        }
        assistant.toolsEnabled = row.simpleArray("tools_enabled")
        assistant.metadataJson = row["metadata"] ?? ""
        assistant.createdAtMs = row.int64OrZero("created_at_ms")
        assistant.updatedAtMs = row.int64OrZero("updated_at_ms")
        return assistant
    }
}
