import Foundation
import LOACLCore
import LOACLMessages
import LOACLPostgres
import LOACLServerCore
import LOACLUpstream
import Logging

// SendMessage, step 1: the turn. One transaction checks the thread, the assistant and the
// quotas, reads the history when it changed, and stores the user message together with the
// run that will answer it.
extension MessageService {
    /// What the upstream request needs, known once the turn's checks passed.
    struct TurnContext: Sendable {
        var assistant: TurnContextCache.AssistantContext
        /// The thread's newest messages (before the token budget), at the thread's version.
        var history: TurnContextCache.History
        var threadHasTitle: Bool
    }

    /// The upstream request of a turn: the newest of `rows` that fit the history budget, oldest
    /// first (the tenant's key decrypted for it, except offline).
    func chatRequest(_ assistant: TurnContextCache.AssistantContext, history rows: [TurnContextCache.HistoryRow],
                     content: String, provider: any ChatProvider) -> ChatRequest {
        let settings = assistant.settings
        var chat = ChatRequest(
            model: settings.model, instructions: assistant.instructions,
            history: Self.pairedToolSteps(Self.withinBudget(rows, settings: settings).reversed().map(\.turn)),
            userMessage: content, temperature: settings.temperature,
            maxOutputTokens: settings.maxOutputTokens > 0 ? Int(settings.maxOutputTokens) : nil,
            guidedQuestions: assistant.guidedQuestions,
            tools: settings.functions.map { ChatTool(name: $0.name, description: $0.description, parametersJSON: $0.parametersJSON,
                                                     strict: $0.strict) })
        if provider.name != "offline", let sealed = assistant.sealedAPIKey {
            chat.apiKey = try? vault.open(sealed, hash: assistant.keyHash)
        }
        return chat
    }

    /// The newest rows that fit the assistant's history token budget (a row counts its stored
    /// token count, or the estimate of its text if larger). The oldest kept row is never a
    /// function's output or a call without its outputs: upstreams refuse an output whose call is
    /// missing, so a budget that cuts through a function step drops the rest of that step.
    static func withinBudget(_ rows: [TurnContextCache.HistoryRow], settings: AssistantSettings) -> [TurnContextCache.HistoryRow] {
        let budget = settings.maxHistoryTokens > 0 ? Int(settings.maxHistoryTokens) : defaultHistoryTokens
        var used = 0
        var kept = 0
        for row in rows.prefix(historyLimit) {
            used += max(row.tokens, TokenEstimator.estimate(row.content))
            if used > budget { break }
            kept += 1
        }
        while kept > 0, rows[kept - 1].role == .tool { kept -= 1 }
        return Array(rows.prefix(kept))
    }

    /// History as upstreams accept it: a call without an output (its run expired or was
    /// cancelled while it waited) and an output without its call are left out; an assistant
    /// turn left with neither text nor calls is dropped.
    static func pairedToolSteps(_ turns: [ChatTurn]) -> [ChatTurn] {
        let answered = Set(turns.compactMap { $0.role == .tool ? $0.toolCallID : nil })
        let called = Set(turns.flatMap { $0.toolCalls.map(\.callID) })
        return turns.compactMap { turn in
            if turn.role == .tool { return called.contains(turn.toolCallID ?? "") ? turn : nil }
            guard !turn.toolCalls.isEmpty else { return turn }
            var kept = turn
            kept.toolCalls = turn.toolCalls.filter { answered.contains($0.callID) }
            return kept.toolCalls.isEmpty && kept.content.isEmpty ? nil : kept
        }
    }

    /// Cancels a provider stream nobody will read: a provider stream is cancelled by its
    /// consumer's cancellation, so it is consumed from a task cancelled from the start.
    static func abandon(_ stream: AsyncThrowingStream<ChatEvent, any Error>) {
        Task { for try await _ in stream {} }.cancel()
    }

    /// The committed turn.
    struct Turn: Sendable {
        struct Attachment: Sendable { var name: String, type: String, path: String, size: Int }
        var userMessage: Loacl_V1_Message
        var attachments: [Attachment]
        /// The run as created (status in_progress).
        var run: Loacl_V1_Run
    }

    /// Where a new run is recorded: its id, this server, and the lease it starts with.
    struct NewRun: Sendable {
        var id: String
        var serverInstance: String
        var leaseMilliseconds: Int64
    }

