import LOACLMessages
import NIOCore

/// One direction's flow-control window (docs/PROTOCOL.md §4).
public struct FlowWindow: Sendable {
    public private(set) var available: Int
    public let initial: Int
    /// Receive side: bytes consumed whose credit has not been returned yet (`credit(_:)`).
    private var owed = 0

    public init(initial: Int) {
        self.initial = initial
        self.available = initial
    }

    /// A message of `size` bytes may be sent while the window is positive (it may then go
    /// negative), or when it fits. So one message of any size up to the frame limit can always
    /// pass once credit returns, and no more than window + one message is ever in flight.
    @inlinable
    public func allows(_ size: Int) -> Bool { available > 0 || size <= available }

    public mutating func consume(_ size: Int) { available -= size }

    /// Adds credit; false when the window would exceed 2³¹−1 (a protocol error).
    public mutating func grant(_ increment: Int) -> Bool {
        available += increment
        return available <= Int(Int32.max)
    }

    /// Receive side: `size` more bytes may be returned to the sender. Credit goes back in batches
    /// of a quarter window: the increment to send in a WINDOW_UPDATE now (already granted here),
    /// or nil while the batch is not full. Batching never stalls the sender, which waits only at
    /// a window ≤ 0, i.e. with a whole window sent and not yet credited: then at least a quarter
    /// of it is owed here, or still unread by the application (docs/PROTOCOL.md §4). Without it a
    /// streamed message cost a WINDOW_UPDATE frame back, to write and for the peer to read.
    public mutating func credit(_ size: Int) -> Int? {
        owed += size
        guard owed >= max(1, initial / 4) else { return nil }
        let increment = owed
        owed = 0
        available += increment
        return increment
    }
}

/// The connection side of sending MESSAGE frames: the connection-wide window and the socket.
/// Implemented by the server's and the client's connection handlers (event loop only).
public protocol MessageFrameSink: AnyObject {
    /// Takes `size` bytes from the connection window if it allows them.
    func spendConnectionSendWindow(_ size: Int) -> Bool
    /// Remember `sender` and call its `retry()` when the connection window grows.
    func waitForConnectionWindow(_ sender: StreamSender)
    /// Queues bytes for the socket (flushed once per loop tick).
    func write(_ buffer: ByteBuffer)
    /// Queues a frame encoded with another stream id (0), writing `streamID` into its header on
    /// the way: no copy of the frame's own buffer, however many references it has.
    func write(_ frame: ByteBuffer, streamID: UInt32)
    /// Writes a small frame straight into the outgoing bytes (`body` appends it).
    func writeFrame(_ body: (inout ByteBuffer) -> Void)
    /// Frames up to this size may be written with `writeFrame`.
    var smallFrameLimit: Int { get }
}

/// Sends one stream's MESSAGE frames under flow control: a write that does not fit the stream
/// or connection window waits (its caller suspended) until WINDOW_UPDATEs make room, so a slow
/// reader slows the writer instead of growing a buffer.
///
/// The sending half of a stream, and the base class of each end's stream object (the server's
/// `ServerStream`, the client's `ClientStream`): one object per call instead of two, i.e. one
/// allocation and its reference counts less per call on each end (bench/RESULTS.md, session 12).
/// Subclasses add the call; nothing here is overridden.
///
/// State is touched only on the event loop (`send` hops there when needed), hence
/// `@unchecked Sendable`, and never by overlapping accesses, hence `@exclusivity(unchecked)`
/// (no runtime access check per send; see `ConnectionCore`).
open class StreamSender: @unchecked Sendable {
    public let eventLoop: any EventLoop
    private unowned let sink: any MessageFrameSink
    @exclusivity(unchecked) private var window: FlowWindow
    /// A write waiting for window. A struct, not a tuple: testing an optional tuple for nil went
    /// through the runtime's tuple metadata on every send.
    private struct PendingWrite {
        let frame: ByteBuffer
        let continuation: CheckedContinuation<Void, any Error>
    }
    @exclusivity(unchecked) private var pending: PendingWrite?
    @exclusivity(unchecked) private var closedError: (any Error)?
    @exclusivity(unchecked) public private(set) var sentMessages = 0

