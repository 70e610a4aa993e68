import Foundation
import LOACLClient
import LOACLCore
import LOACLCrypto
import LOACLFakeOpenAI
import LOACLMessages
import LOACLPostgres
import LOACLServer
import LOACLServerCore
import LOACLServices
import LOACLUpstream
import Synchronization
import Logging
import Testing

// SendMessage end to end: typed Swift client → real socket → data services → the real OpenAI
// providers → FakeOpenAIServer (OpenAI's exact wire format), checked against real PostgreSQL.

/// The two OpenAI endpoints, as an assistant names them and as the fake server answers them.
enum UpstreamEndpoint: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case responses = "openai-responses"
    case chat = "openai-chat"

    var testDescription: String { rawValue }
    var path: String { self == .responses ? "/v1/responses" : "/v1/chat/completions" }

    /// A complete, successful streamed reply.
    func reply(_ deltas: [String], input: Int, output: Int, delay: Duration = .milliseconds(2)) -> FakeOpenAIServer.Reply {
        switch self {
        case .responses:
            .stream(OpenAIWire.responses(deltas: deltas, usage: (input: input, output: output, total: input + output)), delay: delay)
        case .chat:
            .stream(OpenAIWire.chatCompletions(deltas: deltas, usage: (prompt: input, completion: output, total: input + output)), delay: delay)
        }
    }

    /// The start of a reply with these deltas and no end, to drop or hold the connection after.
    func opening(_ deltas: [String]) -> [String] {
        switch self {
        case .responses:
            OpenAIWire.responsesPreamble() + deltas.enumerated().map { OpenAIWire.responsesDelta($0.element, sequence: 4 + $0.offset) }
        case .chat:
            [OpenAIWire.chatChunk(delta: ["role": "assistant", "content": ""], finishReason: nil)]
                + deltas.map { OpenAIWire.chatChunk(delta: ["content": $0], finishReason: nil) }
        }
    }

    /// A reply the upstream stops early but cleanly at the output limit, with usage: Responses
    /// `response.incomplete` (`incomplete_details.reason` "max_output_tokens"), Chat Completions
    /// `finish_reason` "length".
    func cutAtOutputLimit(_ deltas: [String], input: Int, output: Int) -> FakeOpenAIServer.Reply {
        switch self {
        case .responses:
            .stream(opening(deltas) + [OpenAIWire.responsesIncomplete(reason: "max_output_tokens",
                                                                       usage: (input: input, output: output, total: input + output))])
        case .chat:
            .stream(OpenAIWire.chatCompletions(deltas: deltas, usage: (prompt: input, completion: output, total: input + output),
                                               finishReason: "length"))
        }
    }

    /// The request body's field for the reply's token limit.
    var maxOutputTokensField: String { self == .responses ? "max_output_tokens" : "max_completion_tokens" }

    /// The last message of a request body: the new user message (`input` or `messages`).
    func lastMessage(_ request: FakeOpenAIServer.Request) -> [String: Any]? {
        (request.json?[self == .responses ? "input" : "messages"] as? [[String: Any]])?.last
    }

    /// OpenAI's documented content parts for a user message with attachments: Responses
    /// `input_text` / `input_image` (`image_url`: data URL) / `input_file` (`filename`, `file_data`:
    /// data URL); Chat Completions `text` / `image_url` (`{url}`) / `file` (`{filename, file_data}`).
    func textPart(_ text: String) -> [String: Any] {
        self == .responses ? ["type": "input_text", "text": text] : ["type": "text", "text": text]
    }

    func imagePart(_ dataURL: String) -> [String: Any] {
        self == .responses ? ["type": "input_image", "image_url": dataURL] : ["type": "image_url", "image_url": ["url": dataURL]]
    }

    func filePart(filename: String, dataURL: String) -> [String: Any] {
        self == .responses ? ["type": "input_file", "filename": filename, "file_data": dataURL]
                           : ["type": "file", "file": ["filename": filename, "file_data": dataURL]]
    }
}

/// An upstream failure reported inside the stream after some text, and how the call must end.
struct MidStreamFailure: Sendable, CustomTestStringConvertible {
    var endpoint: UpstreamEndpoint
    var name: String
    /// The event the fake upstream sends after the deltas.
    var event: String
    var code: StatusCode
    /// Part of the message the client gets.
    var clientMessage: String
    /// Part of the upstream's own message, which the server's log keeps.
    var upstreamMessage: String

    var testDescription: String { "\(endpoint.rawValue) \(name)" }

    static let all: [MidStreamFailure] = [
        // A failure on OpenAI's side: worth retrying later.
        MidStreamFailure(endpoint: .responses, name: "response.failed server_error",
                         event: OpenAIWire.responsesFailed(code: "server_error", message: "The model failed to generate a response."),
                         code: .unavailable, clientMessage: "upstream provider unavailable", upstreamMessage: "The model failed to generate a response."),
        // The model refused this request: retrying will not help, and the client is told why.
        MidStreamFailure(endpoint: .responses, name: "response.failed invalid_prompt",
                         event: OpenAIWire.responsesFailed(code: "invalid_prompt", message: "Invalid prompt: flagged as potentially violating our usage policy."),
                         code: .failedPrecondition, clientMessage: "Invalid prompt: flagged", upstreamMessage: "Invalid prompt: flagged"),
        // The stream-level `error` event as OpenAI documents it.
        MidStreamFailure(endpoint: .responses, name: "error event",
                         event: OpenAIWire.responsesError(code: "ERR_SOMETHING", message: "Something went wrong"),
                         code: .unavailable, clientMessage: "upstream provider unavailable", upstreamMessage: "Something went wrong (ERR_SOMETHING)"),
        MidStreamFailure(endpoint: .responses, name: "error event rate_limit_exceeded",
                         event: OpenAIWire.responsesError(code: "rate_limit_exceeded", message: "Rate limit reached for gpt-4.1-mini"),
                         code: .resourceExhausted, clientMessage: "rate limit", upstreamMessage: "Rate limit reached for gpt-4.1-mini"),
        // OpenAI-compatible servers (vLLM and others) put an error object in a chunk.
        MidStreamFailure(endpoint: .chat, name: "error chunk",
                         event: OpenAIWire.data(["error": ["message": "Internal server error", "type": "server_error", "code": NSNull()]]),
                         code: .unavailable, clientMessage: "upstream provider unavailable", upstreamMessage: "Internal server error"),
    ]
}

