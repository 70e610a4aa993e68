import LOACLMessages
import Testing

/// Byte-level conformance: frames written by hand, exactly as docs/PROTOCOL.md specifies, one
/// byte per write, and the server's bytes checked against the document.
@Suite("Wire conformance (raw sockets)", .ownThread)
struct ConformanceTests {
    typealias R = RawConnection

    @Test("unary call: the document's example, byte for byte")
    func unaryExample() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let raw = try await R(tcpPort: server.tcpPort)
        await raw.sendByteByByte(R.preface
            + R.frame(1, 0, 1, R.headers("/loacl.v1.BenchmarkService/UnaryCall"))
            + R.frame(2, 1, 1, [0x0A, 0x02, 0x68, 0x69]))
        let expected: [UInt8] = [0x4C, 0x4F, 0x41, 0x43, 0x4C, 0x2F, 0x31, 0x0A,
                                 0, 0, 0, 4, 2, 0, 0, 0, 0, 1, 0x0A, 0x02, 0x68, 0x69,
                                 0, 0, 0, 0, 3, 0, 0, 0, 0, 1]
        #expect(await raw.read(expected.count) == expected)
    }

    @Test("unary over a Unix socket")
    func unaryUnix() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let raw = try await R(unixPath: server.unixPath)
        await raw.send(R.preface + R.frame(1, 0, 7, R.headers("/loacl.v1.BenchmarkService/UnaryCall"))
                 + R.frame(2, 1, 7, R.benchmarkPayload([1, 2, 3])))
        #expect(await raw.read(8) == R.preface)
        let message = try #require(await raw.readFrame(type: 2, stream: 7))
        #expect(try Loacl_V1_BenchmarkResponse(serializedBytes: message.payload).payload == [1, 2, 3])
        let trailers = try #require(await raw.readFrame(type: 3, stream: 7))
        #expect(try R.status(trailers).code == 0)
    }

    @Test("server-streaming: n MESSAGE frames then TRAILERS OK")
    func serverStreaming() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let raw = try await R(tcpPort: server.tcpPort)
        await raw.sendByteByByte(R.preface + R.frame(1, 0, 1, R.headers("/loacl.test.Test/Repeat"))
                           + R.frame(2, 1, 1, R.benchmarkPayload([9], responseSize: 3)))
        #expect(await raw.read(8) == R.preface)
        for _ in 0..<3 {
            let frame = try #require(await raw.readFrame())
            #expect(frame == R.Frame(type: 2, flags: 0, streamID: 1, payload: [0x0A, 0x01, 0x09]))
        }
        #expect(await raw.readFrame() == R.Frame(type: 3, flags: 0, streamID: 1, payload: []))
    }

    @Test("client-streaming: MESSAGEs, END_STREAM on the last, one response")
    func clientStreaming() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let raw = try await R(tcpPort: server.tcpPort)
        await raw.sendByteByByte(R.preface + R.frame(1, 0, 3, R.headers("/loacl.test.Test/Concat"))
                           + R.frame(2, 0, 3, R.benchmarkPayload(Array("ab".utf8)))
                           + R.frame(2, 0, 3, R.benchmarkPayload(Array("cd".utf8)))
                           + R.frame(2, 1, 3, R.benchmarkPayload(Array("e".utf8))))
        #expect(await raw.read(8) == R.preface)
        let message = try #require(await raw.readFrame(type: 2, stream: 3))
        #expect(try Loacl_V1_BenchmarkResponse(serializedBytes: message.payload).payload == Array("abcde".utf8))
        let trailers3 = try #require(await raw.readFrame(type: 3, stream: 3))
        #expect(try R.status(trailers3).code == 0)
    }

    @Test("bidirectional: echo per message, half-close with an empty END_STREAM HEADERS")
    func bidirectional() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let raw = try #require(try await R.openCall("/loacl.v1.BenchmarkService/StreamingCall", stream: 5, tcpPort: server.tcpPort))
        for word in ["one", "two"] {
            await raw.sendByteByByte(R.frame(2, 0, 5, R.benchmarkPayload(Array(word.utf8))))
            let echo = try #require(await raw.readFrame(type: 2, stream: 5))
            #expect(try Loacl_V1_BenchmarkResponse(serializedBytes: echo.payload).payload == Array(word.utf8))
        }
        await raw.send(R.frame(1, 1, 5))
        let trailers5 = try #require(await raw.readFrame(type: 3, stream: 5))
        #expect(try R.status(trailers5).code == 0)
    }

    @Test("multiplexing: interleaved calls on one connection each get their own answer")
    func interleaved() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let raw = try await R(tcpPort: server.tcpPort)
        var bytes = R.preface
        for id in UInt32(1)...UInt32(5) { bytes += R.frame(1, 0, id, R.headers("/loacl.v1.BenchmarkService/UnaryCall")) }
        for id in (UInt32(1)...UInt32(5)).reversed() { bytes += R.frame(2, 1, id, R.benchmarkPayload([UInt8(id)])) }
        await raw.send(bytes)
        #expect(await raw.read(8) == R.preface)
        var echoed: [UInt32: [UInt8]] = [:]
        var finished = Set<UInt32>()
        while finished.count < 5, let frame = await raw.readFrame() {
            if frame.type == 2 { echoed[frame.streamID] = try Loacl_V1_BenchmarkResponse(serializedBytes: frame.payload).payload }
            if frame.type == 3 { finished.insert(frame.streamID) }
        }
        #expect(finished == Set(1...5))
        for id in UInt32(1)...UInt32(5) { #expect(echoed[id] == [UInt8(id)]) }
    }

    @Test("PING is answered with the same 8 bytes and ACK")
    func ping() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let raw = try await R(tcpPort: server.tcpPort)
        await raw.send(R.preface + R.frame(6, 0, 0, [1, 2, 3, 4, 5, 6, 7, 8]))
        #expect(await raw.read(8) == R.preface)
        #expect(await raw.readFrame() == R.Frame(type: 6, flags: 2, streamID: 0, payload: [1, 2, 3, 4, 5, 6, 7, 8]))
    }

    @Test("deadline: TRAILERS DEADLINE_EXCEEDED and the handler is cancelled")
    func deadline() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let raw = try await R(tcpPort: server.tcpPort)
        await raw.send(R.preface + R.frame(1, 0, 1, R.headers("/loacl.test.Test/Hang", timeoutMs: 100)) + R.frame(2, 1, 1))
        #expect(await raw.read(8) == R.preface)
        let trailers = try #require(await raw.readFrame(type: 3, stream: 1))
        #expect(try R.status(trailers).code == 4)
        #expect(await eventually { server.probe.cancellations.withLockedValue { $0 } == 1 })
    }

    @Test("CANCEL stops the handler and no TRAILERS follow")
    func cancel() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let raw = try await R(tcpPort: server.tcpPort)
        await raw.send(R.preface + R.frame(1, 0, 1, R.headers("/loacl.test.Test/Hang")) + R.frame(2, 1, 1))
        #expect(await raw.read(8) == R.preface)
        #expect(await eventually { server.probe.started.withLockedValue { $0 } == 1 })
        await raw.send(R.frame(4, 0, 1))
        #expect(await eventually { server.probe.cancellations.withLockedValue { $0 } == 1 })
        // The connection still works, and stream 1 got nothing: the next frame is stream 2's.
        await raw.send(R.frame(1, 0, 2, R.headers("/loacl.v1.BenchmarkService/UnaryCall")) + R.frame(2, 1, 2, R.benchmarkPayload([1])))
        let next = try #require(await raw.readFrame())
        #expect(next.streamID == 2)
        #expect(next.type == 2)
    }
}
