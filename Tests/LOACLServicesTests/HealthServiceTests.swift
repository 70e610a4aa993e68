import LOACLCore
import LOACLMessages
import LOACLServerCore
@testable import LOACLServices
import Logging
import Testing

/// `loacl.v1.HealthService` on its own (no database: SERVING unless draining); over a socket it
/// is checked by the Python and gRPC client tests.
@Suite("Health service")
struct HealthServiceTests {
    static let context = ServerContext(method: Loacl_V1_HealthService.Method.check, metadata: Metadata(), deadline: nil,
                                       peer: PeerInfo(transport: .unix, address: "test"), logger: Logger(label: "test"))

    static func request(_ service: String = "") -> Loacl_V1_HealthCheckRequest {
        var request = Loacl_V1_HealthCheckRequest()
        request.service = service
        return request
    }

    @Test func servedServicesAreServingOthersAreNotFound() async throws {
        let health = HealthService(database: nil, services: ["loacl.v1.ThreadService"], drainState: ServerDrainState())
        #expect(try await health.check(Self.request(), context: Self.context).status == .serving)
        #expect(try await health.check(Self.request("loacl.v1.ThreadService"), context: Self.context).status == .serving)
        #expect(try await health.check(Self.request("loacl.v1.HealthService"), context: Self.context).status == .serving)
        do {
            _ = try await health.check(Self.request("no.such.Service"), context: Self.context)
            Issue.record("an unknown service was answered")
        } catch let error as RPCError {
            #expect(error.code == .notFound)
        }
    }

    @Test func aDrainingServerIsNotServing() async throws {
        let drain = ServerDrainState()
        let health = HealthService(database: nil, services: [], drainState: drain)
        #expect(try await health.check(Self.request(), context: Self.context).status == .serving)
        drain.startDraining()
        let response = try await health.check(Self.request(), context: Self.context)
        #expect(response.status == .notServing)
        #expect(response.version == HealthService.version, "the rest of the answer is still given")
    }
}
