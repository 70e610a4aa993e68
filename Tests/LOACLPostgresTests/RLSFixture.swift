import LOACLPostgres

/// Two of each identity (tenant, guest, user), each with a full set of rows, all written
/// through loacl_app under that identity — exactly as the server would.
struct RLSFixture {
    /// Rows created by one identity, by table.
    struct Owned {
        var identity: Identity
        var rows: [String: String] = [:] // table -> id (assistant_quotas: assistant_id)
        var sessionID: String? { rows["sessions"] }
        var tokenHash: [UInt8] = []
    }

    static let tenantA: [UInt8] = Array(repeating: 0xA1, count: 32)
    static let tenantB: [UInt8] = Array(repeating: 0xB2, count: 32)
    static let userA = "00000000-0000-4000-8000-0000000000a1"
    static let userB = "00000000-0000-4000-8000-0000000000b2"

    var tenants: [String: Owned] = [:] // "A", "B"
    var guests: [String: Owned] = [:]
    var users: [String: Owned] = [:]
    var assistants: [String: String] = [:] // "A" -> assistant id of tenant A

    init(app: PostgresConnection) throws {
        for (label, hash) in [("A", Self.tenantA), ("B", Self.tenantB)] {
            var tenant = Owned(identity: .tenant(hash))
            try app.with(tenant.identity) { c in
                let tenantID = try c.value(
                    "INSERT INTO loacl.tenants (api_key_hash, api_key_ciphertext, key_hint) VALUES ($1, $2, $3) RETURNING id",
                    PostgresBytea.encode(hash), PostgresBytea.encode(Array(repeating: 7, count: 60)), "sk-...\(label)bcd")
                let assistantID = try c.value(
                    "INSERT INTO loacl.assistants (tenant_id, assistant_id, name, instructions) VALUES ($1, $2, $3, 'secret prompt') RETURNING id",
                    tenantID, "asst_\(label)", "Assistant \(label)")
                try c.query("INSERT INTO loacl.assistant_quotas (assistant_id, metric_type, period, max_value) VALUES ($1, 'tokens', 'day', 1000)", assistantID)
                let questionID = try c.value(
                    "INSERT INTO loacl.guided_questions (assistant_id, question, priority) VALUES ($1, $2, 5) RETURNING id",
                    assistantID, "Question of \(label)?")
                try c.query("INSERT INTO loacl.guided_questions (assistant_id, question, priority, is_active) VALUES ($1, 'inactive', 9, false)", assistantID)
                let usageID = try c.value(
                    "INSERT INTO loacl.usage_metrics (assistant_id, metric_type, metric_value) VALUES ($1, 'files', 3) RETURNING id",
                    assistantID)
                let knowledgeID = try c.value(
                    """
                    INSERT INTO loacl.knowledge_files (assistant_id, filename, file_type, file_size, sha256, chunk_count)
                    VALUES ($1, 'k.md', 'text/markdown', 6, $2, 1) RETURNING id
                    """, assistantID, PostgresBytea.encode(Array(repeating: 0x44, count: 32)))
                try c.query("""
                    INSERT INTO loacl.knowledge_chunks (file_id, assistant_id, chunk_index, content, tsv)
                    VALUES ($1, $2, 0, 'secret', to_tsvector('simple', 'secret'))
                    """, knowledgeID, assistantID)
                try c.query("INSERT INTO loacl.knowledge_terms (assistant_id, lexeme, chunks) VALUES ($1, 'secret', 1)", assistantID)
                tenant.rows = [
                    "tenants": tenantID!, "assistants": assistantID!, "assistant_quotas": assistantID!,
                    "guided_questions": questionID!, "usage_metrics": usageID!,
                    "knowledge_files": knowledgeID!, "knowledge_chunks": knowledgeID!, "knowledge_terms": assistantID!,
                ]
                assistants[label] = assistantID!
            }
            tenants[label] = tenant
        }
        for (index, label) in ["A", "B"].enumerated() {
            guests[label] = try Self.conversation(
                app, identity: .guest("fp-\(label)"), type: "guest", assistant: assistants[label]!, token: UInt8(0x10 + index))
            users[label] = try Self.conversation(
                app, identity: .user(label == "A" ? Self.userA : Self.userB), type: "authenticated",
                assistant: assistants[label]!, token: UInt8(0x20 + index))
        }
    }

