import LOACLCore
import NIOCore

extension ServerContext {
    /// The status the client receives for a call whose handler (or interceptor) threw `error`.
    /// `ServerCallExecutor` ends the call with it, and the logging and metrics interceptors record
    /// it, so what they report is what the client got:
    /// - an `RPCError` as thrown, except a cancellation once the deadline has passed, which the
    ///   client received as DEADLINE_EXCEEDED (the deadline timer answers, then cancels the task);
    /// - a `CancellationError`: CANCELLED, or DEADLINE_EXCEEDED likewise;
    /// - any other error: INTERNAL, with no detail for the client.
    public func status(for error: any Error, now: NIODeadline = .now()) -> RPCError {
        switch error {
        case let error as RPCError where error.code != .cancelled:
            return error
        case is RPCError, is CancellationError:
            if let deadline, deadline <= now { return RPCError(.deadlineExceeded, "deadline exceeded") }
            return error as? RPCError ?? RPCError(.cancelled, "call cancelled")
        default:
            return RPCError(.internal, "internal error")
        }
    }
}
