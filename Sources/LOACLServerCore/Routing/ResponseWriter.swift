import LOACLCore
import LOACLMessages

/// Sends the response messages of a server- or bidirectional-streaming call. `write` waits
/// while the client's flow-control window is exhausted, so a slow reader slows the handler
/// instead of growing a buffer. Writes must not overlap (await each one).
public struct ResponseWriter<Response: ProtoMessage>: Sendable {
    @usableFromInline let stream: any ServerCallStream

    /// Inlined into the handler: one async frame (and its executor check) less per message.
    @inlinable
    public func write(_ message: Response) async throws {
        try await stream.send(message)
    }

    /// Sends `message` at once if this is the call's event loop and flow control allows it, and
    /// says whether it did; when false nothing was sent (`write` it). For a producer that hands
    /// messages to a waiting call without waking it; a handler that is running just `write`s.
    public func writeNow(_ message: Response) -> Bool {
        stream.sendNow(message)
    }

    /// Sends response metadata (the transport's response headers); only before the first message,
    /// at most once.
    public func writeHeaders(_ metadata: Metadata) async throws {
        try await stream.sendHeaders(metadata)
    }
}
