import LOACLClient
import LOACLCore
import LOACLMessages
import LOACLServer
import LOACLServerCore
import Logging
import MetricsTestKit
import NIOConcurrencyHelpers
import Testing

/// The logging and metrics observers record the status the client receives (issue 17,
/// part 4): INTERNAL for a plain Swift error, DEADLINE_EXCEEDED for a passed deadline; before,
/// both were recorded as CANCELLED. (They were interceptors then; observers since session 10.)
@Suite(.ownThread) struct InterceptorStatusTests {
    typealias Req = Loacl_V1_BenchmarkRequest
    typealias Res = Loacl_V1_BenchmarkResponse

    /// Keeps the `code` of every "call failed" log line.
    final class LoggedCodes: LogHandler, @unchecked Sendable {
        // @unchecked: `codes` is only touched under its own lock; the rest is set before use.
        let codes = NIOLockedValueBox<[String: String]>([:]) // method path → code
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            guard event.message.description == "call failed", let method = event.metadata?["method"],
                  let code = event.metadata?["code"] else { return }
            codes.withLockedValue { $0["\(method)"] = "\(code)" }
        }
    }

    @Test func interceptorsRecordWhatTheClientReceives() async throws {
        let metrics = TestMetrics()
        let logged = LoggedCodes()
        // Metrics before logging: once a call is logged, its metrics are recorded.
        let server = try await TestServer.start(observers: [
            MetricsObserver(factory: metrics), LoggingObserver(logger: Logger(label: "test") { _ in logged }),
        ])
        defer { Task { await server.stop() } }
        let client = try server.client()
        defer { Task { await client.close() } }

        await #expect { let _: Res = try await client.unary(TestMethods.fail, Req()) } throws: {
            ($0 as? RPCError)?.code == .internal
        }
        // The deadline passes on the server (a raw client: LOACLClient would CANCEL at its own
        // deadline, a little earlier).
        let raw = try await RawConnection(tcpPort: server.tcpPort)
        await raw.send(RawConnection.preface + RawConnection.frame(1, 0, 1, RawConnection.headers(TestMethods.hang.path, timeoutMs: 100))
                 + RawConnection.frame(2, 1, 1))
        #expect(await raw.read(8) == RawConnection.preface)
        let trailers = try #require(await raw.readFrame(type: 3, stream: 1))
        #expect(try RawConnection.status(trailers).code == StatusCode.deadlineExceeded.rawValue)

        // The hanging handler ends (cancelled) after the client got its answer: wait for it.
        #expect(await eventually { server.probe.cancellations.withLockedValue { $0 } == 1 && logged.codes.withLockedValue { $0.count } == 2 })
        #expect(logged.codes.withLockedValue { $0 } == [TestMethods.fail.path: "INTERNAL", TestMethods.hang.path: "DEADLINE_EXCEEDED"])
        for (method, code) in [(TestMethods.fail, "INTERNAL"), (TestMethods.hang, "DEADLINE_EXCEEDED")] {
            let calls = metrics.counters(label: "loacl_rpc_calls_total").filter { $0.dimensions.contains { $0 == ("method", method.path) } }
            #expect(calls.count == 1)
            #expect(calls.first?.dimensions.contains { $0 == ("code", code) } == true, "\(calls.map(\.dimensions))")
            #expect(calls.first?.totalValue == 1)
        }
    }
}
