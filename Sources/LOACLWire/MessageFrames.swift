import LOACLCore
import LOACLMessages
import NIOCore

extension ByteBuffer {
    /// Writes `message` as one frame, packing protobuf-c output straight into this buffer.
    @inlinable
    public mutating func writeFrame<M: ProtoMessage>(type: FrameType, flags: FrameFlags = [], streamID: UInt32, message: M) {
        message.withPacked { size, pack in
            writeFrame(type: type, flags: flags, streamID: streamID, payloadSize: size, pack: pack)
        }
    }
}

extension ProtoMessage {
    /// Decodes a message from a frame payload without copying it.
    @inlinable
    public init(framePayload: ByteBuffer) throws(ProtoDecodingError) {
        // Typed throws straight through: a `Result<Self, …>` here had its metadata instantiated at
        // run time on every call (generic `Self`).
        self = try framePayload.withUnsafeReadableBytes { (raw) throws(ProtoDecodingError) -> Self in try Self(serializedBytes: raw) }
    }
}

extension Metadata {
    /// Converts the wire representation, validating keys.
    public init(wire entries: [Loacl_Wire_V1_MetadataEntry]) throws(RPCError) {
        self.init()
        for entry in entries {
            guard Metadata.isValidKey(entry.key) else {
                throw RPCError.invalidArgument("invalid metadata key \"\(entry.key.prefix(64))\"")
            }
            if entry.key.hasSuffix("-bin") { add(entry.key, bytes: entry.binaryValue) } else { add(entry.key, entry.value) }
        }
    }

    /// The wire representation.
    public var wireEntries: [Loacl_Wire_V1_MetadataEntry] {
        map { entry in
            var e = Loacl_Wire_V1_MetadataEntry()
            e.key = entry.key
            switch entry.value {
            case .text(let s): e.value = s
            case .binary(let b): e.binaryValue = b
            }
            return e
        }
    }
}

extension Loacl_Wire_V1_CallStatus {
    public init(_ error: RPCError) {
        self.init()
        code = error.code.rawValue
        message = error.message
        metadata = error.metadata.wireEntries
    }

    /// The status as an error, or nil for OK.
    public var rpcError: RPCError? {
        guard code != 0 else { return nil }
        return RPCError(StatusCode(rawValue: code), message, metadata: (try? Metadata(wire: metadata)) ?? [:])
    }
}

extension ProtoMessage {
    /// This message as a complete MESSAGE frame (header included) in a new buffer, packed once.
    @inlinable
    public func messageFrame(streamID: UInt32, flags: FrameFlags = [], allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        withPacked { size, pack in
            var buffer = allocator.buffer(capacity: WireProtocol.headerSize + size)
            buffer.writeFrame(type: .message, flags: flags, streamID: streamID, payloadSize: size, pack: pack)
            return buffer
        }
    }
}
