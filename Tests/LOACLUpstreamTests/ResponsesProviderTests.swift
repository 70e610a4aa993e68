import Foundation
import LOACLFakeOpenAI
@testable import LOACLUpstream
import Testing

@Suite struct ResponsesProviderTests {
    func provider(_ server: FakeOpenAIServer, retry: RetryPolicy = testRetry) -> OpenAIResponsesProvider {
        OpenAIResponsesProvider(baseURL: server.baseURL, defaultModel: "gpt-default", transport: testTransport(retry: retry))
    }

    /// `sending` comes once the request is written, before any of the reply is read (SendMessage
    /// waits for it before its database work), and also when no request could be made at all.
    @Test func sendingIsSignalledOnceTheRequestIsWrittenAndWhenNoneIsMade() async throws {
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([
            .stream(OpenAIWire.responses(deltas: ["Hi"], usage: (input: 1, output: 1, total: 2)), firstDelay: .seconds(1)),
        ]))
        defer { Task { await server.stop() } }
        // At the signal, the upstream has not started its reply (its first chunk comes 1 s after
        // the request arrives).
        let (signals, signal) = AsyncStream<Bool>.makeStream()
        let stream = provider(server).streamReply(sampleRequest, sending: { signal.yield(server.firstChunkAt(0) == nil) })
        var iterator = signals.makeAsyncIterator()
        #expect(await iterator.next() == true)
        #expect(await collect(stream).deltas == ["Hi"])

