import Testing
@testable import LOACLUpstream

/// Inputs the fuzz targets (docs/FUZZING.md) crashed on, replayed through the same parsers.
@Suite struct UpstreamFuzzRegressionTests {
    /// Decodes a whole stream body as the fuzz target does: SSE parser, then the decoder, up to
    /// the first completion.
    func completion(_ body: String, _ decoder: inout some StreamDecoder) throws -> ChatUsage? {
        var parser = ServerSentEventParser()
        for event in try parser.feed(Array(body.utf8)) {
            if case let .completed(usage) = try decoder.decode(event) { return usage }
        }
        return nil
    }

    /// FuzzChatCompletionsStream: `prompt_tokens` near Int.max and no `total_tokens` overflowed
    /// the decoder's sum (a trap: one upstream reply took loacld down).
    @Test func chatCompletionsUsageNearIntMaxIsClamped() throws {
        var decoder = ChatCompletionsStreamDecoder(estimatedInputTokens: 10)
        let usage = try completion("""
            data: {"choices":[],"usage":{"prompt_tokens":9223372036854775807,"completion_tokens":1}}

            data: [DONE]


            """, &decoder)
        #expect(usage?.inputTokens == Int(Int32.max))
        #expect(usage?.outputTokens == 1)
        #expect(usage?.totalTokens == Int(Int32.max))
    }

    /// FuzzResponsesStream: the same in `response.completed`, and negative counts.
    @Test func responsesUsageOutOfRangeIsClamped() throws {
        var decoder = ResponsesStreamDecoder(estimatedInputTokens: 10)
        let usage = try completion("""
            data: {"type":"response.completed","response":{"usage":{"input_tokens":9223372036854775807,"output_tokens":1}}}


            """, &decoder)
        #expect(usage?.inputTokens == Int(Int32.max))
        #expect(usage?.totalTokens == Int(Int32.max))

        var negative = ResponsesStreamDecoder(estimatedInputTokens: 10)
        let clamped = try completion("""
            data: {"type":"response.completed","response":{"usage":{"input_tokens":-5,"output_tokens":-9223372036854775808,"total_tokens":-1}}}


            """, &negative)
        #expect(clamped.map { [$0.inputTokens, $0.outputTokens, $0.totalTokens] } == [0, 0, 0])
    }
}
