import LOACLCore
import LOACLMessages
import LOACLServerCore

/// `grpc.health.v1.Health` (grpc/grpc doc/health-checking.md), for Kubernetes gRPC probes and
/// load balancers. The server as a whole (`service` "") and each service it serves are SERVING
/// while the database answers (or there is none) and the server is not draining, NOT_SERVING
/// otherwise; any other service name is NOT_FOUND (Check) or SERVICE_UNKNOWN (Watch).
public struct StandardHealthService: Grpc_Health_V1_HealthHandler {
    private let health: HealthService
    private let services: Set<String>
    private let drainState: ServerDrainState
    private let watchInterval: Duration

    /// - Parameters:
    ///   - services: full names of the services served (`MethodTable.serviceNames`).
    ///   - watchInterval: how often Watch looks at the status again.
    public init(health: HealthService, services: Set<String>, drainState: ServerDrainState,
                watchInterval: Duration = .seconds(1)) {
        self.health = health
        self.services = services.union([Grpc_Health_V1_Health.name])
        self.drainState = drainState
        self.watchInterval = watchInterval
    }

    public func check(_ request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext) async throws -> Grpc_Health_V1_HealthCheckResponse {
        guard request.service.isEmpty || services.contains(request.service) else {
            throw RPCError(.notFound, "unknown service \(request.service.prefix(200))")
        }
        return Self.response(await status())
    }

    /// Sends the status, then each change, until the client cancels; ends once the server drains
    /// (after sending NOT_SERVING), so a watcher does not hold a draining connection open.
    public func watch(_ request: Grpc_Health_V1_HealthCheckRequest, responses: ResponseWriter<Grpc_Health_V1_HealthCheckResponse>,
                      context: ServerContext) async throws {
        var last: Grpc_Health_V1_HealthCheckResponse.ServingStatus?
        while true {
            let draining = drainState.isDraining // read once: the status sent and the end agree
            let now = request.service.isEmpty || services.contains(request.service) ? await status(draining: draining) : .serviceUnknown
            if now != last {
                try await responses.write(Self.response(now))
                last = now
            }
            if draining { return }
            try await Task.sleep(for: watchInterval)
        }
    }

    private func status(draining: Bool? = nil) async -> Grpc_Health_V1_HealthCheckResponse.ServingStatus {
        guard !(draining ?? drainState.isDraining) else { return .notServing }
        return await health.check().status == .serving ? .serving : .notServing
    }

    private static func response(_ status: Grpc_Health_V1_HealthCheckResponse.ServingStatus) -> Grpc_Health_V1_HealthCheckResponse {
        var response = Grpc_Health_V1_HealthCheckResponse()
        response.status = status
        return response
    }
}
