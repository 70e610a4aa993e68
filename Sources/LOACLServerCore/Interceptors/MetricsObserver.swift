import LOACLCore
import Metrics
import NIOConcurrencyHelpers
import NIOCore

/// Counts calls by method and status code (the one the client receives)
/// and times them by method, through swift-metrics
/// (`loacl_rpc_calls_total{method,code}`, `loacl_rpc_duration_seconds{method}`, and the gauge
/// `loacl_rpc_in_flight`). Metric objects are created once per method/code and cached, so a call
/// costs two dictionary look-ups, not a factory round trip.
public struct MetricsObserver: ServerCallObserver {
    private final class Cache: Sendable {
        let factory: any MetricsFactory
        /// method path → status code → counter (no string building per call).
        let counters = NIOLockedValueBox<[String: [UInt32: Counter]]>([:])
        let timers = NIOLockedValueBox<[String: Metrics.Timer]>([:])
        let inFlight: Gauge
        let inFlightCount = NIOLockedValueBox(0)

        init(factory: any MetricsFactory) {
            self.factory = factory
            inFlight = Gauge(label: "loacl_rpc_in_flight", factory: factory)
        }
    }
    private let cache: Cache

    /// - Parameter factory: where the metrics go (default: the process's `MetricsSystem`).
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        cache = Cache(factory: factory)
    }

    public func callStarted(_ context: ServerContext) {
        cache.inFlight.record(cache.inFlightCount.withLockedValue { $0 += 1; return $0 })
    }

    public func callEnded(_ context: ServerContext, status: RPCError?, duration: TimeAmount) {
        let path = context.method.path
        cache.inFlight.record(cache.inFlightCount.withLockedValue { $0 -= 1; return $0 })
        timer(path).recordNanoseconds(duration.nanoseconds)
        counter(path, status?.code ?? .ok).increment()
    }

    private func counter(_ path: String, _ code: StatusCode) -> Counter {
        cache.counters.withLockedValue { counters in
            if let c = counters[path]?[code.rawValue] { return c }
            let c = Counter(label: "loacl_rpc_calls_total", dimensions: [("method", path), ("code", code.name)], factory: cache.factory)
            counters[path, default: [:]][code.rawValue] = c
            return c
        }
    }

    private func timer(_ path: String) -> Metrics.Timer {
        cache.timers.withLockedValue { timers in
            if let t = timers[path] { return t }
            let t = Metrics.Timer(label: "loacl_rpc_duration_seconds", dimensions: [("method", path)], preferredDisplayUnit: .seconds, factory: cache.factory)
            timers[path] = t
            return t
        }
    }
}
