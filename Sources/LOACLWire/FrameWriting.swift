import NIOCore

extension ByteBuffer {
    /// Writes a frame header.
    @inlinable
    public mutating func writeFrameHeader(length: Int, type: FrameType, flags: FrameFlags, streamID: UInt32) {
        writeMultipleIntegers(UInt32(truncatingIfNeeded: length), type.rawValue, flags.rawValue, streamID)
    }

    /// Writes a whole frame whose payload is already in a buffer.
    @inlinable
    public mutating func writeFrame(type: FrameType, flags: FrameFlags = [], streamID: UInt32, payload: ByteBuffer) {
        writeFrameHeader(length: payload.readableBytes, type: type, flags: flags, streamID: streamID)
        var payload = payload
        writeBuffer(&payload)
    }

    /// Writes a frame with an empty payload.
    @inlinable
    public mutating func writeEmptyFrame(type: FrameType, flags: FrameFlags = [], streamID: UInt32) {
        writeFrameHeader(length: 0, type: type, flags: flags, streamID: streamID)
    }

    /// Writes a WINDOW_UPDATE frame granting `increment` bytes.
    @inlinable
    public mutating func writeWindowUpdate(streamID: UInt32, increment: UInt32) {
        writeFrameHeader(length: 4, type: .windowUpdate, flags: [], streamID: streamID)
        writeInteger(increment)
    }

    /// Writes a frame whose payload is produced by `pack`, which must write exactly `size` bytes
    /// into the buffer it is given. Used to pack protobuf-c output straight into the outbound
    /// buffer with one copy.
    @inlinable
    public mutating func writeFrame(
        type: FrameType, flags: FrameFlags = [], streamID: UInt32, payloadSize size: Int,
        pack: (UnsafeMutableRawBufferPointer) -> Void
    ) {
        writeFrameHeader(length: size, type: type, flags: flags, streamID: streamID)
        guard size > 0 else { return }
        writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
            pack(UnsafeMutableRawBufferPointer(rebasing: raw[0..<size]))
            return size
        }
    }
}
