import NIOCore

/// The received MESSAGE payloads of one stream, waiting for the application, with at most one
/// reader waiting for the next. Used by both ends of a call (server requests, client responses).
///
/// Lives on the connection's event loop: only call it there (`next(on:)` hops there itself), which
/// is why it can be `@unchecked Sendable`. Taking a message reports its size through
/// `onConsume`, which is where flow-control credit goes back to the peer.
public final class MessageInbox: @unchecked Sendable {
    public enum Poll {
        case message(ByteBuffer)
        case end
        case wait
    }

    private var buffer = CircularBuffer<ByteBuffer>()
    private var waiter: CheckedContinuation<ByteBuffer?, any Error>?
    private var ended = false
    private var failure: (any Error)?
    private let onConsume: (Int) -> Void

    public init(onConsume: @escaping (Int) -> Void) {
        self.onConsume = onConsume
    }

    /// No more messages will be pushed (the peer half-closed or the call ended).
    public var isEnded: Bool { ended || failure != nil }

    public func push(_ payload: ByteBuffer) {
        if let waiter {
            self.waiter = nil
            onConsume(payload.readableBytes)
            waiter.resume(returning: payload)
        } else {
            buffer.append(payload)
        }
    }

    /// The peer sends nothing more; readers get the buffered messages, then the end.
    public func end() {
        ended = true
        if buffer.isEmpty, let waiter {
            self.waiter = nil
            waiter.resume(returning: nil)
        }
    }

    /// The peer ended the stream with an error after the messages it sent: readers get the
    /// buffered messages first, then `error` (a streamed reply's text that arrived before the
    /// error status must not be lost because the reader was a little behind).
    public func finish(throwing error: any Error) {
        failure = error
        if buffer.isEmpty, let waiter {
            self.waiter = nil
            waiter.resume(throwing: error)
        }
    }

    /// The stream failed: buffered messages are dropped (their size is returned so the caller can
    /// give the connection credit back) and readers get `error`.
    @discardableResult
    public func fail(_ error: any Error) -> Int {
        failure = error
        var dropped = 0
        while let payload = buffer.popFirst() { dropped += payload.readableBytes }
        if let waiter {
            self.waiter = nil
            waiter.resume(throwing: error)
        }
        return dropped
    }

    /// The next message if one is buffered, the end, or `.wait`.
    public func poll() throws -> Poll {
        if let payload = buffer.popFirst() {
            onConsume(payload.readableBytes)
            return .message(payload)
        }
        if let failure { throw failure }
        return ended ? .end : .wait
    }

    /// Parks a reader after `poll()` said `.wait`.
    public func park(_ continuation: CheckedContinuation<ByteBuffer?, any Error>) {
        precondition(waiter == nil, "two readers on one stream")
        waiter = continuation
    }

    /// Reads the next message from any thread: polls directly when already on `eventLoop`.
    public func next(on eventLoop: any EventLoop) async throws -> ByteBuffer? {
        if eventLoop.inEventLoop {
            switch try poll() {
            case .message(let payload): return payload
            case .end: return nil
            case .wait: break
            }
        }
        return try await withCheckedThrowingContinuation { continuation in
            eventLoop.execute {
                do {
                    switch try self.poll() {
                    case .message(let payload): continuation.resume(returning: payload)
                    case .end: continuation.resume(returning: nil)
                    case .wait: self.park(continuation)
                    }
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}
