/// Answers without any network: a deterministic reply composed from the assistant's
/// instructions, its guided questions and the user's message, streamed word by word. The
/// default provider when no upstream key is configured. Token counts are `TokenEstimator`
/// estimates (`ChatUsage.isEstimate`).
public struct OfflineProvider: ChatProvider {
    public var name: String { "offline" }
    /// Pause between words, so clients see a stream like a model's; `.zero` for tests.
    public let wordDelay: Duration

    public init(wordDelay: Duration = .zero) {
        self.wordDelay = wordDelay
    }

    /// The full reply `streamReply` sends for `request`.
    public func reply(to request: ChatRequest) -> String {
        OfflineComposer(request: request).reply()
    }

    public func streamReply(_ request: ChatRequest) -> AsyncThrowingStream<ChatEvent, any Error> {
        // Function calls when the message names declared functions (OfflineTools' rule).
        let calls = OfflineTools.calls(for: request)
        let text = calls.isEmpty ? (OfflineTools.replyAfterOutputs(request) ?? reply(to: request)) : ""
        let delay = wordDelay
        let (stream, continuation) = AsyncThrowingStream<ChatEvent, any Error>.makeStream()
        let task = Task {
            do {
                for (index, piece) in OfflineText.wordPieces(text).enumerated() {
                    if index > 0 && delay > .zero { try await Task.sleep(for: delay) }
                    try Task.checkCancellation()
                    continuation.yield(.delta(piece))
                }
                for (index, call) in calls.enumerated() {
                    if delay > .zero { try await Task.sleep(for: delay) }
                    try Task.checkCancellation()
                    continuation.yield(.toolCallDelta(ChatToolCallDelta(index: index, callID: call.callID, name: call.name,
                                                                        arguments: call.arguments)))
                }
                let input = TokenEstimator.estimateInput(request)
                let output = TokenEstimator.estimate(text + calls.map(\.arguments).joined())
                var usage = ChatUsage(inputTokens: input, outputTokens: output, totalTokens: input + output, isEstimate: true)
                usage.toolCalls = calls
                continuation.yield(.completed(usage))
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    public func followUps(for request: ChatRequest, reply: String, count: Int) async throws -> [String] {
        OfflineComposer(request: request).followUps(count: count)
    }
}