    public init(eventLoop: any EventLoop, initialWindow: Int, sink: any MessageFrameSink) {
        self.eventLoop = eventLoop
        self.window = FlowWindow(initial: initialWindow)
        self.sink = sink
    }

    /// Sends a complete MESSAGE frame (header included), waiting for window if needed. Runs on
    /// the caller's executor (`nonisolated(nonsending)`): no executor switch per message.
    public nonisolated(nonsending) func send(_ frame: ByteBuffer) async throws {
        if eventLoop.inEventLoop, try trySend(frame) { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            eventLoop.execute {
                do {
                    if try self.trySend(frame) {
                        continuation.resume()
                    } else {
                        self.pending = PendingWrite(frame: frame, continuation: continuation)
                        self.sink.waitForConnectionWindow(self)
                    }
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Sends one message on stream `streamID`. On the loop, a small message the windows allow is
    /// packed straight into the connection's outgoing bytes; elsewhere (or when it must wait) it
    /// is encoded as a frame on the caller's executor and the loop only queues the buffer.
    public nonisolated(nonsending) func send<M: ProtoMessage>(_ message: M, streamID: UInt32) async throws {
        if eventLoop.inEventLoop,
           try message.withPacked({ size, pack in try sendPacked(streamID: streamID, payloadSize: size, pack: pack) }) { return }
        try await send(message.messageFrame(streamID: streamID))
    }

    /// On the loop: sends `frame` now if the windows allow it and no write waits; false when it
    /// would have to wait. With `streamID`, the frame was encoded for stream 0 and gets that id
    /// as it is written.
    public func sendNow(_ frame: ByteBuffer, streamID: UInt32? = nil) throws -> Bool {
        guard pending == nil else { return false }
        return try trySend(frame, streamID: streamID)
    }

    private func trySend(_ frame: ByteBuffer, streamID: UInt32? = nil) throws -> Bool {
        if let closedError { throw closedError }
        precondition(pending == nil, "overlapping writes on one stream")
        guard spend(frame.readableBytes - WireProtocol.headerSize) else { return false }
        if let streamID { sink.write(frame, streamID: streamID) } else { sink.write(frame) }
        return true
    }

    /// On the loop: sends a MESSAGE of `size` payload bytes that `pack` writes straight into the
    /// connection's outgoing bytes (no buffer of its own), if it is small, the windows allow it
    /// now and no write waits. False when it cannot go that way (nothing was written: send it as
    /// a frame instead).
    public func sendPacked(streamID: UInt32, flags: FrameFlags = [], payloadSize size: Int,
                           pack: (UnsafeMutableRawBufferPointer) -> Void) throws -> Bool {
        if let closedError { throw closedError }
        guard pending == nil, WireProtocol.headerSize + size <= sink.smallFrameLimit, spend(size) else { return false }
        sink.writeFrame { $0.writeFrame(type: .message, flags: flags, streamID: streamID, payloadSize: size, pack: pack) }
        return true
    }

    /// Takes `size` bytes from the stream's and the connection's windows, if both allow them.
    private func spend(_ size: Int) -> Bool {
        guard window.allows(size), sink.spendConnectionSendWindow(size) else { return false }
        window.consume(size)
        sentMessages += 1
        return true
    }

    /// The peer granted stream credit. False on window overflow (a protocol error).
    public func grant(_ increment: Int) -> Bool {
        guard window.grant(increment) else { return false }
        retry()
        return true
    }

    /// Retries a waiting write; true when nothing is left waiting.
    @discardableResult
    public func retry() -> Bool {
        guard let waiting = pending else { return true }
        pending = nil
        do {
            if try trySend(waiting.frame) {
                waiting.continuation.resume()
                return true
            }
            pending = waiting
            return false
        } catch {
            waiting.continuation.resume(throwing: error)
            return true
        }
    }

    /// The error a stream closed by cancellation reports: one boxed `CancellationError` shared by
    /// every stream, so that closing a call allocates nothing.
    public static let cancelled: any Error = CancellationError()

    /// No more sends: a waiting write and every later one fail with `error`.
    public func close(_ error: any Error = StreamSender.cancelled) {
        guard closedError == nil else { return }
        closedError = error
        if let waiting = pending {
            pending = nil
            waiting.continuation.resume(throwing: error)
        }
    }

    public var isClosed: Bool { closedError != nil }
}
