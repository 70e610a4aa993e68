import LOACLServices
import Testing

@Suite("Session tokens")
struct SessionTokensTests {
    /// One token in 64 started with `-` and could not be given to `loacl … --session-token TOKEN`.
    @Test("43 base64url characters, never a leading '-', looked up by the hash they were issued with")
    func shape() {
        var firstCharacters = Set<UInt8>()
        for _ in 0..<2000 {
            let (token, hash) = SessionTokens.generate()
            #expect(token.utf8.count == 43)
            #expect(token.utf8.first != UInt8(ascii: "-"), "\(token)")
            #expect(SessionTokens.hash(ofPresented: token) == hash)
            firstCharacters.insert(token.utf8.first!)
        }
        // Random otherwise: 2,000 tokens start with most of the other 63 characters.
        #expect(firstCharacters.count > 50)
        #expect(SessionTokens.hash(ofPresented: "-" + String(repeating: "A", count: 42)) != nil, "tokens issued before still work")
    }
}
