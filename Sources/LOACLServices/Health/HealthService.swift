import LOACLCore
import LOACLMessages
import LOACLPostgres
import LOACLServerCore
import NIOCore

/// `loacl.v1.HealthService`: serving status, version and whether the database answers.
public struct HealthService: Loacl_V1_HealthServiceHandler {
    public static let version = "0.1.0"
    private let database: PostgresPool?
    private let startedAt = NIODeadline.now()

    /// `database`: the pool to probe; nil when the server runs without a database.
    public init(database: PostgresPool?) {
        self.database = database
    }

    public func check(_ request: Loacl_V1_HealthCheckRequest, context: ServerContext) async -> Loacl_V1_HealthCheckResponse {
        await check()
    }

    func check() async -> Loacl_V1_HealthCheckResponse {
        var response = Loacl_V1_HealthCheckResponse()
        response.version = Self.version
        response.uptimeMs = UInt64((NIODeadline.now() - startedAt).nanoseconds / 1_000_000)
        if let database {
            response.databaseReachable = (try? await database.withConnection { try $0.exec("SELECT 1") }) != nil
        }
        response.status = (database == nil || response.databaseReachable) ? .serving : .notServing
        return response
    }
}
