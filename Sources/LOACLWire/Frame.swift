import NIOCore

/// LOACL wire v1 constants. docs/PROTOCOL.md is the normative description.
public enum WireProtocol {
    /// Sent first by the client, echoed by the server: `LOACL/1\n`.
    public static let preface: [UInt8] = Array("LOACL/1\n".utf8)
    /// Bytes in a frame header: length (u32) · type (u8) · flags (u8) · stream id (u32).
    public static let headerSize = 10
    /// Where the stream id sits in a frame header.
    public static let streamIDOffset = 6
    /// Default maximum payload of one frame.
    public static let defaultMaxFrameSize = 4 * 1024 * 1024
    /// Initial flow-control window of every stream and of the connection.
    public static let defaultInitialWindow = 1024 * 1024
    /// ALPN protocol id on TLS listeners.
    public static let alpn = "loacl/1"
}

/// Frame types of LOACL wire v1.
public struct FrameType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let headers = FrameType(rawValue: 0x1)
    public static let message = FrameType(rawValue: 0x2)
    public static let trailers = FrameType(rawValue: 0x3)
    public static let cancel = FrameType(rawValue: 0x4)
    public static let windowUpdate = FrameType(rawValue: 0x5)
    public static let ping = FrameType(rawValue: 0x6)
    public static let goAway = FrameType(rawValue: 0x7)

    public var isKnown: Bool { rawValue >= 0x1 && rawValue <= 0x7 }

    public var description: String {
        switch rawValue {
        case 0x1: "HEADERS"
        case 0x2: "MESSAGE"
        case 0x3: "TRAILERS"
        case 0x4: "CANCEL"
        case 0x5: "WINDOW_UPDATE"
        case 0x6: "PING"
        case 0x7: "GOAWAY"
        default: "UNKNOWN(0x\(String(rawValue, radix: 16)))"
        }
    }
}

/// Frame flags.
public struct FrameFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// On a client HEADERS or MESSAGE: the client sends nothing more on this call.
    public static let endStream = FrameFlags(rawValue: 0x1)
    /// On PING: this is the answer.
    public static let ack = FrameFlags(rawValue: 0x2)
}

/// One frame. `payload` is a slice of the inbound buffer (no copy).
public struct Frame: Sendable, Equatable {
    public var type: FrameType
    public var flags: FrameFlags
    public var streamID: UInt32
    public var payload: ByteBuffer

    public init(type: FrameType, flags: FrameFlags = [], streamID: UInt32, payload: ByteBuffer) {
        self.type = type
        self.flags = flags
        self.streamID = streamID
        self.payload = payload
    }
}
