internal import CProtobufC
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What generated code provides for each message to move it to and from protobuf-c.
protocol ProtoCBridged: ProtoMessage {
    /// The protoc-c struct, e.g. `Loacl__V1__Thread`; it starts with a `ProtobufCMessage`.
    associatedtype CMessage
    /// `<name>__init`: sets the descriptor and the defaults.
    static func cInit(_ c: UnsafeMutablePointer<CMessage>)
    /// Initialises `c` and fills it from `self`; all memory comes from `arena`.
    func fill(_ c: UnsafeMutablePointer<CMessage>, _ arena: inout ProtoArena)
    /// Converts an unpacked message, validating the UTF-8 of every string.
    init(cMessage c: UnsafePointer<CMessage>) throws(ProtoDecodingError)
}

/// The stack the arenas start with: enough for typical RPC headers and small messages.
/// `protoWithPacked` keeps it as a value in its own frame (see there); decoding allocates the
/// same number of bytes.
private typealias PackArenaStorage = InlineArray<128, UInt64>
private let stackArenaBytes = MemoryLayout<PackArenaStorage>.size

@inline(__always)
private func base<T>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<ProtobufCMessage> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: ProtobufCMessage.self)
}

extension ProtoCBridged {
    /// protobuf-c's descriptor for the message (static data; protoc-c has no unpack function for
    /// nested messages, so decoding goes through the generic one with this descriptor).
    static var cDescriptor: UnsafePointer<ProtobufCMessageDescriptor> {
        withUnsafeTemporaryAllocation(of: CMessage.self, capacity: 1) { scratch in
            cInit(scratch.baseAddress!)
            return base(scratch.baseAddress!).pointee.descriptor
        }
    }
}

/// The arena of `protoWithPacked` starts in a fixed array in its own frame, so `body`'s result
/// returns straight through `withUnsafeMutableBytes(of:)`. Through a scoped stack allocation
/// (`withUnsafeTemporaryAllocation`) it had to pass a `Result<R, E>` or an `Optional<R>` local,
/// and `R` is generic here (the call comes through the `ProtoMessage` witness): that metadata was
/// looked up at run time twice per call, ≈ 5 % of a streamed message's client CPU
/// (bench/RESULTS.md, session 13). Zeroing the 1 KiB costs less than one look-up.
func protoWithPacked<M: ProtoCBridged, R>(
    _ message: M, _ body: (_ size: Int, _ pack: (UnsafeMutableRawBufferPointer) -> Void) throws -> R
) rethrows -> R {
    var storage = PackArenaStorage(repeating: 0)
    return try withUnsafeMutableBytes(of: &storage) { stack in
        var arena = ProtoArena(initial: stack)
        let c = arena.allocate(M.CMessage.self, count: 1)
        message.fill(c, &arena)
        let size = protobuf_c_message_get_packed_size(base(c))
        return try body(size) { out in
            precondition(out.count >= size, "withPacked: buffer of \(out.count) bytes, need \(size)")
            guard size > 0 else { return }
            let written = protobuf_c_message_pack(base(c), out.baseAddress!.assumingMemoryBound(to: UInt8.self))
            precondition(written == size, "protobuf-c packed \(written) bytes, expected \(size)")
        }
    }
}

/// Decodes `bytes`. protobuf-c's own allocations for the unpacked C message (the struct, copies
/// of bytes fields, arrays) come from a stack arena (`UnpackArena`) and are gone when this
/// returns; only what does not fit goes to malloc. With the default allocator a small message
/// cost two mallocs and two frees just to be read into Swift values.
func protoDecode<M: ProtoCBridged>(
    _ type: M.Type, _ bytes: UnsafeRawBufferPointer
) throws(ProtoDecodingError) -> M {
    let data = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
    var decoded: M?
    try withUnsafeTemporaryAllocation(byteCount: stackArenaBytes, alignment: 16) { stack throws(ProtoDecodingError) in
        var arena = UnpackArena(base: stack.baseAddress!, capacity: stack.count)
        try withUnsafeMutablePointer(to: &arena) { arena throws(ProtoDecodingError) in
            var allocator = ProtobufCAllocator(alloc: unpackArenaAlloc, free: unpackArenaFree, allocator_data: UnsafeMutableRawPointer(arena))
            try withUnsafeMutablePointer(to: &allocator) { allocator throws(ProtoDecodingError) in
                guard let unpacked = protobuf_c_message_unpack(M.cDescriptor, allocator, bytes.count, data) else {
                    throw ProtoDecodingError(messageName: M.protoMessageName, reason: .malformed)
                }
                defer { protobuf_c_message_free_unpacked(unpacked, allocator) }
                let c = UnsafeMutableRawPointer(unpacked).assumingMemoryBound(to: M.CMessage.self)
                do throws(ProtoDecodingError) {
                    decoded = try M(cMessage: c)
                } catch {
                    // Nested conversions name the innermost message; report the one the caller asked for.
                    throw ProtoDecodingError(messageName: M.protoMessageName, reason: error.reason)
                }
            }
        }
    }
    return decoded!
}

/// The memory one `protobuf_c_message_unpack` allocates from: a stack buffer, bump-allocated;
/// what does not fit comes from malloc and goes back to free.
private struct UnpackArena {
    let base: UnsafeMutableRawPointer
    let capacity: Int
    var used = 0

    init(base: UnsafeMutableRawPointer, capacity: Int) {
        self.base = base
        self.capacity = capacity
    }
}

private let unpackArenaAlloc: @convention(c) (UnsafeMutableRawPointer?, Int) -> UnsafeMutableRawPointer? = { data, size in
    let arena = data!.assumingMemoryBound(to: UnpackArena.self)
    let start = (arena.pointee.used + 15) & ~15
    guard size <= arena.pointee.capacity - start else { return malloc(size) }
    arena.pointee.used = start + size
    return arena.pointee.base + start
}

private let unpackArenaFree: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void = { data, pointer in
    guard let pointer else { return }
    let arena = data!.assumingMemoryBound(to: UnpackArena.self)
    let base = UnsafeRawPointer(arena.pointee.base)
    if UnsafeRawPointer(pointer) >= base && UnsafeRawPointer(pointer) < base + arena.pointee.capacity { return }
    free(pointer)
}

/// A string field of an unpacked message; invalid UTF-8 is an error, never repaired.
@inline(__always)
func protoString(_ p: UnsafePointer<CChar>?, field: String) throws(ProtoDecodingError) -> String {
    guard let p, p.pointee != 0 else { return "" }
    guard let string = String(validatingCString: p) else {
        throw ProtoDecodingError(messageName: field, reason: .invalidUTF8(field: field))
    }
    return string
}

@inline(__always)
func protoBytes(_ data: ProtobufCBinaryData) -> [UInt8] {
    guard data.len > 0, let p = data.data else { return [] }
    return Array(UnsafeBufferPointer(start: p, count: data.len))
}

/// A message field of an unpacked message; NULL (absent) gives the empty message.
@inline(__always)
func protoMessage<M: ProtoCBridged>(
    _ type: M.Type, _ p: UnsafeMutablePointer<M.CMessage>?
) throws(ProtoDecodingError) -> M {
    guard let p else { return M() }
    return try M(cMessage: p)
}
