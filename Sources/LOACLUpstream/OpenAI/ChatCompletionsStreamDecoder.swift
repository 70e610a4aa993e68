import Foundation

/// Decodes a Chat Completions stream: `choices[0].delta.content` pieces, `delta.tool_calls`
/// pieces (by index: id and name first, then argument fragments), `finish_reason`, the
/// usage-only chunk that `stream_options.include_usage` adds, and the closing `data: [DONE]`.
struct ChatCompletionsStreamDecoder: StreamDecoder {
    let estimatedInputTokens: Int
    private var text = ""
    private var finishReason: String?
    private var usage: ChatCompletionChunk.Usage?
    /// Function calls by their `tool_calls` index.
    private var calls: [Int: ChatToolCall] = [:]

    init(estimatedInputTokens: Int) {
        self.estimatedInputTokens = estimatedInputTokens
    }

    mutating func decode(_ event: ServerSentEvent) throws(ChatProviderError) -> DecodedEvent {
        if event.data.trimmingCharacters(in: .whitespaces) == "[DONE]" {
            return .completed(completion())
        }
        let chunk: ChatCompletionChunk
        do {
            chunk = try JSONDecoder().decode(ChatCompletionChunk.self, from: Data(event.data.utf8))
        } catch {
            throw .unavailable("malformed event from upstream: \(String(event.data.prefix(200)))")
        }
        if let error = chunk.error {
            let body = UpstreamErrorBody(message: error.message ?? "stream error", type: error.type, code: error.code)
            throw body.streamError(default: ChatProviderError.unavailable)
        }
        if let usage = chunk.usage { self.usage = usage }
        var piece = ""
        var pieces: [ChatToolCallDelta] = []
        for choice in chunk.choices ?? [] {
            if let content = choice.delta?.content { piece += content }
            for part in choice.delta?.toolCalls ?? [] {
                let index = part.index ?? 0
                var call = calls[index] ?? ChatToolCall(callID: "", name: "", arguments: "")
                if let id = part.id, !id.isEmpty { call.callID = id }
                if let name = part.function?.name, !name.isEmpty { call.name = name }
                let arguments = part.function?.arguments ?? ""
                call.arguments += arguments
                calls[index] = call
                pieces.append(ChatToolCallDelta(index: index, callID: call.callID, name: call.name, arguments: arguments))
            }
            if let reason = choice.finishReason { finishReason = reason }
        }
        text += piece
        switch (piece.isEmpty, pieces.isEmpty) {
        case (true, true): return .ignored
        case (false, true): return .delta(piece)
        case (true, false): return .toolCallDeltas(pieces)
        case (false, false): return .both(piece, pieces)
        }
    }

    /// Without `[DONE]`, a reply that already has its finish_reason is complete (some
    /// compatible servers omit the sentinel); anything else was cut off.
    mutating func endOfStream() throws(ChatProviderError) -> ChatUsage {
        guard finishReason != nil else {
            throw .unavailable("the upstream stream ended before finish_reason or [DONE]")
        }
        return completion()
    }

    private func completion() -> ChatUsage {
        var result: ChatUsage
        if let usage {
            result = ChatUsage(reportedInput: usage.promptTokens, output: usage.completionTokens, total: usage.totalTokens)
        } else {
            let output = TokenEstimator.estimate(text)
            result = ChatUsage(inputTokens: estimatedInputTokens, outputTokens: output,
                               totalTokens: estimatedInputTokens + output, isEstimate: true)
        }
        result.toolCalls = calls.sorted { $0.key < $1.key }.map(\.value)
        switch finishReason {
        case "length": result.incompleteReason = "max_output_tokens"
        case "content_filter": result.incompleteReason = "content_filter"
        default: break
        }
        return result
    }
}
