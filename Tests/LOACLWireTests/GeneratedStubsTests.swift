import LOACLClient
import LOACLCore
import LOACLMessages
import LOACLServer
import LOACLServerCore
import LOACLServices
import Testing

/// The generated handler protocols and typed clients (scripts/generate.sh) against a real server.
@Suite("Generated service stubs")
struct GeneratedStubsTests {
    @Test("BenchmarkService through the typed client: unary, bidirectional, and an RPCError")
    func benchmark() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let connection = try server.client()
        defer { Task { await connection.close() } }
        let client = Loacl_V1_BenchmarkServiceClient(connection)

        let echoed = try await client.unaryCall(benchmarkRequest("héllo 🌍"))
        #expect(echoed.payload == Array("héllo 🌍".utf8))
        let sized = try await client.unaryCall(benchmarkRequest("", responseSize: 1000))
        #expect(sized.payload == [UInt8](repeating: 0x61, count: 1000))

        let error = await #expect(throws: RPCError.self) {
            try await client.unaryCall(benchmarkRequest("", responseSize: UInt32(BenchmarkService.maxResponseSize + 1)))
        }
        #expect(error?.code == .invalidArgument)

        let words = try await client.streamingCall { writer, responses in
            var iterator = responses.makeAsyncIterator()
            var seen: [String] = []
            for word in ["one", "two", "three"] {
                try await writer.write(benchmarkRequest(word))
                let response = try #require(try await iterator.next())
                seen.append(String(decoding: response.payload, as: UTF8.self))
            }
            writer.finish()
            #expect(try await iterator.next() == nil)
            return seen
        }
        #expect(words == ["one", "two", "three"])
    }

    @Test("HealthService through the typed client over a Unix socket")
    func health() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let connection = try server.client(.unix(path: server.unixPath))
        defer { Task { await connection.close() } }
        let client = Loacl_V1_HealthServiceClient(connection)

        let response = try await client.check(Loacl_V1_HealthCheckRequest())
        #expect(response.status == .serving)
        #expect(response.version == HealthService.version)
        #expect(!response.databaseReachable)
    }

    @Test("serverMethods matches protobuf-c's service descriptor, method for method")
    func serverMethodsMatchDescriptors() {
        let cases: [(methods: [ServerMethod], service: ProtoServiceDescriptor)] = [
            (BenchmarkService().serverMethods, Loacl_V1_BenchmarkService.descriptor),
            (HealthService(database: nil).serverMethods, Loacl_V1_HealthService.descriptor),
        ]
        for (methods, service) in cases {
            #expect(!methods.isEmpty)
            #expect(methods.map(\.descriptor.path) == service.methods.map(\.path))
            #expect(methods.map(\.descriptor) == service.methods, "\(service.name): kinds or message types differ")
        }
    }
}
