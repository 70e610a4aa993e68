import LOACLWire
import NIOCore
import NIOEmbedded
import Testing

/// When `ConnectionCore` hands gathered frames to the socket: once per read burst or loop tick,
/// or early once a threshold is gathered (inside a read burst `earlyFlushBytes`, outside one
/// `resumedFlushBytes`).
@Suite("Connection write coalescing")
struct ConnectionCoreFlushTests {
    /// Attaches a `ConnectionCore` to an embedded channel's pipeline.
    final class Attach: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let core: ConnectionCore
        init(_ core: ConnectionCore) { self.core = core }
        func handlerAdded(context: ChannelHandlerContext) { core.attach(context) }
    }

    static func setUp(_ core: ConnectionCore) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(Attach(core))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    /// Writes `count` frames of 100 bytes.
    static func write(_ core: ConnectionCore, _ channel: EmbeddedChannel, count: Int) {
        let frame = channel.allocator.buffer(repeating: 0x5A, count: 100)
        for _ in 0..<count { core.write(frame) }
    }

    /// What the connection handlers do in `channelReadComplete`.
    static func endReadBurst(_ core: ConnectionCore) {
        core.inRead = false
        core.flushIfNeeded()
    }

    static func flushedBytes(_ channel: EmbeddedChannel) throws -> [Int] {
        var sizes: [Int] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { sizes.append(buffer.readableBytes) }
        return sizes
    }

    @Test("outside a read burst the server flushes every resumedFlushBytes, and the rest at the end of the tick")
    func resumedWritesFlushEarly() throws {
        let core = ConnectionCore(resumedFlushBytes: 1000)
        let channel = try Self.setUp(core)
        Self.write(core, channel, count: 9)
        #expect(try Self.flushedBytes(channel) == [], "900 bytes: below the threshold, nothing flushed yet")
        Self.write(core, channel, count: 16)
        #expect(try Self.flushedBytes(channel) == [1000, 1000], "each 1000 bytes went out as soon as they were gathered")
        channel.embeddedEventLoop.run()
        #expect(try Self.flushedBytes(channel) == [500], "the end of the tick flushes the rest")
        _ = try channel.finish()
    }

    @Test("inside a read burst resumedFlushBytes does not apply: one write at the end of the burst")
    func readBurstWritesWaitForTheEnd() throws {
        let core = ConnectionCore(resumedFlushBytes: 1000)
        let channel = try Self.setUp(core)
        core.inRead = true
        Self.write(core, channel, count: 25)
        channel.embeddedEventLoop.run()
        #expect(try Self.flushedBytes(channel) == [])
        core.inRead = false
        core.flushIfNeeded()
        #expect(try Self.flushedBytes(channel) == [2500])
        _ = try channel.finish()
    }

    @Test("earlyFlushBytes applies in a read burst, and outside one when resumedFlushBytes is not given")
    func earlyFlushEverywhere() throws {
        let core = ConnectionCore(earlyFlushBytes: 1000)
        let channel = try Self.setUp(core)
        core.inRead = true
        Self.write(core, channel, count: 12)
        #expect(try Self.flushedBytes(channel) == [1000])
        core.inRead = false
        core.flushIfNeeded()
        #expect(try Self.flushedBytes(channel) == [200])
        Self.write(core, channel, count: 10)
        #expect(try Self.flushedBytes(channel) == [1000])
        _ = try channel.finish()
    }
}
