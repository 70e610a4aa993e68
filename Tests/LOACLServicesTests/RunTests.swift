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
import Logging
import Synchronization
import Testing

// Runs end to end: replies that outlive their caller, resumed and cancelled from any server.
// Real PostgreSQL, real sockets, two servers sharing one database, and the fake OpenAI upstream
// paced like a model (one delta every few milliseconds).

/// One loacld-like server of the rig: its own pool, data services (and so run engine), socket
/// and client connection.
struct RunServer {
    let pool: PostgresPool
    let services: DataServices
    let server: RPCServer
    let port: Int
    let client: LOACLClientConnection

    /// `wrap`: what the server's Responses provider is (the benchmarks time its deltas).
    static func start(_ h: Harness, upstream: FakeOpenAIServer, factory: ChatProviderFactory,
                      runs: RunEngine.Configuration, wrap: (any ChatProvider) -> any ChatProvider = { $0 }) async throws -> RunServer {
        let pool = PostgresPool(configuration: .init(conninfo: h.cluster.conninfo(database: h.databaseName, user: "loacl_app"),
                                                     maxConnections: 6, setup: Database.sessionSetup), logger: h.logs.logger)
        let services = DataServices(
            pool: pool, vault: try TenantKeyVault(masterKey: Harness.masterKey), jwtVerifier: JWTVerifier(secret: Harness.jwtSecret),
            providers: ChatProviderRegistry([factory.offline, wrap(factory.responses), factory.chat], defaultName: "offline"),
            storage: FileStorage(root: h.storageRoot, maxFileSize: 64 * 1024), runs: runs, logger: h.logs.logger)
        var methods = MethodTable()
        methods.register(contentsOf: services.methods)
        let server = try RPCServer(configuration: ServerConfiguration(listeners: [.tcp(host: "127.0.0.1", port: 0)]), methods: methods,
                                   interceptors: [services.authInterceptor], observers: [LoggingObserver(logger: h.logs.logger)], logger: h.logs.logger)
        guard case .tcp(_, let port)? = try await server.start().first else { throw RPCError.internal("no port") }
        let client = try LOACLClientConnection(configuration: ClientConfiguration(endpoint: .tcp(host: "127.0.0.1", port: port)))
        return RunServer(pool: pool, services: services, server: server, port: port, client: client)
    }

    func stop() async {
        await client.close()
        await server.shutdownGracefully()
        services.runs.close()
        await pool.close()
    }

    /// A new connection to this server (the reconnect after a drop).
    func connect() throws -> LOACLClientConnection {
        try LOACLClientConnection(configuration: ClientConfiguration(endpoint: .tcp(host: "127.0.0.1", port: port)))
    }
}

/// Two servers (A and B) on one database, a fake upstream, and a guest with a thread of an
/// assistant on the Responses API (or as `withRuns` configures it).
struct RunRig {
    let harness: Harness
    let upstream: FakeOpenAIServer
    let a: RunServer
    let b: RunServer
    let guest: Caller
    let thread: Loacl_V1_Thread
    /// The API key of the tenant that owns the assistant.
    var tenantKey: String?

    /// A reply of `count` words, one delta every `gap`.
    static func words(_ count: Int) -> [String] { (1...count).map { "w\($0) " } }

    /// A generous deadline: only a safety net (a loaded machine runs many suites at once).
    func options(_ caller: Caller? = nil, timeout: Duration = .seconds(120)) -> CallOptions {
        CallOptions(timeout: timeout, metadata: (caller ?? guest).metadata)
    }

    func sendRequest(_ text: String, cancelOnDisconnect: Bool = false) -> Loacl_V1_SendMessageRequest {
        var request = Loacl_V1_SendMessageRequest()
        request.threadID = thread.id
        request.content = text
        request.cancelOnDisconnect = cancelOnDisconnect
        return request
    }

