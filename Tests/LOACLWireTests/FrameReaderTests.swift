import LOACLWire
import NIOCore
import Testing

/// The frame reader the server's connection handler uses, on its own: every way of splitting the
/// same bytes across reads gives the same preface and frames, and bad input the same errors.
@Suite("Frame reader")
struct FrameReaderTests {
    static let frames: [Frame] = [
        Frame(type: .headers, streamID: 1, payload: ByteBuffer(string: "method")),
        Frame(type: .message, flags: .endStream, streamID: 1, payload: ByteBuffer(string: String(repeating: "m", count: 300))),
        Frame(type: .windowUpdate, streamID: 0, payload: ByteBuffer(bytes: [0, 0, 1, 0])),
        Frame(type: .cancel, streamID: 3, payload: ByteBuffer()),
    ]

    static var stream: ByteBuffer {
        var bytes = ByteBuffer(bytes: WireProtocol.preface)
        for frame in frames { bytes.writeFrame(type: frame.type, flags: frame.flags, streamID: frame.streamID, payload: frame.payload) }
        return bytes
    }

    /// Reads `bytes` in pieces cut at `cuts`; returns the events.
    static func read(_ bytes: ByteBuffer, cuts: [Int], maxFrameSize: Int = 1 << 20) throws(FrameDecodingError) -> [FrameParser.Event] {
        var reader = FrameReader(expectPreface: true, maxFrameSize: maxFrameSize)
        var events: [FrameParser.Event] = []
        var from = 0
        for cut in cuts + [bytes.readableBytes] where cut >= from {
            try reader.read(bytes.getSlice(at: bytes.readerIndex + from, length: cut - from)!) { events.append($0); return true }
            from = cut
        }
        return events
    }

    @Test("one read, every single cut, and every byte on its own give the same events")
    func splits() throws {
        let bytes = Self.stream
        let expected: [FrameParser.Event] = [.preface] + Self.frames.map { .frame($0) }
        #expect(try Self.read(bytes, cuts: []) == expected)
        for cut in 1..<bytes.readableBytes {
            #expect(try Self.read(bytes, cuts: [cut]) == expected, "cut at \(cut)")
        }
        #expect(try Self.read(bytes, cuts: Array(1..<bytes.readableBytes)) == expected)
    }

    @Test("a wrong preface fails at its first wrong byte; an oversized header fails before its payload")
    func badInput() {
        #expect(throws: FrameDecodingError.badPreface) { try Self.read(ByteBuffer(string: "LOAX"), cuts: []) }
        var big = ByteBuffer(bytes: WireProtocol.preface)
        big.writeFrameHeader(length: 2048, type: .message, flags: [], streamID: 1)
        #expect(throws: FrameDecodingError.frameTooLarge(length: 2048, limit: 1024)) { try Self.read(big, cuts: [], maxFrameSize: 1024) }
    }

    @Test("the handler stops the reader by returning false")
    func stop() throws {
        var reader = FrameReader(expectPreface: true)
        var seen = 0
        try reader.read(Self.stream) { _ in seen += 1; return seen < 2 }
        #expect(seen == 2)
    }
}
