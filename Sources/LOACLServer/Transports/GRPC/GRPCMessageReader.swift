import LOACLCore
import NIOCore

/// Cuts a gRPC request body into its length-prefixed messages (1-byte compressed flag, u32
/// big-endian length, then the message), however the DATA frames split them. A message's size
/// is checked from its prefix alone, before its bytes arrive.
struct GRPCMessageReader {
    let maxMessageSize: Int
    private var buffer: ByteBuffer?

    init(maxMessageSize: Int) {
        self.maxMessageSize = maxMessageSize
    }

    /// Bytes received and not yet cut into a message.
    var bufferedBytes: Int { buffer?.readableBytes ?? 0 }

    mutating func append(_ bytes: ByteBuffer) {
        if buffer == nil || buffer!.readableBytes == 0 {
            buffer = bytes
        } else {
            var bytes = bytes
            buffer!.writeBuffer(&bytes)
        }
    }

    /// One length-prefixed message: its bytes (a slice of the received bytes, no copy) and
    /// whether its compressed flag is set.
    struct Message {
        var bytes: ByteBuffer
        var compressed: Bool
    }

    /// The next complete message, or nil until more bytes arrive. Throws the status the call ends
    /// with for a malformed prefix or a message larger than `maxMessageSize`.
    mutating func next() throws(RPCError) -> Message? {
        guard var view = buffer, view.readableBytes >= 5,
              let flag = view.readInteger(as: UInt8.self), let length = view.readInteger(as: UInt32.self)
        else { return nil }
        guard flag <= 1 else { throw RPCError(.internal, "malformed message prefix (flag \(flag))") }
        guard Int(length) <= maxMessageSize else {
            throw RPCError(.resourceExhausted, "message of \(length) bytes exceeds the limit of \(maxMessageSize)")
        }
        guard let bytes = view.readSlice(length: Int(length)) else { return nil }
        buffer = view
        return Message(bytes: bytes, compressed: flag == 1)
    }
}

extension ByteBuffer {
    /// A gRPC length-prefixed message: flag 0 (not compressed), u32 length, then `size` bytes
    /// that `pack` writes (protobuf-c packs the message straight into the buffer).
    mutating func writeGRPCMessage(size: Int, pack: (UnsafeMutableRawBufferPointer) -> Void) {
        writeGRPCPrefix(compressed: false, length: size)
        guard size > 0 else { return }
        writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
            pack(UnsafeMutableRawBufferPointer(rebasing: raw[0..<size]))
            return size
        }
    }

    /// The 5-byte prefix of a length-prefixed message.
    mutating func writeGRPCPrefix(compressed: Bool, length: Int) {
        writeInteger(UInt8(compressed ? 1 : 0))
        writeInteger(UInt32(length))
    }
}
