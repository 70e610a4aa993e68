import Foundation
import Testing
@testable import LOACLUpstream

@Suite struct ServerSentEventParserTests {
    let body = "event: response.created\ndata: {\"a\":1}\n\n: keep-alive comment\n\ndata: line one\ndata: line two\n\nid: 7\ndata: héllo 🥚\n\n"

    @Test func parsesEventsFieldsAndComments() throws {
        var parser = ServerSentEventParser()
        let events = try parser.feed(Array(body.utf8))
        #expect(events == [ServerSentEvent(event: "response.created", data: "{\"a\":1}"),
                           ServerSentEvent(data: "line one\nline two"),
                           ServerSentEvent(data: "héllo 🥚")])
        #expect(parser.finish() == false)
    }

    @Test func anySplitGivesTheSameEvents() throws {
        let bytes = Array(body.replacingOccurrences(of: "\n", with: "\r\n").utf8)
        var whole = ServerSentEventParser()
        let expected = try whole.feed(bytes)
        #expect(expected.count == 3)
        for split in 1..<bytes.count {
            var parser = ServerSentEventParser()
            let events = try parser.feed(bytes[..<split]) + parser.feed(bytes[split...])
            #expect(events == expected, "split at \(split)")
        }
        // One byte at a time.
        var parser = ServerSentEventParser()
        var events: [ServerSentEvent] = []
        for byte in bytes { events += try parser.feed([byte]) }
        #expect(events == expected)
    }

    @Test func unfinishedEventIsReportedNotDelivered() throws {
        var parser = ServerSentEventParser()
        #expect(try parser.feed(Array("data: partial".utf8)).isEmpty)
        #expect(parser.finish() == true)
    }

    @Test func overlongLineIsRefused() {
        var parser = ServerSentEventParser(maxLineBytes: 16)
        #expect(throws: ServerSentEventParser.LineTooLong.self) {
            _ = try parser.feed(Array(String(repeating: "x", count: 40).utf8))
        }
    }
}

@Suite struct TokenBudgetTests {
    let history = (1...6).map { ChatTurn(role: $0 % 2 == 1 ? .user : .assistant, content: String(repeating: "w", count: 40 * $0)) }

    @Test func estimateIsBytesOverFourRoundedUp() {
        #expect(TokenEstimator.estimate("") == 0)
        #expect(TokenEstimator.estimate("abc") == 1)
        #expect(TokenEstimator.estimate("abcde") == 2)
        #expect(TokenEstimator.estimate(ChatTurn(role: .user, content: "abcd")) == 1 + TokenEstimator.tokensPerTurn)
    }

    @Test func keepsNewestTurnsThatFit() {
        // Turn costs: 10k+4 tokens for k = 1...6 → 14, 24, 34, 44, 54, 64.
        #expect(TokenBudget.trim(history, toTokens: 64 + 54) == Array(history[4...]))
        #expect(TokenBudget.trim(history, toTokens: 64 + 54 + 43) == Array(history[4...]))
        #expect(TokenBudget.trim(history, toTokens: 10_000) == history)
        #expect(TokenBudget.trim(history, toTokens: 63).isEmpty)
        #expect(TokenBudget.trim(history, toTokens: 0).isEmpty)
    }

    @Test func keptTurnsStayContiguous() {
        var turns = history
        turns[4] = ChatTurn(role: .user, content: String(repeating: "x", count: 4000))
        // The huge turn 5 does not fit, so the small older turns are not kept either.
        #expect(TokenBudget.trim(turns, toTokens: 500) == [turns[5]])
    }
}

@Suite struct RetryPolicyTests {
    @Test func readsRetryAfterForms() {
        #expect(RetryPolicy.retryAfter(headers: [("Retry-After", "2")]) == .seconds(2))
        #expect(RetryPolicy.retryAfter(headers: [("retry-after", "0.5")]) == .milliseconds(500))
        #expect(RetryPolicy.retryAfter(headers: [("retry-after-ms", "250"), ("Retry-After", "9")]) == .milliseconds(250))
        #expect(RetryPolicy.retryAfter(headers: [("Retry-After", "soon")]) == nil)
        #expect(RetryPolicy.retryAfter(headers: []) == nil)
        let now = Date(timeIntervalSince1970: 1_445_412_480)  // Wed, 21 Oct 2015 07:28:00 GMT
        #expect(RetryPolicy.retryAfter(headers: [("Retry-After", "Wed, 21 Oct 2015 07:28:30 GMT")], now: now) == .seconds(30))
    }

    @Test func backoffGrowsAndIsCapped() {
        let policy = RetryPolicy(initialDelay: .milliseconds(100), multiplier: 2, maxDelay: .milliseconds(300))
        #expect(policy.backoff(retry: 1) == .milliseconds(100))
        #expect(policy.backoff(retry: 2) == .milliseconds(200))
        #expect(policy.backoff(retry: 3) == .milliseconds(300))
    }
}

@Suite struct FollowUpParsingTests {
    @Test func readsJSONArrayInsideProseOrFences() {
        #expect(FollowUpPrompt.parse("```json\n[\"A?\", \"B?\", \"a?\", \"C?\"]\n```", count: 3) == ["A?", "B?", "C?"])
        #expect(FollowUpPrompt.parse("Sure! [\"Only one?\"]", count: 3) == ["Only one?"])
    }

    @Test func fallsBackToLines() {
        #expect(FollowUpPrompt.parse("1. First?\n2. Second?\n\n- Third?", count: 2) == ["First?", "Second?"])
    }
}

@Suite struct AttachmentTests {
    @Test func classifiesMimeTypes() {
        #expect(AttachmentKind(mimeType: "text/plain; charset=utf-8") == .text)
        #expect(AttachmentKind(mimeType: "application/json") == .text)
        #expect(AttachmentKind(mimeType: "IMAGE/PNG") == .image)
        #expect(AttachmentKind(mimeType: "application/pdf") == .pdf)
        #expect(AttachmentKind(mimeType: "application/zip") == .unsupported)
    }

    @Test func base64MatchesFoundation() {
        for n in 0..<20 {
            let bytes = (0..<n).map { UInt8(($0 * 37 + 11) % 256) }
            #expect(Base64.encode(bytes) == Data(bytes).base64EncodedString())
        }
    }

    @Test func limitsAreEnforced() {
        let limits = AttachmentLimits(maxInlineTextBytes: 10, maxImageBytes: 10, maxPDFBytes: 10, maxTotalBytes: 25)
        #expect(throws: Never.self) {
            try limits.validate([ChatAttachment(filename: "a.txt", mimeType: "text/plain", data: Array("hello".utf8))])
        }
        #expect(throws: ChatProviderError.self) {
            try limits.validate([ChatAttachment(filename: "big.png", mimeType: "image/png", data: Array(repeating: 0, count: 11))])
        }
        #expect(throws: ChatProviderError.self) {
            try limits.validate([ChatAttachment(filename: "bad.txt", mimeType: "text/plain", data: [0xff, 0xfe])])
        }
        #expect(throws: ChatProviderError.self) {
            try limits.validate([ChatAttachment(filename: "x.zip", mimeType: "application/zip", data: [1])])
        }
    }
}
