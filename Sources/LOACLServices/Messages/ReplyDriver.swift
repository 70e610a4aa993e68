import Foundation
import LOACLCore
import LOACLMessages
import LOACLPostgres
import LOACLUpstream
import Logging

// SendMessage, step 3: the run's driver. It runs in a task of its own (RunEngine.start), not in
// the call: the provider's stream becomes the run's events, the reply is stored, follow-ups are
// made, and the run ends with its final status, whoever is (still) following.
extension MessageService {
    /// Everything the driver of one reply needs, fixed when the turn committed.
    struct ReplyJob: Sendable {
        var session: SessionRecord
        var threadID: String
        var content: String
        var provider: any ChatProvider
        var chat: ChatRequest
        /// Started already (speculation, or no attachments); nil: attachments are read first.
        var stream: AsyncThrowingStream<ChatEvent, any Error>?
        var turn: Turn
        var turnContext: TurnContext
        var title: String?
    }

    /// Generates the reply of `job` as the events of `run`: one upstream request per step; a
    /// step that ends with function calls pauses the run for their outputs (ToolStep.swift),
    /// then the next step goes on with them.
    func drive(_ job: ReplyJob, run: Run) async {
        let flusher = RunFlusher(run: run, database: database, interval: runs.configuration.flushInterval, logger: logger).start()
        let settings = job.turnContext.assistant.settings
        let maxRounds = Int(settings.maxToolRounds ?? AssistantSettings.defaultMaxToolRounds)
        let outputTimeout = Duration.seconds(Int(settings.toolOutputTimeoutSeconds == 0
                                                 ? AssistantSettings.defaultToolOutputTimeoutSeconds : settings.toolOutputTimeoutSeconds))
        var final = job.turn.run
        var reply = ""
        var usage: ChatUsage?
        var totals = (input: 0, output: 0)
        var failure: RPCError?
        var streamed = false
        var rounds = 0
        var citations: [Loacl_V1_FileSearchHit] = []
        let stream = job.stream
        do {
            var chat = job.chat
            var next: AsyncThrowingStream<ChatEvent, any Error>
            if let stream {
                next = stream
            } else {
                for file in job.turn.attachments {
                    let data = try await storage.readAll(relativePath: file.path)
                    chat.attachments.append(ChatAttachment(filename: file.name, mimeType: file.type, data: data))
                }
                if settings.fileSearch {
                    citations = try await searchFiles(job, run: run, chat: &chat)
                }
                next = job.provider.streamReply(chat)
            }
            streamed = true
            while true {
                reply = ""
                usage = nil
                for try await chunk in next {
                    switch chunk {
                    case .delta(let text):
                        reply += text
                        run.append { event in
                            var delta = Loacl_V1_TextDelta()
                            delta.text = text
                            event.delta = delta
                        }
                    case .toolCallDelta(let piece):
                        run.append { event in
                            var delta = Loacl_V1_ToolCallDelta()
                            delta.index = UInt32(clamping: piece.index)
                            delta.callID = piece.callID
                            delta.name = piece.name
                            delta.argumentsDelta = piece.arguments
                            event.toolCallDelta = delta
                        }
                    case .completed(let result):
                        usage = result
                    }
                }
                // A stream cut by cancellation may just end; one without `.completed` is unfinished.
                try Task.checkCancellation()
                guard let step = usage else { throw ChatProviderError.unavailable("reply stream ended early") }
                totals.input += max(0, step.inputTokens)
                totals.output += max(0, step.outputTokens)
                guard !step.toolCalls.isEmpty else { break }
                rounds += 1
                if rounds > maxRounds {
                    final.status = .incomplete
                    final.incompleteReason = "max_tool_rounds"
                    break
                }
                // Pause for the outputs, then ask again with the step and its outputs.
                let outputs = try await toolStep(job, run: run, calls: step.toolCalls, text: reply, timeout: outputTimeout)
                chat.continuation.append(ChatTurn(role: .assistant, content: reply, toolCalls: step.toolCalls))
                chat.continuation += outputs.map { ChatTurn(role: .tool, content: $0.content, toolCallID: $0.toolCallID) }
                next = job.provider.streamReply(chat)
            }
        } catch is ToolStepExpired {
            final.status = .expired
            reply = ""
        } catch {
            if Task.isCancelled || error is CancellationError {
                if run.stopReason == .shutdown {
                    final.status = .incomplete
                    final.incompleteReason = "shutdown"
                } else {
                    final.status = .cancelled
                }
            } else {
                let mapped = Self.rpcError(error, logger: logger)
                failure = mapped
                final.status = .failed
                var lastError = Loacl_V1_RunError()
                lastError.code = mapped.code.description
                lastError.message = mapped.message
                final.lastError = lastError
            }
        }
        if !streamed, let stream { Self.abandon(stream) }
        await RunFlusher.stop(flusher)
        if failure == nil, final.status == .inProgress {
            final.status = usage?.incompleteReason == nil ? .completed : .incomplete
            final.incompleteReason = usage?.incompleteReason ?? ""
        }
        if usage == nil { totals.output += TokenEstimator.estimate(reply) }
        final.inputTokens = UInt32(clamping: totals.input)
        final.outputTokens = UInt32(clamping: totals.output)

        // Storing is not cancelled with the run: what arrived is kept.
        let complete = final.status == .completed || (final.status == .incomplete && usage?.incompleteReason != nil)
        let stored: Loacl_V1_Message? = await Task { [final, reply, usage, totals, citations] in
            guard complete || !reply.isEmpty else { return nil }
            let reason: String? = switch final.status {
            case .failed: "failed"
            case .cancelled: "cancelled"
            case _ where complete: nil
            default: final.incompleteReason.isEmpty ? nil : final.incompleteReason
            }
            do {
                return try await storeReply(reply, usage: usage, provider: job.provider.name, model: job.chat.model,
                                            ending: ReplyEnding(incompleteReason: reason, citations: citations), threadID: job.threadID,
                                            title: job.title, run: run, runTokens: totals)
            } catch {
                logger.error("could not store a reply", metadata: ["run": "\(run.id)", "error": "\(error)"])
                return nil
            }
        }.value
        if let stored {
            final.replyMessageID = stored.id
            run.append { $0.assistantMessage = stored }
            // A turn with function steps stored more than two messages: the next turn reads
            // its history again.
            if complete, rounds == 0 {
                remember(job, reply: reply, stored: stored)
            } else {
                turnContexts.forget(threadID: job.threadID)
            }
        } else {
            turnContexts.forget(threadID: job.threadID)
            if complete {
                final.status = .failed
                var lastError = Loacl_V1_RunError()
                lastError.code = StatusCode.unavailable.description
                lastError.message = "the reply could not be stored"
                final.lastError = lastError
            }
        }

        // Follow-ups: in the run's task, so a stop request skips them.
        if complete, final.status != .failed, let stored, !Task.isCancelled,
           let followUps = await makeFollowUps(job, reply: reply, message: stored) {
            run.append { $0.followUps = followUps }
        }

        final.endedAtMs = Int64(Date().timeIntervalSince1970 * 1000)
        await Task { [final] in
            for attempt in 1...5 {
                do {
                    try await finishRun(run, final)
                    return
                } catch {
                    logger.warning("could not store a run's end", metadata: ["run": "\(run.id)", "attempt": "\(attempt)", "error": "\(error)"])
                    try? await Task.sleep(for: .milliseconds(200 * attempt))
                }
            }
            // Followers here still end; the run's lease runs out and another server (or this one)
            // ends it in PostgreSQL as `server_lost` with its persisted text.
            run.append { $0.run = final }
        }.value
    }

