import LOACLUpstream

/// Test stand-in for the offline provider: echoes the question in three deltas.
struct EchoProvider: ChatProvider {
    var name: String { "offline" }

    func streamReply(_ request: ChatRequest) -> AsyncThrowingStream<ChatEvent, any Error> {
        let parts = ["You said: ", request.userMessage, " (history \(request.history.count), files \(request.attachments.count))"]
        return AsyncThrowingStream { continuation in
            for part in parts { continuation.yield(.delta(part)) }
            continuation.yield(.completed(ChatUsage(inputTokens: 11, outputTokens: 7, totalTokens: 18)))
            continuation.finish()
        }
    }

    func followUps(for request: ChatRequest, reply: String, count: Int) async throws -> [String] {
        Array(["Tell me more", "Why is that?", "What else?", "Any examples?", "Summarise"].prefix(count))
    }
}

/// Streams a delta every 20 ms until cancelled (registered as "openai-chat" in tests), to
/// test cancellation mid-reply.
struct EndlessProvider: ChatProvider {
    var name: String { "openai-chat" }

    func streamReply(_ request: ChatRequest) -> AsyncThrowingStream<ChatEvent, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                var n = 0
                while !Task.isCancelled {
                    n += 1
                    continuation.yield(.delta("word\(n) "))
                    try? await Task.sleep(for: .milliseconds(20))
                }
                continuation.finish(throwing: CancellationError())
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    func followUps(for request: ChatRequest, reply: String, count: Int) async throws -> [String] { [] }
}
