import AsyncHTTPClient
@testable import LOACLUpstream

/// What a streamed reply came to.
struct CollectedReply {
    var deltas: [String] = []
    var toolCallDeltas: [ChatToolCallDelta] = []
    var usage: ChatUsage?
    var error: (any Error)?
    var text: String { deltas.joined() }
    var providerError: ChatProviderError? { error as? ChatProviderError }
}

/// Runs the whole stream, keeping the deltas, the final usage and the error, if any.
/// `onDelta` is told the number of deltas received so far, after each one.
func collect(_ stream: AsyncThrowingStream<ChatEvent, any Error>, onDelta: (Int) -> Void = { _ in }) async -> CollectedReply {
    var reply = CollectedReply()
    do {
        for try await event in stream {
            switch event {
            case .delta(let text):
                reply.deltas.append(text)
                onDelta(reply.deltas.count)
            case .toolCallDelta(let piece): reply.toolCallDeltas.append(piece)
            case .completed(let usage): reply.usage = usage
            }
        }
    } catch {
        reply.error = error
    }
    return reply
}

/// Fast retries so tests do not wait for production backoff.
let testRetry = RetryPolicy(maxAttempts: 3, initialDelay: .milliseconds(10), maxDelay: .milliseconds(50), maxRetryAfter: .seconds(5))

/// A transport on the process-wide HTTP client (tests share it; it is never shut down).
func testTransport(retry: RetryPolicy = testRetry) -> UpstreamTransport {
    UpstreamTransport(client: sharedTestClient, retry: retry, requestTimeout: .seconds(30))
}

/// Generous timeouts: in the first seconds of a whole-suite run every test starts at once and the
/// two cores are busy for seconds; no test here is about these limits.
let sharedTestClient = UpstreamTransport.makeHTTPClient(connectTimeout: .seconds(10), readTimeout: .seconds(30))

let sampleRequest = ChatRequest(
    model: "gpt-test", instructions: "You are a concise cooking assistant.",
    history: [ChatTurn(role: .user, content: "Hi"), ChatTurn(role: .assistant, content: "Hello! What are we cooking?")],
    userMessage: "How long do I boil an egg?", temperature: 0.2, maxOutputTokens: 300, apiKey: "sk-test-123")
