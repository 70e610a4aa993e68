import Foundation
import LOACLCore
import LOACLMessages
import LOACLPostgres
import LOACLServerCore
import LOACLUpstream
import Logging

// SendMessage, the call: checks the request, asks the upstream early when it can (speculation),
// commits the turn (BeginTurn.swift), starts the run that writes the reply (ReplyDriver.swift,
// in a task of its own) and follows it (RunFollower.swift) until it ends or the caller leaves.
// A caller that leaves does not stop the run (unless it set `cancel_on_disconnect`): StreamRun
// picks it up again from any server.
extension MessageService {
    static let maxContentBytes = 64 * 1024
    static let maxAttachments = 10
    /// History budget when the assistant sets none.
    static let defaultHistoryTokens = 8_000
    /// The most history messages a turn reads.
    static let historyLimit = 200
    /// How long a turn's database work waits for its speculative upstream request to leave.
    static let speculationHeadStart: Duration = .milliseconds(20)

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
        runs.startListening()

        // A thread whose last turn this server saw: its history needs no re-read if the thread's
        // version is unchanged, and the upstream is asked now, from that context; the request is
        // kept only if the context read below proves identical (TurnContextCache).
        let knownHistory = turnContexts.history(threadID: threadID, sessionID: session.id)
        var speculative: (provider: String, chat: ChatRequest, stream: AsyncThrowingStream<ChatEvent, any Error>)?
        if fileIDs.isEmpty, let history = knownHistory,
           let assistant = turnContexts.speculationContext(assistantID: session.assistantID), !assistant.settings.fileSearch,
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
        // Until the run owns it, a started request is cancelled on the way out.
        var unowned = speculative?.stream
        defer { if let unowned { Self.abandon(unowned) } }

        // One round trip (two with attachments): the checks (`loacl.begin_turn`), the history,
        // the user message with its usage row and its run, and the COMMIT.
        let newRun = NewRun(id: UUID().uuidString.lowercased(), serverInstance: runs.instance,
                            leaseMilliseconds: Int64(runs.configuration.lease.components.seconds * 1000))
        let turnStarted: (TurnContext, Turn)
        do {
            turnStarted = try await database.transaction { connection in
                try Self.beginTurn(connection, session: session, threadID: threadID, content: content,
                                   fileIDs: attach, metadata: metadata, providers: providers,
                                   knownHistory: knownHistory, newRun: newRun)
            }
        } catch {
            turnContexts.forget(threadID: threadID)
            throw error
        }
        let (turnContext, turn) = turnStarted
        let settings = turnContext.assistant.settings
        guard let provider = providers.provider(named: settings.provider) else {
            throw RPCError(.failedPrecondition, "provider is not configured on this server")
        }
        turnContexts.assistantRead(session.assistantID, turnContext.assistant)
        let chat = chatRequest(turnContext.assistant, history: turnContext.history.rows, content: content, provider: provider)
        // Already under way if the speculation was right; else started now (the stream begins
        // its request when made), except when attachments must be read first.
        var stream: AsyncThrowingStream<ChatEvent, any Error>?
        if let guess = speculative, guess.provider == provider.name, guess.chat == chat {
            stream = guess.stream
            unowned = nil
            turnContexts.speculation(kept: true)
        } else {
            if speculative != nil {
                logger.debug("speculative upstream request dropped: the thread's context changed", metadata: ["thread": "\(threadID)"])
                turnContexts.speculation(kept: false)
            }
            // With attachments to read or files to search first, the driver starts it.
            stream = fileIDs.isEmpty && !settings.fileSearch ? provider.streamReply(chat) : nil
        }

        // The run: created and answered in memory first; the driver owns the request from here.
        let run = Run(id: newRun.id, threadID: threadID, windowCapacity: runs.configuration.windowCapacity)
        run.append { $0.run = turn.run }
        run.append { $0.userMessage = turn.userMessage }
        let job = ReplyJob(session: session, threadID: threadID, content: content, provider: provider, chat: chat,
                           stream: stream, turn: turn, turnContext: turnContext,
                           title: turnContext.threadHasTitle ? nil : Self.title(from: content))
        runs.start(run, executor: context.taskExecutor) { run in await self.drive(job, run: run) }

        // Follow it. Leaving early (cancel, deadline, disconnect) ends this call only. While this
        // call waits, the driver (on this call's event loop) sends what it can on directly.
        var last: Loacl_V1_SendMessageEvent?
        do {
            try await runs.followLocal(run, after: 0, handoff: { responses.writeNow($0) }) { event in
                last = event
                try await responses.write(event)
            }
        } catch {
            if request.cancelOnDisconnect, Task.isCancelled || error is CancellationError {
                run.requestStop(.cancelled)
            }
            throw error
        }
        // A failed run ends the call with the status its caller always got.
        if case .run(let final)? = last?.event, final.status == .failed {
            throw RPCError(StatusCode(named: final.lastError.code) ?? .unavailable, final.lastError.message)
        }
    }
}
