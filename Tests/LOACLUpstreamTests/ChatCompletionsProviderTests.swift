import Foundation
import LOACLFakeOpenAI
@testable import LOACLUpstream
import Testing

@Suite struct ChatCompletionsProviderTests {
    func provider(_ server: FakeOpenAIServer, legacy: Bool = false) -> OpenAIChatCompletionsProvider {
        OpenAIChatCompletionsProvider(baseURL: server.baseURL + "/v1/", defaultModel: "local-model", legacyMaxTokens: legacy,
                                      transport: testTransport())
    }

    @Test func streamsDeltasInOrderWithUsage() async throws {
        let deltas = ["Nine", " minutes", " for", " hard", "-boiled."]
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([
            .stream(OpenAIWire.chatCompletions(deltas: deltas, usage: (prompt: 41, completion: 6, total: 47)), delay: .milliseconds(2)),
        ]))
        defer { Task { await server.stop() } }
        let reply = await collect(provider(server).streamReply(sampleRequest))
        #expect(reply.error == nil)
        #expect(reply.deltas == deltas)
        #expect(reply.usage == ChatUsage(inputTokens: 41, outputTokens: 6, totalTokens: 47))

        let request = try #require(server.requests.first)
        #expect(request.path == "/v1/chat/completions")
        #expect(request.header("Authorization") == "Bearer sk-test-123")
        let json = try #require(request.json)
        #expect(json["stream"] as? Bool == true)
        #expect((json["stream_options"] as? [String: Any])?["include_usage"] as? Bool == true)
        #expect(json["model"] as? String == "gpt-test")
        #expect(json["max_completion_tokens"] as? Int == 300)
        #expect(json["max_tokens"] == nil)
        let messages = try #require(json["messages"] as? [[String: Any]])
        #expect(messages.map { $0["role"] as? String } == ["system", "user", "assistant", "user"])
        #expect(messages.first?["content"] as? String == "You are a concise cooking assistant.")
        #expect(messages.last?["content"] as? String == "How long do I boil an egg?")
    }

    @Test func legacyMaxTokensAndImageParts() async throws {
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([
            .stream(OpenAIWire.chatCompletions(deltas: ["ok"], usage: (1, 1, 2))),
        ]))
        defer { Task { await server.stop() } }
        var request = sampleRequest
        request.attachments = [ChatAttachment(filename: "egg.jpg", mimeType: "image/jpeg", data: [1, 2, 3])]
        _ = await collect(provider(server, legacy: true).streamReply(request))
        let json = try #require(server.requests.first?.json)
        #expect(json["max_tokens"] as? Int == 300)
        #expect(json["max_completion_tokens"] == nil)
        let parts = try #require((json["messages"] as? [[String: Any]])?.last?["content"] as? [[String: Any]])
        #expect(parts.map { $0["type"] as? String } == ["text", "image_url"])
        #expect((parts[1]["image_url"] as? [String: Any])?["url"] as? String == "data:image/jpeg;base64,AQID")
    }

    @Test func missingUsageIsEstimated() async throws {
        let events = [OpenAIWire.chatChunk(delta: ["content": "abcdefgh"], finishReason: nil),
                      OpenAIWire.chatChunk(delta: [:], finishReason: "length"), "data: [DONE]\n\n"]
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([.stream(events)]))
        defer { Task { await server.stop() } }
        let reply = await collect(provider(server).streamReply(sampleRequest))
        let usage = try #require(reply.usage)
        #expect(usage.isEstimate)
        #expect(usage.outputTokens == 2)
        #expect(usage.inputTokens == TokenEstimator.estimateInput(sampleRequest))
        #expect(usage.incompleteReason == "max_output_tokens")
    }

    @Test func droppedMidStream() async throws {
        let events = [OpenAIWire.chatChunk(delta: ["content": "Par"], finishReason: nil),
                      OpenAIWire.chatChunk(delta: ["content": "tial"], finishReason: nil)]
        // Held open until the caller has both deltas, then dropped.
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([.stream(events, end: .hold)]))
        defer { Task { await server.stop() } }
        let reply = await collect(provider(server).streamReply(sampleRequest)) { if $0 == 2 { server.dropConnections() } }
        #expect(reply.deltas == ["Par", "tial"])
        guard case .unavailable? = reply.providerError else { Issue.record("got \(String(describing: reply.error))"); return }
        #expect(server.requests.count == 1)
    }

    @Test func malformedChunk() async throws {
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([
            .stream([OpenAIWire.chatChunk(delta: ["content": "ok "], finishReason: nil), "data: {\"choices\": [\n\n"]),
        ]))
        defer { Task { await server.stop() } }
        let reply = await collect(provider(server).streamReply(sampleRequest))
        #expect(reply.deltas == ["ok "])
        guard case .unavailable(let message)? = reply.providerError else { Issue.record("got \(String(describing: reply.error))"); return }
        #expect(message.contains("malformed"))
    }

    @Test func errorChunkMidStream() async throws {
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([
            .stream([OpenAIWire.chatChunk(delta: ["content": "x"], finishReason: nil),
                     OpenAIWire.data(["error": ["message": "model overloaded", "type": "server_error", "code": 503]])]),
        ]))
        defer { Task { await server.stop() } }
        let reply = await collect(provider(server).streamReply(sampleRequest))
        #expect(reply.providerError == .unavailable("model overloaded (503)"))
    }

    @Test func statusErrorsMap() async throws {
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([
            .status(401, body: OpenAIWire.errorBody("bad key", type: "invalid_request_error", code: "invalid_api_key")),
            .status(400, body: OpenAIWire.errorBody("model not found", type: "invalid_request_error", code: "model_not_found")),
        ]))
        defer { Task { await server.stop() } }
        let first = await collect(provider(server).streamReply(sampleRequest))
        #expect(first.providerError == .unauthorized("HTTP 401: bad key (invalid_api_key)"))
        let second = await collect(provider(server).streamReply(sampleRequest))
        #expect(second.providerError == .failed("HTTP 400: model not found (model_not_found)"))
    }

    @Test func cancellationClosesTheUpstreamConnection() async throws {
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([
            .stream([OpenAIWire.chatChunk(delta: ["content": "one"], finishReason: nil)], end: .hold),
        ]))
        defer { Task { await server.stop() } }
        let provider = provider(server)
        let firstDelta = AsyncStream<Void>.makeStream()
        let consumer = Task {
            for try await event in provider.streamReply(sampleRequest) {
                if case .delta = event { firstDelta.continuation.yield() }
            }
        }
        var iterator = firstDelta.stream.makeAsyncIterator()
        _ = await iterator.next()
        consumer.cancel()
        #expect(await server.waitForClosedConnections(1))
    }

    @Test func followUps() async throws {
        let server = try await FakeOpenAIServer.start(FakeOpenAIServer.Reply.sequence([
            .stream(OpenAIWire.chatCompletions(deltas: ["[\"One?\",", " \"Two?\"]"], usage: (1, 1, 2))),
        ]))
        defer { Task { await server.stop() } }
        #expect(try await provider(server).followUps(for: sampleRequest, reply: "r", count: 2) == ["One?", "Two?"])
    }
}