/// Small real files to attach.
enum AttachmentSamples {
    /// A 1×1 PNG (70 bytes: its base64 ends in "==").
    static let png = Array(Data(base64Encoded: "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")!)
    /// A minimal one-page PDF, with the binary comment line real PDFs start with.
    static let pdf = Array("%PDF-1.4\n%".utf8) + [0xE2, 0xE3, 0xCF, 0xD3] + Array("""

        1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj
        2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj
        3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >> endobj
        trailer << /Root 1 0 R >>
        %%EOF

        """.utf8)
    /// Text with non-ASCII characters and a line break.
    static let text = Array("Line one\nLine two: ünïcödé ✓".utf8)

    /// `data:<type>;base64,<bytes>` encoded by Foundation (independently of LOACL's encoder).
    static func dataURL(_ type: String, _ bytes: [UInt8]) -> String {
        "data:\(type);base64,\(Data(bytes).base64EncodedString())"
    }
}

/// `value` as JSON with sorted keys, to compare decoded request bodies exactly and readably.
func canonicalJSON(_ value: Any) -> String {
    guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed]) else {
        return "\(value)"
    }
    return String(decoding: data, as: UTF8.self)
}

/// Scripts the fake upstream: the providers' follow-up request gets `fakeFollowUps`, every
/// other request gets `chat(n)`, n counting those requests from 0.
final class UpstreamScript: Sendable {
    static let followUps = ["What comes next?", "Why is that?", "Can you give an example?"]

    let endpoint: UpstreamEndpoint
    private let chat: @Sendable (Int) -> FakeOpenAIServer.Reply
    private let chatRequests = Mutex(0)

    init(_ endpoint: UpstreamEndpoint, chat: @escaping @Sendable (Int) -> FakeOpenAIServer.Reply) {
        self.endpoint = endpoint
        self.chat = chat
    }

    var respond: @Sendable (FakeOpenAIServer.Request, Int) -> FakeOpenAIServer.Reply {
        { request, _ in
            if request.asksForFollowUps {
                let json = String(decoding: try! JSONSerialization.data(withJSONObject: Self.followUps), as: UTF8.self)
                return self.endpoint.reply([String(json.prefix(12)), String(json.dropFirst(12))], input: 30, output: 20)
            }
            return self.chat(self.chatRequests.withLock { n in
                defer { n += 1 }
                return n
            })
        }
    }
}

extension FakeOpenAIServer.Request {
    /// The providers' second, short request that asks for follow-up suggestions.
    var asksForFollowUps: Bool { String(decoding: body, as: UTF8.self).contains("suggest follow-up questions") }
}

/// The harness's database and services, plus a second server on a real socket whose chat
/// providers are the real OpenAI ones pointed at a fake upstream; a guest with a thread of an
/// assistant that uses `endpoint`.
struct UpstreamRig {
    static let fastRetry = RetryPolicy(maxAttempts: 3, initialDelay: .milliseconds(10), maxDelay: .milliseconds(50),
                                       maxRetryAfter: .seconds(2))

    let harness: Harness
    let services: DataServices
    let upstream: FakeOpenAIServer
    let client: LOACLClientConnection
    let tenantKey: String
    let guest: Caller
    let thread: Loacl_V1_Thread

    /// The result of one SendMessage call: the events that arrived and how the call ended.
    struct Outcome {
        var events: [Loacl_V1_SendMessageEvent] = []
        var error: (any Error)?

        var deltas: [String] { events.compactMap { if case .delta(let d)? = $0.event { d.text } else { nil } } }
        var userMessage: Loacl_V1_Message? { events.lazy.compactMap { if case .userMessage(let m)? = $0.event { m } else { nil } }.first }
        var reply: Loacl_V1_Message? { events.lazy.compactMap { if case .assistantMessage(let m)? = $0.event { m } else { nil } }.first }
        var followUps: [String] {
            events.lazy.compactMap { if case .followUps(let f)? = $0.event { f.suggestions.map(\.suggestion) } else { nil } }.first ?? []
        }
        var rpcError: RPCError? { error as? RPCError }
        /// The run as its last event left it.
        var finalRun: Loacl_V1_Run? { events.last.flatMap { if case .run(let r)? = $0.event { r } else { nil } } }
    }

