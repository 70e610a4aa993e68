import Foundation
import LOACLClient
import LOACLCore
import LOACLCrypto
import LOACLFakeOpenAI
import LOACLMessages
import LOACLPostgres
import LOACLServer
import LOACLServerCore
import LOACLServices
import LOACLUpstream
import Synchronization
import Testing

/// A real `loacld serve` process on the harness's database, its upstream the fake OpenAI server,
/// on TCP (its runs are followed and resumed from the in-process servers).
final class RunningLoacld: Sendable {
    let process: Process
    let port: Int
    let log: String

    init(_ h: Harness, upstream: FakeOpenAIServer, arguments extra: [String] = []) async throws {
        // A fixed port below the ephemeral range (32768-60999), picked at random per process.
        var chosen = 0
        for _ in 0..<50 {
            let candidate = Int.random(in: 27_000..<31_000)
            if !(Self.accepts(port: candidate)) { chosen = candidate; break }
        }
        port = chosen
        log = NSTemporaryDirectory() + "loacld-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try LoacldProcess.binary())
        process.arguments = ["serve", "--listen", "tcp:127.0.0.1:\(port)",
                             "--database-url", h.cluster.conninfo(database: h.databaseName, user: "loacl_app"),
                             "--storage-dir", h.storageRoot, "--log-level", "notice"] + extra
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("LOACL_") }
        environment["LOACL_MASTER_KEY"] = Hex.encode(Harness.masterKey)
        environment["LOACL_UPSTREAM_RESPONSES_URL"] = upstream.baseURL
        environment["LOACL_UPSTREAM_CHAT_URL"] = upstream.baseURL
        process.environment = environment
        let output = FileHandle(forWritingAtPath: log)
        process.standardOutput = output
        process.standardError = output
        try process.run()
        self.process = process
        for _ in 0..<1200 where !Self.accepts(port: port) {
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        guard Self.accepts(port: port) else {
            kill(process.processIdentifier, SIGKILL)
            throw RPCError.internal("loacld did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
    }

    /// SIGKILL: no drain, no goodbye.
    func kill9() async {
        kill(process.processIdentifier, SIGKILL)
        await exited()
    }

    /// Waits for the process to end without blocking a thread of the shared test pool (which
    /// would hold every other suite's tasks back).
    func exited() async {
        while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
    }

    func stop() async {
        if process.isRunning {
            process.terminate()
            await exited()
        }
        try? FileManager.default.removeItem(atPath: log)
    }

    /// Runs `body` with a started loacld, and always stops it.
    static func with<T>(_ h: Harness, upstream: FakeOpenAIServer, arguments: [String],
                        _ body: (RunningLoacld) async throws -> T) async throws -> T {
        let loacld = try await RunningLoacld(h, upstream: upstream, arguments: arguments)
        do {
            let result = try await body(loacld)
            await loacld.stop()
            return result
        } catch {
            await loacld.stop()
            throw error
        }
    }

    static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

@Suite("Runs when their server dies")
struct RunCrashTests {
    /// A run on a loacld process that is killed (-9) mid-reply: a follower on the surviving
    /// server replays what was persisted, and the survivor ends the run `incomplete`
    /// (server_lost) with exactly that text stored, once the lease ran out.
    @Test func aKilledServersRunEndsServerLostWithItsPersistedText() async throws {
        var configuration = RunEngine.Configuration()
        configuration.lease = .seconds(2)
        try await withRuns(reply: RunTests.paced(2000, every: .milliseconds(10)), runs: configuration) { rig in
            try await RunningLoacld.with(rig.harness, upstream: rig.upstream, arguments: ["--run-lease", "2"]) { a in
            let onA = try LOACLClientConnection(configuration: ClientConfiguration(endpoint: .tcp(host: "127.0.0.1", port: a.port)))
            let seen = try await rig.send("A long story", on: onA) { $0.deltaCount == 30 }
            let runID = seen.runID
            // Wait until some of it is persisted (a flush every 100 ms), then kill A.
            var persisted: UInt64 = 0
            for _ in 0..<1500 where persisted < 10 {
                persisted = try await rig.getRun(runID, on: rig.b).lastSequence
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(persisted >= 10)
            await a.kill9()
            await onA.close()

            // B follows from the start: it gets the persisted events, then (once B ends the lost
            // run) the final one.
            let followed = Task { try await rig.follow(runID, on: rig.b.client) }
            let keeper = rig.b.services.leaseKeeper()
            var run = try await rig.getRun(runID, on: rig.b)
            for _ in 0..<1200 where !run.status.isFinal {
                try await keeper.sweep()
                try await Task.sleep(for: .milliseconds(50))
                run = try await rig.getRun(runID, on: rig.b)
            }
            #expect(run.status == .incomplete && run.incompleteReason == "server_lost", "\(run)")
            let events = try await followed.value
            #expect(events.map(\.sequenceNumber) == (1...UInt64(events.count)).map { $0 }, "contiguous")
            #expect(events.finalRun?.status == .incomplete)
            // What was stored is what was persisted, which is what the client saw first.
            let stored = try #require(try await rig.storedReply(run.replyMessageID))
            let text = try #require(stored["content"])
            #expect(text == events.deltaText && !text.isEmpty)
            #expect(text.hasPrefix(seen.deltaText) || seen.deltaText.hasPrefix(text))
            #expect(stored["incomplete_reason"] == "server_lost")
            // The thread takes the next message.
            let next = try await rig.send("again", on: rig.b.client) { $0.deltaCount == 1 }
            _ = try await rig.cancel(next.runID, on: rig.b)
            }
        }
    }
}

@Suite("Runs across loacld processes")
struct RunProcessTests {
    /// A run on a loacld process, followed and stopped from the in-process server B: the
    /// cancel crosses processes through PostgreSQL only, the upstream request ends, the text
    /// so far is stored and both streams end `cancelled`.
    @Test func aRunOnAnotherProcessIsFollowedAndCancelledFromHere() async throws {
        try await withRuns(reply: RunTests.paced(3000, every: .milliseconds(10))) { rig in
            try await RunningLoacld.with(rig.harness, upstream: rig.upstream, arguments: []) { a in
                let onA = try LOACLClientConnection(configuration: ClientConfiguration(endpoint: .tcp(host: "127.0.0.1", port: a.port)))
                let runID = Mutex("")
                let caller = Task {
                    try await rig.send("A long story", on: onA) { events in
                        runID.withLock { $0 = events.runID }
                        return false
                    }
                }
                for _ in 0..<6000 where runID.withLock({ $0 }).isEmpty { try await Task.sleep(for: .milliseconds(10)) }
                let id = runID.withLock { $0 }
                let followed = Mutex(0)
                let follower = Task {
                    try await rig.follow(id, on: rig.b.client) { events in
                        followed.withLock { $0 = events.deltaCount }
                        return false
                    }
                }
                for _ in 0..<6000 where followed.withLock({ $0 }) < 5 { try await Task.sleep(for: .milliseconds(10)) }
                let cancelled = try await rig.cancel(id, on: rig.b)
                #expect(cancelled.status == .cancelled)
                let onB = try await follower.value
                let onACaller = try await caller.value
                await onA.close()
                #expect(onB.finalRun?.status == .cancelled && onACaller.finalRun?.status == .cancelled)
                #expect(onB.map(\.sequenceNumber) == (1...UInt64(onB.count)).map { $0 })
                let stored = try #require(try await rig.storedReply(cancelled.replyMessageID))
                #expect(stored["content"] == onB.deltaText && stored["incomplete_reason"] == "cancelled")
                #expect(await rig.upstream.waitForClosedConnections(1, timeout: .seconds(10)))
            }
        }
    }
}

@Suite("Runs when their server shuts down")
struct RunShutdownTests {
    /// SIGTERM: loacld stops taking calls, lets the run go on for the grace period, then stops
    /// it (`incomplete`, reason `shutdown`) with its text stored, and exits 0.
    @Test func sigtermStopsARunThatOutlastsTheGraceAndStoresIt() async throws {
        try await withRuns(reply: RunTests.paced(2000, every: .milliseconds(10))) { rig in
            try await RunningLoacld.with(rig.harness, upstream: rig.upstream, arguments: ["--grace-period", "1"]) { a in
            let onA = try LOACLClientConnection(configuration: ClientConfiguration(endpoint: .tcp(host: "127.0.0.1", port: a.port)))
            let seen = try await rig.send("A very long story", on: onA) { $0.deltaCount == 5 }
            await onA.close()
            kill(a.process.processIdentifier, SIGTERM)
            await a.exited()
            #expect(a.process.terminationStatus == 0)
            let run = try await rig.getRun(seen.runID, on: rig.b)
            #expect(run.status == .incomplete && run.incompleteReason == "shutdown", "\(run)")
            let stored = try #require(try await rig.storedReply(run.replyMessageID))
            #expect(stored["incomplete_reason"] == "shutdown" && stored["content"]?.hasPrefix(seen.deltaText) == true)
            // Every event was persisted: the run replays in full, ending with its final status.
            let replay = try await rig.follow(run.id, on: rig.b.client)
            #expect(replay.map(\.sequenceNumber) == (1...run.lastSequence).map { $0 } && replay.finalRun?.status == .incomplete)
            #expect(replay.deltaText == stored["content"])
            }
        }
    }
}

extension Loacl_V1_RunStatus {
    var isFinal: Bool { rawValue >= Self.completed.rawValue }
}
