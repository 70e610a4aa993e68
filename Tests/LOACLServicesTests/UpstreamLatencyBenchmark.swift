import Foundation
import LOACLClient
import LOACLFakeOpenAI
import LOACLMessages
import LOACLUpstream
import Testing

/// Issue 6's benchmark (run by bench/upstream-latency.sh; skipped unless LOACL_BENCH=1):
/// time-to-first-delta and delta throughput of the same fake OpenAI upstream, called directly
/// through the provider and through LOACL's SendMessage (socket, auth, RLS, user-message insert,
/// provider, streaming back), in one run.
@Suite("Upstream latency benchmark", .serialized, .enabled(if: ProcessInfo.processInfo.environment["LOACL_BENCH"] == "1"))
struct UpstreamLatencyBenchmark {
    static let rounds = Int(ProcessInfo.processInfo.environment["LOACL_BENCH_ROUNDS"] ?? "") ?? 200
    static let deltas = (0..<20).map { "word\($0) " }

    struct Sample { var firstDelta: Double; var stream: Double }

    static func summary(_ name: String, _ samples: [Sample]) -> (p50: Double, p99: Double) {
        func pct(_ values: [Double], _ p: Double) -> Double {
            let sorted = values.sorted()
            return sorted[max(0, min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1))]
        }
        let ttfd = samples.map(\.firstDelta)
        let rate = samples.map { Double(deltas.count - 1) / max($0.stream, 1e-9) }
        let line = String(format: "%@ ttfd_p50_ms=%.3f ttfd_p99_ms=%.3f deltas_per_sec_p50=%.0f rounds=%d",
                          name, pct(ttfd, 0.5) * 1000, pct(ttfd, 0.99) * 1000, pct(rate, 0.5), samples.count)
        print("BENCH " + line)
        return (pct(ttfd, 0.5), pct(ttfd, 0.99))
    }

    /// The target's measurement: an upstream that answers at once, so every microsecond LOACL
    /// spends before relaying the first delta shows.
    @Test func timeToFirstDeltaDirectAndThroughLOACL() async throws {
        try await measure(firstTokenDelay: .zero, rounds: Self.rounds, label: "")
    }

    /// The same with an upstream that takes `LOACL_BENCH_TTFT_MS` (default 20) to its first
    /// token, as real models do (hundreds of ms): what a user sees LOACL add in practice.
    @Test func timeToFirstDeltaWithAModelsFirstTokenDelay() async throws {
        let ms = Int(ProcessInfo.processInfo.environment["LOACL_BENCH_TTFT_MS"] ?? "") ?? 20
        try await measure(firstTokenDelay: .milliseconds(ms), rounds: min(Self.rounds, 100), label: "upstream-ttft-\(ms)ms ")
    }

    func measure(firstTokenDelay: Duration, rounds: Int, label: String) async throws {
        let reply = UpstreamEndpoint.responses.reply(Self.deltas, input: 10, output: 20, delay: .zero)
        let script = UpstreamScript(.responses) { _ in
            guard case .stream(let chunks, let delay, let end, _) = reply else { return reply }
            return .stream(chunks, delay: delay, end: end, firstDelay: firstTokenDelay)
        }
        try await withUpstream(script, logLevel: .info) { rig in
            let clock = ContinuousClock()
            let http = UpstreamTransport.makeHTTPClient(connectTimeout: .seconds(2), readTimeout: .seconds(10))
            defer { Task { try? await http.shutdown() } }
            let provider = OpenAIResponsesProvider(baseURL: rig.upstream.baseURL, defaultModel: "gpt-test",
                                                   transport: UpstreamTransport(client: http, retry: UpstreamRig.fastRetry, requestTimeout: .seconds(10)))
            // Direct: the provider against the fake upstream.
            var direct: [Sample] = []
            for _ in 0..<rounds {
                let start = clock.now
                var first: ContinuousClock.Instant?
                var last = start
                for try await event in provider.streamReply(ChatRequest(userMessage: "hello", apiKey: rig.tenantKey)) {
                    if case .delta = event {
                        if first == nil { first = clock.now }
                        last = clock.now
                    }
                }
                let f = try #require(first)
                direct.append(Sample(firstDelta: (f - start).seconds, stream: (last - f).seconds))
            }
            // Through LOACL: SendMessage over the socket, first `delta` event. Each round on a
            // fresh thread (made before the clock starts), so the upstream gets the same request
            // as the direct call (no growing history); the stored user message's arrival is
            // timed too, to split LOACL's part into database work and the rest.
            var loacl: [Sample] = []
            var stored: [Double] = []
            for _ in 0..<rounds {
                var request = Loacl_V1_SendMessageRequest()
                request.threadID = try await rig.harness.createThread(rig.guest).id
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
                let f = try #require(first)
                loacl.append(Sample(firstDelta: (f - start).seconds, stream: (last - f).seconds))
                stored.append((try #require(userMessage) - start).seconds)
            }
            stored.sort()
            print(String(format: "BENCH %@loacl stored user message (auth, checks, insert, commit): p50_ms=%.3f p99_ms=%.3f", label,
                         stored[stored.count / 2] * 1000, stored[min(stored.count - 1, stored.count * 99 / 100)] * 1000))
            let d = Self.summary(label + "direct", direct)
            let l = Self.summary(label + "loacl", loacl)
            print(String(format: "BENCH %@overhead ttfd_p50_ms=%.3f ttfd_p99_ms=%.3f (target: p99 overhead <= 1 ms)", label,
                         (l.p50 - d.p50) * 1000, (l.p99 - d.p99) * 1000))
            #expect(direct.count == rounds && loacl.count == rounds)
        }
    }
}

extension Duration {
    fileprivate var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