    /// The `file_search` tool: the passages for the user's message, shown as a `file_search`
    /// event and given to the model with the instructions. Returns the hits (the reply's
    /// citations).
    private func searchFiles(_ job: ReplyJob, run: Run, chat: inout ChatRequest) async throws -> [Loacl_V1_FileSearchHit] {
        let settings = job.turnContext.assistant.settings
        let statement = KnowledgeSearch.statement(
            configuration: settings.textSearchConfig, message: job.content, threadID: job.threadID,
            topK: settings.fileSearchTopK > 0 ? Int(settings.fileSearchTopK) : KnowledgeSearch.defaultTopK)
        let hits = try await database.transaction { connection in
            KnowledgeSearch.hits(try connection.commit(after: [statement])[0])
        }
        run.append { event in
            var results = Loacl_V1_FileSearchResults()
            results.hits = hits
            event.fileSearch = results
        }
        if !hits.isEmpty {
            chat.instructions += (chat.instructions.isEmpty ? "" : "\n\n") + KnowledgeSearch.context(hits)
        }
        return hits
    }

    /// The thread's history as the next turn will find it if nobody else writes to it: two more
    /// messages, two more version bumps.
    private func remember(_ job: ReplyJob, reply: String, stored: Loacl_V1_Message) {
        let newest = [TurnContextCache.HistoryRow(role: .assistant, content: reply, tokens: Int(stored.tokensUsed)),
                      TurnContextCache.HistoryRow(role: .user, content: job.content, tokens: Int(job.turn.userMessage.tokensUsed))]
        turnContexts.turnCompleted(job.threadID, sessionID: job.session.id, history: TurnContextCache.History(
            rows: Array((newest + job.turnContext.history.rows).prefix(Self.historyLimit)),
            version: job.turnContext.history.version + 2))
    }

    /// Asks the provider for follow-up suggestions and stores them (one round trip).
    private func makeFollowUps(_ job: ReplyJob, reply: String, message: Loacl_V1_Message) async -> Loacl_V1_FollowUpSuggestions? {
        let settings = job.turnContext.assistant.settings
        let count = Int(settings.followUpCount ?? UInt32(AssistantSettings.defaultFollowUpCount))
        guard count > 0 else { return nil }
        let suggestions: [String]
        do {
            suggestions = try await job.provider.followUps(for: job.chat, reply: reply, count: count)
        } catch {
            logger.notice("follow-up suggestions failed", metadata: ["error": "\(error)"])
            return nil
        }
        let texts = suggestions.map { String($0.prefix(1000)) }.filter { !$0.isEmpty }.prefix(count)
        guard !texts.isEmpty else { return nil }
        let list = JSONText.array(Array(texts))
        let threadID = job.threadID
        do {
            // One round trip for all of them; clock_timestamp() per row keeps their order.
            let stored = try await database.transaction { connection in
                try connection.commit(after: [PostgresStatement("""
                    INSERT INTO loacl.follow_up_suggestions (thread_id, message_id, suggestion, created_at)
                    SELECT $1, $2, s.value, clock_timestamp()
                    FROM jsonb_array_elements_text($3::jsonb) WITH ORDINALITY AS s(value, n) ORDER BY s.n
                    RETURNING \(FollowUpService.columns)
                    """, [threadID, message.id, list])])[0].namedRows.map(FollowUpService.suggestion)
            }
            var followUps = Loacl_V1_FollowUpSuggestions()
            followUps.suggestions = stored
            return followUps
        } catch {
            logger.notice("could not store follow-up suggestions", metadata: ["error": "\(error)"])
            return nil
        }
    }
}