    /// The turn's transaction in one round trip (without attachments; else the files are
    /// attached in a second, then COMMIT): `loacl.begin_turn` takes the send lock when the
    /// assistant has quotas, checks the thread, the session's assistant, its provider and the
    /// quotas (raising, so the rest of the pipeline is skipped and nothing is stored), and
    /// returns the assistant's context; then the thread's version with its history (only when
    /// the version differs from `knownHistory`'s: that one is still exact), and the user message
    /// with its usage row.
    static func beginTurn(_ c: PostgresConnection, session: SessionRecord, threadID: String, content: String,
                          fileIDs: [String], metadata: String, providers: ChatProviderRegistry,
                          knownHistory: TurnContextCache.History?, newRun: NewRun) throws -> (TurnContext, Turn) {
        // Sends of one guest (all sessions of its fingerprint) or of one user session take
        // turns under the lock, so the quota counters include every earlier send.
        let lockKey: String = switch session.kind {
        case .guest(let fingerprint): "loacl.send.guest:" + fingerprint
        case .user: "loacl.send.session:" + session.id
        }
        let tokens = TokenEstimator.estimate(content)
        let statements = [
            PostgresStatement("""
                SELECT has_title, instructions, configuration, api_key_ciphertext, api_key_hash, questions,
                       loacl.assert_no_unfinished_run($1) AS no_unfinished_run
                FROM loacl.begin_turn($1, $2, $3::text[], $4)
                """, [threadID, lockKey, sqlArray(providers.names), providers.defaultName]),
            // Version and messages in one statement: one snapshot. With the version unchanged the
            // messages are not read at all (a one-time filter), and one row of NULLs comes back.
            PostgresStatement("""
                SELECT v.version, m.role, m.content, m.tokens_used, m.tool_calls, m.tool_call_id
                FROM (SELECT messages_version AS version FROM loacl.threads WHERE id = $1) v
                LEFT JOIN LATERAL (
                    SELECT role, content, tokens_used, created_at, id, metadata->'tool_calls' AS tool_calls,
                           metadata->>'tool_call_id' AS tool_call_id FROM loacl.messages
                    WHERE thread_id = $1 AND v.version IS DISTINCT FROM $2::bigint
                    ORDER BY created_at DESC, id DESC LIMIT \(historyLimit)
                ) m ON true
                ORDER BY m.created_at DESC, m.id DESC
                """, [threadID, knownHistory.map { String($0.version) }]),
            // The user message, its usage row and the run that answers it (the unique index
            // on unfinished runs settles two sends that passed begin_turn's check together).
            PostgresStatement("""
                WITH usage AS (
                    INSERT INTO loacl.usage_metrics (assistant_id, session_id, thread_id, metric_type, metric_value)
                    VALUES ($5, $6, $1, 'messages', 1)
                ), m AS (
                    INSERT INTO loacl.messages AS m (thread_id, role, content, tokens_used, metadata)
                    VALUES ($1, 'user', $2, $3, $4::jsonb) RETURNING *
                ), r AS (
                    INSERT INTO loacl.runs (id, thread_id, user_message_id, status, server_instance, lease_expires_at, started_at)
                    SELECT $7, $1, m.id, 'in_progress', $8, now() + $9::int8 * interval '1 millisecond', now() FROM m
                    RETURNING created_at, started_at
                )
                SELECT \(MessageRows.insertedColumns), \(SQL.ms("r.created_at", as: "run_created_at_ms")),
                       \(SQL.ms("r.started_at", as: "run_started_at_ms"))
                FROM m, r
                """, [threadID, content, String(tokens), metadata, session.assistantID, session.id,
                      newRun.id, newRun.serverInstance, String(newRun.leaseMilliseconds)]),
        ]
        let results = try fileIDs.isEmpty ? c.commit(after: statements) : c.pipeline(statements)
        let context = try results[0].one("turn")
        let settings = AssistantSettings(json: context.string("configuration"))
        let historyRows = results[1].namedRows
        guard let version = historyRows.first?.int64("version") else { throw RPCError.notFound("thread not found") }
        let history: TurnContextCache.History
        if let knownHistory, knownHistory.version == version {
            history = knownHistory
        } else {
            let rows = historyRows.filter { $0["role"] != nil }.map { row in
                let role: ChatRole = switch row["role"] {
                case "assistant": .assistant
                case "system": .system
                case "tool": .tool
                default: .user
                }
                return TurnContextCache.HistoryRow(role: role, content: row.string("content"), tokens: row.int("tokens_used") ?? 0,
                                                   toolCalls: MessageRows.toolCalls(json: row["tool_calls"]),
                                                   toolCallID: row["tool_call_id"])
            }
            history = TurnContextCache.History(rows: rows, version: version)
        }
        let questions = context["questions"].flatMap { json in
            (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String]
        } ?? []
        let assistant = TurnContextCache.AssistantContext(
            settings: settings, instructions: context.string("instructions"), guidedQuestions: questions,
            sealedAPIKey: context.bytes("api_key_ciphertext"), keyHash: context.bytes("api_key_hash") ?? [])
        let turnContext = TurnContext(assistant: assistant, history: history, threadHasTitle: context.bool("has_title") == true)
        let inserted = try results[2].one("message")
        var message = MessageRows.message(inserted)
        var run = Loacl_V1_Run()
        run.id = newRun.id
        run.threadID = threadID
        run.userMessageID = message.id
        run.status = .inProgress
        run.createdAtMs = inserted.int64OrZero("run_created_at_ms")
        run.startedAtMs = inserted.int64OrZero("run_started_at_ms")
        run.serverInstance = newRun.serverInstance
        if let provider = providers.provider(named: settings.provider) {
            run.provider = provider.name
        }
        run.model = settings.model

        var attachments: [Turn.Attachment] = []
        if !fileIDs.isEmpty {
            let rows = try c.execParams("""
                UPDATE loacl.files SET message_id = $1
                WHERE thread_id = $2 AND id = ANY($3::uuid[]) AND message_id IS NULL
                RETURNING id, filename, file_type, file_size, storage_path
                """, [message.id, threadID, sqlArray(fileIDs)]).namedRows
            guard rows.count == fileIDs.count else {
                throw RPCError.invalidArgument("file_ids: every file must be an unattached file of this thread")
            }
            // In the order the caller gave (the UPDATE returns rows in storage order).
            let byID = Dictionary(rows.map { ($0.string("id"), $0) }, uniquingKeysWith: { first, _ in first })
            attachments = fileIDs.compactMap { byID[$0] }.map {
                Turn.Attachment(name: $0.string("filename"), type: $0.string("file_type"), path: $0.string("storage_path"),
                                size: Int($0.int64OrZero("file_size")))
            }
            // Types and sizes the provider refuses fail here, so the transaction stores nothing
            // and the files stay free to attach elsewhere.
            if let limits = providers.provider(named: settings.provider)?.acceptedAttachments {
                do {
                    try limits.validate(attachments.map { (filename: $0.name, mimeType: $0.type, size: $0.size) })
                } catch {
                    if case .failed(let reason) = error { throw RPCError.invalidArgument("file_ids: \(reason)") }
                    throw RPCError.invalidArgument("file_ids: attachments refused")
                }
            }
            message.fileIds = fileIDs
        }
        return (turnContext, Turn(userMessage: message, attachments: attachments, run: run))
    }


    /// A thread title from the first user message: its first line, whitespace collapsed, at most
    /// 60 characters.
    static func title(from content: String) -> String {
        let firstLine = content.split(whereSeparator: \.isNewline).first.map(String.init) ?? content
        let words = firstLine.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        let cleaned = String(words.unicodeScalars.filter { $0.properties.generalCategory != .control })
        guard cleaned.count > 60 else { return cleaned.isEmpty ? "New conversation" : cleaned }
        return String(cleaned.prefix(59)) + "…"
    }

    static func rpcError(_ error: any Error, logger: Logger) -> RPCError {
        switch error {
        case let error as RPCError: return error
        case let error as ChatProviderError:
            logger.notice("upstream failed", metadata: ["error": "\(error)"])
            switch error {
            case .unauthorized: return RPCError(.failedPrecondition, "the upstream provider rejected the assistant's API key")
            case .rateLimited: return RPCError(.resourceExhausted, "upstream rate limit, retry later")
            case .unavailable: return .unavailable("upstream provider unavailable, retry later")
            case .failed(let message): return RPCError(.failedPrecondition, "upstream refused the request: \(message)")
            }
        default:
            return ErrorMapping.rpcError(error, logger: logger)
        }
    }
}
