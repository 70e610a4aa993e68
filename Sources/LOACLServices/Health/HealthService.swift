import LOACLCore
import LOACLMessages
import LOACLPostgres
import LOACLServerCore
import NIOCore

/// `loacl.v1.HealthService`: serving status, version and whether the database answers. SERVING
/// while the database answers (or there is none) and the server is not draining; a `service`
/// the server does not serve is NOT_FOUND (as `grpc.health.v1.Health` answers it).
public struct HealthService: Loacl_V1_HealthServiceHandler {
    public static let version = "0.1.0"
    private let database: PostgresPool?
    private let services: Set<String>?
    private let drainState: ServerDrainState?
    private let startedAt = NIODeadline.now()

    /// - Parameters:
    ///   - database: the pool to probe; nil when the server runs without a database.
    ///   - services: full names of the services served (`MethodTable.serviceNames`; this one is
    ///     added); nil: any name is taken as the whole server.
    ///   - drainState: the server's; NOT_SERVING once it drains.
    public init(database: PostgresPool?, services: Set<String>? = nil, drainState: ServerDrainState? = nil) {
        self.database = database
        self.services = services?.union([Loacl_V1_HealthService.name])
        self.drainState = drainState
    }

    public func check(_ request: Loacl_V1_HealthCheckRequest, context: ServerContext) async throws -> Loacl_V1_HealthCheckResponse {
        if !request.service.isEmpty, let services, !services.contains(request.service) {
            throw RPCError(.notFound, "unknown service \(request.service.prefix(200))")
        }
        return await check()
    }

    func check() async -> Loacl_V1_HealthCheckResponse {
        var response = Loacl_V1_HealthCheckResponse()
        response.version = Self.version
        response.uptimeMs = UInt64((NIODeadline.now() - startedAt).nanoseconds / 1_000_000)
        if let database {
            response.databaseReachable = (try? await database.withConnection { try $0.exec("SELECT 1") }) != nil
        }
        let draining = drainState?.isDraining ?? false
        response.status = !draining && (database == nil || response.databaseReachable) ? .serving : .notServing
        return response
    }
}
