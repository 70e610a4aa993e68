import NIOCore

/// What `ServerCallExecutor` runs for one call: its deadline timer and its handler's task. The
/// transport keeps it with the call and cancels it when the call ends first (trailers sent,
/// client cancel, disconnect). Touched on the call's event loop only.
public struct ServerCallHandle: Sendable {
    var deadlineTimer: Scheduled<Void>?
    package var task: Task<Void, Never>?

    public init() {}

    /// Stops the deadline timer and cancels the handler.
    public mutating func cancel() {
        deadlineTimer?.cancel()
        deadlineTimer = nil
        task?.cancel()
    }
}
