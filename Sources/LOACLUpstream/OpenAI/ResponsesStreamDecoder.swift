import Foundation

/// Decodes the Responses API's stream: text from `response.output_text.delta`; function calls
/// from `response.output_item.added` (a `function_call` item), `…function_call_arguments.delta`
/// and the finished item (`response.output_item.done`); the end and usage from
/// `response.completed` / `response.incomplete`; failures from `response.failed` and `error`.
/// Every other event type (`response.created`, …) is ignored.
struct ResponsesStreamDecoder: StreamDecoder {
    /// Estimated input tokens, used only if the upstream omits usage.
    let estimatedInputTokens: Int
    private var text = ""
    /// Function calls by output item id, in the order they were added.
    private var calls: [(itemID: String, index: Int, call: ChatToolCall)] = []

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
        case "response.output_item.added":
            guard let item = decoded.item, item.type == "function_call" else { return .ignored }
            let call = ChatToolCall(callID: item.callID ?? item.id ?? "", name: item.name ?? "", arguments: item.arguments ?? "")
            let index = decoded.outputIndex ?? calls.count
            calls.append((item.id ?? call.callID, index, call))
            return .toolCallDeltas([ChatToolCallDelta(index: index, callID: call.callID, name: call.name, arguments: call.arguments)])
        case "response.function_call_arguments.delta":
            guard let delta = decoded.delta, let at = calls.firstIndex(where: { $0.itemID == decoded.itemID }) else {
                throw .unavailable("malformed response.function_call_arguments.delta: unknown item \(decoded.itemID ?? "-")")
            }
            calls[at].call.arguments += delta
            let entry = calls[at]
            return .toolCallDeltas([ChatToolCallDelta(index: entry.index, callID: entry.call.callID, name: entry.call.name, arguments: delta)])
        case "response.function_call_arguments.done":
            if let arguments = decoded.arguments, let at = calls.firstIndex(where: { $0.itemID == decoded.itemID }) {
                calls[at].call.arguments = arguments
            }
            return .ignored
        case "response.output_item.done":
            // The finished item is authoritative for a call's arguments.
            if let item = decoded.item, item.type == "function_call",
               let at = calls.firstIndex(where: { $0.itemID == (item.id ?? item.callID) }) {
                if let arguments = item.arguments { calls[at].call.arguments = arguments }
                if let name = item.name, !name.isEmpty { calls[at].call.name = name }
            }
            return .ignored
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
            result = ChatUsage(reportedInput: usage.inputTokens, output: usage.outputTokens, total: usage.totalTokens)
        } else {
            let output = TokenEstimator.estimate(text)
            result = ChatUsage(inputTokens: estimatedInputTokens, outputTokens: output, totalTokens: estimatedInputTokens + output)
            result.isEstimate = true
        }
        result.incompleteReason = incomplete
        result.toolCalls = calls.sorted { $0.index < $1.index }.map(\.call)
        return result
    }
}
