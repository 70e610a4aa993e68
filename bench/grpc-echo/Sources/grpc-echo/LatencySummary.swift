/// Throughput and latency percentiles of one run, printed as the one machine-readable line
/// shared by every benchmark client (grpc-echo, raw-echo, loacl-bench).
struct LatencySummary: Sendable {
    let callsPerSecond: Double
    let p50Micros: Double
    let p99Micros: Double
    let p999Micros: Double
    let calls: Int

    /// `latenciesNanos` need not be sorted; percentiles use the nearest-rank method.
    init(latenciesNanos: [UInt64], seconds: Double) {
        let sorted = latenciesNanos.sorted()
        func percentile(_ p: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            let rank = Int((p * Double(sorted.count)).rounded(.up))
            return Double(sorted[max(rank, 1) - 1]) / 1000
        }
        calls = sorted.count
        callsPerSecond = seconds > 0 ? Double(sorted.count) / seconds : 0
        p50Micros = percentile(0.50)
        p99Micros = percentile(0.99)
        p999Micros = percentile(0.999)
    }

    var line: String {
        "calls_per_sec=\(format(callsPerSecond, 0)) p50_us=\(format(p50Micros, 1)) "
            + "p99_us=\(format(p99Micros, 1)) p999_us=\(format(p999Micros, 1)) calls=\(calls)"
    }

    private func format(_ value: Double, _ decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        return decimals == 0 ? String(Int(rounded)) : String(rounded)
    }
}
