// The upstream's text/event-stream body, split at fuzz-chosen points as TCP and HTTP chunking
// split it: the events (and a refused over-long line) must not depend on the split.
import FuzzSupport
import LOACLUpstream

struct Outcome: Equatable {
    var events: [ServerSentEvent] = []
    var lineTooLong = false
    var pending = false
}

func parse(_ chunks: [ArraySlice<UInt8>]) -> Outcome {
    var parser = ServerSentEventParser(maxLineBytes: 1024)
    var outcome = Outcome()
    for chunk in chunks {
        do {
            outcome.events += try parser.feed(chunk)
        } catch {
            outcome.lineTooLong = true
            return outcome
        }
    }
    outcome.pending = parser.finish()
    return outcome
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzServerSentEvents(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let split = FuzzSplit(UnsafeRawBufferPointer(start: start, count: count))
    let chunked = parse(split.chunks)
    let whole = parse([split.payload])
    // A line over the limit may be refused before the chunk that would end it arrives; compare
    // only streams that no delivery refused.
    if !chunked.lineTooLong && !whole.lineTooLong {
        fuzzCheck(chunked == whole, "split changed the events: \(chunked) vs \(whole)")
    }
    return 0
}