    /// Sends `text` with `fileIDs` attached; `stopAfterDeltas` leaves the stream (cancelling the
    /// call) after that many deltas; `onEvent` is called as each event arrives, `onDelta` with the
    /// number of deltas so far after each delta.
    func send(_ text: String, fileIDs: [String] = [], stopAfterDeltas: Int? = nil, cancelOnDisconnect: Bool = false,
              onEvent: @Sendable () -> Void = {}, onDelta: @Sendable (Int) -> Void = { _ in }) async -> Outcome {
        var outcome = Outcome()
        var message = Loacl_V1_SendMessageRequest()
        message.threadID = thread.id
        message.content = text
        message.fileIds = fileIDs
        message.cancelOnDisconnect = cancelOnDisconnect
        do {
            // Generous limits: Swift Testing starts every test at once, and in the first seconds of a
            // whole-suite run on two cores a call can wait many seconds for a thread (a 20 s deadline
            // and a 2 s upstream connect timeout were exceeded once, session 12). No test here is
            // about these limits.
            try await client.serverStreaming(MS.sendMessage, message, options: CallOptions(timeout: .seconds(60), metadata: guest.metadata),
                                             responseType: Loacl_V1_SendMessageEvent.self) { stream in
                for try await event in stream {
                    onEvent()
                    outcome.events.append(event)
                    if case .delta? = event.event { onDelta(outcome.deltas.count) }
                    if let stop = stopAfterDeltas, outcome.deltas.count == stop { return }
                }
            }
        } catch {
            outcome.error = error
        }
        return outcome
    }

    /// The thread's stored messages in order, read as the superuser.
    func storedMessages() async throws -> [PostgresRow] {
        try await harness.superuser("""
            SELECT id, role, content, tokens_used, metadata::text AS metadata, metadata->>'incomplete' AS incomplete,
                   metadata->>'incomplete_reason' AS incomplete_reason,
                   metadata->>'input_tokens' AS input_tokens, metadata->>'output_tokens' AS output_tokens
            FROM loacl.messages WHERE thread_id = $1 ORDER BY created_at, id
            """, [thread.id]).namedRows
    }

