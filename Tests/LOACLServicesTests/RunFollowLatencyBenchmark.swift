import Foundation
import LOACLClient
import LOACLFakeOpenAI
import LOACLMessages
import LOACLPostgres
import LOACLServices
import LOACLUpstream
import Synchronization
import Testing

/// Issue 15's run benchmarks (run by bench/run-follow-latency.sh; skipped unless LOACL_BENCH=1):
/// two servers A and B on one database in one process (RunTests' rig), the fake OpenAI upstream
/// paced like a model.
/// - How long after A's provider got a delta from the upstream a follower on B (StreamRun,
///   resumed from the start while the run streams) receives it, against A's own caller.
/// - PostgreSQL statements and writing transactions per reply, with and without a follower on
///   the other server.
@Suite("Run follow latency benchmark", .serialized, .enabled(if: ProcessInfo.processInfo.environment["LOACL_BENCH"] == "1"))
struct RunFollowLatencyBenchmark {
    static let env = ProcessInfo.processInfo.environment
    /// Runs measured (LOACL_BENCH_FOLLOW_RUNS), deltas per run (…_DELTAS), ms between upstream
    /// events (…_GAP_MS), and the delta on A after which B starts following (…_JOIN).
    static let runs = Int(env["LOACL_BENCH_FOLLOW_RUNS"] ?? "") ?? 5
    static let deltas = Int(env["LOACL_BENCH_FOLLOW_DELTAS"] ?? "") ?? 300
    static let gap = Duration.milliseconds(Int(env["LOACL_BENCH_FOLLOW_GAP_MS"] ?? "") ?? 20)
    static let join = Int(env["LOACL_BENCH_FOLLOW_JOIN"] ?? "") ?? 5

    /// Deltas unique across the rig's replies ("r<reply>w<n> "), so each can be timed by its text,
    /// one every `gap`; the events after the last delta go in one chunk with it (as OpenAI sends
    /// them: the reply ends right after its last delta).
    static func reply(deltas: Int) -> @Sendable (Int) -> FakeOpenAIServer.Reply {
        { index in
            let reply = UpstreamEndpoint.responses.reply((0..<deltas).map { "r\(index)w\($0) " }, input: 12, output: deltas, delay: gap)
            guard case .stream(let chunks, let delay, let end, let first) = reply,
                  let last = chunks.lastIndex(where: { $0.contains("response.output_text.delta") }) else { return reply }
            return .stream(Array(chunks[..<last]) + [chunks[last...].joined()], delay: delay, end: end, firstDelay: first)
        }
    }

    typealias Received = (sequence: UInt64, delta: String?, at: ContinuousClock.Instant)

    /// Reads `stream` to its end, timing each event; `seen` gets the events so far.
    static func timed(_ stream: ResponseStream<Loacl_V1_SendMessageEvent>,
                      seen: ([Received], String) -> Void = { _, _ in }) async throws -> [Received] {
        var received: [Received] = []
        for try await event in stream {
            let at = ContinuousClock.now
            let delta: String? = if case .delta(let d)? = event.event { d.text } else { nil }
            received.append((event.sequenceNumber, delta, at))
            seen(received, event.runID)
        }
        return received
    }

