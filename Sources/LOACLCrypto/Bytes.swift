/// Runs `body` over contiguous bytes, copying only when the sequence has no contiguous storage.
@inline(__always)
func withContiguousBytes<R>(_ bytes: some Sequence<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
    if let result = try bytes.withContiguousStorageIfAvailable(body) { return result }
    return try Array(bytes).withUnsafeBufferPointer(body)
}
