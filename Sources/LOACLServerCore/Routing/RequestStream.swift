import LOACLCore
import LOACLMessages

/// The request messages of a client- or bidirectional-streaming call, in order. Iteration ends
/// when the client half-closes; a message that does not decode ends the call with
/// INVALID_ARGUMENT. Taking a message returns its flow-control credit to the client.
public struct RequestStream<Request: ProtoMessage>: AsyncSequence, Sendable {
    public typealias Element = Request
    let stream: any ServerCallStream

    public struct AsyncIterator: AsyncIteratorProtocol {
        @usableFromInline let stream: any ServerCallStream
        public mutating func next() async throws -> Request? {
            guard let payload = try await stream.nextRequest() else { return nil }
            return try ServerMethod.decode(Request.self, payload)
        }

        /// What `for try await` calls: runs on the handler's executor. Without it the loop went
        /// through the protocol's default, which calls `next()` as a plain nonisolated function:
        /// an executor switch per message.
        /// Inlined into the handler: one async frame (and its executor check) less per message.
        @inlinable
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(any Error) -> Request? {
            guard let payload = try await stream.nextRequest() else { return nil }
            return try ServerMethod.decode(Request.self, payload)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(stream: stream) }
}
