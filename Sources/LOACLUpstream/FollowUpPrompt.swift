import Foundation

/// The short second request both OpenAI providers make for follow-up suggestions, and the
/// lenient reading of its answer.
enum FollowUpPrompt {
    static func instructions(count: Int) -> String {
        """
        You suggest follow-up questions for a chat. Given the user's last message and the \
        assistant's reply, write \(count) short questions (at most 15 words each) the user is \
        likely to ask next, in the user's language. Answer with only a JSON array of \(count) \
        strings, no other text.
        """
    }

    /// The request: the assistant's instructions as context, then the exchange to continue.
    static func request(for original: ChatRequest, reply: String, count: Int) -> ChatRequest {
        var context = instructions(count: count)
        if !original.instructions.isEmpty {
            context += "\n\nThe assistant was set up with these instructions:\n" + String(original.instructions.prefix(4000))
        }
        let exchange = """
            User: \(original.userMessage.prefix(4000))

            Assistant: \(reply.prefix(8000))
            """
        return ChatRequest(model: original.model, instructions: context, history: [], userMessage: exchange,
                           temperature: 0.7, maxOutputTokens: 60 * count + 40, apiKey: original.apiKey)
    }

    /// Reads a JSON array of strings out of the model's text (tolerating code fences or prose
    /// around it); falls back to one suggestion per non-empty line. Empty, duplicate and
    /// overlong entries are dropped; at most `count` are kept.
    static func parse(_ text: String, count: Int) -> [String] {
        var candidates: [String] = []
        if let open = text.firstIndex(of: "["), let close = text.lastIndex(of: "]"), open < close,
           let array = try? JSONSerialization.jsonObject(with: Data(text[open...close].utf8)) as? [Any] {
            candidates = array.compactMap { $0 as? String }
        } else {
            candidates = text.split(whereSeparator: \.isNewline).map { line in
                String(line).trimmingCharacters(in: CharacterSet(charactersIn: " \t-*•0123456789.)\"`"))
            }
        }
        var seen = Set<String>()
        var result: [String] = []
        for candidate in candidates {
            let s = candidate.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !s.isEmpty, s.count <= 300, !s.hasPrefix("```"), seen.insert(s.lowercased()).inserted else { continue }
            result.append(s)
            if result.count == count { break }
        }
        return result
    }
}

extension FollowUpPrompt {
    /// Makes the follow-up request through `provider` and parses its answer.
    static func ask(_ provider: some ChatProvider, for request: ChatRequest, reply: String, count: Int) async throws -> [String] {
        guard count > 0 else { return [] }
        var text = ""
        for try await event in provider.streamReply(Self.request(for: request, reply: reply, count: count)) {
            if case .delta(let delta) = event { text += delta }
        }
        return parse(text, count: count)
    }
}
