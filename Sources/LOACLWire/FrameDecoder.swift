import NIOCore

/// Why a byte stream is not valid LOACL wire v1. Every case is a connection error: the peer
/// gets a GOAWAY (where possible) and the connection is closed.
public enum FrameDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    case badPreface
    case frameTooLarge(length: Int, limit: Int)

    public var description: String {
        switch self {
        case .badPreface: "connection preface is not LOACL/1"
        case .frameTooLarge(let length, let limit): "frame payload of \(length) bytes exceeds the limit of \(limit)"
        }
    }
}

/// Cuts the inbound byte stream into frames, without I/O. The first 8 bytes must be the preface
/// (`expectPreface`); after it, every frame is a 10-byte header and its payload. The payload is a
/// slice of the buffer it was read from, so cutting does not copy.
public struct FrameParser: Sendable {
    public enum Event: Sendable, Equatable {
        case preface
        case frame(Frame)
    }

    private var awaitingPreface: Bool
    private let maxFrameSize: Int

    public init(expectPreface: Bool, maxFrameSize: Int = WireProtocol.defaultMaxFrameSize) {
        self.awaitingPreface = expectPreface
        self.maxFrameSize = maxFrameSize
    }

    /// The next preface or frame in `buffer` (consumed from it), nil when more bytes are needed.
    public mutating func next(from buffer: inout ByteBuffer) throws(FrameDecodingError) -> Event? {
        if awaitingPreface {
            // Compare what we have so far, so a wrong preface fails as soon as one byte is wrong.
            let available = min(buffer.readableBytes, WireProtocol.preface.count)
            guard let bytes = buffer.getBytes(at: buffer.readerIndex, length: available) else { return nil }
            guard bytes.elementsEqual(WireProtocol.preface.prefix(available)) else { throw .badPreface }
            guard available == WireProtocol.preface.count else { return nil }
            buffer.moveReaderIndex(forwardBy: available)
            awaitingPreface = false
            return .preface
        }
        guard let (length, typeRaw, flagsRaw, streamID) = buffer.getMultipleIntegers(
            at: buffer.readerIndex, as: (UInt32, UInt8, UInt8, UInt32).self)
        else { return nil }
        let payloadLength = Int(length)
        guard payloadLength <= maxFrameSize else { throw .frameTooLarge(length: payloadLength, limit: maxFrameSize) }
        guard buffer.readableBytes >= WireProtocol.headerSize + payloadLength else { return nil }
        buffer.moveReaderIndex(forwardBy: WireProtocol.headerSize)
        let payload = buffer.readSlice(length: payloadLength)!
        return .frame(Frame(type: FrameType(rawValue: typeRaw), flags: FrameFlags(rawValue: flagsRaw), streamID: streamID, payload: payload))
    }
}

/// What a connection handler that reads raw bytes uses to get frames: keeps the bytes of an
/// incomplete frame between reads and hands out each complete one in place. (Compared with
/// `ByteToMessageHandler(FrameDecoder)`, a frame is not boxed into a `NIOAny` nor passed down the
/// pipeline: one allocation and one handler hop less per frame.)
public struct FrameReader: Sendable {
    private var parser: FrameParser
    /// Bytes of an incomplete frame (or preface) left from earlier reads.
    private var pending: ByteBuffer?

    public init(expectPreface: Bool, maxFrameSize: Int = WireProtocol.defaultMaxFrameSize) {
        parser = FrameParser(expectPreface: expectPreface, maxFrameSize: maxFrameSize)
    }

    /// Appends `bytes` and calls `body` with every complete preface or frame, in order, while it
    /// returns true. A frame of a read is a slice of that read's buffer; only the tail of an
    /// incomplete frame is kept (copied into `pending` when later bytes arrive).
    public mutating func read(_ bytes: ByteBuffer, _ body: (FrameParser.Event) -> Bool) throws(FrameDecodingError) {
        var buffer: ByteBuffer
        if var pending {
            self.pending = nil
            pending.writeImmutableBuffer(bytes)
            buffer = pending
        } else {
            buffer = bytes
        }
        while let event = try parser.next(from: &buffer) {
            guard body(event) else { return }
        }
        if buffer.readableBytes > 0 {
            buffer.discardReadBytes()
            pending = buffer
        }
    }
}

/// `FrameParser` as a `ByteToMessageDecoder` (the client's pipeline; the fuzz target): frames go
/// down the pipeline, the preface as a `PrefaceReceived` user event.
public struct FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = Frame

    private var parser: FrameParser

    public init(expectPreface: Bool, maxFrameSize: Int = WireProtocol.defaultMaxFrameSize) {
        parser = FrameParser(expectPreface: expectPreface, maxFrameSize: maxFrameSize)
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        switch try parser.next(from: &buffer) {
        case nil:
            return .needMoreData
        case .preface:
            context.fireUserInboundEventTriggered(PrefaceReceived())
            return .continue
        case .frame(let frame):
            context.fireChannelRead(wrapInboundOut(frame))
            return .continue
        }
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A truncated frame at EOF is simply dropped: the connection is going away anyway.
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// Fired (as a user inbound event) once the peer's preface has been read.
public struct PrefaceReceived: Sendable, Hashable {
    public init() {}
}
