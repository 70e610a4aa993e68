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
    /// The most history messages a turn reads.
    static let historyLimit = 200
    /// How long a turn's database work waits for its speculative upstream request to leave.
    static let speculationHeadStart: Duration = .milliseconds(20)

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
        var completed = false
        defer { if !completed { turnContexts.forget(threadID: threadID) } }

        // A thread whose last turn this server saw: its history needs no re-read if the thread's
        // version is unchanged, and the upstream is asked now, from that context; the request is
        // kept only if the context read below proves identical (TurnContextCache).
        let knownHistory = turnContexts.history(threadID: threadID, sessionID: session.id)
        var speculative: (provider: String, chat: ChatRequest, stream: AsyncThrowingStream<ChatEvent, any Error>)?
        if fileIDs.isEmpty, let history = knownHistory,
           let assistant = turnContexts.speculationContext(assistantID: session.assistantID),
           let provider = providers.provider(named: assistant.settings.provider) {
            let chat = chatRequest(assistant, history: history.rows, content: content, provider: provider)
            let (sending, sendingContinuation) = AsyncStream<Never>.makeStream()
            speculative = (provider.name, chat, provider.streamReply(chat, sending: { sendingContinuation.finish() }))
            // Let the request leave before the turn's database work starts: on a small machine
            // that work would otherwise hold it back for milliseconds, competing for the CPU.
            // Not longer than `speculationHeadStart` (an upstream slow to accept a connection).
            await withTaskGroup(of: Void.self) { group in
                group.addTask { for await _ in sending {} }
                group.addTask { try? await Task.sleep(for: Self.speculationHeadStart) }
                await group.next()
                group.cancelAll()
            }
        }
        defer { if let speculative { Self.abandon(speculative.stream) } }

        // One round trip (two with attachments): the checks (`loacl.begin_turn`), the history,
        // the user message with its usage row, and the COMMIT. A retry on a fresh connection
        // after a broken one runs the checks again.
        let (turnContext, turn) = try await database.transaction { connection in
            try Self.beginTurn(connection, session: session, threadID: threadID, content: content,
                               fileIDs: attach, metadata: metadata, providers: providers, knownHistory: knownHistory)
        }
        let settings = turnContext.assistant.settings
        guard let provider = providers.provider(named: settings.provider) else {
            throw RPCError(.failedPrecondition, "provider is not configured on this server")
        }
        turnContexts.assistantRead(session.assistantID, turnContext.assistant)
        var chat = chatRequest(turnContext.assistant, history: turnContext.history.rows, content: content, provider: provider)
        // Already under way if the speculation was right; else started now (the stream begins
        // its request when made), except when attachments must be read first.
        var replyStream: AsyncThrowingStream<ChatEvent, any Error>?
        if let guess = speculative, guess.provider == provider.name, guess.chat == chat {
            replyStream = guess.stream
            speculative = nil
            turnContexts.speculation(kept: true)
        } else {
            if let guess = speculative {
                logger.debug("speculative upstream request dropped: the thread's context changed", metadata: ["thread": "\(threadID)"])
                turnContexts.speculation(kept: false)
                Self.abandon(guess.stream)
                speculative = nil
            }
            replyStream = fileIDs.isEmpty ? provider.streamReply(chat) : nil
        }
        var replyIterated = false
        defer {
            // Leaving before the reply was iterated (the `user_message` write failed): cancel the
            // request, which would otherwise run until the upstream ends it.
            if !replyIterated, let replyStream { Self.abandon(replyStream) }
        }
        // Only an untitled thread gets a title (from this first exchange).
        let title = turnContext.threadHasTitle ? nil : Self.title(from: content)
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
        // The thread's history as the next turn will find it if nobody else writes to it: two
        // more messages, two more version bumps.
        let newest = [TurnContextCache.HistoryRow(role: .assistant, content: reply, tokens: Int(assistantMessage.tokensUsed)),
                      TurnContextCache.HistoryRow(role: .user, content: content, tokens: Int(turn.userMessage.tokensUsed))]
        turnContexts.turnCompleted(threadID, sessionID: session.id, history: TurnContextCache.History(
            rows: Array((newest + turnContext.history.rows).prefix(Self.historyLimit)), version: turnContext.history.version + 2))
        completed = true
        event.assistantMessage = assistantMessage
        try await responses.write(event)

        let count = Int(settings.followUpCount ?? UInt32(AssistantSettings.defaultFollowUpCount))
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
            history: Self.withinBudget(rows, settings: settings).reversed().map { ChatTurn(role: $0.role, content: $0.content) },
            userMessage: content, temperature: settings.temperature,
            maxOutputTokens: settings.maxOutputTokens > 0 ? Int(settings.maxOutputTokens) : nil,
            guidedQuestions: assistant.guidedQuestions)
        if provider.name != "offline", let sealed = assistant.sealedAPIKey {
            chat.apiKey = try? vault.open(sealed, hash: assistant.keyHash)
        }
        return chat
    }

    /// The newest rows that fit the assistant's history token budget (a row counts its stored
    /// token count, or the estimate of its text if larger).
    static func withinBudget(_ rows: [TurnContextCache.HistoryRow], settings: AssistantSettings) -> [TurnContextCache.HistoryRow] {
        let budget = settings.maxHistoryTokens > 0 ? Int(settings.maxHistoryTokens) : defaultHistoryTokens
        var used = 0
        var kept = 0
        for row in rows.prefix(historyLimit) {
            used += max(row.tokens, TokenEstimator.estimate(row.content))
            if used > budget { break }
            kept += 1
        }
        return Array(rows.prefix(kept))
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
                          knownHistory: TurnContextCache.History?) throws -> (TurnContext, Turn) {
        // Sends of one guest (all sessions of its fingerprint) or of one user session take
        // turns under the lock, so the quota counters include every earlier send.
        let lockKey: String = switch session.kind {
        case .guest(let fingerprint): "loacl.send.guest:" + fingerprint
        case .user: "loacl.send.session:" + session.id
        }
        let tokens = TokenEstimator.estimate(content)
        let statements = [
            PostgresStatement("""
                SELECT has_title, instructions, configuration, api_key_ciphertext, api_key_hash, questions
                FROM loacl.begin_turn($1, $2, $3::text[], $4)
                """, [threadID, lockKey, sqlArray(providers.names), providers.defaultName]),
            // Version and messages in one statement: one snapshot. With the version unchanged the
            // messages are not read at all (a one-time filter), and one row of NULLs comes back.
            PostgresStatement("""
                SELECT v.version, m.role, m.content, m.tokens_used
                FROM (SELECT messages_version AS version FROM loacl.threads WHERE id = $1) v
                LEFT JOIN LATERAL (
                    SELECT role, content, tokens_used, created_at, id FROM loacl.messages
                    WHERE thread_id = $1 AND v.version IS DISTINCT FROM $2::bigint
                    ORDER BY created_at DESC, id DESC LIMIT \(historyLimit)
                ) m ON true
                ORDER BY m.created_at DESC, m.id DESC
                """, [threadID, knownHistory.map { String($0.version) }]),
            PostgresStatement("""
                WITH usage AS (
                    INSERT INTO loacl.usage_metrics (assistant_id, session_id, thread_id, metric_type, metric_value)
                    VALUES ($5, $6, $1, 'messages', 1)
                )
                INSERT INTO loacl.messages AS m (thread_id, role, content, tokens_used, metadata)
                VALUES ($1, 'user', $2, $3, $4::jsonb) RETURNING \(MessageRows.insertedColumns)
                """, [threadID, content, String(tokens), metadata, session.assistantID, session.id]),
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
                let role: ChatRole = switch row["role"] { case "assistant": .assistant; case "system": .system; default: .user }
                return TurnContextCache.HistoryRow(role: role, content: row.string("content"), tokens: row.int("tokens_used") ?? 0)
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
        var message = MessageRows.message(try results[2].one("message"))

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
        return (turnContext, Turn(userMessage: message, attachments: attachments))
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
