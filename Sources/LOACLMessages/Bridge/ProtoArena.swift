#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
internal import CProtobufC

/// Bump allocator for building one protobuf-c message tree. It starts in caller-provided
/// (stack) memory and spills into malloc'd chunks; everything is released when it goes away, on
/// every path, so the C tree never needs `free_unpacked` (which must not see hand-built messages).
struct ProtoArena: ~Copyable {
    private var cursor: UnsafeMutableRawPointer?
    private var remaining: Int
    private var heapChunks: [UnsafeMutableRawPointer] = []
    private var nextChunkSize = 4096

    init(initial: UnsafeMutableRawBufferPointer) {
        cursor = initial.baseAddress
        remaining = initial.count
    }

    deinit {
        for chunk in heapChunks {
            free(chunk)
        }
    }

    mutating func allocateBytes(_ count: Int, alignment: Int) -> UnsafeMutableRawPointer {
        if let cursor {
            let address = Int(bitPattern: cursor)
            let padding = (alignment - address % alignment) % alignment
            if padding + count <= remaining {
                let start = cursor + padding
                self.cursor = start + count
                remaining -= padding + count
                return start
            }
        }
        let size = max(count + alignment, nextChunkSize)
        nextChunkSize = min(size * 2, 1 << 20)
        guard let chunk = malloc(size) else {
            fatalError("ProtoArena: out of memory allocating \(size) bytes")
        }
        heapChunks.append(chunk)
        // malloc memory is aligned for any C type, so the first block needs no padding.
        cursor = chunk + count
        remaining = size - count
        return chunk
    }

    mutating func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        allocateBytes(MemoryLayout<T>.stride * count, alignment: MemoryLayout<T>.alignment)
            .bindMemory(to: T.self, capacity: count)
    }

    /// A NUL-terminated copy of `string`. protobuf-c measures strings with strlen, so a string
    /// holding U+0000 is cut there (see docs/CODEGEN.md).
    mutating func cString(_ string: String) -> UnsafeMutablePointer<CChar> {
        var string = string
        return string.withUTF8 { utf8 in
            let out = allocateBytes(utf8.count + 1, alignment: 1)
            if let base = utf8.baseAddress {
                out.copyMemory(from: base, byteCount: utf8.count)
            }
            out.storeBytes(of: 0, toByteOffset: utf8.count, as: UInt8.self)
            return out.assumingMemoryBound(to: CChar.self)
        }
    }

    mutating func binary(_ bytes: [UInt8]) -> ProtobufCBinaryData {
        guard !bytes.isEmpty else { return ProtobufCBinaryData(len: 0, data: nil) }
        let out = allocate(UInt8.self, count: bytes.count)
        bytes.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: $0.count) }
        return ProtobufCBinaryData(len: bytes.count, data: out)
    }

    /// A copy of a numeric array whose Swift and C element types are the same.
    mutating func copy<T: BitwiseCopyable>(_ values: [T]) -> UnsafeMutablePointer<T> {
        let out = allocate(T.self, count: values.count)
        values.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: $0.count) }
        return out
    }

    /// The C form of one message, built in this arena.
    mutating func message<M: ProtoCBridged>(_ value: M) -> UnsafeMutablePointer<M.CMessage> {
        let out = allocate(M.CMessage.self, count: 1)
        value.fill(out, &self)
        return out
    }

    /// The C form of a repeated message field: one block of structs and the pointer array.
    mutating func messages<M: ProtoCBridged>(
        _ values: [M]
    ) -> UnsafeMutablePointer<UnsafeMutablePointer<M.CMessage>?> {
        let structs = allocate(M.CMessage.self, count: values.count)
        let pointers = allocate(UnsafeMutablePointer<M.CMessage>?.self, count: values.count)
        for (i, value) in values.enumerated() {
            value.fill(structs + i, &self)
            pointers[i] = structs + i
        }
        return pointers
    }
}
