@testable import LOACLServer
import NIOHPACK
import Testing

/// The received header-block rules the gRPC listener checks itself (NIOHTTP2Handler's validation
/// is off): the same verdicts swift-nio-http2 1.46 gives. On the wire: clients/grpc's
/// test_malformed_header_blocks_reset_the_stream.
@Suite("HTTP/2 header-block check") struct HTTP2HeaderBlockCheckTests {
    private static let request = [(":method", "POST"), (":scheme", "http"), (":path", "/loacl.v1.HealthService/Check"),
                                  (":authority", "x"), ("content-type", "application/grpc"), ("te", "trailers")]

    private func valid(_ fields: [(String, String)]) -> Bool {
        HTTP2HeaderBlockCheck.isValidRequest(HPACKHeaders(fields))
    }

    private func replacing(_ name: String, with value: String) -> [(String, String)] {
        Self.request.map { $0.0 == name ? ($0.0, value) : $0 }
    }

    @Test func wellFormedRequestsPass() {
        #expect(valid(Self.request))
        #expect(valid(Self.request + [("x-trace-bin", "AAEC"), ("user-agent", "grpc-python/1.85.1 (x; y)"), ("x-pad", " a\tb ")]))
        #expect(valid(Self.request + [("x-utf8", "café"), ("x-!#$%&'*+-.^_`|~0az", "1")]))
        #expect(valid(Self.request.filter { $0.0 != ":authority" }))
        #expect(valid([(":method", "CONNECT"), (":authority", "example.com:443")]))
    }

    @Test func malformedNamesAndValuesFail() {
        for name in ["X-Upper", "x foo", "x:y", "x\"y", "x(y)", "", "é"] {
            #expect(!valid(Self.request + [(name, "1")]), "\(name)")
        }
        for name in ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"] {
            #expect(!valid(Self.request + [(name, "x")]), "\(name)")
        }
        #expect(!valid(replacing("te", with: "gzip")))
        for value in ["a\rb", "a\nb", "a\u{0}b"] {
            #expect(!valid(Self.request + [("x-foo", value)]))
        }
        #expect(!valid(replacing(":path", with: "/a b")))
        #expect(!valid(replacing(":path", with: "/a\u{7F}")))
    }

    @Test func pseudoHeaderRulesHold() {
        #expect(!valid(Self.request + [(":authority", "late")]))                 // after a regular field
        #expect(!valid([(":path", "/x")] + Self.request))                         // twice
        #expect(!valid([(":foo", "x")] + Self.request))                           // unknown
        #expect(!valid([(":status", "200")] + Self.request))                      // response-only
        #expect(!valid([(":protocol", "websocket")] + Self.request))              // no extended CONNECT
        for missing in [":method", ":scheme", ":path"] {
            #expect(!valid(Self.request.filter { $0.0 != missing }), "\(missing)")
        }
        #expect(!valid(replacing(":path", with: "")))
        #expect(!valid([(":method", "CONNECT")]))                                  // CONNECT needs :authority
        #expect(!valid([(":method", "CONNECT"), (":authority", "x"), (":path", "/")])) // and nothing else
    }

    @Test func trailersHaveNoPseudoHeaders() {
        #expect(HTTP2HeaderBlockCheck.isValidTrailers(HPACKHeaders([("x-checksum", "abc"), ("te", "trailers")])))
        #expect(HTTP2HeaderBlockCheck.isValidTrailers(HPACKHeaders()))
        #expect(!HTTP2HeaderBlockCheck.isValidTrailers(HPACKHeaders([(":path", "/")])))
        #expect(!HTTP2HeaderBlockCheck.isValidTrailers(HPACKHeaders([("X-Upper", "1")])))
        #expect(!HTTP2HeaderBlockCheck.isValidTrailers(HPACKHeaders([("connection", "close")])))
        #expect(!HTTP2HeaderBlockCheck.isValidTrailers(HPACKHeaders([("x-foo", "a\nb")])))
    }

    @Test func onlyValidFieldsAreSent() {
        #expect(HTTP2HeaderBlockCheck.isSendable("x-echo-a", "v"))
        #expect(!HTTP2HeaderBlockCheck.isSendable("x-echo-a", "line\r\nbreak"))
        #expect(!HTTP2HeaderBlockCheck.isSendable("connection", "close"))
        #expect(!HTTP2HeaderBlockCheck.isSendable("te", "trailers"))
        #expect(!HTTP2HeaderBlockCheck.isSendable("Bad Name", "v"))
    }
}
