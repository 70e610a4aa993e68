/// A tokenizer-free token estimate, used where the upstream reports no counts (the offline
/// provider, OpenAI-compatible servers that ignore `stream_options.include_usage`) and for the
/// history budget.
///
/// The rule: one token per 4 bytes of UTF-8, rounded up, plus 4 tokens of framing per chat turn.
/// For English text OpenAI's tokenizers average about 4 characters per token; counting bytes
/// rather than characters over-estimates non-ASCII text, which keeps budgets on the safe side.
public enum TokenEstimator {
    /// Framing tokens each message costs on top of its text (role, separators).
    public static let tokensPerTurn = 4

    /// Estimated tokens of `text`; 0 only for the empty string.
    public static func estimate(_ text: String) -> Int {
        let bytes = text.utf8.count
        return bytes == 0 ? 0 : (bytes + 3) / 4
    }

    /// Estimated tokens of one turn, framing included.
    public static func estimate(_ turn: ChatTurn) -> Int {
        estimate(turn.content) + tokensPerTurn
    }

    /// Estimated input tokens of a whole request: instructions, history, message and any text
    /// attachments (binary attachments are not counted; the upstream reports those).
    public static func estimateInput(_ request: ChatRequest) -> Int {
        var total = estimate(request.userMessage) + tokensPerTurn
        if !request.instructions.isEmpty { total += estimate(request.instructions) + tokensPerTurn }
        for turn in request.history { total += estimate(turn) }
        for attachment in request.attachments where AttachmentKind(mimeType: attachment.mimeType) == .text {
            total += (attachment.data.count + 3) / 4
        }
        return total
    }
}

/// Trims conversation history to a token budget, keeping the newest turns.
public enum TokenBudget {
    /// The longest suffix of `history` (oldest first, as stored) whose estimated size fits in
    /// `maxTokens`. Stops at the first turn that does not fit, so the kept turns stay contiguous:
    /// skipping a long turn and keeping an older one would give the model a conversation that
    /// never happened. A budget of 0 or less keeps nothing.
    public static func trim(_ history: [ChatTurn], toTokens maxTokens: Int,
                            estimate: (ChatTurn) -> Int = TokenEstimator.estimate) -> [ChatTurn] {
        var used = 0
        var start = history.endIndex
        while start > history.startIndex {
            let cost = estimate(history[start - 1])
            guard used + cost <= maxTokens else { break }
            used += cost
            start -= 1
        }
        return Array(history[start...])
    }
}
