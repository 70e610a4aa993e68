import LOACLCore
import NIOCore

/// Watches calls without wrapping them: told when each call starts and how it ended, with the
/// status the client receives and how long it ran. Logging and metrics are observers, not
/// interceptors: they only record, so they need no async frame, closure or clock read of their
/// own around every call (the role of gRPC Java's `ServerStreamTracer`).
///
/// Called on the thread that runs the call (for LOACL wire calls, the connection's event loop):
/// keep the work short and never block.
public protocol ServerCallObserver: Sendable {
    /// The call is about to run its interceptors and handler.
    func callStarted(_ context: ServerContext)
    /// The call has ended. `status` is what the client receives (nil = OK; the executor's
    /// `ServerContext.status(for:)`), `duration` the time since `callStarted`.
    func callEnded(_ context: ServerContext, status: RPCError?, duration: TimeAmount)
}

extension ServerCallObserver {
    public func callStarted(_ context: ServerContext) {}
}