    /// A session with a thread, a message (10 tokens), a file and a follow-up suggestion.
    static func conversation(
        _ app: PostgresConnection, identity: Identity, type: String, assistant: String, token: UInt8
    ) throws -> Owned {
        var owned = Owned(identity: identity)
        owned.tokenHash = Array(repeating: token, count: 32)
        try app.with(identity) { c in
            let sessionID = try c.value(
                "INSERT INTO loacl.sessions (assistant_id, session_type, user_id, fingerprint, token_hash) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                assistant, type, identity.userID, identity.fingerprint, PostgresBytea.encode(owned.tokenHash))!
            let threadID = try c.value(
                "INSERT INTO loacl.threads (session_id, title) VALUES ($1, 'hello') RETURNING id", sessionID)!
            let messageID = try c.value(
                "INSERT INTO loacl.messages (thread_id, role, content, tokens_used) VALUES ($1, 'user', 'hi', 10) RETURNING id",
                threadID)!
            let fileID = try c.value(
                """
                INSERT INTO loacl.files (thread_id, message_id, filename, file_type, file_size, sha256, storage_path)
                VALUES ($1, $2, 'a.txt', 'text/plain', 5, $3, 'blobs/a') RETURNING id
                """, threadID, messageID, PostgresBytea.encode(Array(repeating: 0x33, count: 32)))!
            // The file's search index (0016): a chunk and the thread's count of its lexeme.
            try c.query("""
                INSERT INTO loacl.file_chunks (file_id, thread_id, chunk_index, content, tsv)
                VALUES ($1, $2, 0, 'secret', to_tsvector('simple', 'secret'))
                """, fileID, threadID)
            try c.query("INSERT INTO loacl.file_terms (thread_id, lexeme, chunks) VALUES ($1, 'secret', 1)", threadID)
            let suggestionID = try c.value(
                "INSERT INTO loacl.follow_up_suggestions (thread_id, message_id, suggestion) VALUES ($1, $2, 'More?') RETURNING id",
                threadID, messageID)!
            let usageID = try c.value(
                "SELECT id FROM loacl.usage_metrics WHERE session_id = $1 AND metric_type = 'tokens'", sessionID)!
            let runID = try c.value(
                """
                INSERT INTO loacl.runs (thread_id, user_message_id, status, server_instance, lease_expires_at)
                VALUES ($1, $2, 'completed', 'test/1/0000000000000000', now()) RETURNING id
                """, threadID, messageID)!
            try c.query("INSERT INTO loacl.run_events (run_id, thread_id, first_seq, last_seq, events, text) VALUES ($1, $2, 1, 1, '\\x00', 'hi')",
                        runID, threadID)
            owned.rows = [
                "sessions": sessionID, "threads": threadID, "messages": messageID, "files": fileID,
                "follow_up_suggestions": suggestionID, "usage_metrics": usageID, "runs": runID, "run_events": runID,
                "file_chunks": fileID, "file_terms": threadID,
            ]
        }
        owned.identity.sessionID = owned.rows["sessions"]
        return owned
    }

    /// A harmless UPDATE per table, on a column loacl_app may update.
    static let touch: [String: String] = [
        "tenants": "key_hint = key_hint",
        "assistants": "name = name",
        "assistant_quotas": "max_value = max_value",
        "guided_questions": "priority = priority",
        "sessions": "last_active_at = last_active_at",
        "threads": "title = title",
        "messages": "content = content",
        "files": "filename = filename",
        "follow_up_suggestions": "used_at = used_at",
        "usage_metrics": "metric_value = metric_value",
        "runs": "status = status",
        "run_events": "text = text",
        "knowledge_files": "filename = filename",
        "knowledge_chunks": "content = content",
        "knowledge_terms": "chunks = chunks",
        "file_chunks": "content = content",
        "file_terms": "chunks = chunks",
    ]

    static func keyColumn(_ table: String) -> String {
        switch table {
        case "assistant_quotas": "assistant_id"
        case "run_events": "run_id"
        case "knowledge_chunks": "file_id"
        case "knowledge_terms": "assistant_id"
        case "file_chunks": "file_id"
        case "file_terms": "thread_id"
        default: "id"
        }
    }
}