    /// SendMessage on A in a task of its own, every event timed; returns once A's caller has
    /// `join` deltas, with the run's id.
    static func sendOnA(_ rig: RunRig, _ text: String, joinAfter join: Int) async throws -> (Task<[Received], any Error>, String) {
        let (joined, joining) = AsyncStream<String>.makeStream()
        let onA = Task {
            defer { joining.finish() }
            return try await rig.a.client.serverStreaming(MS.sendMessage, rig.sendRequest(text), options: rig.options(timeout: .seconds(120)),
                                                          responseType: Loacl_V1_SendMessageEvent.self) { stream in
                try await Self.timed(stream) { events, runID in
                    if events.count(where: { $0.delta != nil }) == join { joining.yield(runID) }
                }
            }
        }
        var ids = joined.makeAsyncIterator()
        let first = await ids.next()
        return (onA, try #require(first))
    }

    @Test func aFollowerOnTheOtherServerGetsEachDeltaSoonAfterTheRunningServer() async throws {
        let times = DeltaTimes()
        try await withRuns(reply: Self.reply(deltas: Self.deltas), wrap: { TimedProvider(base: $0, times: times) }) { rig in
            var remote: [Double] = [], steady: [Double] = [], local: [Double] = [], afterA: [Double] = []
            var catchUp: [Double] = []
            for round in 0..<Self.runs {
                let (onA, runID) = try await Self.sendOnA(rig, "Round \(round): a long answer", joinAfter: Self.join)
                let followStarted = ContinuousClock.now
                var request = Loacl_V1_StreamRunRequest()
                request.runID = runID
                let onB = try await rig.b.client.serverStreaming(MS.streamRun, request, options: rig.options(timeout: .seconds(120)),
                                                                 responseType: Loacl_V1_SendMessageEvent.self) { try await Self.timed($0) }
                let aEvents = try await onA.value
                #expect(onB.map(\.sequence) == aEvents.map(\.sequence), "B got every event once, in order")
                let aAt = Dictionary(aEvents.map { ($0.sequence, $0.at) }, uniquingKeysWith: { a, _ in a })
                for event in aEvents {
                    guard let text = event.delta, let got = times[text] else { continue }
                    local.append((event.at - got).ms)
                }
                var lastCaughtUp: ContinuousClock.Instant?
                for event in onB {
                    guard let text = event.delta, let got = times[text] else { continue }
                    if got < followStarted {
                        // Already generated when B was asked: replayed (PostgreSQL, then the window).
                        lastCaughtUp = event.at
                        continue
                    }
                    let latency = (event.at - got).ms
                    remote.append(latency)
                    if got >= followStarted + .seconds(1) { steady.append(latency) }
                    if let a = aAt[event.sequence] { afterA.append((event.at - a).ms) }
                }
                if let lastCaughtUp { catchUp.append((lastCaughtUp - followStarted).ms) }
            }
            func line(_ name: String, _ values: [Double]) {
                print(String(format: "BENCH follow %@ p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f n=%d", name,
                             UpstreamLatencyBenchmark.pct(values, 0.5), UpstreamLatencyBenchmark.pct(values, 0.9),
                             UpstreamLatencyBenchmark.pct(values, 0.99), UpstreamLatencyBenchmark.pct(values, 1), values.count))
            }
            print("BENCH follow runs=\(Self.runs) deltas=\(Self.deltas) gap=\(Self.gap) B joins after A's delta \(Self.join)")
            line("local (A's SendMessage caller) after A's provider got the delta:", local)
            line("remote (B's StreamRun caller) after A's provider got the delta, every delta generated after B asked:", remote)
            line("remote, deltas generated >= 1 s after B asked:", steady)
            line("remote after A's own caller got the same event:", afterA)
            line("B's replay of what was generated before it asked took:", catchUp)
            print("BENCH follow target: remote p99 <= 50 ms")
        }
    }

    /// CancelRun → the upstream request ends: from the call's start until the fake upstream sees
    /// the reply's connection close, for a run on the same server (A) and on the other one (B);
    /// LOACL_BENCH_CANCEL_ROUNDS rounds each (default 20). Target: within 100 ms.
    @Test func cancelReachesTheUpstreamQuickly() async throws {
        let rounds = Int(Self.env["LOACL_BENCH_CANCEL_ROUNDS"] ?? "") ?? 20
        try await withRuns(reply: Self.reply(deltas: 5_000)) { rig in
            var here: [Double] = []
            var elsewhere: [Double] = []
            for round in 0..<(2 * rounds) {
                let started = try await rig.send("round \(round)", on: rig.a.client) { $0.deltaCount == 3 }
                let closedBefore = rig.upstream.closedConnections
                let server = round % 2 == 0 ? rig.a : rig.b
                let clock = ContinuousClock()
                let start = clock.now
                let cancel = Task { try await rig.cancel(started.runID, on: server) }
                while rig.upstream.closedConnections == closedBefore, clock.now - start < .seconds(10) {
                    try await Task.sleep(for: .milliseconds(1))
                }
                let elapsed = (clock.now - start).ms
                _ = try await cancel.value
                if round % 2 == 0 { here.append(elapsed) } else { elsewhere.append(elapsed) }
            }
            for (name, values) in [("same server", here), ("other server", elsewhere)] {
                print(String(format: "BENCH cancel %@: CancelRun to upstream closed p50_ms=%.1f p99_ms=%.1f max_ms=%.1f n=%d (target <= 100 ms)",
                             name, UpstreamLatencyBenchmark.pct(values, 0.5), UpstreamLatencyBenchmark.pct(values, 0.99),
                             UpstreamLatencyBenchmark.pct(values, 1), values.count))
            }
        }
    }

    /// What PostgreSQL does for one reply streaming for about 2 s (100 deltas, one every 20 ms
    /// by default): statements by kind (pg_stat_statements, when the cluster preloads it),
    /// transactions that were given a transaction id (the next xid before and after), and the
    /// reply's rows in loacl.run_events; once with nobody following elsewhere, once with a
    /// follower on B.
    @Test func postgresWritesPerReply() async throws {
        let deltas = Int(Self.env["LOACL_BENCH_WRITES_DELTAS"] ?? "") ?? 100
        try await withRuns(reply: Self.reply(deltas: deltas)) { rig in
            let h = rig.harness
            var statements = (try? await h.superuser("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")) != nil
            if statements { statements = (try? await h.superuser("SELECT count(*) FROM pg_stat_statements")) != nil }
            if !statements { print("BENCH writes pg_stat_statements not loaded: statement counts unavailable") }
            func nextXID() async throws -> Int64 {
                let row = try await h.superuser("SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS x").namedRows[0]
                return Int64(row["x"] ?? "") ?? -1
            }
            // A warm-up reply: connections opened, statements prepared, the listener started.
            _ = try await rig.send("warm up", on: rig.a.client)
            for (round, withFollower) in [(0, false), (1, true), (2, false), (3, true)] {
                if statements { _ = try await h.superuser("SELECT pg_stat_statements_reset()") }
                let xidBefore = try await nextXID()
                let started = ContinuousClock.now
                let (onA, runID) = try await Self.sendOnA(rig, "Writes \(round)", joinAfter: 3)
                if withFollower {
                    _ = try await rig.follow(runID, on: rig.b.client)
                }
                let events = try await onA.value
                let elapsed = (ContinuousClock.now - started).ms
                let xids = try await nextXID() - xidBefore
                let batches = try await h.superuser("""
                    SELECT first_seq, last_seq FROM loacl.run_events WHERE run_id = $1 ORDER BY first_seq
                    """, [runID]).namedRows.map { "\($0["first_seq"] ?? "")-\($0["last_seq"] ?? "")" }
                var kinds = ""
                if statements {
                    let rows = try await h.superuser("""
                        SELECT CASE
                                 WHEN query LIKE '%begin_turn%' THEN 'turn: begin_turn'
                                 WHEN query LIKE '%messages_version%' THEN 'turn: history read'
                                 WHEN query LIKE '%WITH usage AS%' THEN 'turn: user message+usage+run INSERT'
                                 WHEN query LIKE '%SET reply_message_id%' THEN 'reply store (message INSERT+run UPDATE)'
                                 WHEN query LIKE '%INSERT INTO loacl.run_events%' THEN 'run_events INSERT'
                                 WHEN query LIKE '%pg_notify%' THEN 'pg_notify'
                                 WHEN query LIKE '%follow_up_suggestions%' THEN 'follow-ups INSERT'
                                 WHEN query LIKE '%UPDATE loacl.runs SET status%' THEN 'run finish UPDATE'
                                 WHEN query LIKE '%FROM loacl.run_events%' OR query LIKE '%FROM loacl.runs r%' THEN 'run reads'
                                 ELSE left(regexp_replace(query, '\\s+', ' ', 'g'), 60) END AS kind,
                               sum(calls)::text AS calls
                        FROM pg_stat_statements
                        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                          AND query NOT LIKE '%pg_stat_statements%' AND query NOT LIKE '%pg_current_snapshot%'
                        GROUP BY 1 ORDER BY 1
                        """).namedRows
                    kinds = rows.map { "\($0["kind"] ?? "")=\($0["calls"] ?? "")" }.joined(separator: "; ")
                }
                let streaming = events.filter { $0.delta != nil }
                let streamedMs = streaming.count > 1 ? (streaming[streaming.count - 1].at - streaming[0].at).ms : 0
                print(String(format: "BENCH writes round=%d follower_on_B=%@ deltas=%d streamed_ms=%.0f call_ms=%.0f xids_assigned=%lld run_events_rows=%d batches=%@",
                             round, withFollower ? "yes" : "no", streaming.count, streamedMs, elapsed, xids, batches.count, batches.joined(separator: ",")))
                if statements { print("BENCH writes round=\(round) statements: \(kinds)") }
            }
        }
    }
}

/// When each delta text left a provider's stream (the time the running server got it).
final class DeltaTimes: Sendable {
    private let times = Mutex<[String: ContinuousClock.Instant]>([:])