    /// Polls until the thread has `count` messages (a cancelled reply is stored after the call ends).
    func waitForMessages(_ count: Int) async throws -> [PostgresRow] {
        for _ in 0..<250 {
            let rows = try await storedMessages()
            if rows.count >= count { return rows }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try await storedMessages()
    }

    /// Requests the fake upstream got for replies (follow-up requests left out).
    var chatRequests: [FakeOpenAIServer.Request] { upstream.requests.filter { !$0.asksForFollowUps } }

    /// Uploads a file into the rig's thread (or `thread`) as the guest.
    func upload(_ name: String, type: String = "text/plain", _ bytes: [UInt8], thread: String? = nil) async throws -> Loacl_V1_File {
        try await harness.upload(guest, thread: thread ?? self.thread.id, name: name, type: type, bytes: bytes)
    }
}

/// Runs `body` with a fresh harness, a fake upstream answering from `script`, and the data
/// services wired to `ChatProviderFactory`'s providers (with `limits` for attachments); the
/// assistant is set up by `assistant`. Tears everything down afterwards.
func withUpstream(_ script: UpstreamScript, retry: RetryPolicy = UpstreamRig.fastRetry, limits: AttachmentLimits = AttachmentLimits(),
                  assistant configure: (inout Loacl_V1_CreateAssistantRequest) -> Void = { _ in },
                  logLevel: Logger.Level = .trace, replySpeculation: Duration? = nil,
                  _ body: (UpstreamRig) async throws -> Void) async throws {
    try await withHarness(logLevel: logLevel) { h in
        let upstream = try await FakeOpenAIServer.start(script.respond)
        let factory = ChatProviderFactory(configuration: UpstreamConfiguration(
            responsesBaseURL: upstream.baseURL, chatBaseURL: upstream.baseURL, connectTimeout: .seconds(10),
            readTimeout: .seconds(30), requestTimeout: .seconds(60), retry: retry, attachmentLimits: limits))
        let services = DataServices(
            pool: h.pool, vault: try TenantKeyVault(masterKey: Harness.masterKey), jwtVerifier: JWTVerifier(secret: Harness.jwtSecret),
            providers: ChatProviderRegistry([factory.offline, factory.responses, factory.chat], defaultName: "offline"),
            storage: FileStorage(root: h.storageRoot, maxFileSize: 64 * 1024), replySpeculation: replySpeculation, logger: h.logs.logger)
        var methods = MethodTable()
        methods.register(contentsOf: services.methods)
        let server = try RPCServer(configuration: ServerConfiguration(listeners: [.tcp(host: "127.0.0.1", port: 0)]), methods: methods,
                                   interceptors: [services.authInterceptor], logger: h.logs.logger)
        var client: LOACLClientConnection?
        do {
            guard case .tcp(_, let port)? = try await server.start().first else { throw RPCError.internal("no port") }
            let connection = try LOACLClientConnection(configuration: ClientConfiguration(endpoint: .tcp(host: "127.0.0.1", port: port)))
            client = connection
            let tenantKey = "sk-test-" + Base64URL.encode(SecureRandom.bytes(18))
            let assistant = try await h.createAssistant(.tenant(tenantKey)) {
                $0.configuration.provider = script.endpoint.rawValue
                configure(&$0)
            }
            let (guest, _) = try await h.startGuest(assistant.id)
            let thread = try await h.createThread(guest)
            try await body(UpstreamRig(harness: h, services: services, upstream: upstream, client: connection, tenantKey: tenantKey, guest: guest, thread: thread))
        } catch {
            await client?.close()
            await server.shutdownGracefully()
            services.runs.close()
            try? await factory.shutdown()
            await upstream.stop()
            throw error
        }
        await client?.close()
        await server.shutdownGracefully()
        services.runs.close()
        try? await factory.shutdown()
        await upstream.stop()
    }
}

@Suite("SendMessage end to end against a fake OpenAI upstream")
struct UpstreamEndToEndTests {
    @Test(arguments: UpstreamEndpoint.allCases)
    func repliesStreamInOrderAndAreStoredWithUpstreamUsage(_ endpoint: UpstreamEndpoint) async throws {
        let deltas = ["Reset it ", "from the ", "login page", ", then sign in."]
        try await withUpstream(UpstreamScript(endpoint) { _ in endpoint.reply(deltas, input: 57, output: 11) }) { rig in
            let question = "How do I reset my password?"
            let outcome = await rig.send(question)
            #expect(outcome.error == nil, "\(String(describing: outcome.error))")

            // Event order: the stored user message, the deltas as sent, the reply, the follow-ups.
            let kinds = outcome.events.map { event -> String in
                switch event.event {
                case .userMessage?: "user"
                case .delta?: "delta"
                case .assistantMessage?: "assistant"
                case .followUps?: "followUps"
                case .run(let run)?: run.status == .inProgress ? "run started" : "run \(run.status)"
                case .toolCallDelta?, .toolCalls?, .toolOutputs?, .fileSearch?: "tool"
                case nil: "none"
                }
            }
            #expect(kinds == ["run started", "user"] + Array(repeating: "delta", count: deltas.count)
                        + ["assistant", "followUps", "run RUN_STATUS_COMPLETED"])
            // One run, numbered 1, 2, 3 ... without gaps.
            #expect(outcome.events.map(\.sequenceNumber) == (1...UInt64(outcome.events.count)).map { $0 })
            #expect(Set(outcome.events.map(\.runID)).count == 1)
            #expect(outcome.deltas == deltas)
            let reply = try #require(outcome.reply)
            #expect(reply.content == deltas.joined())
            #expect(reply.tokensUsed == 11)
            #expect(outcome.followUps == UpstreamScript.followUps)

            // Stored rows match what was streamed, with upstream's counts.
            let rows = try await rig.storedMessages()
            try #require(rows.count == 2)
            #expect(rows[0]["role"] == "user" && rows[0]["content"] == question)
            #expect(rows[0].int("tokens_used") == (question.utf8.count + 3) / 4) // LOACL's estimate
            #expect(rows[1]["role"] == "assistant" && rows[1]["id"] == reply.id)
            #expect(rows[1]["content"] == outcome.deltas.joined())
            #expect(rows[1].int("tokens_used") == 11)
            #expect(rows[1]["input_tokens"] == "57" && rows[1]["output_tokens"] == "11")
            #expect(rows[1]["incomplete"] == nil)
            #expect(rows[1]["metadata"]?.contains(endpoint.rawValue) == true)

            // Usage metrics: one message and the tokens of both messages.
            let metrics = try await rig.harness.superuser("""
                SELECT metric_type, metric_value FROM loacl.usage_metrics WHERE thread_id = $1 ORDER BY metric_type, metric_value
                """, [rig.thread.id]).rows
            let userTokens = (question.utf8.count + 3) / 4
            #expect(metrics == [["messages", "1"], ["tokens", "\(min(userTokens, 11))"], ["tokens", "\(max(userTokens, 11))"]])

            let stored = try await rig.harness.superuser("""
                SELECT suggestion FROM loacl.follow_up_suggestions WHERE thread_id = $1 AND message_id = $2 ORDER BY created_at, id
                """, [rig.thread.id, reply.id]).rows.compactMap { $0[0] }
            #expect(stored == UpstreamScript.followUps)
            let title = try await rig.harness.superuser("SELECT title FROM loacl.threads WHERE id = $1", [rig.thread.id]).scalar
            #expect(title == question)

            // What went upstream: the endpoint's path, the tenant's key, a streamed request with the question.
            let sent = try #require(rig.chatRequests.first)
            #expect(rig.chatRequests.count == 1 && rig.upstream.requests.count == 2)
            #expect(sent.method == "POST" && sent.path == endpoint.path)
            #expect(sent.header("Authorization") == "Bearer \(rig.tenantKey)")
            #expect(sent.json?["stream"] as? Bool == true)
            #expect(String(decoding: sent.body, as: UTF8.self).contains(question))

            // A second turn sends the first exchange upstream as history.
            let second = await rig.send("And if I forgot my email?")
            #expect(second.error == nil && second.deltas == deltas)
            let history = String(decoding: try #require(rig.chatRequests.last).body, as: UTF8.self)
            #expect(rig.chatRequests.count == 2)
            #expect(history.contains(question) && history.contains(deltas.joined()) && history.contains("And if I forgot my email?"))
            let messageCount = try await rig.storedMessages().count
            #expect(messageCount == 4)
        }
    }

    @Test func rejectedKeyFailsWithoutAReply() async throws {
        let script = UpstreamScript(.responses) { _ in
            .status(401, body: OpenAIWire.errorBody("Incorrect API key provided", type: "invalid_request_error", code: "invalid_api_key"))
        }
        try await withUpstream(script) { rig in
            let outcome = await rig.send("Hello?")
            #expect(outcome.rpcError?.code == .failedPrecondition, "\(String(describing: outcome.error))")
            #expect(outcome.rpcError?.message.contains("API key") == true)
            #expect(outcome.userMessage != nil && outcome.deltas.isEmpty && outcome.reply == nil)
            let rows = try await rig.storedMessages()
            #expect(rows.map { $0["role"] } == ["user"])
            #expect(rig.upstream.requests.count == 1) // a 401 is not retried
            // The key itself never reaches the logs.
            #expect(!rig.harness.logs.lines.withLockedValue { $0 }.contains { $0.contains(rig.tenantKey) })
        }
    }

