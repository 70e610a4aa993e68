/// When a run measures: calls that start in [measureFrom, end) count; none start after `end`.
struct LoadWindow: Sendable {
    let measureFrom: ContinuousClock.Instant
    let end: ContinuousClock.Instant

    init(warmup: Double, duration: Double, now: ContinuousClock.Instant = .now) {
        measureFrom = now.advanced(by: .seconds(warmup))
        end = measureFrom.advanced(by: .seconds(duration))
    }
}

/// What every caller sends, and for how long.
struct LoadSpec: Sendable {
    let payload: [UInt8]
    let window: LoadWindow
}

/// One caller's measurements; merged across callers at the end.
struct WorkerResult: Sendable {
    var latenciesNanos: [UInt64] = []
    var errors = 0

    mutating func merge(_ other: WorkerResult) {
        latenciesNanos.append(contentsOf: other.latenciesNanos)
        errors += other.errors
    }

    /// Records a call that started at `start` if it started inside the measured window.
    mutating func record(start: ContinuousClock.Instant, window: LoadWindow) {
        guard start >= window.measureFrom else { return }
        let elapsed = start.duration(to: .now).components
        latenciesNanos.append(UInt64(elapsed.seconds) * 1_000_000_000 + UInt64(elapsed.attoseconds / 1_000_000_000))
    }
}
