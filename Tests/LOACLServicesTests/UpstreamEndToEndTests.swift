import Foundation
import LOACLClient
import LOACLCore
import LOACLCrypto
import LOACLMessages
import LOACLPostgres
import LOACLServer
import LOACLServices
import LOACLUpstream
import Synchronization
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
    }

    /// Sends `text`; `stopAfterDeltas` leaves the stream (cancelling the call) after that many deltas.
    func send(_ text: String, stopAfterDeltas: Int? = nil) async -> Outcome {
        var outcome = Outcome()
        var message = Loacl_V1_SendMessageRequest()
        message.threadID = thread.id
        message.content = text
        do {
            try await client.serverStreaming(MS.sendMessage, message, options: CallOptions(timeout: .seconds(20), metadata: guest.metadata),
                                             responseType: Loacl_V1_SendMessageEvent.self) { stream in
                for try await event in stream {
                    outcome.events.append(event)
                    if let stop = stopAfterDeltas, outcome.deltas.count == stop { return }
                }
            }
        } catch {
            outcome.error = error
        }
        return outcome
    }

    /// The thread's stored messages in order, read as the superuser.
    func storedMessages() throws -> [PostgresRow] {
        try harness.superuser("""
            SELECT id, role, content, tokens_used, metadata::text AS metadata, metadata->>'incomplete' AS incomplete,
                   metadata->>'input_tokens' AS input_tokens, metadata->>'output_tokens' AS output_tokens
            FROM loacl.messages WHERE thread_id = $1 ORDER BY created_at, id
            """, [thread.id]).namedRows
    }

    /// Polls until the thread has `count` messages (a cancelled reply is stored after the call ends).
    func waitForMessages(_ count: Int) async throws -> [PostgresRow] {
        for _ in 0..<250 {
            let rows = try storedMessages()
            if rows.count >= count { return rows }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try storedMessages()
    }

    /// Requests the fake upstream got for replies (follow-up requests left out).
    var chatRequests: [FakeOpenAIServer.Request] { upstream.requests.filter { !$0.asksForFollowUps } }
}

/// Runs `body` with a fresh harness, a fake upstream answering from `script`, and the data
/// services wired to `ChatProviderFactory`'s providers; tears everything down afterwards.
func withUpstream(_ script: UpstreamScript, retry: RetryPolicy = UpstreamRig.fastRetry,
                  _ body: (UpstreamRig) async throws -> Void) async throws {
    try await withHarness { h in
        let upstream = try await FakeOpenAIServer.start(script.respond)
        let factory = ChatProviderFactory(configuration: UpstreamConfiguration(
            responsesBaseURL: upstream.baseURL, chatBaseURL: upstream.baseURL, connectTimeout: .seconds(2),
            readTimeout: .seconds(10), requestTimeout: .seconds(20), retry: retry))
        let services = DataServices(
            pool: h.pool, vault: try TenantKeyVault(masterKey: Harness.masterKey), jwtVerifier: JWTVerifier(secret: Harness.jwtSecret),
            providers: ChatProviderRegistry([factory.offline, factory.responses, factory.chat], defaultName: "offline"),
            storage: FileStorage(root: h.storageRoot, maxFileSize: 64 * 1024), logger: h.logs.logger)
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
            let assistant = try await h.createAssistant(.tenant(tenantKey)) { $0.configuration.provider = script.endpoint.rawValue }
            let (guest, _) = try await h.startGuest(assistant.id)
            let thread = try await h.createThread(guest)
            try await body(UpstreamRig(harness: h, upstream: upstream, client: connection, tenantKey: tenantKey, guest: guest, thread: thread))
        } catch {
            await client?.close()
            await server.shutdownGracefully()
            try? await factory.shutdown()
            await upstream.stop()
            throw error
        }
        await client?.close()
        await server.shutdownGracefully()
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
                case nil: "none"
                }
            }
            #expect(kinds == ["user"] + Array(repeating: "delta", count: deltas.count) + ["assistant", "followUps"])
            #expect(outcome.deltas == deltas)
            let reply = try #require(outcome.reply)
            #expect(reply.content == deltas.joined())
            #expect(reply.tokensUsed == 11)
            #expect(outcome.followUps == UpstreamScript.followUps)

            // Stored rows match what was streamed, with upstream's counts.
            let rows = try rig.storedMessages()
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
            let metrics = try rig.harness.superuser("""
                SELECT metric_type, metric_value FROM loacl.usage_metrics WHERE thread_id = $1 ORDER BY metric_type, metric_value
                """, [rig.thread.id]).rows
            let userTokens = (question.utf8.count + 3) / 4
            #expect(metrics == [["messages", "1"], ["tokens", "\(min(userTokens, 11))"], ["tokens", "\(max(userTokens, 11))"]])

            let stored = try rig.harness.superuser("""
                SELECT suggestion FROM loacl.follow_up_suggestions WHERE thread_id = $1 AND message_id = $2 ORDER BY created_at, id
                """, [rig.thread.id, reply.id]).rows.compactMap { $0[0] }
            #expect(stored == UpstreamScript.followUps)
            let title = try rig.harness.superuser("SELECT title FROM loacl.threads WHERE id = $1", [rig.thread.id]).scalar
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
            let messageCount = try rig.storedMessages().count
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
            let rows = try rig.storedMessages()
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
            let rows = try rig.storedMessages()
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
            let roles = try rig.storedMessages().map { $0["role"] }
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
            let roles = try rig.storedMessages().map { $0["role"] }
            #expect(roles == ["user"])
        }
    }

    @Test(arguments: UpstreamEndpoint.allCases)
    func droppedConnectionKeepsThePartialReply(_ endpoint: UpstreamEndpoint) async throws {
        let script = UpstreamScript(endpoint) { _ in .stream(endpoint.opening(["Partial ", "answ"]), end: .drop) }
        try await withUpstream(script) { rig in
            let outcome = await rig.send("Tell me everything")
            #expect(outcome.rpcError?.code == .unavailable, "\(String(describing: outcome.error))")
            #expect(outcome.deltas == ["Partial ", "answ"] && outcome.reply == nil)
            #expect(rig.chatRequests.count == 1) // no retry once the user has seen text
            let rows = try rig.storedMessages()
            try #require(rows.count == 2)
            #expect(rows[1]["role"] == "assistant" && rows[1]["content"] == "Partial answ")
            #expect(rows[1]["incomplete"] == "true")
            let suggestions = try rig.harness.superuser("SELECT count(*) FROM loacl.follow_up_suggestions WHERE thread_id = $1",
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
            let roles = try rig.storedMessages().map { $0["role"] }
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
            let outcome = await rig.send("Count slowly", stopAfterDeltas: 2)
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
}