    @Test func rateLimitHonoursRetryAfterThenSucceeds() async throws {
        let script = UpstreamScript(.chat) { n in
            n == 0 ? .status(429, headers: [("Retry-After", "0.05")],
                             body: OpenAIWire.errorBody("Rate limit reached", type: "requests", code: "rate_limit_exceeded"))
                   : UpstreamEndpoint.chat.reply(["After ", "waiting."], input: 9, output: 3)
        }
        try await withUpstream(script) { rig in
            let outcome = await rig.send("Are you there?")
            #expect(outcome.error == nil, "\(String(describing: outcome.error))")
            #expect(outcome.deltas == ["After ", "waiting."])
            #expect(rig.chatRequests.count == 2)
            let rows = try await rig.storedMessages()
            #expect(rows.map { $0["role"] } == ["user", "assistant"])
            #expect(rows.last?["content"] == "After waiting." && rows.last?.int("tokens_used") == 3)
        }
    }

    @Test func rateLimitedEveryTimeIsResourceExhausted() async throws {
        let script = UpstreamScript(.responses) { _ in
            .status(429, headers: [("Retry-After", "0.01")],
                    body: OpenAIWire.errorBody("Rate limit reached", type: "requests", code: "rate_limit_exceeded"))
        }
        try await withUpstream(script) { rig in
            let outcome = await rig.send("Anyone?")
            #expect(outcome.rpcError?.code == .resourceExhausted, "\(String(describing: outcome.error))")
            #expect(rig.chatRequests.count == UpstreamRig.fastRetry.maxAttempts)
            let roles = try await rig.storedMessages().map { $0["role"] }
            #expect(roles == ["user"])
        }
    }

    @Test func serverErrorsAreRetriedThenUnavailable() async throws {
        let script = UpstreamScript(.responses) { _ in
            .status(500, body: OpenAIWire.errorBody("The server had an error", type: "server_error", code: nil))
        }
        try await withUpstream(script) { rig in
            let outcome = await rig.send("Still there?")
            #expect(outcome.rpcError?.code == .unavailable, "\(String(describing: outcome.error))")
            #expect(rig.chatRequests.count == UpstreamRig.fastRetry.maxAttempts)
            #expect(outcome.userMessage != nil && outcome.reply == nil)
            let roles = try await rig.storedMessages().map { $0["role"] }
            #expect(roles == ["user"])
        }
    }

    @Test(arguments: UpstreamEndpoint.allCases)
    func droppedConnectionKeepsThePartialReply(_ endpoint: UpstreamEndpoint) async throws {
        // Held open until the client has both deltas, then dropped (`FakeOpenAIServer.dropConnections`).
        let script = UpstreamScript(endpoint) { _ in .stream(endpoint.opening(["Partial ", "answ"]), end: .hold) }
        try await withUpstream(script) { rig in
            let upstream = rig.upstream
            let outcome = await rig.send("Tell me everything", onDelta: { if $0 == 2 { upstream.dropConnections() } })
            #expect(outcome.rpcError?.code == .unavailable, "\(String(describing: outcome.error))")
            // The partial reply is stored and shown as such before the run ends `failed`.
            #expect(outcome.deltas == ["Partial ", "answ"] && outcome.reply?.content == "Partial answ")
            #expect(outcome.finalRun?.status == .failed && outcome.finalRun?.lastError.code == "UNAVAILABLE")
            #expect(rig.chatRequests.count == 1) // no retry once the user has seen text
            let rows = try await rig.storedMessages()
            try #require(rows.count == 2)
            #expect(rows[1]["role"] == "assistant" && rows[1]["content"] == "Partial answ")
            #expect(rows[1]["incomplete"] == "true")
            let suggestions = try await rig.harness.superuser("SELECT count(*) FROM loacl.follow_up_suggestions WHERE thread_id = $1",
                                                        [rig.thread.id]).scalar
            #expect(suggestions == "0")
        }
    }

    @Test func malformedEventIsUnavailableWithAClearReason() async throws {
        let script = UpstreamScript(.responses) { _ in
            .stream(OpenAIWire.responsesPreamble() + ["event: response.output_text.delta\ndata: {not json\n\n"])
        }
        try await withUpstream(script) { rig in
            let outcome = await rig.send("Hi")
            #expect(outcome.rpcError?.code == .unavailable, "\(String(describing: outcome.error))")
            #expect(outcome.rpcError?.message.contains("upstream") == true)
            #expect(rig.chatRequests.count == 1) // a broken stream is not retried
            let roles = try await rig.storedMessages().map { $0["role"] }
            #expect(roles == ["user"])
            // The server's log says what was wrong.
            #expect(rig.harness.logs.lines.withLockedValue { $0 }.contains { $0.contains("malformed event from upstream") })
        }
    }

    @Test func clientCancellationClosesTheUpstreamConnectionAndKeepsThePartialReply() async throws {
        let script = UpstreamScript(.responses) { _ in
            .stream(UpstreamEndpoint.responses.opening(["One ", "two ", "three "]), delay: .milliseconds(5), end: .hold)
        }
        try await withUpstream(script) { rig in
            // `cancel_on_disconnect`: leaving stops the run (as every call did before runs).
            let outcome = await rig.send("Count slowly", stopAfterDeltas: 2, cancelOnDisconnect: true)
            #expect(outcome.error == nil)
            #expect(outcome.deltas == ["One ", "two "])
            // The fake upstream holds its reply open until LOACL closes the connection.
            #expect(await rig.upstream.waitForClosedConnections(1, timeout: .seconds(10)))
            let rows = try await rig.waitForMessages(2)
            try #require(rows.count == 2)
            #expect(rows[1]["role"] == "assistant" && rows[1]["incomplete"] == "true")
            // At least what the user saw is kept (a third delta may have arrived meanwhile).
            #expect(rows[1]["content"]?.hasPrefix("One two ") == true)
            #expect(rig.upstream.requests.count == 1) // no follow-up request for a cancelled reply
        }
    }

