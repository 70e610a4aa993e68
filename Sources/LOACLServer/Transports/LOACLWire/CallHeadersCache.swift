import LOACLCore
import LOACLMessages
import LOACLServerCore
import LOACLWire
import NIOCore

/// What a HEADERS payload says, decoded and checked: the method, the request metadata, the
/// timeout.
struct OpenedCall {
    let method: ServerMethod
    let metadata: Metadata
    let timeoutMs: UInt64
}

/// The last HEADERS payload a connection decoded, and what it said. Clients open call after call
/// with byte-identical HEADERS (same method, no or the same metadata), so most calls skip the
/// protobuf decode, the method look-up and the metadata checks: one byte comparison instead.
/// Only payloads that decoded to a known method with valid metadata are kept. Event loop only.
struct CallHeadersCache {
    private var payload: ByteBuffer?
    private var call: OpenedCall?

    /// The call `payload` opens, if it is the payload decoded last.
    func lookUp(_ payload: ByteBuffer) -> OpenedCall? {
        guard let call, let cached = self.payload, cached == payload else { return nil }
        return call
    }

    /// Remembers `call` for a copy of `payload` (a copy: the frame's payload is a slice of the
    /// whole read buffer, which must not stay pinned by an idle connection).
    mutating func remember(_ payload: ByteBuffer, _ call: OpenedCall) {
        self.payload = ByteBuffer(bytes: payload.readableBytesView)
        self.call = call
    }
}
