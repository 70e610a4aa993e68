import LOACLCore
import LOACLServerCore
import LOACLWire
import NIOCore

/// The request side every transport's stream keeps the same way: the one request message of a
/// unary or server-streaming call, or the inbox of a client- or bidirectional-streaming one.
protocol InboxCallStream: ServerCallStream {
    /// The single request, once complete (nil for streaming calls).
    var receivedRequest: ByteBuffer? { get }
    /// Requests of a streaming call (nil for single-request calls).
    var inbox: MessageInbox? { get }
}

extension InboxCallStream {
    func singleRequest() throws -> ByteBuffer {
        guard let receivedRequest else { throw RPCError.internal("no request message") }
        return receivedRequest
    }

    func nextRequest() async throws -> ByteBuffer? {
        guard let inbox else { return nil }
        return try await inbox.next(on: eventLoop)
    }
}
