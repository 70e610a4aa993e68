import LOACLCore
import Logging
import NIOCore

/// Runs calls for every transport: the one place that owns the interceptor chain, the deadline
/// and the error → status mapping (`ServerContext.status(for:)`). A transport opens a call on its
/// stream, arms its deadline, and starts it once the request is ready (at once for client- and
/// bidirectional-streaming calls); the executor ends the call on the stream with the status the
/// client receives.
public struct ServerCallExecutor: Sendable {
    public let interceptors: [any ServerInterceptor]

    public init(interceptors: [any ServerInterceptor] = []) {
        self.interceptors = interceptors
    }

    /// Ends the call with DEADLINE_EXCEEDED when `deadline` passes (which cancels its handler).
    /// Call on the stream's event loop when the call opens; `call.cancel()` stops the timer.
    package func armDeadline(_ deadline: NIODeadline?, on stream: any ServerCallStream, _ call: inout ServerCallHandle) {
        guard let deadline else { return }
        call.deadlineTimer = stream.eventLoop.scheduleTask(deadline: deadline) { [weak stream] in
            stream?.finish(RPCError(.deadlineExceeded, "deadline exceeded"))
        }
    }

    /// Runs `method` through the interceptors in a new task (preferring `executor`, e.g. the
    /// connection's event loop), then finishes the stream with the call's status. `call.cancel()`
    /// cancels the task when the call ends first (cancel, deadline, disconnect).
    package func start(_ method: ServerMethod, on stream: any ServerCallStream, context: ServerContext,
                       executor: (any TaskExecutor)?, _ call: inout ServerCallHandle) {
        call.task = task(method, stream, context, executor)
    }

    private func task(_ method: ServerMethod, _ stream: any ServerCallStream, _ context: ServerContext,
                      _ executor: (any TaskExecutor)?) -> Task<Void, Never> {
        let interceptors = self.interceptors
        let operation: @Sendable () async -> Void = {
            let status = await Self.run(method, stream, context, interceptors)
            if stream.eventLoop.inEventLoop {
                stream.finish(status)
            } else {
                stream.eventLoop.execute { stream.finish(status) }
            }
        }
        if let executor { return Task(executorPreference: executor, operation: operation) }
        return Task(operation: operation)
    }

    /// Runs interceptors and the handler; returns the call's status (nil = OK).
    private static func run(_ method: ServerMethod, _ stream: any ServerCallStream, _ context: ServerContext,
                            _ interceptors: [any ServerInterceptor]) async -> RPCError? {
        do {
            if interceptors.isEmpty {
                try await method.body(stream, context)
            } else {
                try await intercept(interceptors[...], method, stream, context)
            }
            return nil
        } catch {
            let status = context.status(for: error)
            if status.code == .internal && !(error is RPCError) {
                context.logger.error("handler failed", metadata: ["method": "\(context.method.path)", "error": "\(error)"])
            }
            return status
        }
    }

    private static func intercept(_ rest: ArraySlice<any ServerInterceptor>, _ method: ServerMethod,
                                  _ stream: any ServerCallStream, _ context: ServerContext) async throws {
        guard let first = rest.first else { return try await method.body(stream, context) }
        try await first.intercept(context: context) { next in
            try await intercept(rest.dropFirst(), method, stream, next)
        }
    }
}
