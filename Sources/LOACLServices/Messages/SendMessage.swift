import Foundation
import LOACLCore
import LOACLMessages
import LOACLPostgres
import LOACLServer
import LOACLUpstream
import Logging

extension MessageService {
    static let maxContentBytes = 64 * 1024
    static let maxAttachments = 10
    /// History budget when the assistant sets none.
    static let defaultHistoryTokens = 8_000

    /// Stores the user message (quotas and rate limit checked first, in the same transaction),
    /// streams the reply from the assistant's provider, stores it with its token count, then
    /// makes and stores follow-up suggestions. A reply cut short by cancellation or an upstream
    /// failure is stored as far as it got, with `{"incomplete":true}` in its metadata.
    public func sendMessage(_ request: Loacl_V1_SendMessageRequest, responses: ResponseWriter<Loacl_V1_SendMessageEvent>, context: ServerContext) async throws {
        let session = try CallerIdentity.requireSession()
        let threadID = try Validate.uuid(request.threadID, "thread_id")
        let content = try Validate.content(request.content, "content", maxBytes: Self.maxContentBytes)
        guard request.fileIds.count <= Self.maxAttachments else {
            throw RPCError.invalidArgument("file_ids has more than \(Self.maxAttachments) entries")
        }
        var fileIDs: [String] = []
        for id in request.fileIds {
            let id = try Validate.uuid(id, "file_ids")
            if !fileIDs.contains(id) { fileIDs.append(id) }
        }
        let metadata = try Validate.metadata(request.metadataJson)
        let providers = self.providers
        let attach = fileIDs

        // The turn's transaction reports its context (checks and quotas passed, history read)
        // before it stores the user message; without attachments to read first, the upstream
        // request starts then, while the user message commits: the commit's round trip and the
        // upstream's time to first token overlap. The advisory lock is held until that commit.
        let (checked, checkedContinuation) = AsyncStream<TurnContext>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let database = self.database
        async let committed: Turn = {
            // Finished after the transaction, retries included (a retry on a fresh connection
            // after a broken one runs the checks again; the first context reported is used).
            defer { checkedContinuation.finish() }
            return try await database.transaction { connection in
                try Self.prepareTurn(connection, session: session, threadID: threadID, content: content,
                                     fileIDs: attach, metadata: metadata, providers: providers) { checkedContinuation.yield($0) }
            }
        }()
        var contexts = checked.makeAsyncIterator()
        guard let turnContext = await contexts.next() else {
            _ = try await committed // the transaction's own error
            throw RPCError.internal("turn failed before its checks")
        }
        guard let provider = providers.provider(named: turnContext.settings.provider) else {
            throw RPCError(.failedPrecondition, "provider is not configured on this server")
        }
        var chat = ChatRequest(
            model: turnContext.settings.model, instructions: turnContext.instructions, history: turnContext.history,
            userMessage: content, temperature: turnContext.settings.temperature,
            maxOutputTokens: turnContext.settings.maxOutputTokens > 0 ? Int(turnContext.settings.maxOutputTokens) : nil,
            guidedQuestions: turnContext.guidedQuestions)
        if provider.name != "offline", let sealed = turnContext.sealedAPIKey {
            chat.apiKey = try? vault.open(sealed, hash: turnContext.keyHash)
        }
        // Started now (the stream begins its request when made); abandoned, and so cancelled,
        // if the commit fails.
        var replyStream = fileIDs.isEmpty ? provider.streamReply(chat) : nil
        var replyIterated = false
        defer {
            // Leaving before the reply was iterated (the commit or the `user_message` write
            // failed): cancel the request, which would otherwise run until the upstream ends it.
            // A provider stream is cancelled by its consumer's cancellation, so consume it from
            // a task that is cancelled from the start.
            if !replyIterated, let replyStream {
                Task { for try await _ in replyStream {} }.cancel()
            }
        }
        // Only an untitled thread gets a title (from this first exchange).
        let title = turnContext.threadHasTitle ? nil : Self.title(from: content)
        let turn = try await committed
        var event = Loacl_V1_SendMessageEvent()
        event.userMessage = turn.userMessage
        try await responses.write(event)

        if replyStream == nil {
            for file in turn.attachments {
                let data = try await storage.readAll(relativePath: file.path)
                chat.attachments.append(ChatAttachment(filename: file.name, mimeType: file.type, data: data))
            }
            replyStream = provider.streamReply(chat)
        }

        var reply = ""
        var usage: ChatUsage?
        do {
            replyIterated = true
            for try await chunk in replyStream! {
                switch chunk {
                case .delta(let text):
                    reply += text
                    var delta = Loacl_V1_SendMessageEvent()
                    var textDelta = Loacl_V1_TextDelta()
                    textDelta.text = text
                    delta.delta = textDelta
                    try await responses.write(delta)
                case .completed(let result):
                    usage = result
                }
            }
            // A stream cut by cancellation may just end; one without `.completed` is unfinished.
            try Task.checkCancellation()
            if usage == nil { throw ChatProviderError.unavailable("reply stream ended early") }
        } catch {
            // Keep what arrived. The call's task may be cancelled, so store from a fresh task.
            let partial = reply
            let identity = CallerIdentity.current
            if !partial.isEmpty {
                let store = Task {
                    try await self.storeReply(partial, usage: nil, provider: provider.name, incomplete: true,
                                              threadID: threadID, title: title, identity: identity)
                }
                _ = try? await store.value
            }
            if Task.isCancelled || error is CancellationError { throw CancellationError() }
            throw Self.rpcError(error, logger: logger)
        }

        let assistantMessage = try await storeReply(reply, usage: usage, provider: provider.name, incomplete: false,
                                                    threadID: threadID, title: title)
        event.assistantMessage = assistantMessage
        try await responses.write(event)

        let count = Int(turnContext.settings.followUpCount ?? UInt32(AssistantSettings.defaultFollowUpCount))
        guard count > 0 else { return }
        let suggestions: [String]
        do {
            suggestions = try await provider.followUps(for: chat, reply: reply, count: count)
        } catch {
            logger.notice("follow-up suggestions failed", metadata: ["error": "\(error)"])
            return
        }
        let texts = suggestions.map { String($0.prefix(1000)) }.filter { !$0.isEmpty }.prefix(count)
        guard !texts.isEmpty else { return }
        let list = String(decoding: (try? JSONSerialization.data(withJSONObject: Array(texts))) ?? Data("[]".utf8), as: UTF8.self)
        // One round trip for all of them; clock_timestamp() per row keeps their order.
        let stored = try await database.transaction { connection in
            try connection.commit(after: [PostgresStatement("""
                INSERT INTO loacl.follow_up_suggestions (thread_id, message_id, suggestion, created_at)
                SELECT $1, $2, s.value, clock_timestamp()
                FROM jsonb_array_elements_text($3::jsonb) WITH ORDINALITY AS s(value, n) ORDER BY s.n
                RETURNING \(FollowUpService.columns)
                """, [threadID, assistantMessage.id, list])])[0].namedRows.map(FollowUpService.suggestion)
        }
        var followUps = Loacl_V1_FollowUpSuggestions()
        followUps.suggestions = stored
        event.followUps = followUps
        try await responses.write(event)
    }

