import LOACLCore
@testable import LOACLServer
import NIOCore
import NIOHPACK
import Testing

/// The gRPC transport's pure parts: listener syntax, request headers, length-prefixed messages,
/// status headers. The calls themselves are tested with stock grpcio (clients/grpc).
@Suite("gRPC coding") struct GRPCCodingTests {
    @Test func listenersParseAndPrintBack() throws {
        let cases: [(String, Listener)] = [
            ("grpc:127.0.0.1:7701", .grpc(host: "127.0.0.1", port: 7701)),
            ("grpcs:[::1]:7702", .grpcs(host: "::1", port: 7702)),
            ("grpc+unix:/run/loacl-grpc.sock", .grpcUnix(path: "/run/loacl-grpc.sock")),
            ("tcp:localhost:7700", .tcp(host: "localhost", port: 7700)),
            ("tls:0.0.0.0:7443", .tls(host: "0.0.0.0", port: 7443)),
            ("unix:/tmp/a.sock", .unix(path: "/tmp/a.sock")),
        ]
        for (text, listener) in cases {
            #expect(try Listener(parsing: text) == listener)
            #expect(listener.description == text)
        }
        #expect(throws: Endpoint.ParseError.self) { try Listener(parsing: "grpc:nohost") }
        #expect(throws: Endpoint.ParseError.self) { try Listener(parsing: "http2:1.2.3.4:5") }
    }

    @Test func timeouts() {
        #expect(GRPCRequestHead.timeout("100m") == .milliseconds(100))
        #expect(GRPCRequestHead.timeout("2S") == .seconds(2))
        #expect(GRPCRequestHead.timeout("99999999n") == .nanoseconds(99_999_999))
        #expect(GRPCRequestHead.timeout("1H") == .hours(1))
        #expect(GRPCRequestHead.timeout("123456789m") == nil) // more than 8 digits
        #expect(GRPCRequestHead.timeout("10x") == nil)
        #expect(GRPCRequestHead.timeout("m") == nil)
        #expect(GRPCRequestHead.timeout("-5m") == nil)
    }

    private func request(_ extra: [(String, String)] = [], contentType: String = "application/grpc", method: String = "POST") -> HPACKHeaders {
        HPACKHeaders([(":method", method), (":scheme", "http"), (":path", "/loacl.v1.HealthService/Check"),
                      ("content-type", contentType), ("te", "trailers")] + extra)
    }

    @Test func requestHeadersBecomeMetadataAndDeadline() throws {
        let now = NIODeadline.now()
        let head = try GRPCRequestHead(request([("grpc-timeout", "250m"), ("x-loacl-session-token", "abc"),
                                                ("x-trace-bin", "AAEC"), ("user-agent", "grpc-python/1.85.1")]), now: now)
        #expect(head.path == "/loacl.v1.HealthService/Check")
        #expect(head.deadline == now + .milliseconds(250))
        #expect(head.metadata["x-loacl-session-token"] == "abc")
        #expect(head.metadata.bytes("x-trace-bin") == [0, 1, 2])
        #expect(head.metadata.count == 2) // te, content-type, grpc-*, user-agent are not metadata
    }

    @Test func requestsLOACLCannotServeAreRejected() {
        func rejection(_ headers: HPACKHeaders) -> GRPCRequestHead.Rejection? {
            do { _ = try GRPCRequestHead(headers); return nil } catch { return error }
        }
        guard case .http(415, _)? = rejection(request(contentType: "application/json")) else { Issue.record("415"); return }
        guard case .http(405, _)? = rejection(request(method: "GET")) else { Issue.record("405"); return }
        guard case .status(let brotli)? = rejection(request([("grpc-encoding", "br")])), brotli.code == .unimplemented else {
            Issue.record("br"); return
        }
        #expect(rejection(request([("grpc-encoding", "gzip")])) == nil)
        guard case .status(let bin)? = rejection(request([("x-bad-bin", "not base64!")])), bin.code == .invalidArgument else {
            Issue.record("-bin"); return
        }
        #expect(rejection(request(contentType: "application/grpc+proto")) == nil)
    }

