// The LOACL wire frame decoder, fed a byte stream split at fuzz-chosen points: the frames (and
// the error, if any) must not depend on the split, and the connection handlers' FrameReader
// (which keeps an incomplete frame between reads itself) must agree with the pipeline decoder.
// Each HEADERS payload is also decoded as CallHeaders and its metadata checked, as the server does.
import FuzzSupport
import LOACLCore
import LOACLMessages
import LOACLWire
import NIOCore
import NIOEmbedded

/// What the decoder produced for one delivery of the stream.
struct Outcome: Equatable {
    var frames: [Frame] = []
    var error: FrameDecodingError?
}

func decode(_ chunks: [ArraySlice<UInt8>]) -> Outcome {
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(expectPreface: true, maxFrameSize: 1 << 16)))
    var outcome = Outcome()
    func drain() {
        while let frame = try? channel.readInbound(as: Frame.self) { outcome.frames.append(frame) }
    }
    for chunk in chunks {
        do {
            try channel.writeInbound(channel.allocator.buffer(bytes: chunk))
        } catch let error as FrameDecodingError {
            outcome.error = error
            break
        } catch {
            fuzzCheck(false, "unexpected error \(error)")
        }
        drain()
    }
    drain()
    _ = try? channel.finish()
    return outcome
}

/// The same stream through `FrameReader`, as the server's and the client's handlers read it.
func read(_ chunks: [ArraySlice<UInt8>]) -> Outcome {
    var reader = FrameReader(expectPreface: true, maxFrameSize: 1 << 16)
    var outcome = Outcome()
    for chunk in chunks {
        do throws(FrameDecodingError) {
            try reader.read(ByteBuffer(bytes: chunk)) { event in
                if case .frame(let frame) = event { outcome.frames.append(frame) }
                return true
            }
        } catch {
            outcome.error = error
            break
        }
    }
    return outcome
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrameDecoder(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let split = FuzzSplit(UnsafeRawBufferPointer(start: start, count: count))
    let chunked = decode(split.chunks)
    let whole = decode(split.payload.isEmpty ? [] : [split.payload])
    fuzzCheck(chunked == whole, "split changed the decoding: \(chunked) vs \(whole)")
    let readChunked = read(split.chunks)
    fuzzCheck(readChunked == chunked, "FrameReader and FrameDecoder disagree: \(readChunked) vs \(chunked)")
    for frame in chunked.frames where frame.type == .headers {
        if let headers = try? Loacl_Wire_V1_CallHeaders(framePayload: frame.payload) {
            _ = try? Metadata(wire: headers.metadata)
        }
    }
    return 0
}