    // MARK: - Steps

    /// What the upstream request needs, known once the turn's checks passed.
    struct TurnContext: Sendable {
        var settings: AssistantSettings
        var instructions: String
        var history: [ChatTurn]
        var threadHasTitle: Bool
        var guidedQuestions: [String]
        var sealedAPIKey: [UInt8]?
        var keyHash: [UInt8]
    }

    /// The committed turn.
    struct Turn: Sendable {
        struct Attachment: Sendable { var name: String, type: String, path: String, size: Int }
        var userMessage: Loacl_V1_Message
        var attachments: [Attachment]
    }

    /// The quota settings' keys in an assistant's configuration (present only when non-zero).
    static let quotaKeys = "{tokens_per_session_per_day,messages_per_guest_per_day,messages_per_session_per_minute}"

    /// One transaction in two round trips (three with attachments): (1) the send lock, then the
    /// thread check, assistant runtime, guided questions, the quota counters (only when the
    /// assistant has quotas) and the history; `checked` gets the context once every check
    /// passed; (2) the user message, its usage row and the COMMIT.
    static func prepareTurn(_ c: PostgresConnection, session: SessionRecord, threadID: String, content: String,
                            fileIDs: [String], metadata: String, providers: ChatProviderRegistry,
                            checked: (TurnContext) -> Void) throws -> Turn {
        // Sends of one guest (all sessions of its fingerprint) or of one user session take
        // turns, so the quota and rate checks below count every earlier send exactly. A
        // transaction-scoped advisory lock (no row is written to take it), in a statement of its
        // own: the later statements' snapshots must be taken after the lock is held (READ
        // COMMITTED gives each statement of the pipeline a fresh one).
        let lockKey: String = switch session.kind {
        case .guest(let fingerprint): "loacl.send.guest:" + fingerprint
        case .user: "loacl.send.session:" + session.id
        }
        let results = try c.pipeline([
            PostgresStatement("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended($1, 0))", [lockKey]),
            PostgresStatement("""
                SELECT t.status, COALESCE(t.title, '') <> '' AS has_title,
                       r.id IS NOT NULL AS has_runtime, r.instructions, r.configuration::text AS configuration,
                       r.api_key_ciphertext, r.api_key_hash,
                       (SELECT json_agg(q.question ORDER BY q.priority DESC, q.id)::text FROM (
                            SELECT question, priority, id FROM loacl.guided_questions
                            WHERE assistant_id = $2 AND is_active ORDER BY priority DESC, id LIMIT 20) q) AS questions,
                       CASE WHEN r.configuration ?| $3::text[]
                            THEN (SELECT to_jsonb(q)::text FROM loacl.session_quota_state() q) END AS quota
                FROM (SELECT 1) AS one
                LEFT JOIN loacl.threads t ON t.id = $1 AND t.assistant_id = $2
                LEFT JOIN loacl.session_assistant_runtime() r ON true
                """, [threadID, session.assistantID, quotaKeys]),
            PostgresStatement("""
                SELECT role, content, tokens_used FROM loacl.messages WHERE thread_id = $1
                ORDER BY created_at DESC, id DESC LIMIT 200
                """, [threadID]),
        ])
        let context = try results[1].one("thread")
        guard let status = context["status"] else { throw RPCError.notFound("thread not found") }
        guard status == "active" else { throw RPCError(.failedPrecondition, "thread is \(status)") }
        guard context.bool("has_runtime") == true else { throw RPCError.unauthenticated("session is no longer active") }
        let settings = AssistantSettings(json: context.string("configuration"))
        guard providers.provider(named: settings.provider) != nil else {
            throw RPCError(.failedPrecondition, "the assistant's provider \"\(settings.provider.isEmpty ? providers.defaultName : settings.provider)\" is not configured on this server")
        }
        try checkQuotas(context["quota"], settings: settings, session: session)

        // The newest turns that fit the token budget, oldest first.
        let budget = settings.maxHistoryTokens > 0 ? Int(settings.maxHistoryTokens) : defaultHistoryTokens
        var turns: [ChatTurn] = []
        var used = 0
        for row in results[2].namedRows {
            used += max(row.int("tokens_used") ?? 0, TokenEstimator.estimate(row.string("content")))
            if used > budget { break }
            let role: ChatRole = switch row["role"] { case "assistant": .assistant; case "system": .system; default: .user }
            turns.append(ChatTurn(role: role, content: row.string("content")))
        }
        let questions = context["questions"].flatMap { json in
            (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String]
        } ?? []
        checked(TurnContext(settings: settings, instructions: context.string("instructions"), history: turns.reversed(),
                            threadHasTitle: context.bool("has_title") == true,
                            guidedQuestions: questions, sealedAPIKey: context.bytes("api_key_ciphertext"),
                            keyHash: context.bytes("api_key_hash") ?? []))

        // The user message and its usage row in one statement; without attachments to check,
        // the COMMIT goes in the same round trip.
        let tokens = TokenEstimator.estimate(content)
        let insert = PostgresStatement("""
            WITH usage AS (
                INSERT INTO loacl.usage_metrics (assistant_id, session_id, thread_id, metric_type, metric_value)
                VALUES ($5, $6, $1, 'messages', 1)
            )
            INSERT INTO loacl.messages AS m (thread_id, role, content, tokens_used, metadata)
            VALUES ($1, 'user', $2, $3, $4::jsonb) RETURNING \(MessageRows.insertedColumns)
            """, [threadID, content, String(tokens), metadata, session.assistantID, session.id])
        let inserted = try (fileIDs.isEmpty ? c.commit(after: [insert])[0] : c.pipeline([insert])[0]).one("message")
        var message = MessageRows.message(inserted)

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
        return Turn(userMessage: message, attachments: attachments)
    }

