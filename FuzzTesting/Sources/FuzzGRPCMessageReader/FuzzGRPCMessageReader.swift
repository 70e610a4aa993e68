// A gRPC request body, split at fuzz-chosen points as DATA frames split it, through the
// length-prefixed message reader; compressed messages through gzip with the size limit. The
// messages (and the status a malformed prefix ends the call with) must not depend on the split.
import FuzzSupport
import LOACLCore
@testable import LOACLServer
import NIOCore

struct Outcome: Equatable {
    var messages: [ByteBuffer] = []
    var compressed: [Bool] = []
    var error: RPCError?
}

func read(_ chunks: [ArraySlice<UInt8>]) -> Outcome {
    var reader = GRPCMessageReader(maxMessageSize: 1 << 12)
    var outcome = Outcome()
    for chunk in chunks {
        reader.append(ByteBuffer(bytes: chunk))
        do {
            while let message = try reader.next() {
                outcome.messages.append(message.bytes)
                outcome.compressed.append(message.compressed)
                if message.compressed {
                    if let plain = try? GRPCEncoding.gzip.decompress(message.bytes, limit: 1 << 12) {
                        fuzzCheck(plain.readableBytes <= 1 << 12, "decompressed past the limit")
                    }
                }
            }
        } catch {
            outcome.error = error
            return outcome
        }
    }
    return outcome
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGRPCMessageReader(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let split = FuzzSplit(UnsafeRawBufferPointer(start: start, count: count))
    let chunked = read(split.chunks)
    let whole = read([split.payload])
    fuzzCheck(chunked == whole, "split changed the messages")
    return 0
}
