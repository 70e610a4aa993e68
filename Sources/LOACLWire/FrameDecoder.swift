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

/// Splits the inbound byte stream into frames. The first 8 bytes must be the preface
/// (`expectPreface`); after it, every frame is a 10-byte header and its payload. The payload
/// is a slice of the cumulation buffer, so decoding does not copy.
public struct FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = Frame

    private var awaitingPreface: Bool
    private let maxFrameSize: Int

    public init(expectPreface: Bool, maxFrameSize: Int = WireProtocol.defaultMaxFrameSize) {
        self.awaitingPreface = expectPreface
        self.maxFrameSize = maxFrameSize
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if awaitingPreface {
            // Compare what we have so far, so a wrong preface fails as soon as one byte is wrong.
            let available = min(buffer.readableBytes, WireProtocol.preface.count)
            guard let bytes = buffer.getBytes(at: buffer.readerIndex, length: available) else { return .needMoreData }
            guard bytes.elementsEqual(WireProtocol.preface.prefix(available)) else { throw FrameDecodingError.badPreface }
            guard available == WireProtocol.preface.count else { return .needMoreData }
            buffer.moveReaderIndex(forwardBy: available)
            awaitingPreface = false
            context.fireUserInboundEventTriggered(PrefaceReceived())
        }
        guard let (length, typeRaw, flagsRaw, streamID) = buffer.getMultipleIntegers(
            at: buffer.readerIndex, as: (UInt32, UInt8, UInt8, UInt32).self)
        else { return .needMoreData }
        let payloadLength = Int(length)
        guard payloadLength <= maxFrameSize else {
            throw FrameDecodingError.frameTooLarge(length: payloadLength, limit: maxFrameSize)
        }
        guard buffer.readableBytes >= WireProtocol.headerSize + payloadLength else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: WireProtocol.headerSize)
        let payload = buffer.readSlice(length: payloadLength)!
        context.fireChannelRead(wrapInboundOut(
            Frame(type: FrameType(rawValue: typeRaw), flags: FrameFlags(rawValue: flagsRaw), streamID: streamID, payload: payload)))
        return .continue
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
