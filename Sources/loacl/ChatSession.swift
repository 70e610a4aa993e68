import ArgumentParser
import Foundation
import LOACLClient

/// One chat on one connection: the session, the current thread, and what the user may pick.
struct ChatSession {
    let connection: LOACLClientConnection
    let options: ServerOptions
    let metadata: Metadata
    var threadID: String?
    /// Numbered picks offered after the last reply (or the guided questions before the first).
    var picks: [(text: String, followUpID: String?)] = []
    /// Local commands that answer the model's function calls (`--tool-command`).
    var tools = try! ToolCommands([])

    static func open(connection: LOACLClientConnection, options: ServerOptions, assistantID: String?, fingerprint: String,
                     jwt: String?, sessionToken: String?, threadID: String?) async throws -> ChatSession {
        let sessions = Loacl_V1_SessionServiceClient(connection)
        let token: String
        if let sessionToken, !sessionToken.isEmpty {
            token = sessionToken
        } else if let jwt {
            var request = Loacl_V1_StartAuthenticatedSessionRequest()
            request.assistantID = assistantID ?? ""
            request.jwt = jwt
            let response = try await sessions.startAuthenticatedSession(request, options: options.callOptions())
            token = response.sessionToken
            Output.note("session \(response.session.id) (authenticated as \(response.session.userID))")
        } else {
            var request = Loacl_V1_StartGuestSessionRequest()
            request.assistantID = assistantID ?? ""
            request.fingerprint = fingerprint
            let response = try await sessions.startGuestSession(request, options: options.callOptions())
            token = response.sessionToken
            Output.note("session \(response.session.id) (guest)")
            Output.note("session token (reuse with --session-token): \(token)")
        }
        return ChatSession(connection: connection, options: options, metadata: ["x-loacl-session-token": .text(token)], threadID: threadID)
    }

    var callOptions: CallOptions { options.callOptions(metadata) }

    func guidedQuestions() async throws -> [String] {
        let response = try await Loacl_V1_GuidedQuestionServiceClient(connection)
            .listGuidedQuestions(Loacl_V1_ListGuidedQuestionsRequest(), options: callOptions)
        return response.questions.map(\.question)
    }

    mutating func ensureThread() async throws -> String {
        if let threadID { return threadID }
        let response = try await Loacl_V1_ThreadServiceClient(connection).createThread(Loacl_V1_CreateThreadRequest(), options: callOptions)
        threadID = response.thread.id
        Output.note("thread \(response.thread.id)")
        return response.thread.id
    }

    /// Sends one message and prints the reply as it streams, then the follow-ups.
    mutating func send(_ text: String, prefix: String = "") async throws {
        var request = Loacl_V1_SendMessageRequest()
        request.threadID = try await ensureThread()
        request.content = text
        let options = callOptions
        let result: (reply: Loacl_V1_Message?, followUps: [Loacl_V1_FollowUpSuggestion])
        do {
            result = try await Self.stream(request, connection: connection, options: options, prefix: prefix, tools: tools)
        } catch {
            Output.line()  // end the partial reply's line before the error is printed
            throw error
        }
        Output.line()
        if let reply = result.reply {
            Output.note(Self.replySummary(reply))
        }
        picks = result.followUps.map { ($0.suggestion, $0.id) }
        if !picks.isEmpty {
            Output.line("Follow-ups:")
            Output.numbered(picks.map(\.text))
        }
    }

    /// Runs SendMessage, writing deltas as they arrive; returns the stored reply and follow-ups.
    /// A dropped connection does not lose the reply: the run goes on on the server, and this
    /// resumes it (StreamRun after the last event shown, so nothing is shown twice).
    private static func stream(_ request: Loacl_V1_SendMessageRequest, connection: LOACLClientConnection, options: CallOptions,
                               prefix: String, tools: ToolCommands) async throws -> (reply: Loacl_V1_Message?, followUps: [Loacl_V1_FollowUpSuggestion]) {
        var shown = ReplyPrinter(prefix: prefix)
        let messages = Loacl_V1_MessageServiceClient(connection)
        do {
            try await messages.sendMessage(request, options: options) { events in
                for try await event in events {
                    if shown.show(event), case .toolCalls(let step)? = event.event {
                        try await tools.answer(step, runID: shown.runID, connection: connection, options: options)
                    }
                }
            }
        } catch let error as RPCError where error.code == .unavailable && !shown.runID.isEmpty && !shown.ended {
            var attempt = 0
            var lastError = error
            while !shown.ended, attempt < resumeAttempts {
                attempt += 1
                try await Task.sleep(for: .milliseconds(200 * attempt))
                Output.note("connection lost; resuming run \(shown.runID) after event \(shown.lastSequence)")
                var resume = Loacl_V1_StreamRunRequest()
                resume.runID = shown.runID
                resume.afterSequence = shown.lastSequence
                do {
                    try await messages.streamRun(resume, options: options) { events in
                        for try await event in events {
                            if shown.show(event), case .toolCalls(let step)? = event.event {
                                try await tools.answer(step, runID: shown.runID, connection: connection, options: options)
                            }
                        }
                    }
                } catch let error as RPCError where error.code == .unavailable {
                    lastError = error
                    continue
                }
            }
            if !shown.ended { throw lastError }
        }
        if case .failed? = shown.finalStatus, let error = shown.failure { throw error }
        return (shown.reply, shown.followUps)
    }

