import NIOCore

/// What both ends of a LOACL connection do the same way: coalesced writes (the small frames of a
/// loop tick or read burst are copied into one buffer and handed to the channel with one write
/// and one flush, or early once enough is gathered), the connection-level flow-control windows, batched credit, and the streams
/// waiting for connection window. Owned by the server's and the client's connection handler;
/// event loop only.
///
/// Every stored `var` is `@exclusivity(unchecked)`: they are touched on one thread (the event
/// loop) and never by overlapping accesses, and the runtime's per-access exclusivity check
/// (`swift_beginAccess` with its thread-local access set) was ≈ 3 % of the server's CPU on the
/// per-frame path (bench/RESULTS.md, session 10).
public final class ConnectionCore: MessageFrameSink {
    @exclusivity(unchecked) public private(set) var context: ChannelHandlerContext?
    /// True while a read burst is being processed: `channelReadComplete` flushes then.
    @exclusivity(unchecked) public var inRead = false
    /// Set once the connection is closing: nothing more is written.
    @exclusivity(unchecked) public var isClosing = false
    @exclusivity(unchecked) private var needsFlush = false
    /// Small frames written since the last flush, in order; handed to the channel at the flush.
    /// Allocated per tick (not kept: an idle connection holds no buffer).
    @exclusivity(unchecked) private var outbound: ByteBuffer?
    /// Frames up to this size are copied into `outbound`; larger ones go to the channel as they are.
    static let coalescingLimit = 1024
    public var smallFrameLimit: Int { Self.coalescingLimit }
    /// What the client gathers before flushing early.
    public static let clientEarlyFlushBytes = 4096
    /// What the server gathers, outside a read burst, before flushing early.
    public static let serverResumedFlushBytes = 1536
    /// Gathered bytes that are flushed at once, without waiting for the end of the read burst
    /// (`earlyFlushBytes`) or of the loop tick outside one (`resumedFlushBytes`). See `init`.
    private let earlyFlushBytes: Int
    private let resumedFlushBytes: Int
    @exclusivity(unchecked) private var flushScheduled = false
    @exclusivity(unchecked) private var sendWindow: FlowWindow
    @exclusivity(unchecked) private var receiveWindow: FlowWindow
    @exclusivity(unchecked) private var blockedSenders: [StreamSender] = []
    public let initialWindow: Int

    /// `earlyFlushBytes`: flush as soon as this much is gathered. With many calls in flight, one
    /// flush per tick makes the two ends take turns (one writes a whole batch while the other
    /// idles, then the reverse); a page going out early lets the peer start on it while this end
    /// builds the rest. The client does it (`clientEarlyFlushBytes`), at the cost of one more
    /// write per 4 KiB (bench/RESULTS.md, session 9).
    ///
    /// `resumedFlushBytes` (default: `earlyFlushBytes`) applies instead to writes made outside a
    /// read burst: by tasks resumed on the loop, i.e. streamed messages and replies of handlers
    /// that awaited something. The server keeps one write per read burst for the calls it
    /// answers inside the burst (its cheapest per call against a fast client), but flushes
    /// resumed tasks' replies every `serverResumedFlushBytes`: a bidirectional stream's replies
    /// all come from resumed tasks, and one write per batch of them kept the two ends taking
    /// turns, each idle half the time (bench/RESULTS.md, session 13).
    public init(initialWindow: Int = WireProtocol.defaultInitialWindow, earlyFlushBytes: Int? = nil,
                resumedFlushBytes: Int? = nil) {
        self.initialWindow = initialWindow
        self.earlyFlushBytes = earlyFlushBytes ?? .max
        self.resumedFlushBytes = resumedFlushBytes ?? earlyFlushBytes ?? .max
        self.sendWindow = FlowWindow(initial: initialWindow)
        self.receiveWindow = FlowWindow(initial: initialWindow)
    }

    public func attach(_ context: ChannelHandlerContext?) { self.context = context }

    // MARK: Writing

    public func write(_ buffer: ByteBuffer) {
        guard let context, !isClosing else { return }
        if buffer.readableBytes <= Self.coalescingLimit {
            appendOutbound(context) { $0.writeImmutableBuffer(buffer) }
            if outbound!.readableBytes >= flushLimit { return flushNow() }
        } else {
            writeOutbound(context)
            context.write(NIOAny(buffer), promise: nil)
        }
        scheduleFlush(context)
    }