    /// SendMessage on `connection`, read until `stop` says so (then the call is left); returns
    /// the events read.
    func send(_ text: String, on connection: LOACLClientConnection, cancelOnDisconnect: Bool = false,
              until stop: @Sendable ([Loacl_V1_SendMessageEvent]) -> Bool = { _ in false }) async throws -> [Loacl_V1_SendMessageEvent] {
        try await connection.serverStreaming(MS.sendMessage, sendRequest(text, cancelOnDisconnect: cancelOnDisconnect), options: options(),
                                             responseType: Loacl_V1_SendMessageEvent.self) { try await Self.collect($0, until: stop) }
    }

    /// The events of `stream` until it ends or `stop` says so.
    static func collect(_ stream: ResponseStream<Loacl_V1_SendMessageEvent>,
                        until stop: ([Loacl_V1_SendMessageEvent]) -> Bool) async throws -> [Loacl_V1_SendMessageEvent] {
        var events: [Loacl_V1_SendMessageEvent] = []
        for try await event in stream {
            events.append(event)
            if stop(events) { break }
        }
        return events
    }

    /// StreamRun on `connection` from `after`, read until the stream ends or `stop` says so.
    func follow(_ runID: String, after: UInt64 = 0, on connection: LOACLClientConnection, as caller: Caller? = nil,
                until stop: @Sendable ([Loacl_V1_SendMessageEvent]) -> Bool = { _ in false }) async throws -> [Loacl_V1_SendMessageEvent] {
        var request = Loacl_V1_StreamRunRequest()
        request.runID = runID
        request.afterSequence = after
        return try await connection.serverStreaming(MS.streamRun, request, options: options(caller),
                                                    responseType: Loacl_V1_SendMessageEvent.self) { try await Self.collect($0, until: stop) }
    }

    func getRun(_ id: String, on server: RunServer? = nil, as caller: Caller? = nil) async throws -> Loacl_V1_Run {
        let response: Loacl_V1_GetRunResponse = try await (server ?? a).client.unary(
            MS.getRun, request(Loacl_V1_GetRunRequest.self) { $0.runID = id }, options: options(caller))
        return response.run
    }

    func cancel(_ id: String, on server: RunServer) async throws -> Loacl_V1_Run {
        let response: Loacl_V1_CancelRunResponse = try await server.client.unary(
            MS.cancelRun, request(Loacl_V1_CancelRunRequest.self) { $0.runID = id }, options: options())
        return response.run
    }

    /// Polls until the run has ended (for at most a minute).
    func waitForEnd(_ id: String) async throws -> Loacl_V1_Run {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let run = try await getRun(id)
            if run.status.rawValue >= Loacl_V1_RunStatus.completed.rawValue { return run }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try await getRun(id)
    }

    func storedReply(_ id: String) async throws -> PostgresRow? {
        try await harness.superuser("""
            SELECT content, metadata->>'incomplete' AS incomplete, metadata->>'incomplete_reason' AS incomplete_reason
            FROM loacl.messages WHERE id = $1
            """, [id]).namedRows.first
    }
}

