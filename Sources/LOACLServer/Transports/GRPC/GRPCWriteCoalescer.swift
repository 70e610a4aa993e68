import NIOCore

/// Between the socket (or TLS) and `NIOHTTP2Handler`: gathers the small writes that make up a
/// flush into one buffer. `NIOHTTP2Handler` writes every frame on its own — a frame header and
/// HPACK block in a fresh buffer (its one encode buffer is still held by the socket, so each frame
/// copies it on write), a DATA payload beside its header — so a unary call is four writes and
/// three buffer allocations. Copied here, the encode buffer is free again at once and is reused,
/// and the socket gets one write per flush. Writes larger than `maxCopiedBytes` (big DATA
/// payloads, file regions) go out as they are, after what was gathered before them.
final class GRPCWriteCoalescer: ChannelOutboundHandler {
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    static let maxCopiedBytes = 1024
    /// A buffer that grew past this (a burst of many frames) is not kept for the next flush.
    private static let maxKeptCapacity = 64 * 1024

    /// Reused from flush to flush: the socket has let go of it by the next write, unless the
    /// socket is full (then `clear()` copies it, as it must).
    private var buffer: ByteBuffer?
    private var gathering = false
    /// The promise of the gathered writes (others cascade from it).
    private var promise: EventLoopPromise<Void>?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .byteBuffer(var bytes) = unwrapOutboundIn(data), bytes.readableBytes <= Self.maxCopiedBytes else {
            writeGathered(context: context)
            return context.write(data, promise: promise)
        }
        if !gathering {
            gathering = true
            if buffer == nil {
                buffer = context.channel.allocator.buffer(capacity: 4096)
            } else {
                buffer!.clear()
            }
        }
        buffer!.writeBuffer(&bytes)
        guard let promise else { return }
        if let gathered = self.promise {
            gathered.futureResult.cascade(to: promise)
        } else {
            self.promise = promise
        }
    }

    func flush(context: ChannelHandlerContext) {
        writeGathered(context: context)
        context.flush()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        gathering = false
        promise?.fail(ChannelError.ioOnClosedChannel)
        promise = nil
    }

    private func writeGathered(context: ChannelHandlerContext) {
        guard gathering, let gathered = buffer else { return }
        gathering = false
        let promise = self.promise
        self.promise = nil
        if gathered.capacity > Self.maxKeptCapacity { buffer = nil }
        context.write(wrapOutboundOut(.byteBuffer(gathered)), promise: promise)
    }
}
