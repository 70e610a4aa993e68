import NIOCore
import Synchronization

/// The received MESSAGE payloads of one stream, waiting for the application, with at most one
/// reader waiting for the next. Used by both ends of a call (server requests, client responses).
///
/// The connection pushes from its event loop; the reader may be on any thread. A message that
/// is already buffered is taken under a lock, without a hop to the event loop and back (that
/// round trip per message made a burst of streamed messages cost two thread switches each).
/// Taking a message reports its size through `onConsume`, always on the event loop: that is
/// where flow-control credit goes back to the peer. Credit for messages taken off the loop is
/// added up and handed over in one loop task, however many messages the reader took meanwhile.
///
/// The parked reader's continuation is unchecked (`UnsafeContinuation`): a checked one is an
/// allocation per wait, i.e. per streamed message. Exactly-once resumption is this type's own
/// invariant: the waiter is taken out of the state under the lock before it is resumed.
public final class MessageInbox: Sendable {
    private struct State: ~Copyable {
        var buffer = CircularBuffer<ByteBuffer>()
        var waiter: UnsafeContinuation<ByteBuffer?, any Error>?
        var ended = false
        var failure: (any Error)?
        /// Bytes taken off the loop whose credit is not handed over yet.
        var pendingCredit = 0
        var creditScheduled = false
    }

    /// What a reader gets now.
    private enum Take {
        case message(ByteBuffer)
        case end
        case failed(any Error)
        case parked
    }

    private let state = Mutex(State())
    private let onConsume: @Sendable (Int) -> Void

    /// `onConsume` is called on the connection's event loop only.
    public init(onConsume: @escaping @Sendable (Int) -> Void) {
        self.onConsume = onConsume
    }

    /// No more messages will be pushed (the peer half-closed or the call ended).
    public var isEnded: Bool { state.withLock { $0.ended || $0.failure != nil } }

    /// A message arrived (event loop).
    public func push(_ payload: ByteBuffer) {
        let waiter: UnsafeContinuation<ByteBuffer?, any Error>? = state.withLock { state in
            guard let waiter = state.waiter else {
                state.buffer.append(payload)
                return nil
            }
            state.waiter = nil
            return waiter
        }
        if let waiter {
            onConsume(payload.readableBytes)
            waiter.resume(returning: payload)
        }
    }

    /// The peer sends nothing more; readers get the buffered messages, then the end (event loop).
    public func end() {
        closing { $0.ended = true }?.resume(returning: nil)
    }

    /// The peer ended the stream with an error after the messages it sent: readers get the
    /// buffered messages first, then `error` (a streamed reply's text that arrived before the
    /// error status must not be lost because the reader was a little behind). Event loop.
    public func finish(throwing error: any Error) {
        closing { $0.failure = error }?.resume(throwing: error)
    }

    /// Applies `change`, and returns the parked reader if nothing is buffered for it any more
    /// (the caller resumes it with the end or the error).
    private func closing(_ change: (inout State) -> Void) -> UnsafeContinuation<ByteBuffer?, any Error>? {
        state.withLock { state in
            change(&state)
            guard state.buffer.isEmpty, let waiter = state.waiter else { return nil }
            state.waiter = nil
            return waiter
        }
    }

    /// The stream failed: buffered messages are dropped (their size is returned so the caller can
    /// give the connection credit back) and readers get `error`. Event loop.
    @discardableResult
    public func fail(_ error: any Error) -> Int {
        let (dropped, waiter): (Int, UnsafeContinuation<ByteBuffer?, any Error>?) = state.withLock { state in
            state.failure = error
            var dropped = 0
            while let payload = state.buffer.popFirst() { dropped += payload.readableBytes }
            let waiter = state.waiter
            state.waiter = nil
            return (dropped, waiter)
        }
        waiter?.resume(throwing: error)
        return dropped
    }

    /// Reads the next message from any thread; waits (without holding a thread) when none is
    /// buffered. Runs on the caller's executor (`nonisolated(nonsending)`): no executor switch
    /// on entry or after the wait, per message.
    public nonisolated(nonsending) func next(on eventLoop: any EventLoop) async throws -> ByteBuffer? {
        switch take(parking: nil) {
        case .message(let payload):
            consumed(payload.readableBytes, on: eventLoop)
            return payload
        case .end: return nil
        case .failed(let error): throw error
        case .parked: break
        }
        // Nothing yet: park, unless a push came in between (then take it at once). A parked
        // reader is resumed by `push`, which hands the credit over itself.
        return try await withUnsafeThrowingContinuation { continuation in
            switch take(parking: continuation) {
            case .message(let payload):
                consumed(payload.readableBytes, on: eventLoop)
                continuation.resume(returning: payload)
            case .end: continuation.resume(returning: nil)
            case .failed(let error): continuation.resume(throwing: error)
            case .parked: break
            }
        }
    }

    /// Takes a buffered message, the end or the failure; else parks `continuation`, if given,
    /// for the next push (or end, or failure) to resume.
    private func take(parking continuation: UnsafeContinuation<ByteBuffer?, any Error>?) -> Take {
        state.withLock { state -> Take in
            if let payload = state.buffer.popFirst() { return .message(payload) }
            if let failure = state.failure { return .failed(failure) }
            if state.ended { return .end }
            if let continuation {
                precondition(state.waiter == nil, "two readers on one stream")
                state.waiter = continuation
            }
            return .parked
        }
    }

    private func consumed(_ size: Int, on eventLoop: any EventLoop) {
        guard size > 0 else { return }
        if eventLoop.inEventLoop { return onConsume(size) }
        let schedule = state.withLock { state -> Bool in
            state.pendingCredit += size
            guard !state.creditScheduled else { return false }
            state.creditScheduled = true
            return true
        }
        guard schedule else { return }
        eventLoop.execute {
            let credit = self.state.withLock { state -> Int in
                state.creditScheduled = false
                defer { state.pendingCredit = 0 }
                return state.pendingCredit
            }
            if credit > 0 { self.onConsume(credit) }
        }
    }
}