/// Runs `body` with a rig whose upstream answers every reply request with `reply`.
func withRuns(_ endpoint: UpstreamEndpoint = .responses, reply: @escaping @Sendable (Int) -> FakeOpenAIServer.Reply,
              runs: RunEngine.Configuration = .init(), wrap: (any ChatProvider) -> any ChatProvider = { $0 },
              assistant configure: (inout Loacl_V1_CreateAssistantRequest) -> Void = { _ in },
              _ body: (RunRig) async throws -> Void) async throws {
    try await withHarness { h in
        let script = UpstreamScript(endpoint, chat: reply)
        let upstream = try await FakeOpenAIServer.start(script.respond)
        // Generous connect and read timeouts, as in UpstreamRig (no test here is about them): every
        // suite starts at once on two cores, and a 2 s connect to the local fake server is not
        // always enough then.
        let factory = ChatProviderFactory(configuration: UpstreamConfiguration(
            responsesBaseURL: upstream.baseURL, chatBaseURL: upstream.baseURL, connectTimeout: .seconds(10),
            readTimeout: .seconds(30), requestTimeout: .seconds(60), retry: UpstreamRig.fastRetry))
        var started: [RunServer] = []
        do {
            let a = try await RunServer.start(h, upstream: upstream, factory: factory, runs: runs, wrap: wrap)
            started.append(a)
            let b = try await RunServer.start(h, upstream: upstream, factory: factory, runs: runs, wrap: wrap)
            started.append(b)
            let tenantKey = "sk-test-" + Base64URL.encode(SecureRandom.bytes(18))
            let assistant = try await h.createAssistant(.tenant(tenantKey)) {
                $0.configuration.provider = endpoint.rawValue
                configure(&$0)
            }
            let (guest, _) = try await h.startGuest(assistant.id)
            let thread = try await h.createThread(guest)
            try await body(RunRig(harness: h, upstream: upstream, a: a, b: b, guest: guest, thread: thread, tenantKey: tenantKey))
        } catch {
            if ProcessInfo.processInfo.environment["LOACL_TEST_DUMP_LOGS"] != nil {
                let text = h.logs.lines.withLockedValue({ $0 }).joined(separator: "\n")
                try? text.write(toFile: "/tmp/runlogs-\(UUID().uuidString.prefix(6)).txt", atomically: true, encoding: .utf8)
            }
            for server in started { await server.stop() }
            try? await factory.shutdown()
            await upstream.stop()
            throw error
        }
        for server in started { await server.stop() }
        try? await factory.shutdown()
        await upstream.stop()
        if ProcessInfo.processInfo.environment["LOACL_TEST_DUMP_LOGS"] != nil {
            for line in h.logs.lines.withLockedValue({ $0 }) where line.contains("rror") { print("LOG:", line.prefix(600)) }
        }
    }
}

extension [Loacl_V1_SendMessageEvent] {
    var deltaText: String { compactMap { if case .delta(let d)? = $0.event { d.text } else { nil } }.joined() }
    var deltaCount: Int { filter { if case .delta? = $0.event { true } else { false } }.count }
    var finalRun: Loacl_V1_Run? { last.flatMap { if case .run(let r)? = $0.event, r.status.rawValue >= 4 { r } else { nil } } }
    var runID: String { first?.runID ?? "" }
}

@Suite("Runs: replies that outlive the caller, resumed and cancelled from any server")
struct RunTests {
    static func paced(_ words: Int, every gap: Duration = .milliseconds(15)) -> @Sendable (Int) -> FakeOpenAIServer.Reply {
        { _ in UpstreamEndpoint.responses.reply(RunRig.words(words), input: 12, output: words, delay: gap) }
    }

    @Test func aDroppedCallerResumesWithExactlyTheRest() async throws {
        try await withRuns(reply: Self.paced(40)) { rig in
            // Read up to the third delta, then drop the whole connection.
            let first = try rig.a.connect()
            let before = try await rig.send("Tell me a story", on: first) { $0.deltaCount == 3 }
            await first.close()
            let third = try #require(before.last)
            #expect(before.deltaCount == 3 && third.sequenceNumber == 5) // run, user message, three deltas

            // Reconnect and resume after what was seen.
            let second = try rig.a.connect()
            let after = try await rig.follow(before.runID, after: third.sequenceNumber, on: second)
            await second.close()
            let all = before + after
            #expect(all.map(\.sequenceNumber) == (1...UInt64(all.count)).map { $0 }, "no gap, no duplicate")
            let final = try #require(after.finalRun)
            #expect(final.status == .completed)
            let stored = try #require(try await rig.storedReply(final.replyMessageID))
            #expect(all.deltaText == RunRig.words(40).joined() && stored["content"] == all.deltaText)
            #expect(stored["incomplete"] == nil)
        }
    }

