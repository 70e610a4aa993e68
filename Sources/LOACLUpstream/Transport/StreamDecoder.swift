/// What one server-sent event means for the reply.
enum DecodedEvent: Sendable, Hashable {
    case delta(String)
    /// Pieces of function calls (several calls may advance in one event).
    case toolCallDeltas([ChatToolCallDelta])
    /// Text and call pieces from one event, in that order.
    case both(String, [ChatToolCallDelta])
    case completed(ChatUsage)
    /// Lifecycle or metadata events the reply does not need.
    case ignored
}

/// Turns one provider's server-sent events into reply events. One decoder per attempt.
protocol StreamDecoder: Sendable {
    /// Interprets one event; throws for an error event or a malformed one.
    mutating func decode(_ event: ServerSentEvent) throws(ChatProviderError) -> DecodedEvent
    /// The body ended before a completion event: usage when that is still a complete reply,
    /// otherwise a thrown error.
    mutating func endOfStream() throws(ChatProviderError) -> ChatUsage
}
