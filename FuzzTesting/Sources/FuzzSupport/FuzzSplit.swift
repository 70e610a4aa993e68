/// Cuts a fuzz input into the chunks a network peer might deliver it in. The input's first
/// byte chooses the split (0: one chunk; n: chunks of 1…n bytes from a generator seeded with
/// n), so libFuzzer explores split points along with the bytes themselves.
public struct FuzzSplit {
    /// The bytes after the split byte.
    public let payload: ArraySlice<UInt8>
    /// `payload` in delivery order.
    public let chunks: [ArraySlice<UInt8>]

    public init(_ input: UnsafeRawBufferPointer) {
        let bytes = Array(input)
        guard let seed = bytes.first else {
            payload = []
            chunks = []
            return
        }
        payload = bytes.dropFirst()
        chunks = Self.cut(payload, seed: seed)
    }

    static func cut(_ bytes: ArraySlice<UInt8>, seed: UInt8) -> [ArraySlice<UInt8>] {
        guard seed != 0 else { return bytes.isEmpty ? [] : [bytes] }
        var state = UInt32(seed) &* 2_654_435_761 | 1
        var chunks: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        while start < bytes.endIndex {
            // xorshift32: a fixed, cheap sequence per seed.
            state ^= state << 13
            state ^= state >> 17
            state ^= state << 5
            let size = Int(state % UInt32(seed)) + 1
            let end = min(start + size, bytes.endIndex)
            chunks.append(bytes[start..<end])
            start = end
        }
        return chunks
    }
}
