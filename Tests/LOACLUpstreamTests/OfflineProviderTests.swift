import Testing
@testable import LOACLUpstream

@Suite struct OfflineProviderTests {
    let request = ChatRequest(
        instructions: "You are Sprout, a gardening assistant for balcony growers. Keep answers practical.",
        history: [ChatTurn(role: .user, content: "Which herbs grow well in shade?"), ChatTurn(role: .assistant, content: "Mint and parsley.")],
        userMessage: "How often should I water tomatoes on a balcony?",
        guidedQuestions: ["Which herbs grow well in shade?", "What soil do tomatoes need?",
                          "How do I water tomatoes in hot weather?", "When should I repot a plant?"])

    @Test func nameIsOffline() {
        #expect(OfflineProvider().name == "offline")
    }

    @Test func replyIsDeterministicAndStreamedWordByWord() async throws {
        let provider = OfflineProvider()
        let first = await collect(provider.streamReply(request))
        let second = await collect(provider.streamReply(request))
        #expect(first.error == nil)
        #expect(first.deltas == second.deltas)
        #expect(first.text == provider.reply(to: request))
        #expect(first.deltas.count > 20)
        // Word by word: no delta holds two words.
        #expect(first.deltas.allSatisfy { $0.split(whereSeparator: \.isWhitespace).count == 1 })
    }

    @Test func replyUsesInstructionsGuidedQuestionsAndMessage() {
        let text = OfflineProvider().reply(to: request)
        #expect(text.contains("Offline mode"))
        #expect(text.contains("You are Sprout, a gardening assistant for balcony growers."))
        #expect(text.contains("You asked: “How often should I water tomatoes on a balcony?”"))
        #expect(text.contains("Decide what a good result for water tomatoes on a balcony looks like"))
        // The most related guided question is offered; the already asked one is not.
        #expect(text.contains("How do I water tomatoes in hot weather?"))
        #expect(!text.contains("Which herbs grow well in shade?"))
        #expect(text != OfflineProvider().reply(to: ChatRequest(userMessage: "What is compost?")))
    }

    @Test func usageIsTheDocumentedEstimate() async throws {
        let reply = await collect(OfflineProvider().streamReply(request))
        let usage = try #require(reply.usage)
        #expect(usage.isEstimate)
        #expect(usage.outputTokens == TokenEstimator.estimate(reply.text))
        #expect(usage.inputTokens == TokenEstimator.estimateInput(request))
        #expect(usage.totalTokens == usage.inputTokens + usage.outputTokens)
    }

    @Test func followUpsPreferRelatedGuidedQuestions() async throws {
        let provider = OfflineProvider()
        let suggestions = try await provider.followUps(for: request, reply: provider.reply(to: request), count: 3)
        #expect(suggestions.count == 3)
        #expect(suggestions.first == "How do I water tomatoes in hot weather?")
        #expect(!suggestions.contains("Which herbs grow well in shade?"))
        #expect(Set(suggestions).count == 3)
        #expect(try await provider.followUps(for: request, reply: "", count: 3) == suggestions)
        #expect(try await provider.followUps(for: request, reply: "", count: 0).isEmpty)
    }

    @Test func followUpsWithoutGuidedQuestionsUseTheTopic() async throws {
        let suggestions = try await OfflineProvider().followUps(for: ChatRequest(userMessage: "Tell me about sourdough starters"), reply: "", count: 2)
        #expect(suggestions == ["Can you give a concrete example of sourdough starters?", "What are common mistakes with sourdough starters?"])
        #expect(OfflineText.topic(of: "What soil do tomatoes need?") == "soil tomatoes need")
        #expect(OfflineText.topic(of: "How do I water tomatoes in hot weather, daily?") == "water tomatoes in hot weather")
        #expect(OfflineText.topic(of: "Is it ok?") == "your question")
    }

    @Test func cancellationStopsTheStream() async throws {
        let provider = OfflineProvider(wordDelay: .milliseconds(20))
        let consumer = Task {
            var count = 0
            for try await _ in provider.streamReply(request) { count += 1 }
            return count
        }
        try await Task.sleep(for: .milliseconds(100))
        consumer.cancel()
        let result = await consumer.result
        let all = OfflineText.wordPieces(provider.reply(to: request)).count
        switch result {
        case .success(let n): #expect(n < all)
        case .failure(let error): #expect(error is CancellationError)
        }
    }
}

@Suite struct ChatProviderFactoryTests {
    @Test func resolvesByNameAndKey() throws {
        let factory = ChatProviderFactory(configuration: UpstreamConfiguration(responsesBaseURL: "http://127.0.0.1:1"), httpClient: sharedTestClient)
        #expect(factory.resolvedName(assistantProvider: "", hasAPIKey: false) == "offline")
        #expect(factory.resolvedName(assistantProvider: "", hasAPIKey: true) == "openai-responses")
        #expect(factory.resolvedName(assistantProvider: "openai-chat", hasAPIKey: false) == "openai-chat")
        #expect(try factory.provider(named: "offline").name == "offline")
        #expect(try factory.provider(named: "openai-responses").name == "openai-responses")
        #expect(try factory.provider(named: "openai-chat").name == "openai-chat")
        #expect(throws: ChatProviderError.self) { try factory.provider(named: "gemini") }
        #expect(factory.responses.endpointURL == "http://127.0.0.1:1/v1/responses")
    }

    @Test func configuredDefaultWins() {
        let factory = ChatProviderFactory(configuration: UpstreamConfiguration(defaultProvider: "openai-chat"), httpClient: sharedTestClient)
        #expect(factory.resolvedName(assistantProvider: "", hasAPIKey: false) == "openai-chat")
    }

    @Test func readsEnvironment() throws {
        let c = try UpstreamConfiguration.fromEnvironment([
            "LOACL_UPSTREAM_PROVIDER": "openai-chat", "LOACL_UPSTREAM_CHAT_URL": "http://localhost:8000/v1",
            "LOACL_UPSTREAM_CHAT_MODEL": "llama3", "LOACL_UPSTREAM_RETRY_ATTEMPTS": "5", "LOACL_OFFLINE_WORD_DELAY_MS": "0",
        ])
        #expect(c.defaultProvider == "openai-chat")
        #expect(c.chatBaseURL == "http://localhost:8000/v1")
        #expect(c.chatDefaultModel == "llama3")
        #expect(c.retry.maxAttempts == 5)
        #expect(c.offlineWordDelay == .zero)
        #expect(throws: ChatProviderError.self) { try UpstreamConfiguration.fromEnvironment(["LOACL_UPSTREAM_PROVIDER": "nope"]) }
        #expect(throws: ChatProviderError.self) { try UpstreamConfiguration.fromEnvironment(["LOACL_UPSTREAM_READ_TIMEOUT_MS": "x"]) }
    }

    @Test func endpointURLNormalisesV1() {
        #expect(OpenAIEndpoint.url(base: "https://api.openai.com", path: "responses") == "https://api.openai.com/v1/responses")
        #expect(OpenAIEndpoint.url(base: "http://h:8000/v1/", path: "chat/completions") == "http://h:8000/v1/chat/completions")
    }
}