    @Test func aRunGoesOnWithoutItsCallerAndIsStoredComplete() async throws {
        try await withRuns(reply: Self.paced(30)) { rig in
            let events = try await rig.send("Go on without me", on: rig.a.client) { $0.deltaCount == 2 }
            let run = try await rig.waitForEnd(events.runID)
            #expect(run.status == .completed && run.outputTokens == 30)
            #expect(try await rig.storedReply(run.replyMessageID)?["content"] == RunRig.words(30).joined())
            // Every event is persisted: the ended run replays in full from PostgreSQL.
            let replay = try await rig.follow(run.id, on: rig.b.client)
            #expect(replay.map(\.sequenceNumber) == (1...run.lastSequence).map { $0 })
            #expect(replay.deltaText == RunRig.words(30).joined() && replay.finalRun?.status == .completed)
        }
    }

    @Test func aDeadlineEndsTheCallNotTheRun() async throws {
        try await withRuns(reply: Self.paced(40, every: .milliseconds(250))) { rig in
            let error = await refusal {
                _ = try await rig.a.client.serverStreaming(MS.sendMessage, rig.sendRequest("slowly"), options: CallOptions(
                    timeout: .seconds(4), metadata: rig.guest.metadata), responseType: Loacl_V1_SendMessageEvent.self) { stream in
                    for try await _ in stream {}
                }
            }
            #expect(error?.code == .deadlineExceeded)
            let runs: Loacl_V1_ListRunsResponse = try await rig.a.client.unary(
                MS.listRuns, request(Loacl_V1_ListRunsRequest.self) { $0.threadID = rig.thread.id }, options: rig.options())
            let id = try #require(runs.runs.first?.id)
            let run = try await rig.waitForEnd(id)
            #expect(run.status == .completed)
            #expect(try await rig.storedReply(run.replyMessageID)?["content"] == RunRig.words(40).joined())
        }
    }

    @Test func startOnOneServerResumeAndCancelOnAnother() async throws {
        try await withRuns(reply: Self.paced(3000, every: .milliseconds(10))) { rig in
            let onA = try await rig.send("A long answer please", on: rig.a.client) { $0.deltaCount == 2 }
            let runID = onA.runID
            // B replays what A generated so far and then follows live.
            let followed = Mutex<[Loacl_V1_SendMessageEvent]>([])
            let follower = Task {
                try await rig.follow(runID, on: rig.b.client) { events in
                    followed.withLock { $0 = events }
                    return false
                }
            }
            // Wait until B's follower gets live events, then cancel on B.
            for _ in 0..<6000 where followed.withLock({ $0.deltaCount }) < 10 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(followed.withLock { $0.deltaCount } >= 10)
            let cancelled = try await rig.cancel(runID, on: rig.b)
            #expect(cancelled.status == .cancelled)
            let onB = try await follower.value
            #expect(onB.map(\.sequenceNumber) == (1...UInt64(onB.count)).map { $0 }, "B saw the whole run in order")
            #expect(onB.finalRun?.status == .cancelled)
            // The text so far is stored, and it is exactly what B was shown.
            let stored = try #require(try await rig.storedReply(cancelled.replyMessageID))
            #expect(stored["content"] == onB.deltaText && stored["incomplete"] == "true" && stored["incomplete_reason"] == "cancelled")
            #expect(onB.deltaCount < 3000)
            // The upstream request was cancelled (the fake upstream sees its connection close).
            #expect(await rig.upstream.waitForClosedConnections(1, timeout: .seconds(10)))
        }
    }

    @Test func cancelFromASecondConnectionEndsTheCallersStream() async throws {
        try await withRuns(reply: Self.paced(3000, every: .milliseconds(10))) { rig in
            let runID = Mutex("")
            let caller = Task {
                try await rig.send("Keep talking", on: rig.a.client) { events in
                    runID.withLock { $0 = events.runID }
                    return false
                }
            }
            for _ in 0..<6000 where runID.withLock({ $0 }).isEmpty { try await Task.sleep(for: .milliseconds(10)) }
            let second = try rig.a.connect()
            let response: Loacl_V1_CancelRunResponse = try await second.unary(
                MS.cancelRun, request(Loacl_V1_CancelRunRequest.self) { $0.runID = runID.withLock { $0 } }, options: rig.options())
            await second.close()
            #expect(response.run.status == .cancelled)
            let events = try await caller.value
            #expect(events.finalRun?.status == .cancelled, "the caller's stream ends with the run")
            // A run that ended cannot be cancelled again.
            await expectCode(.failedPrecondition) { _ = try await rig.cancel(runID.withLock { $0 }, on: rig.a) }
        }
    }