    /// The upstream request starts while the user message commits; when that commit fails the
    /// request is cancelled, the call fails, and nothing of the turn is stored.
    @Test func aFailedUserMessageCommitCancelsTheUpstreamRequest() async throws {
        let script = UpstreamScript(.responses) { _ in
            .stream(UpstreamEndpoint.responses.opening(["Never ", "shown "]), delay: .milliseconds(5), end: .hold)
        }
        try await withUpstream(script) { rig in
            // The checks pass; the INSERT of this particular message then fails inside PostgreSQL.
            try await rig.harness.superuser("""
                CREATE FUNCTION public.refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'refused' USING ERRCODE = 'check_violation'; END $$
                """)
            try await rig.harness.superuser("""
                CREATE TRIGGER refuse_boom BEFORE INSERT ON loacl.messages FOR EACH ROW
                    WHEN (NEW.content = 'boom') EXECUTE FUNCTION public.refuse_boom()
                """)
            let outcome = await rig.send("boom")
            let error = try #require(outcome.rpcError, "\(String(describing: outcome.error))")
            #expect(error.code == .invalidArgument, "\(error)")
            #expect(outcome.userMessage == nil && outcome.deltas.isEmpty)
            // The request may have reached the upstream or been cancelled before it was sent
            // (its connection then just idles in the client's pool); either way no request is
            // left running: the fake upstream holds each reply open until the client closes
            // the connection, so every received request must end with a closed connection.
            var settled = 0
            for _ in 0..<200 where settled < 3 {
                settled = rig.upstream.closedConnections >= rig.upstream.requests.count ? settled + 1 : 0
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(settled == 3, "opened \(rig.upstream.openedConnections), closed \(rig.upstream.closedConnections), requests \(rig.upstream.requests.count)")
            #expect(rig.upstream.requests.count <= 1)
            #expect(try await rig.storedMessages().isEmpty)
            let usage = try await rig.harness.superuser("SELECT count(*) FROM loacl.usage_metrics WHERE thread_id = $1", [rig.thread.id]).scalar
            #expect(usage == "0")
        }
    }

    // MARK: Failures and early stops reported inside the stream

    @Test(arguments: MidStreamFailure.all)
    func failureMidStreamEndsTheCallAndKeepsThePartialReply(_ failure: MidStreamFailure) async throws {
        let script = UpstreamScript(failure.endpoint) { _ in .stream(failure.endpoint.opening(["Partial ", "answ"]) + [failure.event]) }
        try await withUpstream(script) { rig in
            let outcome = await rig.send("Tell me everything")
            let error = try #require(outcome.rpcError, "\(String(describing: outcome.error))")
            #expect(error.code == failure.code, "\(error)")
            #expect(error.message.contains(failure.clientMessage), "\(error)")
            #expect(outcome.userMessage != nil)
            #expect(outcome.deltas == ["Partial ", "answ"], "\(outcome.events)")
            #expect(outcome.reply?.content == "Partial answ" && outcome.followUps.isEmpty)
            #expect(outcome.finalRun?.status == .failed && outcome.finalRun?.lastError.message == error.message)
            #expect(rig.upstream.requests.count == 1) // never retried after text; no follow-up request

            // The partial reply is stored (before the call ends) and marked incomplete, with
            // LOACL's estimate: the upstream reported no usage for it.
            let rows = try await rig.storedMessages()
            try #require(rows.count == 2)
            #expect(rows[1]["role"] == "assistant" && rows[1]["content"] == "Partial answ")
            #expect(rows[1]["incomplete"] == "true" && rows[1]["incomplete_reason"] == "failed")
            #expect(rows[1]["input_tokens"] == nil && rows[1].int("tokens_used") == ("Partial answ".utf8.count + 3) / 4)
            #expect(rows[1]["metadata"]?.contains(failure.endpoint.rawValue) == true)
            let suggestions = try await rig.harness.superuser("SELECT count(*) FROM loacl.follow_up_suggestions WHERE thread_id = $1",
                                                        [rig.thread.id]).scalar
            #expect(suggestions == "0")
            // The server's log keeps the upstream's own words.
            #expect(rig.harness.logs.lines.withLockedValue { $0 }.contains { $0.contains("upstream failed") && $0.contains(failure.upstreamMessage) })
        }
    }

    @Test(arguments: UpstreamEndpoint.allCases)
    func replyCutAtTheOutputLimitIsStoredWithItsReasonAndUsage(_ endpoint: UpstreamEndpoint) async throws {
        let deltas = ["Start with ", "a small bed ", "of compost and"]
        let script = UpstreamScript(endpoint) { _ in endpoint.cutAtOutputLimit(deltas, input: 48, output: 16) }
        try await withUpstream(script, assistant: { $0.configuration.maxOutputTokens = 16 }) { rig in
            let outcome = await rig.send("How do I start a vegetable garden?")
            #expect(outcome.error == nil, "\(String(describing: outcome.error))")
            #expect(outcome.deltas == deltas)
            let reply = try #require(outcome.reply)
            #expect(reply.content == deltas.joined() && reply.tokensUsed == 16)
            #expect(reply.metadataJson.contains("max_output_tokens"))
            #expect(outcome.followUps == UpstreamScript.followUps) // a clean stop is a reply like any other

            let rows = try await rig.storedMessages()
            try #require(rows.count == 2)
            #expect(rows[1]["id"] == reply.id && rows[1]["content"] == deltas.joined())
            #expect(rows[1]["incomplete_reason"] == "max_output_tokens")
            #expect(rows[1]["incomplete"] == nil) // not a broken reply
            #expect(rows[1]["input_tokens"] == "48" && rows[1]["output_tokens"] == "16" && rows[1].int("tokens_used") == 16)
            #expect(rows[1]["metadata"]?.contains("tokens_estimated") == false)

            // The assistant's limit went upstream under the endpoint's name for it.
            let sent = try #require(rig.chatRequests.first?.json)
            #expect(sent[endpoint.maxOutputTokensField] as? Int == 16)
        }
    }

    // MARK: Attachments

    @Test(arguments: UpstreamEndpoint.allCases)
    func attachmentsReachTheUpstreamInTheProvidersFormat(_ endpoint: UpstreamEndpoint) async throws {
        try await withUpstream(UpstreamScript(endpoint) { _ in endpoint.reply(["Got ", "them."], input: 900, output: 2) }) { rig in
            let text = try await rig.upload("notes.txt", AttachmentSamples.text)
            let image = try await rig.upload("pixel.png", type: "image/png", AttachmentSamples.png)
            let pdf = try await rig.upload("brief.pdf", type: "application/pdf", AttachmentSamples.pdf)
            let ids = [text.id, image.id, pdf.id]
            let question = "Please review these"
            let outcome = await rig.send(question, fileIDs: ids)
            #expect(outcome.error == nil, "\(String(describing: outcome.error))")
            #expect(outcome.reply?.content == "Got them.")
            let user = try #require(outcome.userMessage)
            #expect(user.fileIds == ids && user.content == question)

            // Exactly OpenAI's documented parts: the text file inline in the text part, the
            // image and the PDF as base64 data URLs. (Their order is attachmentsKeepTheOrderOfFileIDs's
            // business.)
            let sent = try #require(rig.chatRequests.first)
            #expect(rig.chatRequests.count == 1)
            let message = try #require(endpoint.lastMessage(sent), "\(String(decoding: sent.body, as: UTF8.self).prefix(500))")
            #expect(message["role"] as? String == "user")
            let parts = try #require(message["content"] as? [Any], "content is not a list of parts: \(canonicalJSON(message))")
            let inline = question + "\n\n--- Attached file: notes.txt (text/plain) ---\n"
                + String(decoding: AttachmentSamples.text, as: UTF8.self) + "\n--- End of notes.txt ---"
            let expected = [endpoint.textPart(inline),
                            endpoint.imagePart(AttachmentSamples.dataURL("image/png", AttachmentSamples.png)),
                            endpoint.filePart(filename: "brief.pdf", dataURL: AttachmentSamples.dataURL("application/pdf", AttachmentSamples.pdf))]
            #expect(parts.first.map(canonicalJSON) == canonicalJSON(expected[0]))
            #expect(parts.dropFirst().map(canonicalJSON).sorted() == expected.dropFirst().map(canonicalJSON).sorted())
            // The follow-up request does not carry the files again.
            let followUp = try #require(rig.upstream.requests.first { $0.asksForFollowUps })
            #expect(!String(decoding: followUp.body, as: UTF8.self).contains("base64"))

            // Stored: the user message with its files, each file attached to it.
            let got: Loacl_V1_GetMessageResponse = try await rig.harness.call(
                MS.getMessage, request(Loacl_V1_GetMessageRequest.self) { $0.id = user.id }, as: rig.guest)
            #expect(got.message.fileIds == ids)
            let attachedTo = try await rig.harness.superuser("SELECT DISTINCT message_id::text FROM loacl.files WHERE id = ANY($1::uuid[])",
                                                       ["{\(ids.joined(separator: ","))}"]).rows
            #expect(attachedTo == [[user.id]])

            // Refused before anything is stored or sent: a file of another thread, of another
            // session, or one already attached (alone or next to a new file).
            let otherThread = try await rig.harness.createThread(rig.guest)
            let elsewhere = try await rig.upload("elsewhere.txt", Array("other thread".utf8), thread: otherThread.id)
            let (stranger, _) = try await rig.harness.startGuest(try #require(await rig.harness.superuser(
                "SELECT assistant_id::text FROM loacl.threads WHERE id = $1", [rig.thread.id]).scalar))
            let strangersThread = try await rig.harness.createThread(stranger)
            let strangers = try await rig.harness.upload(stranger, thread: strangersThread.id, name: "theirs.txt", bytes: Array("not yours".utf8))
            let fresh = try await rig.upload("fresh.txt", Array("new".utf8))
            for fileIDs in [[elsewhere.id], [strangers.id], [text.id], [fresh.id, image.id]] {
                let refused = await rig.send("And these?", fileIDs: fileIDs)
                #expect(refused.rpcError?.code == .invalidArgument, "\(fileIDs): \(String(describing: refused.error))")
                #expect(refused.rpcError?.message.contains("file_ids") == true)
                #expect(refused.events.isEmpty)
            }
            #expect(rig.upstream.requests.count == 2) // the reply and its follow-ups, nothing since
            #expect(try await rig.storedMessages().count == 2)
            let freshOwner = try await rig.harness.superuser("SELECT message_id FROM loacl.files WHERE id = $1", [fresh.id]).scalar
            #expect(freshOwner == nil, "a refused send must not attach anything")
        }
    }

