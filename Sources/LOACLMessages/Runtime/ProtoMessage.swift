/// A protobuf message as a Swift value type. Every generated message conforms.
///
/// Encoding and decoding go through protobuf-c; see docs/CODEGEN.md.
public protocol ProtoMessage: Sendable, Hashable {
    /// The empty message (every field at its default).
    init()

    /// The message's full proto name, e.g. "loacl.v1.Thread".
    static var protoMessageName: String { get }

    /// Builds the protobuf-c form of the message once, then calls `body` with its packed size and a
    /// function that packs it into a buffer of at least that many bytes (the first `size` bytes
    /// are written). Lets a caller pack straight into its own buffer. `pack` must not escape.
    func withPacked<R>(
        _ body: (_ size: Int, _ pack: (UnsafeMutableRawBufferPointer) -> Void) throws -> R
    ) rethrows -> R

    /// Decodes the message from `bytes` without copying them first.
    init(serializedBytes bytes: UnsafeRawBufferPointer) throws(ProtoDecodingError)
}

extension ProtoMessage {
    /// The message's full proto name.
    public var protoMessageName: String { Self.protoMessageName }

    /// The message encoded into a new array.
    public func serializedBytes() -> [UInt8] {
        withPacked { size, pack in
            [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
                pack(UnsafeMutableRawBufferPointer(buffer))
                initialized = size
            }
        }
    }

    /// The packed size in bytes (builds the C form to measure; prefer `withPacked` when packing).
    public var serializedSize: Int {
        withPacked { size, _ in size }
    }

    /// Decodes the message from any byte collection; contiguous ones are not copied.
    public init(serializedBytes bytes: some Collection<UInt8>) throws(ProtoDecodingError) {
        // The closure-taking APIs below only rethrow untyped errors: carry ours in a Result.
        let contiguous = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(ProtoDecodingError) in try Self(serializedBytes: UnsafeRawBufferPointer(buffer)) }
        }
        if let contiguous {
            self = try contiguous.get()
            return
        }
        let copy = Array(bytes)
        self = try copy.withUnsafeBytes { raw in
            Result { () throws(ProtoDecodingError) in try Self(serializedBytes: raw) }
        }.get()
    }
}