    @Test func aSecondSendDuringARunIsRefusedNamingTheRun() async throws {
        try await withRuns(reply: Self.paced(3000, every: .milliseconds(10))) { rig in
            let events = try await rig.send("first", on: rig.a.client) { $0.deltaCount == 1 }
            let error = await refusal { _ = try await rig.send("second", on: rig.b.client) }
            #expect(error?.code == .failedPrecondition && error?.message.contains(events.runID) == true, "\(String(describing: error))")
            _ = try await rig.cancel(events.runID, on: rig.a)
            // Once it ended, the thread takes the next message.
            let next = try await rig.send("third", on: rig.a.client) { $0.deltaCount == 1 }
            #expect(next.runID != events.runID)
            _ = try await rig.cancel(next.runID, on: rig.a)
        }
    }

    @Test func aSlowFollowerHoldsBackNeitherTheRunNorOtherFollowers() async throws {
        // 3000 deltas of ~100 bytes: far more than a stream's flow-control window and than a
        // run's in-memory window, so the slow follower is also served from PostgreSQL.
        let big = (1...3000).map { String(format: "%05d ", $0) + String(repeating: "x", count: 94) }
        try await withRuns(reply: { _ in UpstreamEndpoint.responses.reply(big, input: 5, output: 3000, delay: .zero) }) { rig in
            let events = try await rig.send("Everything at once", on: rig.a.client) { $0.count == 1 }
            let runID = events.runID
            // The slow follower reads one event, then nothing until the run has ended.
            let quickDone = Mutex(false)
            let slowRead = Mutex(0)
            let slow = Task {
                var request = Loacl_V1_StreamRunRequest()
                request.runID = runID
                return try await rig.a.client.serverStreaming(MS.streamRun, request, options: rig.options(),
                                                              responseType: Loacl_V1_SendMessageEvent.self) { stream in
                    var events: [Loacl_V1_SendMessageEvent] = []
                    for try await event in stream {
                        events.append(event)
                        slowRead.withLock { $0 = events.count }
                        while events.count == 1, !quickDone.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
                    }
                    return events
                }
            }
            for _ in 0..<6000 where slowRead.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(5)) }
            // Meanwhile the run ends and a quick follower on the other server gets all of it.
            let quick = try await rig.follow(runID, on: rig.b.client)
            #expect(quick.deltaText == big.joined() && quick.finalRun?.status == .completed)
            let run = try await rig.waitForEnd(runID)
            #expect(run.status == .completed)
            #expect(slowRead.withLock { $0 } == 1, "the slow follower was still at its first event")
            quickDone.withLock { $0 = true }
            let all = try await slow.value
            #expect(all.map(\.sequenceNumber) == (1...run.lastSequence).map { $0 } && all.deltaText == big.joined())
        }
    }

    @Test func runsAreVisibleExactlyToWhoSeesTheThread() async throws {
        try await withRuns(reply: Self.paced(5)) { rig in
            let events = try await rig.send("mine", on: rig.a.client)
            let run = try #require(events.finalRun)
            let stranger = try await rig.harness.startGuest(try await rig.harness.createAssistant(Caller.newTenant()).id).0
            await expectCode(.notFound) { _ = try await rig.getRun(run.id, as: stranger) }
            await expectCode(.notFound) { _ = try await rig.follow(run.id, on: rig.b.client, as: stranger) }
            await expectCode(.notFound) {
                let _: Loacl_V1_CancelRunResponse = try await rig.a.client.unary(
                    MS.cancelRun, request(Loacl_V1_CancelRunRequest.self) { $0.runID = run.id }, options: rig.options(stranger))
            }
            await expectCode(.notFound) {
                let _: Loacl_V1_ListRunsResponse = try await rig.a.client.unary(
                    MS.listRuns, request(Loacl_V1_ListRunsRequest.self) { $0.threadID = rig.thread.id }, options: rig.options(stranger))
            }
            await expectCode(.notFound) { _ = try await rig.getRun(UUID().uuidString.lowercased()) }
            await expectCode(.invalidArgument) { _ = try await rig.getRun("not-a-uuid") }
            // Past the end of an ended run.
            await expectCode(.outOfRange) { _ = try await rig.follow(run.id, after: run.lastSequence + 1, on: rig.a.client) }
            #expect(try await rig.follow(run.id, after: run.lastSequence, on: rig.a.client).isEmpty)
        }
    }

    @Test func listRunsNewestFirstInPages() async throws {
        try await withRuns(reply: Self.paced(2, every: .milliseconds(1))) { rig in
            var ids: [String] = []
            for n in 0..<3 { ids.append(try await rig.send("message \(n)", on: rig.a.client).runID) }
            var seen: [String] = []
            var token = ""
            repeat {
                let page: Loacl_V1_ListRunsResponse = try await rig.a.client.unary(MS.listRuns, request(Loacl_V1_ListRunsRequest.self) {
                    $0.threadID = rig.thread.id
                    $0.pageSize = 2
                    $0.pageToken = token
                }, options: rig.options())
                #expect(page.runs.allSatisfy { $0.status == .completed && $0.provider == "openai-responses" })
                seen += page.runs.map(\.id)
                token = page.nextPageToken
            } while !token.isEmpty
            #expect(seen == ids.reversed())
        }
    }

    @Test func followersPerRunAreLimited() async throws {
        var configuration = RunEngine.Configuration()
        configuration.maxFollowers = 2
        try await withRuns(reply: Self.paced(3000, every: .milliseconds(10)), runs: configuration) { rig in
            // The caller (SendMessage) and one StreamRun follow; a third follower does not fit.
            // Both stay until the third has been tried (the upstream keeps its pace on its own
            // timers however slowly this test's tasks get a thread).
            let runID = Mutex("")
            let callerSaw = Mutex(0)
            let thirdTried = SharedFlag()
            let caller = Task {
                try await rig.send("many eyes", on: rig.a.client) { events in
                    runID.withLock { $0 = events.runID }
                    callerSaw.withLock { $0 = events.deltaCount }
                    return thirdTried.isSet
                }
            }
            for _ in 0..<6000 where callerSaw.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(5)) }
            let id = runID.withLock { $0 }
            let followerSaw = Mutex(0)
            let follower = Task {
                try await rig.follow(id, on: rig.a.client) { events in
                    followerSaw.withLock { $0 = events.deltaCount }
                    return thirdTried.isSet
                }
            }
            for _ in 0..<6000 where followerSaw.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(5)) }
            let third = await refusal { _ = try await rig.follow(id, on: rig.a.client) { _ in true } }
            thirdTried.set()
            #expect(third?.code == .resourceExhausted, "\(String(describing: third))")
            // The two that fit were served.
            let callerEvents = try await caller.value
            let followerEvents = try await follower.value
            #expect(callerEvents.deltaCount > 0 && followerEvents.deltaCount > 0)
            _ = try await rig.cancel(id, on: rig.a)
        }
    }

    @Test func shutdownStopsRunsThatOutlastTheGraceAndStoresThem() async throws {
        var configuration = RunEngine.Configuration()
        configuration.drainGrace = .milliseconds(100)
        try await withRuns(reply: Self.paced(3000, every: .milliseconds(10)), runs: configuration) { rig in
            let events = try await rig.send("a long one", on: rig.a.client) { $0.deltaCount == 3 }
            await rig.a.services.runs.drain()
            let run = try await rig.waitForEnd(events.runID)
            #expect(run.status == .incomplete && run.incompleteReason == "shutdown")
            let stored = try #require(try await rig.storedReply(run.replyMessageID))
            #expect(stored["incomplete_reason"] == "shutdown" && stored["content"]?.hasPrefix("w1 w2 w3 ") == true)
        }
    }
}

/// A flag several tasks read and one sets.
private final class SharedFlag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}
