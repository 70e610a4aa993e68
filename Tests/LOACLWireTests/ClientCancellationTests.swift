import LOACLClient
import LOACLCore
import LOACLMessages
import Synchronization
import Testing

/// Which task's cancellation cancels a streaming call. The task that started the call is covered
/// by one cancellation handler for the whole call (at any time, not only while it waits for a
/// response); another task reading the responses is covered while it waits.
@Suite("Client call cancellation")
struct ClientCancellationTests {
    typealias Req = Loacl_V1_BenchmarkRequest
    typealias Res = Loacl_V1_BenchmarkResponse

    @Test("cancelling the task that started a bidi call sends CANCEL at once, while its body is busy elsewhere",
          .timeLimit(.minutes(1)))
    func ownerCancelledOutsideAWait() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let client = try server.client()
        defer { Task { await client.close() } }
        let probe = server.probe
        let busy = Mutex(false)
        let task = Task {
            try await client.bidirectional(TestMethods.echoUntilCancelled, requestType: Req.self, responseType: Res.self) { writer, responses in
                try await writer.write(benchmarkRequest("one"))
                var iterator = responses.makeAsyncIterator()
                let echo = try await iterator.next()
                #expect(echo?.payload == Array("one".utf8))
                // Busy elsewhere, not waiting on the call, until the task is cancelled.
                busy.withLock { $0 = true }
                while !Task.isCancelled { await Task.yield() }
                // The server must see the CANCEL before this body returns (returning cancels the
                // call anyway). The wait runs in a task of its own: this one is cancelled.
                return await Task.detached { await eventually { probe.cancellations.withLockedValue { $0 } == 1 } }.value
            }
        }
        #expect(await eventually { busy.withLock { $0 } })
        task.cancel()
        #expect(try await task.value, "CANCEL went out while the body still ran")
    }

    @Test("a child task reading the responses, cancelled on its own, cancels the call", .timeLimit(.minutes(1)))
    func readerCancelledOnItsOwn() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let client = try server.client()
        defer { Task { await client.close() } }
        let probe = server.probe
        let seenByServer = try await client.bidirectional(TestMethods.echoUntilCancelled, requestType: Req.self, responseType: Res.self) {
            _, responses in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var iterator = responses.makeAsyncIterator()
                    while try await iterator.next() != nil {}
                }
                #expect(await eventually { probe.started.withLockedValue { $0 } == 1 })
                try await Task.sleep(for: .milliseconds(50))
                group.cancelAll()
                await #expect(throws: (any Error).self) { try await group.next() }
            }
            return await eventually { probe.cancellations.withLockedValue { $0 } == 1 }
        }
        #expect(seenByServer, "the reader's cancellation sent CANCEL before the body returned")
    }

    @Test("a server-streaming call is cancelled with the task that started it, while it reads")
    func serverStreamingOwnerCancelled() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let client = try server.client()
        defer { Task { await client.close() } }
        let task = Task {
            try await client.serverStreaming(TestMethods.flood, benchmarkRequest("", responseSize: 16), responseType: Res.self) { responses in
                for try await _ in responses {}
            }
        }
        #expect(await eventually { server.probe.floodWritten.withLockedValue { $0 } > 10 })
        task.cancel()
        await #expect(throws: (any Error).self) { try await task.value }
        #expect(await eventually { server.probe.cancellations.withLockedValue { $0 } == 1 })
    }
}