    /// RESOURCE_EXHAUSTED when the session's daily tokens, the guest's daily messages or the
    /// session's per-minute messages are used up (`quota`: the counters as JSON, read with the
    /// context when the assistant has quotas).
    static func checkQuotas(_ quota: String?, settings: AssistantSettings, session: SessionRecord) throws {
        guard settings.tokensPerSessionPerDay > 0 || settings.messagesPerGuestPerDay > 0
                || settings.messagesPerSessionPerMinute > 0 else { return }
        guard let quota, let object = try? JSONSerialization.jsonObject(with: Data(quota.utf8)) as? [String: Any] else {
            throw RPCError.unauthenticated("session is no longer active")
        }
        let state = QuotaCounters(object)
        if settings.tokensPerSessionPerDay > 0,
           state.int64OrZero("session_tokens_today") >= Int64(settings.tokensPerSessionPerDay) {
            throw RPCError(.resourceExhausted, "quota exceeded: tokens per session per day (\(settings.tokensPerSessionPerDay))")
        }
        if settings.messagesPerGuestPerDay > 0, case .guest = session.kind,
           state.int64OrZero("guest_messages_today") >= Int64(settings.messagesPerGuestPerDay) {
            throw RPCError(.resourceExhausted, "quota exceeded: messages per guest per day (\(settings.messagesPerGuestPerDay))")
        }
        if settings.messagesPerSessionPerMinute > 0,
           state.int64OrZero("session_messages_last_minute") >= Int64(settings.messagesPerSessionPerMinute) {
            throw RPCError(.resourceExhausted, "rate limit: \(settings.messagesPerSessionPerMinute) messages per minute per session")
        }
    }

