import Foundation
import LOACLClient
import LOACLServer
import LOACLServerCore
import LOACLWire
import Testing

/// The Swift client against a real server over real sockets.
@Suite("Swift client")
struct ClientTests {
    typealias Req = Loacl_V1_BenchmarkRequest
    typealias Res = Loacl_V1_BenchmarkResponse

    @Test("unary over TCP and a Unix socket, including a 3 MiB message larger than the window")
    func unary() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        for endpoint in [Endpoint.tcp(host: "127.0.0.1", port: server.tcpPort), .unix(path: server.unixPath)] {
            let client = try server.client(endpoint)
            let small: Res = try await client.unary(Loacl_V1_BenchmarkService.Method.unaryCall, benchmarkRequest("héllo 🌍"))
            #expect(small.payload == Array("héllo 🌍".utf8))
            let big: Res = try await client.unary(Loacl_V1_BenchmarkService.Method.unaryCall, benchmarkRequest("", responseSize: 3 * 1024 * 1024))
            #expect(big.payload.count == 3 * 1024 * 1024)
            await client.close()
        }
    }

    @Test("server-streaming, client-streaming and bidirectional calls")
    func streamingKinds() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let client = try server.client()
        defer { Task { await client.close() } }
        try await Self.streamingCalls(client)
    }

    /// One call of each streaming kind, with its expectations.
    static func streamingCalls(_ client: LOACLClientConnection) async throws {
        let repeated = try await client.serverStreaming(TestMethods.repeatEcho, benchmarkRequest("x", responseSize: 50), responseType: Res.self) { responses in
            var count = 0
            for try await response in responses {
                #expect(response.payload == Array("x".utf8))
                count += 1
            }
            return count
        }
        #expect(repeated == 50)

        let concatenated: Res = try await client.clientStreaming(TestMethods.concat, requestType: Req.self) { writer in
            for part in ["a", "b", "c"] { try await writer.write(benchmarkRequest(part)) }
        }
        #expect(concatenated.payload == Array("abc".utf8))

        let echoed = try await client.bidirectional(Loacl_V1_BenchmarkService.Method.streamingCall, requestType: Req.self, responseType: Res.self) { writer, responses in
            var iterator = responses.makeAsyncIterator()
            var seen: [String] = []
            for word in ["one", "two", "three"] {
                try await writer.write(benchmarkRequest(word))
                let response = try await iterator.next()
                seen.append(String(decoding: response?.payload ?? [], as: UTF8.self))
            }
            writer.finish()
            #expect(try await iterator.next() == nil)
            return seen
        }
        #expect(echoed == ["one", "two", "three"])
    }

    /// The messages and the error TRAILERS reach the client in one read, before the reader has
    /// taken more than the first message: the reader still gets every message, then the error.
    @Test("server-streaming: messages sent before an error status are delivered, then the error")
    func messagesBeforeAnErrorStatus() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let client = try server.client()
        defer { Task { await client.close() } }
        var received = 0
        var failure: RPCError?
        do {
            try await client.serverStreaming(TestMethods.repeatThenFail, benchmarkRequest("x", responseSize: 20), responseType: Res.self) { responses in
                for try await response in responses {
                    #expect(response.payload == Array("x".utf8))
                    received += 1
                }
            }
        } catch let error as RPCError {
            failure = error
        }
        #expect(received == 20)
        #expect(failure?.code == .unavailable && failure?.message == "gave up after 20 messages", "\(String(describing: failure))")
    }

    @Test("metadata reaches the handler")
    func metadata() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let client = try server.client()
        defer { Task { await client.close() } }
        let response: Res = try await client.unary(TestMethods.echoMetadata, Req(), options: CallOptions(metadata: ["x-echo": "hello"]))
        #expect(String(decoding: response.payload, as: UTF8.self) == "hello|")
    }

    @Test("deadline: DEADLINE_EXCEEDED, handler cancelled")
    func deadline() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let client = try server.client()
        defer { Task { await client.close() } }
        await #expect(throws: RPCError.self) {
            let _: Res = try await client.unary(TestMethods.hang, Req(), options: CallOptions(timeout: .milliseconds(150)))
        }
        do {
            let _: Res = try await client.unary(TestMethods.hang, Req(), options: CallOptions(timeout: .milliseconds(100)))
        } catch let error as RPCError {
            #expect(error.code == .deadlineExceeded)
        }
        #expect(await eventually { server.probe.cancellations.withLockedValue { $0 } == 2 })
    }

    @Test("Task cancellation sends CANCEL and the handler is cancelled")
    func taskCancellation() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let client = try server.client()
        defer { Task { await client.close() } }
        let task = Task {
            let _: Res = try await client.unary(TestMethods.hang, Req())
        }
        #expect(await eventually { server.probe.started.withLockedValue { $0 } == 1 })
        task.cancel()
        let result = await task.result
        #expect(throws: RPCError.self) { try result.get() }
        #expect(await eventually { server.probe.cancellations.withLockedValue { $0 } == 1 })
    }

    @Test("1,000 concurrent calls on one connection")
    func thousandConcurrent() async throws {
        let server = try await TestServer.start { $0.connection.maxConcurrentCalls = 1024 }
        defer { Task { await server.stop() } }
        let client = try server.client()
        defer { Task { await client.close() } }
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<1000 {
                group.addTask {
                    let text = "call \(i)"
                    let response: Res = try await client.unary(TestMethods.slowEcho, benchmarkRequest(text, responseSize: 20))
                    return response.payload == Array(text.utf8)
                }
            }
            var ok = 0
            for try await r in group where r { ok += 1 }
            return ok
        }
        #expect(results == 1000)
    }

    /// A caller on the connection's own executor starts calls in place (no hop to the loop) and
    /// is resumed there: every call kind, flow control with a reply larger than the window, a
    /// deadline, cancellation, and enough concurrent calls that writes are flushed mid-tick.
    @Test("calls from tasks on the connection's executor: every kind, 3 MiB, deadline, cancel, 1,000 at once")
    func callsOnTheConnectionsExecutor() async throws {
        let server = try await TestServer.start { $0.connection.maxConcurrentCalls = 1024 }
        defer { Task { await server.stop() } }
        let client = try server.client()
        defer { Task { await client.close() } }
        let loop = try #require(client.taskExecutor as? EventLoopTaskExecutor).eventLoop

        try await Task(executorPreference: client.taskExecutor) {
            #expect(loop.inEventLoop)
            let small: Res = try await client.unary(Loacl_V1_BenchmarkService.Method.unaryCall, benchmarkRequest("on the loop"))
            #expect(small.payload == Array("on the loop".utf8))
            #expect(loop.inEventLoop, "resumed on the connection's loop")
            let big: Res = try await client.unary(Loacl_V1_BenchmarkService.Method.unaryCall, benchmarkRequest("", responseSize: 3 * 1024 * 1024))
            #expect(big.payload.count == 3 * 1024 * 1024)
            let sent: Res = try await client.unary(Loacl_V1_BenchmarkService.Method.unaryCall,
                                                  benchmarkRequest(String(repeating: "u", count: 3 * 1024 * 1024)))
            #expect(sent.payload.count == 3 * 1024 * 1024, "a request larger than the window waits for credit")
            try await Self.streamingCalls(client)
            do {
                let _: Res = try await client.unary(TestMethods.hang, Req(), options: CallOptions(timeout: .milliseconds(100)))
                Issue.record("the deadline did not end the call")
            } catch let error as RPCError {
                #expect(error.code == .deadlineExceeded)
            }
        }.value

        let hanging = Task(executorPreference: client.taskExecutor) {
            let _: Res = try await client.unary(TestMethods.hang, Req())
        }
        #expect(await eventually { server.probe.started.withLockedValue { $0 } == 2 })
        hanging.cancel()
        await #expect(throws: RPCError.self) { try await hanging.value }
        #expect(await eventually { server.probe.cancellations.withLockedValue { $0 } == 2 })

        let ok = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<1000 {
                group.addTask(executorPreference: client.taskExecutor) {
                    let text = "call \(i)"
                    let response: Res = try await client.unary(Loacl_V1_BenchmarkService.Method.unaryCall, benchmarkRequest(text))
                    return response.payload == Array(text.utf8)
                }
            }
            var ok = 0
            for try await r in group where r { ok += 1 }
            return ok
        }
        #expect(ok == 1000)
    }

    @Test("GOAWAY drain: in-flight calls finish, then the server is gone")
    func gracefulDrain() async throws {
        let server = try await TestServer.start { $0.gracePeriod = .seconds(60) }
        let client = try server.client()
        defer { Task { await client.close() } }
        // Warm the connection so the calls below are in flight on it when shutdown starts.
        let _: Res = try await client.unary(Loacl_V1_BenchmarkService.Method.unaryCall, Req())
        let calls = Task {
            try await withThrowingTaskGroup(of: Res.self) { group in
                for i in 0..<5 {
                    group.addTask { try await client.unary(TestMethods.slowEcho, benchmarkRequest("\(i)", responseSize: 400)) }
                }
                var done = 0
                for try await _ in group { done += 1 }
                return done
            }
        }
        // Shut down only once all five handlers run (not after a guessed delay: CI machines stall).
        #expect(await eventually(timeout: .seconds(60)) { server.probe.started.withLockedValue { $0 } == 5 })
        await server.stop()
        #expect(try await calls.value == 5)
        await #expect(throws: RPCError.self) {
            let _: Res = try await client.unary(Loacl_V1_BenchmarkService.Method.unaryCall, Req())
        }
    }

    @Test("reconnects after the server restarts")
    func reconnect() async throws {
        let first = try await TestServer.start()
        let client = try first.client(.unix(path: first.unixPath))
        defer { Task { await client.close() } }
        let _: Res = try await client.unary(Loacl_V1_BenchmarkService.Method.unaryCall, benchmarkRequest("a"))
        await first.stop()
        // A new server on the same socket path.
        var configuration = ServerConfiguration(listeners: [.unix(path: first.unixPath)])
        configuration.gracePeriod = .seconds(1)
        let second = try RPCServer(configuration: configuration, methods: MethodTable(testMethods(Probe())))
        try await second.start()
        defer { Task { await second.shutdownGracefully() } }
        let response: Res = try await client.unary(Loacl_V1_BenchmarkService.Method.unaryCall, benchmarkRequest("b"))
        #expect(response.payload == Array("b".utf8))
    }
}
