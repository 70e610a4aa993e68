import Foundation

/// When and how long to wait before retrying an upstream call that failed before its first
/// delta (429, 5xx, or a connection that failed or ended before any text).
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in all, the first one included (1 = never retry).
    public var maxAttempts: Int
    /// Delay before the first retry; doubled (`multiplier`) for each further one.
    public var initialDelay: Duration
    public var multiplier: Double
    /// Ceiling of the computed backoff.
    public var maxDelay: Duration
    /// A `Retry-After` longer than this is not waited for: the call fails at once instead.
    public var maxRetryAfter: Duration

    public init(maxAttempts: Int = 3, initialDelay: Duration = .milliseconds(500), multiplier: Double = 2,
                maxDelay: Duration = .seconds(8), maxRetryAfter: Duration = .seconds(30)) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialDelay = initialDelay
        self.multiplier = multiplier
        self.maxDelay = maxDelay
        self.maxRetryAfter = maxRetryAfter
    }

    /// Exponential backoff for retry number `retry` (1 = first retry), without jitter so tests
    /// and logs are predictable; concurrent callers are already spread by their own timing.
    public func backoff(retry: Int) -> Duration {
        let factor = pow(multiplier, Double(max(0, retry - 1)))
        let seconds = Double(initialDelay.components.seconds) + Double(initialDelay.components.attoseconds) / 1e18
        let maxSeconds = Double(maxDelay.components.seconds) + Double(maxDelay.components.attoseconds) / 1e18
        return .milliseconds(Int64(min(seconds * factor, maxSeconds) * 1000))
    }

    /// The wait a response asks for: `retry-after-ms` (OpenAI's), else `Retry-After` as seconds
    /// or as an HTTP date. nil when absent or unreadable.
    public static func retryAfter(headers: [(name: String, value: String)], now: Date = Date()) -> Duration? {
        func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name }?.value.trimmingCharacters(in: .whitespaces)
        }
        if let ms = header("retry-after-ms").flatMap(Double.init), ms >= 0 {
            return .milliseconds(Int64(ms.rounded(.up)))
        }
        guard let value = header("retry-after") else { return nil }
        if let seconds = Double(value), seconds >= 0 {
            return .milliseconds(Int64((seconds * 1000).rounded(.up)))
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .milliseconds(max(0, Int64(date.timeIntervalSince(now) * 1000)))
    }
}