    @Test(arguments: UpstreamEndpoint.allCases)
    func attachmentsOverTheLimitsOrOfUnsupportedTypesFailBeforeTheUpstreamCall(_ endpoint: UpstreamEndpoint) async throws {
        let limits = AttachmentLimits(maxInlineTextBytes: 100, maxImageBytes: 1000, maxPDFBytes: 2000, maxTotalBytes: 2500)
        try await withUpstream(UpstreamScript(endpoint) { _ in endpoint.reply(["Never sent."], input: 1, output: 1) }, limits: limits) { rig in
            let png = AttachmentSamples.png
            let pdf = AttachmentSamples.pdf
            let cases: [(files: [(name: String, type: String, bytes: [UInt8])], reason: String)] = [
                ([("big.png", "image/png", png + [UInt8](repeating: 0, count: 1001 - png.count))],
                 "image big.png is 1001 bytes; the limit is 1000"),
                ([("big.pdf", "application/pdf", pdf + [UInt8](repeating: 0x20, count: 2001 - pdf.count))],
                 "PDF big.pdf is 2001 bytes; the limit is 2000"),
                ([("a.txt", "text/plain", Array(repeating: UInt8(ascii: "a"), count: 60)),
                  ("b.md", "text/markdown", Array(repeating: UInt8(ascii: "b"), count: 41))],
                 "text attachments exceed 100 bytes"),
                ([("fine.png", "image/png", png + [UInt8](repeating: 0, count: 1000 - png.count)),
                  ("fine.pdf", "application/pdf", pdf + [UInt8](repeating: 0x20, count: 1600 - pdf.count))],
                 "attachments exceed 2500 bytes in total"),
                ([("latin1.txt", "text/plain", [0x63, 0x61, 0x66, 0xE9])], "attachment latin1.txt is not valid UTF-8 text"),
                ([("archive.zip", "application/zip", [0x50, 0x4B, 0x03, 0x04, 0, 0])],
                 "attachment archive.zip has unsupported type application/zip"),
            ]
            for (files, reason) in cases {
                var ids: [String] = []
                for file in files { ids.append(try await rig.upload(file.name, type: file.type, file.bytes).id) }
                let outcome = await rig.send("What is in these files?", fileIDs: ids)
                let error = try #require(outcome.rpcError, "\(reason): \(String(describing: outcome.error))")
                if reason.contains("UTF-8") {
                    // Only the provider can tell (it reads the bytes), after the turn was stored.
                    #expect(error.code == .failedPrecondition, "\(error)")
                } else {
                    // Types and sizes are refused inside the turn's transaction: nothing stored.
                    #expect(error.code == .invalidArgument, "\(error)")
                    #expect(error.message.hasPrefix("file_ids:"), "\(error)")
                }
                #expect(error.message.contains(reason), "\(error)")
                #expect(outcome.deltas.isEmpty && outcome.reply == nil)
            }
            #expect(rig.upstream.requests.isEmpty, "refused attachments must not reach the upstream")
            let roles = try await rig.storedMessages().map { $0["role"] }
            #expect(!roles.contains("assistant"))
            #expect(roles.count == 1, "only the turn with the non-UTF-8 text file was stored")
        }
    }

