// An OpenAI Chat Completions stream body (untrusted: the upstream, or anything on its path) through
// the SSE parser and the Chat Completions decoder, as the provider reads it, up to endOfStream.
import FuzzSupport
@testable import LOACLUpstream

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzChatCompletionsStream(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let split = FuzzSplit(UnsafeRawBufferPointer(start: start, count: count))
    var parser = ServerSentEventParser(maxLineBytes: 4096)
    var decoder = ChatCompletionsStreamDecoder(estimatedInputTokens: 10)
    do {
        for chunk in split.chunks {
            for event in try parser.feed(chunk) {
                if case .completed = try decoder.decode(event) { return 0 }
            }
        }
        _ = try decoder.endOfStream()
    } catch {}
    return 0
}
