import LOACLMessages
import LOACLServer
import LOACLServerCore
import Testing

/// Connection timers and graceful shutdown, observed on a raw socket.
@Suite("Limits, timers and shutdown", .ownThread)
struct LimitsAndShutdownTests {
    typealias R = RawConnection

    @Test("an idle connection gets GOAWAY code 0 \"idle\" and is closed")
    func idleTimeout() async throws {
        // 1 s, not less: with every suite starting at once on two cores, 300 ms once passed
        // before the server had read this client's preface.
        let server = try await TestServer.start {
            $0.connection.idleTimeout = .seconds(1)
            $0.connection.timerResolution = .milliseconds(50)
        }
        defer { Task { await server.stop() } }
        let raw = try await R(tcpPort: server.tcpPort)
        await raw.send(R.preface)
        #expect(await raw.read(8) == R.preface)
        let frame = try #require(await raw.readFrame(type: 7))
        let goAway = try Loacl_Wire_V1_GoAway(serializedBytes: frame.payload)
        #expect(goAway.code == 0)
        #expect(goAway.reason == "idle")
        #expect(await raw.isClosedByPeer())
    }

    @Test("keepalive: the server PINGs a quiet connection and closes it when no ACK comes")
    func keepalive() async throws {
        // 1 s each, not less: with every suite starting at once on two cores, 200 + 200 ms once
        // passed before this client had read the server's preface.
        let server = try await TestServer.start {
            $0.connection.keepaliveInterval = .seconds(1)
            $0.connection.keepaliveTimeout = .seconds(1)
            $0.connection.timerResolution = .milliseconds(50)
        }
        defer { Task { await server.stop() } }
        // A call that never finishes keeps the connection from being "idle".
        let raw = try await R(tcpPort: server.tcpPort)
        await raw.send(R.preface + R.frame(1, 0, 1, R.headers("/loacl.test.Test/Hang")) + R.frame(2, 1, 1))
        #expect(await raw.read(8) == R.preface)
        let ping = try #require(await raw.readFrame(type: 6))
        #expect(ping.flags == 0 && ping.payload.count == 8 && ping.streamID == 0)
        // Never answered: the connection is closed and the hanging handler cancelled.
        #expect(await raw.isClosedByPeer())
        #expect(await eventually { server.probe.cancellations.withLockedValue { $0 } == 1 })

        // A client that answers keeps its connection through a call longer than the interval.
        let polite = try await R(tcpPort: server.tcpPort)
        await polite.send(R.preface + R.frame(1, 0, 1, R.headers("/loacl.test.Test/SlowEcho")) + R.frame(2, 1, 1, R.benchmarkPayload([1], responseSize: 2500)))
        #expect(await polite.read(8) == R.preface)
        var answered = 0
        while let frame = await polite.readFrame() {
            if frame.type == 6 && frame.flags == 0 {
                await polite.send(R.frame(6, 2, 0, frame.payload))
                answered += 1
            }
            if frame.type == 3 {
                #expect(try R.status(frame).code == 0)
                break
            }
        }
        #expect(answered >= 1)
    }

    @Test("graceful shutdown: GOAWAY with the last stream id, new calls UNAVAILABLE, in-flight calls finish")
    func drain() async throws {
        let server = try await TestServer.start { $0.gracePeriod = .seconds(60) }
        let raw = try await R(tcpPort: server.tcpPort)
        // The in-flight call is a client-streaming Concat that cannot finish before this test
        // half-closes it, so the order of events does not depend on timing.
        await raw.send(R.preface + R.frame(1, 0, 1, R.headers("/loacl.test.Test/Concat")) + R.frame(2, 0, 1, R.benchmarkPayload([7])))
        #expect(await raw.read(8) == R.preface)
        #expect(await eventually(timeout: .seconds(60)) { server.server.connectionCount == 1 })
        let stopping = Task { await server.stop() }
        var goAway: Loacl_Wire_V1_GoAway?
        var statuses: [UInt32: UInt32] = [:]
        var echoed: [UInt8]?
        while let frame = await raw.readFrame() {
            switch frame.type {
            case 7:
                goAway = try Loacl_Wire_V1_GoAway(serializedBytes: frame.payload)
                // A call opened after GOAWAY is refused, retryable elsewhere.
                await raw.send(R.frame(1, 0, 3, R.headers("/loacl.v1.BenchmarkService/UnaryCall")) + R.frame(2, 1, 3, R.benchmarkPayload([3])))
            case 3:
                statuses[frame.streamID] = try R.status(frame).code
                // Once the refusal is in, let the in-flight call finish.
                if frame.streamID == 3 { await raw.send(R.frame(2, 1, 1, R.benchmarkPayload([8]))) }
            case 2: echoed = try Loacl_V1_BenchmarkResponse(serializedBytes: frame.payload).payload
            default: break
            }
            if statuses.count == 2 { break }
        }
        #expect(goAway?.code == 0)
        #expect(goAway?.lastStreamID == 1)
        #expect(statuses == [1: 0, 3: 14])
        #expect(echoed == [7, 8])
        #expect(await raw.isClosedByPeer())
        await stopping.value
    }

    @Test("a listener that cannot bind: start() throws bindFailed naming it, and releasing the server is safe")
    func bindFailureIsAnErrorNotACrash() async throws {
        let running = try await TestServer.start()
        defer { Task { await running.stop() } }
        var configuration = ServerConfiguration(listeners: [.tcp(host: "127.0.0.1", port: running.tcpPort)])
        configuration.gracePeriod = .seconds(1)
        var second: RPCServer? = try RPCServer(configuration: configuration, methods: MethodTable(testMethods(Probe())))
        await #expect { try await second?.start() } throws: { error in
            guard case RPCServerError.bindFailed(let endpoint, _) = error else { return false }
            return endpoint.contains("\(running.tcpPort)")
        }
        // Before: NIO stopped the process here ("leaking promise") in debug builds.
        second = nil
    }
}