        let nowhere = OpenAIResponsesProvider(baseURL: "http://127.0.0.1:9", defaultModel: "m", transport: testTransport(retry: RetryPolicy(maxAttempts: 1)))
        let (failed, failedSignal) = AsyncStream<Void>.makeStream()
        let refused = await collect(nowhere.streamReply(sampleRequest, sending: { failedSignal.finish() }))
        #expect(refused.error != nil)
        for await _ in failed {} // returns: the signal came
    }

    @Test func streamsDeltasInOrderWithUsage() async throws {
        let deltas = ["Boil ", "it ", "for ", "9 ", "minutes", " — “hard”."]
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([
            .stream(OpenAIWire.responses(deltas: deltas, usage: (input: 57, output: 11, total: 68)), delay: .milliseconds(2)),
        ]))
        defer { Task { await server.stop() } }

        let reply = await collect(provider(server).streamReply(sampleRequest))
        #expect(reply.error == nil)
        #expect(reply.deltas == deltas)
        #expect(reply.usage == ChatUsage(inputTokens: 57, outputTokens: 11, totalTokens: 68))

        let request = try #require(server.requests.first)
        #expect(server.requests.count == 1)
        #expect(request.method == "POST")
        #expect(request.path == "/v1/responses")
        #expect(request.header("Authorization") == "Bearer sk-test-123")
        #expect(request.header("Content-Type") == "application/json")
        let json = try #require(request.json)
        #expect(json["stream"] as? Bool == true)
        #expect(json["store"] as? Bool == false)
        #expect(json["model"] as? String == "gpt-test")
        #expect(json["instructions"] as? String == "You are a concise cooking assistant.")
        #expect(json["temperature"] as? Double == 0.2)
        #expect(json["max_output_tokens"] as? Int == 300)
        let input = try #require(json["input"] as? [[String: Any]])
        #expect(input.map { $0["role"] as? String } == ["user", "assistant", "user"])
        #expect(input.map { $0["content"] as? String } == ["Hi", "Hello! What are we cooking?", "How long do I boil an egg?"])
    }

    @Test func connectionsArePooled() async throws {
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([
            .stream(OpenAIWire.responses(deltas: ["one"], usage: (1, 1, 2))),
        ]))
        defer { Task { await server.stop() } }
        let provider = provider(server)
        for _ in 0..<5 {
            let reply = await collect(provider.streamReply(sampleRequest))
            #expect(reply.text == "one")
            // Let the transport finish reading the body end before the next request.
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(server.requests.count == 5)
        // Connections are reused. Not asserted as exactly 1: on a loaded machine the transport
        // may not have put the connection back before the next request starts, and then opens
        // another (which is still pooling, not a bug).
        #expect(server.openedConnections < 5)
    }

    @Test func defaultModelAndNoKey() async throws {
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([
            .stream(OpenAIWire.responses(deltas: ["ok"], usage: (1, 1, 2))),
        ]))
        defer { Task { await server.stop() } }
        let reply = await collect(provider(server).streamReply(ChatRequest(userMessage: "hi")))
        #expect(reply.text == "ok")
        let request = try #require(server.requests.first)
        #expect(request.header("Authorization") == nil)
        #expect(request.json?["model"] as? String == "gpt-default")
        #expect(request.json?["instructions"] == nil)
    }

    @Test func attachmentsBecomeInputParts() async throws {
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([
            .stream(OpenAIWire.responses(deltas: ["seen"], usage: (1, 1, 2))),
        ]))
        defer { Task { await server.stop() } }
        var request = ChatRequest(userMessage: "What is in these?")
        request.attachments = [
            ChatAttachment(filename: "notes.md", mimeType: "text/markdown", data: Array("# Eggs\nboil 9 min".utf8)),
            ChatAttachment(filename: "egg.png", mimeType: "image/png", data: [0x89, 0x50, 0x4e, 0x47]),
            ChatAttachment(filename: "recipe.pdf", mimeType: "application/pdf", data: Array("%PDF-1.7".utf8)),
        ]
        _ = await collect(provider(server).streamReply(request))
        let input = try #require(server.requests.first?.json?["input"] as? [[String: Any]])
        let parts = try #require(input.last?["content"] as? [[String: Any]])
        #expect(parts.map { $0["type"] as? String } == ["input_text", "input_image", "input_file"])
        let text = try #require(parts[0]["text"] as? String)
        #expect(text.hasPrefix("What is in these?"))
        #expect(text.contains("notes.md") && text.contains("boil 9 min"))
        #expect(parts[1]["image_url"] as? String == "data:image/png;base64,iVBORw==")
        #expect(parts[2]["filename"] as? String == "recipe.pdf")
        #expect(parts[2]["file_data"] as? String == "data:application/pdf;base64,JVBERi0xLjc=")
    }

    @Test func oversizeAttachmentFailsWithoutCallingUpstream() async throws {
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([.status(500)]))
        defer { Task { await server.stop() } }
        let small = OpenAIResponsesProvider(baseURL: server.baseURL, transport: testTransport(),
                                            attachmentLimits: AttachmentLimits(maxImageBytes: 2))
        var request = ChatRequest(userMessage: "look")
        request.attachments = [ChatAttachment(filename: "big.png", mimeType: "image/png", data: [1, 2, 3])]
        let reply = await collect(small.streamReply(request))
        guard case .failed(let message)? = reply.providerError else { Issue.record("got \(String(describing: reply.error))"); return }
        #expect(message.contains("big.png"))
        #expect(server.requests.isEmpty)
    }

    @Test func unauthorizedIsNotRetried() async throws {
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([
            .status(401, body: OpenAIWire.errorBody("Incorrect API key provided: sk-test***.", type: "invalid_request_error", code: "invalid_api_key")),
        ]))
        defer { Task { await server.stop() } }
        let reply = await collect(provider(server).streamReply(sampleRequest))
        guard case .unauthorized(let message)? = reply.providerError else { Issue.record("got \(String(describing: reply.error))"); return }
        #expect(message.contains("401"))
        #expect(message.contains("Incorrect API key"))
        #expect(reply.deltas.isEmpty)
        #expect(server.requests.count == 1)
    }

    @Test func rateLimitHonoursRetryAfterThenSucceeds() async throws {
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([
            .status(429, headers: [("Retry-After", "1")], body: OpenAIWire.errorBody("Rate limit reached", type: "requests", code: "rate_limit_exceeded")),
            .stream(OpenAIWire.responses(deltas: ["after ", "wait"], usage: (5, 2, 7))),
        ]))
        defer { Task { await server.stop() } }
        let clock = ContinuousClock()
        let start = clock.now
        let reply = await collect(provider(server).streamReply(sampleRequest))
        let waited = clock.now - start
        #expect(reply.error == nil)
        #expect(reply.text == "after wait")
        #expect(server.requests.count == 2)
        // The backoff alone is 10 ms; only Retry-After explains a wait of a second.
        #expect(waited >= .milliseconds(950))
    }

    @Test func rateLimitAfterAllRetries() async throws {
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([
            .status(429, headers: [("Retry-After", "0")], body: OpenAIWire.errorBody("Rate limit reached", type: "requests", code: "rate_limit_exceeded")),
        ]))
        defer { Task { await server.stop() } }
        let reply = await collect(provider(server).streamReply(sampleRequest))
        guard case .rateLimited(let message)? = reply.providerError else { Issue.record("got \(String(describing: reply.error))"); return }
        #expect(message.contains("Rate limit reached"))
        #expect(server.requests.count == testRetry.maxAttempts)
    }

    @Test func insufficientQuotaIsNotRetried() async throws {
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([
            .status(429, body: OpenAIWire.errorBody("You exceeded your current quota", type: "insufficient_quota", code: "insufficient_quota")),
        ]))
        defer { Task { await server.stop() } }
        let reply = await collect(provider(server).streamReply(sampleRequest))
        guard case .rateLimited? = reply.providerError else { Issue.record("got \(String(describing: reply.error))"); return }
        #expect(server.requests.count == 1)
    }

    @Test func retryAfterBeyondTheCapFailsAtOnce() async throws {
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([
            .status(503, headers: [("Retry-After", "3600")], body: "overloaded"),
        ]))
        defer { Task { await server.stop() } }
        let reply = await collect(provider(server).streamReply(sampleRequest))
        guard case .unavailable(let message)? = reply.providerError else { Issue.record("got \(String(describing: reply.error))"); return }
        #expect(message.contains("503"))
        #expect(server.requests.count == 1)
    }

    @Test func serverErrorIsRetriedThenSucceeds() async throws {
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([
            .status(500, body: OpenAIWire.errorBody("The server had an error", type: "server_error", code: nil)),
            .status(502, body: "<html>bad gateway</html>"),
            .stream(OpenAIWire.responses(deltas: ["third ", "time"], usage: (5, 2, 7))),
        ]))
        defer { Task { await server.stop() } }
        let reply = await collect(provider(server).streamReply(sampleRequest))
        #expect(reply.error == nil)
        #expect(reply.text == "third time")
        #expect(server.requests.count == 3)
    }

    @Test func serverErrorAfterAllRetries() async throws {
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([
            .status(500, body: OpenAIWire.errorBody("The server had an error", type: "server_error", code: nil)),
        ]))
        defer { Task { await server.stop() } }
        let reply = await collect(provider(server).streamReply(sampleRequest))
        guard case .unavailable(let message)? = reply.providerError else { Issue.record("got \(String(describing: reply.error))"); return }
        #expect(message.contains("500") && message.contains("The server had an error"))
        #expect(server.requests.count == 3)
    }

    @Test func connectionDroppedMidStreamIsNotRetried() async throws {
        let events = OpenAIWire.responsesPreamble() + [OpenAIWire.responsesDelta("Half ", sequence: 4), OpenAIWire.responsesDelta("a ", sequence: 5)]
        // Held open until the caller has both deltas, then dropped.
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([.stream(events, end: .hold)]))
        defer { Task { await server.stop() } }
        let reply = await collect(provider(server).streamReply(sampleRequest)) { if $0 == 2 { server.dropConnections() } }
        #expect(reply.deltas == ["Half ", "a "])
        #expect(reply.usage == nil)
        guard case .unavailable? = reply.providerError else { Issue.record("got \(String(describing: reply.error))"); return }
        #expect(server.requests.count == 1)
    }

    @Test func streamEndingWithoutCompletionIsAnError() async throws {
        let events = OpenAIWire.responsesPreamble() + [OpenAIWire.responsesDelta("cut", sequence: 4)]
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([.stream(events, end: .finish)]))
        defer { Task { await server.stop() } }
        let reply = await collect(provider(server).streamReply(sampleRequest))
        #expect(reply.deltas == ["cut"])
        guard case .unavailable(let message)? = reply.providerError else { Issue.record("got \(String(describing: reply.error))"); return }
        #expect(message.contains("response.completed"))
    }

    @Test func dropBeforeTheFirstDeltaIsRetried() async throws {
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([
            .stream(OpenAIWire.responsesPreamble(), end: .drop),
            .stream(OpenAIWire.responses(deltas: ["again"], usage: (1, 1, 2))),
        ]))
        defer { Task { await server.stop() } }
        let reply = await collect(provider(server).streamReply(sampleRequest))
        #expect(reply.error == nil)
        #expect(reply.text == "again")
        #expect(server.requests.count == 2)
    }

    @Test func malformedEventEndsTheReply() async throws {
        let events = OpenAIWire.responsesPreamble() + [OpenAIWire.responsesDelta("fine ", sequence: 4),
                                                       "event: response.output_text.delta\ndata: {\"type\": \"response.output_text.delta\", \"delta\": \n\n"]
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([.stream(events)]))
        defer { Task { await server.stop() } }
        let reply = await collect(provider(server).streamReply(sampleRequest))
        #expect(reply.deltas == ["fine "])
        guard case .unavailable(let message)? = reply.providerError else { Issue.record("got \(String(describing: reply.error))"); return }
        #expect(message.contains("malformed"))
    }

    @Test func responseFailedMapsToFailed() async throws {
        let events = OpenAIWire.responsesPreamble() + [OpenAIWire.responsesFailed(code: "invalid_prompt", message: "Prompt violates policy")]
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([.stream(events)]))
        defer { Task { await server.stop() } }
        let reply = await collect(provider(server).streamReply(sampleRequest))
        #expect(reply.providerError == .failed("Prompt violates policy (invalid_prompt)"))
    }

    @Test func errorEventMapsByCode() async throws {
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([
            .stream(OpenAIWire.responsesPreamble() + [OpenAIWire.responsesError(code: "rate_limit_exceeded", message: "Too many tokens")]),
            .stream(OpenAIWire.responsesPreamble() + [OpenAIWire.responsesError(code: "ERR_SOMETHING", message: "Something went wrong")]),
        ]))
        defer { Task { await server.stop() } }
        let first = await collect(provider(server).streamReply(sampleRequest))
        #expect(first.providerError == .rateLimited("Too many tokens (rate_limit_exceeded)"))
        let second = await collect(provider(server).streamReply(sampleRequest))
        #expect(second.providerError == .unavailable("Something went wrong (ERR_SOMETHING)"))
    }

    @Test func incompleteReplyCompletesWithReason() async throws {
        let events = OpenAIWire.responsesPreamble() + [OpenAIWire.responsesDelta("Truncated", sequence: 4),
                                                       OpenAIWire.responsesIncomplete(reason: "max_output_tokens", usage: (20, 16, 36))]
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([.stream(events)]))
        defer { Task { await server.stop() } }
        let reply = await collect(provider(server).streamReply(sampleRequest))
        #expect(reply.error == nil)
        #expect(reply.text == "Truncated")
        #expect(reply.usage == ChatUsage(inputTokens: 20, outputTokens: 16, totalTokens: 36, incompleteReason: "max_output_tokens"))
    }

    @Test func cancellationClosesTheUpstreamConnection() async throws {
        let events = OpenAIWire.responsesPreamble() + [OpenAIWire.responsesDelta("first", sequence: 4)]
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([.stream(events, end: .hold)]))
        defer { Task { await server.stop() } }
        let provider = provider(server)
        let firstDelta = AsyncStream<String>.makeStream()
        let consumer = Task {
            for try await event in provider.streamReply(sampleRequest) {
                if case .delta(let text) = event { firstDelta.continuation.yield(text) }
            }
        }
        var iterator = firstDelta.stream.makeAsyncIterator()
        #expect(await iterator.next() == "first")
        #expect(server.closedConnections == 0)
        consumer.cancel()
        #expect(await server.waitForClosedConnections(1), "the fake upstream never saw the connection close")
        // A cancelled AsyncThrowingStream ends its loop (or throws CancellationError); either
        // way no `.completed` arrives.
        if case .failure(let error) = await consumer.result { #expect(error is CancellationError) }
    }

    @Test func followUpsComeFromASecondRequest() async throws {
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([
            .stream(OpenAIWire.responses(deltas: ["[\"How do I peel it?\", ", "\"Soft-boiled timing?\", \"Can I boil many?\"]"], usage: (80, 20, 100))),
        ]))
        defer { Task { await server.stop() } }
        let suggestions = try await provider(server).followUps(for: sampleRequest, reply: "Boil for 9 minutes.", count: 3)
        #expect(suggestions == ["How do I peel it?", "Soft-boiled timing?", "Can I boil many?"])
        let json = try #require(server.requests.first?.json)
        #expect((json["instructions"] as? String)?.contains("JSON array of 3 strings") == true)
        let input = try #require(json["input"] as? [[String: Any]])
        #expect(input.count == 1)
        #expect((input[0]["content"] as? String)?.contains("Boil for 9 minutes.") == true)
        #expect(server.requests.first?.header("Authorization") == "Bearer sk-test-123")
    }

    @Test func connectionRefusedIsUnavailable() async throws {
        // A port that is bound but not listening, and stays so for the whole test: a stopped
        // server's port could be taken by another test's server meanwhile.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        try #require(bound)
        let url = "http://127.0.0.1:\(UInt16(bigEndian: address.sin_port))"
        let provider = OpenAIResponsesProvider(baseURL: url, transport: testTransport(retry: RetryPolicy(maxAttempts: 2, initialDelay: .milliseconds(5))))
        let reply = await collect(provider.streamReply(sampleRequest))
        guard case .unavailable? = reply.providerError else { Issue.record("got \(String(describing: reply.error))"); return }
    }
}
