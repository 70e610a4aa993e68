import LOACLCore
import Logging
import NIOCore

/// Runs calls for every transport: the one place that owns the interceptor chain, the call
/// observers, the deadline and the error → status mapping (`ServerContext.status(for:)`). A
/// transport opens a call on its stream, arms its deadline, and starts it once the request is
/// ready (at once for client- and bidirectional-streaming calls); the executor ends the call on
/// the stream with the status the client receives.
public struct ServerCallExecutor: Sendable {
    public let interceptors: [any ServerInterceptor]
    /// Told of every call's start and end (logging, metrics), outside the interceptors.
    public let observers: [any ServerCallObserver]

    public init(interceptors: [any ServerInterceptor] = [], observers: [any ServerCallObserver] = []) {
        self.interceptors = interceptors
        self.observers = observers
    }

    /// Ends the call with DEADLINE_EXCEEDED when `deadline` passes (which cancels its handler).
    /// Call on the stream's event loop when the call opens; `call.cancel()` stops the timer.
    package func armDeadline(_ deadline: NIODeadline?, on stream: any ServerCallStream, _ call: inout ServerCallHandle) {
        guard let deadline else { return }
        call.deadlineTimer = stream.eventLoop.scheduleTask(deadline: deadline) { [weak stream] in
            stream?.finish(RPCError(.deadlineExceeded, "deadline exceeded"))
        }
    }

    /// Runs `method` through the interceptors in a new task, then finishes the stream with the
    /// call's status. With `executor` (the stream's event loop; call this on it) the handler begins
    /// right here (`Task.immediate`) and runs until it first suspends, resuming on `executor`: a
    /// handler that never suspends (an echo, a cache hit) runs, responds and finishes the stream
    /// inside this call, with no task switch. Without one, a plain task on the global executor.
    /// The returned task belongs in the call's handle (`ServerCallHandle.task`, whose `cancel()`
    /// cancels it when the call ends first) unless the call has already ended.
    package func start(_ method: ServerMethod, on stream: any ServerCallStream, context: ServerContext,
                       executor: (any TaskExecutor)?) -> Task<Void, Never> {
        // Each branch hands its task a closure literal of the exact type it takes: a closure built
        // elsewhere and passed in costs a reabstraction thunk (and its context) per call.
        let interceptors = self.interceptors, observers = self.observers
        guard let executor else {
            return Task { await Self.runAndFinish(method, stream, context, interceptors, observers) }
        }
        guard #available(macOS 26, *) else {
            return Task(executorPreference: executor) { await Self.runAndFinish(method, stream, context, interceptors, observers) }
        }
        return Task.immediate(executorPreference: executor) { await Self.runAndFinish(method, stream, context, interceptors, observers) }
    }

    /// The call's task body: interceptors and handler, then the stream finished with its status,
    /// then the observers told (after the reply has gone).
    private static func runAndFinish(_ method: ServerMethod, _ stream: any ServerCallStream, _ context: ServerContext,
                                     _ interceptors: [any ServerInterceptor], _ observers: [any ServerCallObserver]) async {
        let start = observers.isEmpty ? nil : NIODeadline.now()
        for observer in observers { observer.callStarted(context) }
        let status = await run(method, stream, context, interceptors)
        if stream.eventLoop.inEventLoop {
            stream.finish(status)
        } else {
            stream.eventLoop.execute { stream.finish(status) }
        }
        if let start {
            let duration = NIODeadline.now() - start
            for observer in observers { observer.callEnded(context, status: status, duration: duration) }
        }
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
