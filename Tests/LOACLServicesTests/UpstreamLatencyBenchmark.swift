import Foundation
import LOACLClient
import LOACLFakeOpenAI
import LOACLMessages
@testable import LOACLServices
import LOACLUpstream
import Testing

/// Issue 6's benchmark (run by bench/upstream-latency.sh; skipped unless LOACL_BENCH=1):
/// time-to-first-delta and delta throughput of the same fake OpenAI upstream, called directly
/// through the provider and through LOACL's SendMessage (socket, auth, RLS, user-message insert,
/// provider, streaming back), in one run.
@Suite("Upstream latency benchmark", .serialized, .enabled(if: ProcessInfo.processInfo.environment["LOACL_BENCH"] == "1"))
struct UpstreamLatencyBenchmark {
    static let rounds = Int(ProcessInfo.processInfo.environment["LOACL_BENCH_ROUNDS"] ?? "") ?? 500
    static let deltas = (0..<20).map { "word\($0) " }
    /// Unmeasured rounds first on each side (connections opened, statements prepared).
    static let warmup = 20

    struct Sample {
        var firstDelta: Double
        var stream: Double
        /// When the upstream had the request, and how long its first chunk took to reach the caller.
        var requested: Double?
        var relayed: Double?
    }

    /// Nearest-rank percentile (NaN for no values).
    static func pct(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted[max(0, min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1))]
    }

    static func summary(_ name: String, _ samples: [Sample]) -> (p50: Double, p99: Double) {
        let ttfd = samples.map(\.firstDelta)
        let rate = samples.map { Double(deltas.count - 1) / max($0.stream, 1e-9) }
        let line = String(format: "%@ ttfd_p50_ms=%.3f ttfd_p90_ms=%.3f ttfd_p99_ms=%.3f ttfd_max_ms=%.3f deltas_per_sec_p50=%.0f rounds=%d",
                          name, pct(ttfd, 0.5) * 1000, pct(ttfd, 0.9) * 1000, pct(ttfd, 0.99) * 1000, pct(ttfd, 1) * 1000,
                          pct(rate, 0.5), samples.count)
        print("BENCH " + line)
        return (pct(ttfd, 0.5), pct(ttfd, 0.99))
    }

    /// The stress case: an upstream that answers at once with the whole reply, so every
    /// microsecond LOACL spends before relaying the first delta shows, its database round trip
    /// included, and storing the reply starts right after the first delta.
    @Test func timeToFirstDeltaDirectAndThroughLOACL() async throws {
        try await measure(firstTokenDelay: .zero, gap: .zero, rounds: Self.rounds, label: "")
    }

    /// A model-like upstream: its first token `LOACL_BENCH_TTFT_MS` (default 20) after the
    /// request arrived, then one event every `LOACL_BENCH_GAP_MS` (default 1) — still far
    /// quicker than real models (hundreds of ms to the first token, tens of ms per token).
    @Test func timeToFirstDeltaWithAModelLikeUpstream() async throws {
        let env = ProcessInfo.processInfo.environment
        let ms = Int(env["LOACL_BENCH_TTFT_MS"] ?? "") ?? 20
        let gap = Int(env["LOACL_BENCH_GAP_MS"] ?? "") ?? 1
        try await measure(firstTokenDelay: .milliseconds(ms), gap: .milliseconds(gap), rounds: Self.rounds,
                          label: "upstream-ttft-\(ms)ms-gap-\(gap)ms ")
    }

    /// `gap` > 0: the events before the first delta go as one chunk (so the first delta comes
    /// `firstTokenDelay` after the request), then each event `gap` after the previous one.
    func measure(firstTokenDelay: Duration, gap: Duration, rounds: Int, label: String) async throws {
        let reply = UpstreamEndpoint.responses.reply(Self.deltas, input: 10, output: 20, delay: .zero)
        let script = UpstreamScript(.responses) { _ in
            guard case .stream(var chunks, _, let end, _) = reply else { return reply }
            if gap > .zero, let first = chunks.firstIndex(where: { $0.contains("response.output_text.delta") }) {
                chunks = [chunks[...first].joined()] + chunks[(first + 1)...]
            }
            return .stream(chunks, delay: gap, end: end, firstDelay: firstTokenDelay)
        }
        // LOACL_BENCH_SPECULATION=0: loacld's --reply-speculation 0 (every turn asks the upstream
        // after its database round trip).
        let speculation: Duration? = ProcessInfo.processInfo.environment["LOACL_BENCH_SPECULATION"] == "0" ? .zero : nil
        try await withUpstream(script, logLevel: .info, replySpeculation: speculation) { rig in
            let clock = ContinuousClock()
            let http = UpstreamTransport.makeHTTPClient(connectTimeout: .seconds(2), readTimeout: .seconds(10))
            defer { Task { try? await http.shutdown() } }
            let provider = OpenAIResponsesProvider(baseURL: rig.upstream.baseURL, defaultModel: "gpt-test",
                                                   transport: UpstreamTransport(client: http, retry: UpstreamRig.fastRetry, requestTimeout: .seconds(10)))
            // Direct: the provider against the fake upstream.
            func directRound() async throws -> Sample {
                let start = clock.now
                var first: ContinuousClock.Instant?
                var last = start
                for try await event in provider.streamReply(ChatRequest(userMessage: "hello", apiKey: rig.tenantKey)) {
                    if case .delta = event {
                        if first == nil { first = clock.now }
                        last = clock.now
                    }
                }
                return try sample(start: start, first: first, last: last)
            }
            /// The round's figures; the upstream's part from the reply's request (the last one
            /// that is not a follow-up request).
            func sample(start: ContinuousClock.Instant, first: ContinuousClock.Instant?, last: ContinuousClock.Instant) throws -> Sample {
                let f = try #require(first)
                let requests = rig.upstream.requests
                let index = try #require(requests.lastIndex { !$0.asksForFollowUps })
                return Sample(firstDelta: (f - start).seconds, stream: (last - f).seconds,
                              requested: (requests[index].receivedAt - start).seconds,
                              relayed: rig.upstream.firstChunkAt(index).map { (f - $0).seconds })
            }
            // Through LOACL: SendMessage over the socket, first `delta` event. Each round on a
            // fresh thread (made through the same server before the clock starts, as a client
            // would), so the upstream gets the same request as the direct call (no growing
            // history); the stored user message's and the upstream request's arrival are timed
            // too, to split LOACL's part.
            func loaclRound() async throws -> (Sample, stored: Double) {
                var request = Loacl_V1_SendMessageRequest()
                let created: Loacl_V1_CreateThreadResponse = try await rig.client.unary(
                    TS.createThread, Loacl_V1_CreateThreadRequest(), options: CallOptions(timeout: .seconds(20), metadata: rig.guest.metadata))
                request.threadID = created.thread.id
                request.content = "hello"
                let start = clock.now
                var first: ContinuousClock.Instant?
                var userMessage: ContinuousClock.Instant?
                var last = start
                try await rig.client.serverStreaming(MS.sendMessage, request, options: CallOptions(timeout: .seconds(20), metadata: rig.guest.metadata),
                                                     responseType: Loacl_V1_SendMessageEvent.self) { stream in
                    for try await event in stream {
                        switch event.event {
                        case .userMessage?:
                            userMessage = clock.now
                        case .delta?:
                            if first == nil { first = clock.now }
                            last = clock.now
                        default:
                            break
                        }
                    }
                }
                return (try sample(start: start, first: first, last: last), (try #require(userMessage) - start).seconds)
            }
            // Alternating rounds, so whatever else the machine does at a moment (autovacuum, a
            // noisy neighbour) falls on both sides alike; the first rounds warm both up.
            var direct: [Sample] = []
            var loacl: [Sample] = []
            var stored: [Double] = []
            for round in 0..<(Self.warmup + rounds) {
                let d = try await directRound()
                let (l, s) = try await loaclRound()
                if round < Self.warmup { continue }
                direct.append(d)
                loacl.append(l)
                stored.append(s)
            }
            func p(_ values: [Double], _ q: Double) -> Double { Self.pct(values, q) * 1000 }
            for (side, samples) in [("direct", direct), ("loacl", loacl)] {
                let requested = samples.compactMap(\.requested), relayed = samples.compactMap(\.relayed)
                print(String(format: "BENCH %@%@ upstream had the request after p50_ms=%.3f p99_ms=%.3f; its first chunk reached the caller after p50_ms=%.3f p99_ms=%.3f",
                             label, side, p(requested, 0.5), p(requested, 0.99), p(relayed, 0.5), p(relayed, 0.99)))
            }
            print(String(format: "BENCH %@loacl stored user message (auth, checks, insert, commit): p50_ms=%.3f p99_ms=%.3f", label,
                         p(stored, 0.5), p(stored, 0.99)))
            // Where the slowest rounds through LOACL lost their time (ms from the call's start):
            // the upstream had the request / its first chunk to the client's first delta / the
            // user message reached the client; and the direct round beside it.
            for i in loacl.indices.sorted(by: { loacl[$0].firstDelta > loacl[$1].firstDelta }).prefix(5) {
                print(String(format: "BENCH %@slowest loacl round %d: ttfd=%.3f requested=%.3f relayed=%.3f stored=%.3f (direct round: ttfd=%.3f)",
                             label, i, loacl[i].firstDelta * 1000, (loacl[i].requested ?? .nan) * 1000, (loacl[i].relayed ?? .nan) * 1000,
                             stored[i] * 1000, direct[i].firstDelta * 1000))
            }
            let d = Self.summary(label + "direct", direct)
            let l = Self.summary(label + "loacl", loacl)
            print("BENCH \(label)upstream connections opened: \(rig.upstream.openedConnections) for \(rig.upstream.requests.count) requests")
            let speculation = rig.services.turnContexts
            print("BENCH \(label)speculative upstream requests kept: \(speculation.kept.load(ordering: .relaxed)), dropped: \(speculation.dropped.load(ordering: .relaxed))")
            print(String(format: "BENCH %@overhead ttfd_p50_ms=%.3f ttfd_p99_ms=%.3f (target: p99 overhead <= 1 ms)", label,
                         (l.p50 - d.p50) * 1000, (l.p99 - d.p99) * 1000))
            #expect(direct.count == rounds && loacl.count == rounds)
        }
    }
}

extension Duration {
    fileprivate var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
