/// Runs around every call: authentication, logging, metrics. An interceptor may reject the call
/// by throwing (an `RPCError` becomes the call's status), change the context it passes on, or
/// bind task-local values for the handler (e.g. the caller's identity).
public protocol ServerInterceptor: Sendable {
    func intercept(
        context: ServerContext,
        next: @Sendable (ServerContext) async throws -> Void
    ) async throws
}