    /// Stores the assistant's reply (and `title` for a thread that still has none) and returns
    /// it as stored.
    func storeReply(_ reply: String, usage: ChatUsage?, provider: String, incomplete: Bool, threadID: String,
                    title: String?, identity: CallerIdentity = CallerIdentity.current) async throws -> Loacl_V1_Message {
        var info: [String: Any] = ["provider": provider]
        if incomplete { info["incomplete"] = true }
        if let usage {
            info["input_tokens"] = usage.inputTokens
            info["output_tokens"] = usage.outputTokens
            if usage.isEstimate { info["tokens_estimated"] = true }
            if let reason = usage.incompleteReason { info["incomplete_reason"] = reason }
        }
        let metadata = String(decoding: (try? JSONSerialization.data(withJSONObject: info, options: [.sortedKeys])) ?? Data("{}".utf8), as: UTF8.self)
        let tokens = usage.map { max(0, $0.outputTokens) } ?? TokenEstimator.estimate(reply)
        let insert = """
            INSERT INTO loacl.messages AS m (thread_id, role, content, tokens_used, metadata)
            VALUES ($1, 'assistant', $2, $3, $4::jsonb) RETURNING \(MessageRows.insertedColumns)
            """
        // One round trip: BEGIN, identity, the reply (with the title of an untitled thread), COMMIT.
        let statement = if let title {
            PostgresStatement("""
                WITH titled AS (
                    UPDATE loacl.threads SET title = $5 WHERE id = $1 AND (title IS NULL OR title = '')
                )
                \(insert)
                """, [threadID, reply, String(tokens), metadata, title])
        } else {
            PostgresStatement(insert, [threadID, reply, String(tokens), metadata])
        }
        let row = try await database.transaction(as: identity) { connection in
            try connection.commit(after: [statement])[0].one("message")
        }
        return MessageRows.message(row)
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

/// `loacl.session_quota_state()` as JSON (`to_jsonb`): counters are JSON numbers.
struct QuotaCounters {
    let object: [String: Any]
    init(_ object: [String: Any]) { self.object = object }
    func int64OrZero(_ key: String) -> Int64 { (object[key] as? NSNumber)?.int64Value ?? 0 }
}