    /// The upstream sees the attachments in the order of `file_ids` ("compare the first image
    /// with the second" must mean what the user meant).
    @Test(arguments: UpstreamEndpoint.allCases)
    func attachmentsKeepTheOrderOfFileIDs(_ endpoint: UpstreamEndpoint) async throws {
        try await withUpstream(UpstreamScript(endpoint) { _ in endpoint.reply(["Ok."], input: 50, output: 1) }) { rig in
            var uploaded: [Loacl_V1_File] = []
            var bytes: [String: [UInt8]] = [:]
            for n in 0..<4 {
                let image = AttachmentSamples.png + [UInt8(n)]
                let file = try await rig.upload("image\(n).png", type: "image/png", image)
                uploaded.append(file)
                bytes[file.id] = image
            }
            // An order that is neither the upload order nor the ids' order (either way round),
            // so a server that ignores file_ids' order cannot pass by chance.
            let byID = uploaded.sorted { $0.id < $1.id }
            let avoid = [uploaded, byID, byID.reversed()].map { $0.map(\.id) }
            let order = try #require(permutations(uploaded).first { !avoid.contains($0.map(\.id)) })
            let outcome = await rig.send("Compare these pictures in this order", fileIDs: order.map(\.id))
            #expect(outcome.error == nil, "\(String(describing: outcome.error))")
            #expect(outcome.userMessage?.fileIds == order.map(\.id))

            let sent = try #require(rig.chatRequests.first)
            let parts = try #require(endpoint.lastMessage(sent)?["content"] as? [Any])
            let images = order.map { canonicalJSON(endpoint.imagePart(AttachmentSamples.dataURL("image/png", bytes[$0.id] ?? []))) }
            #expect(parts.dropFirst().map(canonicalJSON) == images)
        }
    }
}

/// Every ordering of `items` (Heap's algorithm), in a fixed order.
private func permutations<T>(_ items: [T]) -> [[T]] {
    var items = items
    var result: [[T]] = []
    func generate(_ k: Int) {
        if k <= 1 {
            result.append(items)
            return
        }
        generate(k - 1)
        for i in 0..<(k - 1) {
            items.swapAt(k % 2 == 0 ? i : 0, k - 1)
            generate(k - 1)
        }
    }
    generate(items.count)
    return result
}
