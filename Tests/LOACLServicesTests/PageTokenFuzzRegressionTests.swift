import LOACLCore
@testable import LOACLServices
import Testing

/// Inputs FuzzPageToken (docs/FUZZING.md) failed on, replayed through `PageToken.decode`.
@Suite struct PageTokenFuzzRegressionTests {
    /// An offset token (`o|offset|`, ListFollowUpSuggestions) with an id — here 87 bytes that are
    /// not even UTF-8 — was accepted although no server makes one; its id then did not survive
    /// re-encoding. Offset tokens must carry no id.
    @Test func offsetTokenWithAnIdIsRefused() {
        let token = "b3w0MHwcHwtM3wwYjdHwxNzAwdHwxNzAwMDAwMb3w0M3WMDAwfDBiMxYS05ZTZjF-NGEzMAMDAwMDA3b3w0MHcNTTItNGM3YTRlLmNNTTBOiWssssssQ3b3ldwk"
        #expect(throws: RPCError.self) { try PageToken.decode(token, expecting: .offset) }
        #expect(throws: RPCError.self) {
            try PageToken.decode(PageToken(kind: .offset, value: 40, id: "x").encoded(), expecting: .offset)
        }
    }

    @Test func offsetTokensTheServerMakesStillDecode() throws {
        let token = PageToken(kind: .offset, value: 40, id: "")
        #expect(try PageToken.decode(token.encoded(), expecting: .offset) == token)
    }
}
