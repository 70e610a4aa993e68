import Foundation

/// Decodes the Responses API's stream: text from `response.output_text.delta`, the end and
/// usage from `response.completed` / `response.incomplete`, failures from `response.failed`
/// and `error`. Every other event type (`response.created`, `…output_item.added`, …) is ignored.
struct ResponsesStreamDecoder: StreamDecoder {
    /// Estimated input tokens, used only if the upstream omits usage.
    let estimatedInputTokens: Int
    private var text = ""

    init(estimatedInputTokens: Int) {
        self.estimatedInputTokens = estimatedInputTokens
    }

    mutating func decode(_ event: ServerSentEvent) throws(ChatProviderError) -> DecodedEvent {
        if event.data == "[DONE]" { return .ignored }
        let decoded: ResponsesStreamEvent
        do {
            decoded = try JSONDecoder().decode(ResponsesStreamEvent.self, from: Data(event.data.utf8))
        } catch {
            throw .unavailable("malformed event from upstream (\(event.event)): \(String(event.data.prefix(200)))")
        }
        switch decoded.type {
        case "response.output_text.delta":
            guard let delta = decoded.delta else {
                throw .unavailable("malformed response.output_text.delta: no delta")
            }
            text += delta
            return .delta(delta)
        case "response.completed":
            return .completed(usage(decoded.response?.usage, incomplete: nil))
        case "response.incomplete":
            // The reply stopped early (max_output_tokens, content_filter): what was streamed is
            // still the reply; the reason travels with the usage.
            let reason = decoded.response?.incompleteDetails?.reason ?? "incomplete"
            return .completed(usage(decoded.response?.usage, incomplete: reason))
        case "response.failed":
            let error = decoded.response?.error
            let body = UpstreamErrorBody(message: error?.message ?? "response failed", type: error?.type, code: error?.code)
            throw body.streamError(default: ChatProviderError.failed)
        case "error":
            let body = UpstreamErrorBody(message: decoded.message ?? decoded.error?.message ?? "stream error",
                                         type: decoded.error?.type, code: decoded.code ?? decoded.error?.code)
            throw body.streamError(default: ChatProviderError.unavailable)
        default:
            return .ignored
        }
    }

    mutating func endOfStream() throws(ChatProviderError) -> ChatUsage {
        throw .unavailable("the upstream stream ended before response.completed")
    }

    private func usage(_ usage: ResponsesStreamEvent.Usage?, incomplete: String?) -> ChatUsage {
        var result: ChatUsage
        if let usage {
            result = ChatUsage(inputTokens: usage.inputTokens, outputTokens: usage.outputTokens,
                               totalTokens: usage.totalTokens ?? usage.inputTokens + usage.outputTokens)
        } else {
            let output = TokenEstimator.estimate(text)
            result = ChatUsage(inputTokens: estimatedInputTokens, outputTokens: output, totalTokens: estimatedInputTokens + output)
            result.isEstimate = true
        }
        result.incompleteReason = incomplete
        return result
    }
}
