/// The transport-agnostic server: the method router and the call executor. Every transport's
/// connections dispatch to the same core, so methods, interceptors and the status a failure
/// maps to are the same on the LOACL wire and on gRPC.
public struct ServerCore: Sendable {
    /// Method path → method.
    public let methods: MethodTable
    /// Interceptors, observers, deadlines, error → status.
    public let executor: ServerCallExecutor

    public init(methods: MethodTable, interceptors: [any ServerInterceptor] = [], observers: [any ServerCallObserver] = []) {
        self.methods = methods
        self.executor = ServerCallExecutor(interceptors: interceptors, observers: observers)
    }
}
