import LOACLMessages
import Testing

/// Every kind of bad input is answered as docs/PROTOCOL.md says, and the server keeps serving
/// other connections afterwards.
@Suite("Wire bad input", .ownThread)
struct BadInputTests {
    typealias R = RawConnection

    /// After each abuse, a fresh connection must still get a correct unary answer.
    private func assertStillServing(_ server: TestServer) async throws {
        let raw = try await R(tcpPort: server.tcpPort)
        await raw.send(R.preface + R.frame(1, 0, 1, R.headers("/loacl.v1.BenchmarkService/UnaryCall")) + R.frame(2, 1, 1, R.benchmarkPayload([42])))
        #expect(await raw.read(8) == R.preface)
        let message = try #require(await raw.readFrame(type: 2, stream: 1))
        #expect(try Loacl_V1_BenchmarkResponse(serializedBytes: message.payload).payload == [42])
    }

    private func goAway(_ raw: R) async throws -> Loacl_Wire_V1_GoAway {
        let frame = try #require(await raw.readFrame(type: 7))
        #expect(frame.streamID == 0)
        return try Loacl_Wire_V1_GoAway(serializedBytes: frame.payload)
    }

    @Test("wrong preface: GOAWAY INVALID_ARGUMENT, no server preface, then close")
    func wrongPreface() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let raw = try await R(tcpPort: server.tcpPort)
        await raw.send(Array("GET / HTTP/1.1\r\n\r\n".utf8))
        let frame = try #require(await raw.readFrame())
        #expect(frame.type == 7)
        #expect(try Loacl_Wire_V1_GoAway(serializedBytes: frame.payload).code == 3)
        #expect(await raw.isClosedByPeer())
        try await assertStillServing(server)
    }

    @Test("truncated header then disconnect: nothing breaks")
    func truncatedHeader() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        do {
            let raw = try await R(tcpPort: server.tcpPort)
            await raw.send(R.preface + [0, 0, 0])
            #expect(await raw.read(8) == R.preface)
        }
        try await assertStillServing(server)
    }

    @Test("oversize length: GOAWAY RESOURCE_EXHAUSTED from the header alone")
    func oversize() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let raw = try await R(tcpPort: server.tcpPort)
        await raw.send(R.preface + [0x00, 0x50, 0x00, 0x00, 2, 0, 0, 0, 0, 1])  // 5 MiB, no payload sent
        #expect(await raw.read(8) == R.preface)
        #expect(try await goAway(raw).code == 8)
        #expect(await raw.isClosedByPeer())
        try await assertStillServing(server)
    }

    @Test("unknown frame type: GOAWAY")
    func unknownType() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let raw = try await R(tcpPort: server.tcpPort)
        await raw.send(R.preface + R.frame(0x42, 0, 1))
        #expect(await raw.read(8) == R.preface)
        #expect(try await goAway(raw).code == 3)
        #expect(await raw.isClosedByPeer())
        try await assertStillServing(server)
    }

    @Test("reused and decreasing stream ids: GOAWAY with the last stream id")
    func reusedStream() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let raw = try await R(tcpPort: server.tcpPort)
        await raw.send(R.preface + R.frame(1, 0, 5, R.headers("/loacl.v1.BenchmarkService/UnaryCall")) + R.frame(2, 1, 5, R.benchmarkPayload([1])))
        #expect(await raw.read(8) == R.preface)
        #expect(await raw.readFrame(type: 3, stream: 5) != nil)
        await raw.send(R.frame(1, 0, 5, R.headers("/loacl.v1.BenchmarkService/UnaryCall")))
        let g = try await goAway(raw)
        #expect(g.code == 3)
        #expect(g.lastStreamID == 5)
        #expect(await raw.isClosedByPeer())
        try await assertStillServing(server)
    }

    @Test("frames on the wrong stream: HEADERS on 0, PING on 3, MESSAGE for a stream never opened")
    func wrongStreams() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        for bytes in [R.frame(1, 0, 0, R.headers("/loacl.v1.BenchmarkService/UnaryCall")),
                      R.frame(6, 0, 3, [0, 0, 0, 0, 0, 0, 0, 0]),
                      R.frame(2, 1, 9, R.benchmarkPayload([1])),
                      R.frame(3, 0, 1)] {
            let raw = try await R(tcpPort: server.tcpPort)
            await raw.send(R.preface + bytes)
            #expect(await raw.read(8) == R.preface)
            #expect(try await goAway(raw).code == 3)
        }
        try await assertStillServing(server)
    }

    @Test("garbage payloads and unknown methods are call errors; the connection goes on")
    func callErrors() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let raw = try await R(tcpPort: server.tcpPort)
        await raw.send(R.preface
            + R.frame(1, 0, 1, [0xFF, 0xFF, 0xFF])                                        // undecodable CallHeaders
            + R.frame(1, 0, 2, R.headers("/loacl.v1.NoSuchService/Nope")) + R.frame(2, 1, 2)
            + R.frame(1, 0, 3, R.headers("/loacl.v1.BenchmarkService/UnaryCall")) + R.frame(2, 1, 3, [0x0A, 0x05, 1])  // truncated
            + R.frame(1, 0, 4, R.headers("/loacl.v1.BenchmarkService/UnaryCall")) + R.frame(2, 0, 4, R.benchmarkPayload([1]))  // no END_STREAM
            + R.frame(1, 1, 5, R.headers("/loacl.v1.BenchmarkService/UnaryCall"))        // END_STREAM, no request
            + R.frame(1, 0, 6, R.headers("/loacl.v1.BenchmarkService/UnaryCall")) + R.frame(2, 1, 6, R.benchmarkPayload([6])))
        #expect(await raw.read(8) == R.preface)
        var codes: [UInt32: UInt32] = [:]
        var echoed: [UInt8]?
        while codes.count < 6, let frame = await raw.readFrame() {
            if frame.type == 3 { codes[frame.streamID] = try R.status(frame).code }
            if frame.type == 2 { echoed = try Loacl_V1_BenchmarkResponse(serializedBytes: frame.payload).payload }
        }
        #expect(codes == [1: 3, 2: 12, 3: 3, 4: 3, 5: 3, 6: 0])
        #expect(echoed == [6])
    }

    @Test("invalid UTF-8 in a string field is INVALID_ARGUMENT naming the field")
    func invalidUTF8() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let raw = try await R(tcpPort: server.tcpPort)
        // HealthCheckRequest.service (field 1) = 0xC3 0x28 (an invalid 2-byte sequence)
        await raw.send(R.preface + R.frame(1, 0, 1, R.headers("/loacl.v1.HealthService/Check")) + R.frame(2, 1, 1, [0x0A, 0x02, 0xC3, 0x28]))
        #expect(await raw.read(8) == R.preface)
        let statusFrame = try #require(await raw.readFrame(type: 3, stream: 1))
        let status = try R.status(statusFrame)
        #expect(status.code == 3)
        #expect(status.message.contains("UTF-8"))
        #expect(status.message.contains("service"))
    }

    @Test("call headers above the metadata limit: RESOURCE_EXHAUSTED, the connection goes on")
    func metadataTooLarge() async throws {
        let server = try await TestServer.start { $0.connection.maxHeadersSize = 1024 }
        defer { Task { await server.stop() } }
        let raw = try await R(tcpPort: server.tcpPort)
        // CallHeaders { method, metadata: [{ key: "x-big", value: 2 KiB }] }, encoded by hand.
        let value = [UInt8](repeating: 0x61, count: 2048)
        let entry: [UInt8] = [0x0A, 5] + Array("x-big".utf8) + [0x12] + R.varint(UInt64(value.count)) + value
        let headers = R.headers("/loacl.v1.BenchmarkService/UnaryCall") + [0x1A] + R.varint(UInt64(entry.count)) + entry
        await raw.send(R.preface + R.frame(1, 0, 1, headers) + R.frame(2, 1, 1, R.benchmarkPayload([1])))
        #expect(await raw.read(8) == R.preface)
        let statusFrame = try #require(await raw.readFrame(type: 3, stream: 1))
        let status = try R.status(statusFrame)
        #expect(status.code == 8)
        await raw.send(R.frame(1, 0, 3, R.headers("/loacl.v1.BenchmarkService/UnaryCall")) + R.frame(2, 1, 3, R.benchmarkPayload([3])))
        let trailers3 = try #require(await raw.readFrame(type: 3, stream: 3))
        #expect(try R.status(trailers3).code == 0)
    }

    @Test("too many concurrent calls: RESOURCE_EXHAUSTED for the extra one")
    func concurrencyLimit() async throws {
        let server = try await TestServer.start { $0.connection.maxConcurrentCalls = 2 }
        defer { Task { await server.stop() } }
        let raw = try await R(tcpPort: server.tcpPort)
        var bytes = R.preface
        for id in UInt32(1)...UInt32(3) { bytes += R.frame(1, 0, id, R.headers("/loacl.test.Test/Hang")) + R.frame(2, 1, id) }
        await raw.send(bytes)
        #expect(await raw.read(8) == R.preface)
        let trailers = try #require(await raw.readFrame(type: 3))
        #expect(trailers.streamID == 3)
        #expect(try R.status(trailers).code == 8)
    }

    @Test("window overrun: GOAWAY RESOURCE_EXHAUSTED")
    func windowOverrun() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let raw = try await R(tcpPort: server.tcpPort)
        // Stall never reads its requests, so no credit comes back: 600 KiB fits the 1 MiB
        // window, a second 600 KiB takes it below zero (allowed), a third overruns it.
        let chunk = R.benchmarkPayload([UInt8](repeating: 1, count: 600 * 1024))
        await raw.send(R.preface + R.frame(1, 0, 1, R.headers("/loacl.test.Test/Stall"))
                 + R.frame(2, 0, 1, chunk) + R.frame(2, 0, 1, chunk) + R.frame(2, 0, 1, chunk))
        #expect(await raw.read(8) == R.preface)
        let g = try await goAway(raw)
        #expect(g.code == 8)
        #expect(g.reason.contains("window"))
        #expect(await raw.isClosedByPeer())
        try await assertStillServing(server)
    }

    @Test("a client that never reads: the server stops at the flow-control window, others are served")
    func neverReads() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let raw = try await R(tcpPort: server.tcpPort)
        // Flood writes 64 KiB messages forever; this client never reads and never grants credit.
        await raw.send(R.preface + R.frame(1, 0, 1, R.headers("/loacl.test.Test/Flood")) + R.frame(2, 1, 1, R.benchmarkPayload([], responseSize: 64 * 1024)))
        #expect(await eventually { server.probe.floodWritten.withLockedValue { $0 } >= 16 })
        try await Task.sleep(for: .milliseconds(300))
        // 1 MiB window: 16 messages of 64 KiB + 5 bytes of framing take it just below zero.
        let written = server.probe.floodWritten.withLockedValue { $0 }
        #expect(written <= 17)
        try await assertStillServing(server)
        // Disconnecting mid-stream cancels the handler.
        withExtendedLifetime(raw) {}
    }

    @Test("a client that disconnects mid-stream: the handler is cancelled")
    func disconnectMidStream() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        do {
            let raw = try await R(tcpPort: server.tcpPort)
            await raw.send(R.preface + R.frame(1, 0, 1, R.headers("/loacl.test.Test/Flood")) + R.frame(2, 1, 1, R.benchmarkPayload([], responseSize: 1024)))
            #expect(await eventually { server.probe.floodWritten.withLockedValue { $0 } > 0 })
        }
        #expect(await eventually { server.probe.cancellations.withLockedValue { $0 } == 1 })
        try await assertStillServing(server)
    }
}