    func record(_ text: String) {
        let now = ContinuousClock.now
        times.withLock { $0[text] = now }
    }

    subscript(text: String) -> ContinuousClock.Instant? { times.withLock { $0[text] } }
}

/// A provider that notes when each delta of `base` arrives, in the consumer's own `next()`
/// (no task or hop of its own).
struct TimedProvider: ChatProvider {
    let base: any ChatProvider
    let times: DeltaTimes

    var name: String { base.name }
    var acceptedAttachments: AttachmentLimits? { base.acceptedAttachments }

    func streamReply(_ request: ChatRequest) -> AsyncThrowingStream<ChatEvent, any Error> {
        timed(base.streamReply(request))
    }

    func streamReply(_ request: ChatRequest, sending: @escaping @Sendable () -> Void) -> AsyncThrowingStream<ChatEvent, any Error> {
        timed(base.streamReply(request, sending: sending))
    }

    func followUps(for request: ChatRequest, reply: String, count: Int) async throws -> [String] {
        try await base.followUps(for: request, reply: reply, count: count)
    }

    private func timed(_ stream: AsyncThrowingStream<ChatEvent, any Error>) -> AsyncThrowingStream<ChatEvent, any Error> {
        let box = IteratorBox(stream.makeAsyncIterator())
        let times = self.times
        return AsyncThrowingStream<ChatEvent, any Error>(unfolding: {
            let event = try await box.next()
            if case .delta(let text)? = event { times.record(text) }
            return event
        })
    }

    /// One consumer calls `next()` at a time (the stream's), so the iterator is never shared.
    private final class IteratorBox: @unchecked Sendable {
        var iterator: AsyncThrowingStream<ChatEvent, any Error>.Iterator
        init(_ iterator: AsyncThrowingStream<ChatEvent, any Error>.Iterator) { self.iterator = iterator }
        func next() async throws -> ChatEvent? { try await iterator.next() }
    }
}

extension Duration {
    fileprivate var ms: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
}