    @Test func messagesAreCutAcrossDataFrames() throws {
        var reader = GRPCMessageReader(maxMessageSize: 16)
        var bytes = ByteBuffer()
        for message in [[UInt8](), [1, 2, 3], Array(repeating: 9, count: 16)] {
            bytes.writeGRPCMessage(size: message.count) { raw in raw.copyBytes(from: message) }
        }
        var messages: [[UInt8]] = []
        while bytes.readableBytes > 0 { // one byte per DATA frame
            reader.append(bytes.readSlice(length: 1)!)
            while let message = try reader.next() { messages.append(Array(message.bytes.readableBytesView)) }
        }
        #expect(messages == [[], [1, 2, 3], Array(repeating: 9, count: 16)])
        #expect(reader.bufferedBytes == 0)
    }

    @Test func oversizedAndMalformedMessagesEndTheCall() {
        var reader = GRPCMessageReader(maxMessageSize: 16)
        reader.append(ByteBuffer(bytes: [0, 0, 0, 0, 17])) // the prefix alone is enough
        #expect { _ = try reader.next() } throws: { ($0 as? RPCError)?.code == .resourceExhausted }
        var malformed = GRPCMessageReader(maxMessageSize: 16)
        malformed.append(ByteBuffer(bytes: [2, 0, 0, 0, 1, 0xFF]))
        #expect { _ = try malformed.next() } throws: { ($0 as? RPCError)?.code == .internal }
    }

    @Test func gzipMessages() throws {
        let text = ByteBuffer(string: String(repeating: "LOACL speaks gRPC. ", count: 200))
        let gzipped = try GRPCEncoding.gzipped(text)
        #expect(gzipped.readableBytes < text.readableBytes / 10)
        var reader = GRPCMessageReader(maxMessageSize: 1 << 20)
        var framed = ByteBuffer()
        framed.writeGRPCPrefix(compressed: true, length: gzipped.readableBytes)
        framed.writeImmutableBuffer(gzipped)
        reader.append(framed)
        let message = try #require(try reader.next())
        #expect(message.compressed)
        #expect(try GRPCEncoding.gzip.decompress(message.bytes, limit: 1 << 20) == text)
        // A small message that inflates past the limit (a zip bomb) stops at the limit.
        #expect { _ = try GRPCEncoding.gzip.decompress(gzipped, limit: 1000) } throws: { ($0 as? RPCError)?.code == .resourceExhausted }
        // Compressed while the call declared identity: INTERNAL, as the spec says.
        #expect { _ = try GRPCEncoding.identity.decompress(gzipped, limit: 1 << 20) } throws: { ($0 as? RPCError)?.code == .internal }
        #expect { _ = try GRPCEncoding.gzip.decompress(ByteBuffer(bytes: [1, 2, 3]), limit: 100) } throws: { ($0 as? RPCError)?.code == .internal }
    }

    @Test func statusHeaders() {
        let trailersOnly = GRPCHeaders.trailers(RPCError(.notFound, "thread 50% gone ✓", metadata: ["x-id-bin": .binary([0xFF])]),
                                                trailersOnly: true)
        #expect(trailersOnly.first(name: ":status") == "200")
        #expect(trailersOnly.first(name: "content-type") == "application/grpc")
        #expect(trailersOnly.first(name: "grpc-status") == "5")
        #expect(trailersOnly.first(name: "grpc-message") == "thread 50%25 gone %E2%9C%93")
        #expect(trailersOnly.first(name: "x-id-bin") == "/w==")
        let trailers = GRPCHeaders.trailers(nil, trailersOnly: false)
        #expect(trailers.first(name: ":status") == nil)
        #expect(trailers.first(name: "grpc-status") == "0")
        #expect(trailers.first(name: "grpc-message") == nil)
    }
}