    public func write(_ frame: ByteBuffer, streamID: UInt32) {
        guard frame.readableBytes <= Self.coalescingLimit else {
            var frame = frame
            frame.setInteger(streamID, at: frame.readerIndex + WireProtocol.streamIDOffset)
            return write(frame)
        }
        writeFrame { out in
            let start = out.writerIndex
            out.writeImmutableBuffer(frame)
            out.setInteger(streamID, at: start + WireProtocol.streamIDOffset)
        }
    }

    /// Writes a small frame straight into the coalescing buffer (no buffer of its own).
    public func writeFrame(_ body: (inout ByteBuffer) -> Void) {
        guard let context, !isClosing else { return }
        appendOutbound(context, body)
        if outbound!.readableBytes >= flushLimit { return flushNow() }
        scheduleFlush(context)
    }

    /// What may be gathered before an early flush, now.
    private var flushLimit: Int { inRead ? earlyFlushBytes : resumedFlushBytes }

    private func appendOutbound(_ context: ChannelHandlerContext, _ body: (inout ByteBuffer) -> Void) {
        if outbound == nil { outbound = context.channel.allocator.buffer(capacity: 512) }
        body(&outbound!)
    }

    /// Hands the coalesced bytes to the channel (before a large frame, and at the flush).
    private func writeOutbound(_ context: ChannelHandlerContext) {
        guard let bytes = outbound else { return }
        outbound = nil
        context.write(NIOAny(bytes), promise: nil)
    }

    private func scheduleFlush(_ context: ChannelHandlerContext) {
        needsFlush = true
        // Every write made in this loop tick goes out with one flush (one syscall); during a
        // read burst `channelReadComplete` flushes instead.
        guard !inRead, !flushScheduled else { return }
        flushScheduled = true
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            bound.value.flushScheduled = false
            bound.value.flushIfNeeded()
        }
    }

    public func flushIfNeeded() {
        guard needsFlush else { return }
        flushNow()
    }

    private func flushNow() {
        guard let context else { return }
        needsFlush = false
        writeOutbound(context)
        context.flush()
    }

    public func writeWindowUpdate(streamID: UInt32, increment: Int) {
        writeFrame { $0.writeWindowUpdate(streamID: streamID, increment: UInt32(increment)) }
    }

    // MARK: Receiving MESSAGE bytes

    /// Takes `size` inbound bytes from the connection receive window; false when the peer
    /// overran it (a connection error). Connection credit is returned on receipt, not on
    /// consumption: the stream windows already bound what is buffered, and tying the connection
    /// window to the slowest reader would let one unread stream stall every other call
    /// (docs/PROTOCOL.md §4). Credit goes back in batches of a quarter window, so small calls do
    /// not each cost a WINDOW_UPDATE; that never stalls the peer, which only waits at a window
    /// ≤ 0, i.e. with a whole window received and not yet credited.
    public func acceptInbound(_ size: Int) -> Bool {
        guard receiveWindow.allows(size) else { return false }
        receiveWindow.consume(size)
        if let increment = receiveWindow.credit(size) { writeWindowUpdate(streamID: 0, increment: increment) }
        return true
    }

    // MARK: Sending MESSAGE bytes

    public func spendConnectionSendWindow(_ size: Int) -> Bool {
        guard sendWindow.allows(size) else { return false }
        sendWindow.consume(size)
        return true
    }

    public func waitForConnectionWindow(_ sender: StreamSender) { blockedSenders.append(sender) }

    /// The peer granted connection credit: retry waiting writes. False on overflow.
    public func grantConnectionWindow(_ increment: Int) -> Bool {
        guard sendWindow.grant(increment) else { return false }
        let blocked = blockedSenders
        blockedSenders.removeAll(keepingCapacity: true)
        for sender in blocked where !sender.retry() { blockedSenders.append(sender) }
        return true
    }

    public func forget(_ sender: StreamSender) { blockedSenders.removeAll { $0 === sender } }
}

extension Frame {
    /// The increment of a WINDOW_UPDATE frame, nil when malformed (not 4 bytes, 0, or ≥ 2³¹).
    public var windowIncrement: Int? {
        guard payload.readableBytes == 4, let increment = payload.getInteger(at: payload.readerIndex, as: UInt32.self),
              increment >= 1, increment <= UInt32(Int32.max) else { return nil }
        return Int(increment)
    }
}