    /// How often a dropped reply is resumed before giving up.
    static let resumeAttempts = 5

    /// Writes a run's events as they arrive and remembers where it is.
    struct ReplyPrinter {
        let prefix: String
        var runID = ""
        var lastSequence: UInt64 = 0
        var started = false
        var ended = false
        var finalStatus: Loacl_V1_RunStatus?
        var failure: RPCError?
        var reply: Loacl_V1_Message?
        var followUps: [Loacl_V1_FollowUpSuggestion] = []

        /// Shows `event`; false for one shown before (a resumed stream starts after the last
        /// event shown; never show one twice).
        @discardableResult
        mutating func show(_ event: Loacl_V1_SendMessageEvent) -> Bool {
            guard event.sequenceNumber == 0 || event.sequenceNumber > lastSequence else { return false }
            defer { lastSequence = max(lastSequence, event.sequenceNumber) }
            if !event.runID.isEmpty { runID = event.runID }
            switch event.event {
            case .delta(let delta)?:
                if !started { Output.write(prefix); started = true }
                Output.write(delta.text)
            case .assistantMessage(let message)?:
                if !started { Output.write(prefix + message.content); started = true }
                reply = message
            case .followUps(let list)?:
                followUps = list.suggestions
            case .run(let run)?:
                if run.status.rawValue >= Loacl_V1_RunStatus.completed.rawValue {
                    ended = true
                    finalStatus = run.status
                    if run.status == .failed {
                        failure = RPCError(.unavailable, run.lastError.message.isEmpty ? "the reply failed" : run.lastError.message)
                    }
                }
            case .toolCalls(let step)?:
                for call in step.calls { Output.note("→ \(call.name)(\(call.argumentsJson))") }
            case .fileSearch(let results)?:
                for (index, hit) in results.hits.enumerated() {
                    let from = hit.source == .thread ? "attachment" : "knowledge"
                    Output.note("[\(index + 1)] \(hit.filename) #\(hit.chunkIndex) (\(from))")
                }
            case .userMessage?, .toolCallDelta?, .toolOutputs?, nil:
                break
            }
            return true
        }
    }

    /// "[offline · 182 tokens]" from the stored reply's metadata.
    static func replySummary(_ reply: Loacl_V1_Message) -> String {
        var parts: [String] = []
        let metadata = (try? JSONSerialization.jsonObject(with: Data(reply.metadataJson.utf8))) as? [String: Any]
        if let provider = metadata?["provider"] as? String { parts.append(provider) }
        parts.append("\(reply.tokensUsed) tokens")
        if metadata?["incomplete"] as? Bool == true { parts.append("incomplete") }
        return "[" + parts.joined(separator: " · ") + "]"
    }

    mutating func markUsed(_ id: String) async {
        var request = Loacl_V1_MarkFollowUpUsedRequest()
        request.id = id
        // Recording the pick is best effort: the question is sent either way.
        _ = try? await Loacl_V1_FollowUpServiceClient(connection).markFollowUpUsed(request, options: callOptions)
    }

    mutating func interactive() async throws {
        let questions = (try? await guidedQuestions()) ?? []
        picks = questions.map { ($0, nil) }
        if !picks.isEmpty {
            Output.line("Suggested questions:")
            Output.numbered(picks.map(\.text))
        }
        Output.line("Type a message, a number to pick a suggestion, /new for a new thread, /quit to leave.")
        while true {
            Output.write("you> ")
            guard let input = readLine(strippingNewline: true) else { Output.line(); return }
            let text = input.trimmingCharacters(in: .whitespaces)
            switch text {
            case "": continue
            case "/quit", "/exit": return
            case "/new":
                threadID = nil
                picks = questions.map { ($0, nil) }
                Output.line("(new thread on the next message)")
                continue
            default: break
            }
            var message = text
            if let n = Int(text), (1...picks.count).contains(n) {
                let pick = picks[n - 1]
                message = pick.text
                Output.line("you> \(message)")
                if let id = pick.followUpID { await markUsed(id) }
            }
            do {
                try await send(message, prefix: "assistant> ")
            } catch let error as RPCError {
                Output.line()
                Output.note("error: \(CallFailed(error: error))")
            }
        }
    }
}
