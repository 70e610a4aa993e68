import Foundation
import LOACLClient
import LOACLCore
import LOACLMessages
import LOACLServer
import LOACLServerCore
import LOACLServices
import LOACLTLS
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Test-only methods, built from the benchmark messages, for call kinds and behaviours the real
/// services do not have.
enum TestMethods {
    static func method(_ name: String, client: Bool, server: Bool) -> ProtoMethodDescriptor {
        ProtoMethodDescriptor(service: "loacl.test.Test", method: name, clientStreaming: client, serverStreaming: server,
                              requestType: Loacl_V1_BenchmarkRequest.protoMessageName, responseType: Loacl_V1_BenchmarkResponse.protoMessageName)
    }
    /// Server-streaming: `response_size` messages, each echoing the payload.
    static let repeatEcho = method("Repeat", client: false, server: true)
    /// Server-streaming: `response_size` messages echoing the payload, then UNAVAILABLE.
    static let repeatThenFail = method("RepeatThenFail", client: false, server: true)
    /// Client-streaming: the concatenation of every request payload.
    static let concat = method("Concat", client: true, server: false)
    /// Unary: sleeps until cancelled, recording the cancellation.
    static let hang = method("Hang", client: false, server: false)
    /// Unary: echoes the value of metadata key `x-echo` and the TLS peer subject.
    static let echoMetadata = method("EchoMetadata", client: false, server: false)
    /// Server-streaming: writes until cancelled, counting the messages that went out.
    static let flood = method("Flood", client: false, server: true)
    /// Client-streaming: never reads its requests (sleeps until cancelled).
    static let stall = method("Stall", client: true, server: false)
    /// Unary: sleeps `response_size` milliseconds, then echoes.
    static let slowEcho = method("SlowEcho", client: false, server: false)
    /// Unary: throws a plain Swift error (not an `RPCError`).
    static let fail = method("Fail", client: false, server: false)
    /// Bidirectional: echoes every request until the client half-closes; counts a cancellation.
    static let echoUntilCancelled = method("EchoUntilCancelled", client: true, server: true)
}

/// What `TestMethods.fail` throws.
struct PlainTestError: Error {}

/// What the test handlers observed.
final class Probe: Sendable {
    let cancellations = NIOLockedValueBox(0)
    let floodWritten = NIOLockedValueBox(0)
    let started = NIOLockedValueBox(0)
}

func testMethods(_ probe: Probe) -> [ServerMethod] {
    BenchmarkService().serverMethods + HealthService(database: nil).serverMethods + [
        .serverStreaming(TestMethods.repeatEcho) { (request: Loacl_V1_BenchmarkRequest, writer: ResponseWriter<Loacl_V1_BenchmarkResponse>, _) in
            var response = Loacl_V1_BenchmarkResponse()
            response.payload = request.payload
            for _ in 0..<request.responseSize { try await writer.write(response) }
        },
        .serverStreaming(TestMethods.repeatThenFail) { (request: Loacl_V1_BenchmarkRequest, writer: ResponseWriter<Loacl_V1_BenchmarkResponse>, _) in
            var response = Loacl_V1_BenchmarkResponse()
            response.payload = request.payload
            for _ in 0..<request.responseSize { try await writer.write(response) }
            throw RPCError.unavailable("gave up after \(request.responseSize) messages")
        },
        .clientStreaming(TestMethods.concat) { (requests: RequestStream<Loacl_V1_BenchmarkRequest>, _) in
            var response = Loacl_V1_BenchmarkResponse()
            for try await request in requests { response.payload += request.payload }
            return response
        },
        .unary(TestMethods.hang) { (_: Loacl_V1_BenchmarkRequest, _) -> Loacl_V1_BenchmarkResponse in
            probe.started.withLockedValue { $0 += 1 }
            do {
                try await Task.sleep(for: .seconds(60))
            } catch {
                probe.cancellations.withLockedValue { $0 += 1 }
                throw error
            }
            return Loacl_V1_BenchmarkResponse()
        },
        .unary(TestMethods.echoMetadata) { (_: Loacl_V1_BenchmarkRequest, context) in
            var response = Loacl_V1_BenchmarkResponse()
            let text = (context.metadata["x-echo"] ?? "") + "|" + (context.peer.certificateSubject ?? "")
            response.payload = Array(text.utf8)
            return response
        },
        .serverStreaming(TestMethods.flood) { (request: Loacl_V1_BenchmarkRequest, writer: ResponseWriter<Loacl_V1_BenchmarkResponse>, _) in
            var response = Loacl_V1_BenchmarkResponse()
            response.payload = [UInt8](repeating: 7, count: Int(request.responseSize))
            do {
                while true {
                    try await writer.write(response)
                    probe.floodWritten.withLockedValue { $0 += 1 }
                }
            } catch {
                probe.cancellations.withLockedValue { $0 += 1 }
                throw error
            }
        },
        .clientStreaming(TestMethods.stall) { (_: RequestStream<Loacl_V1_BenchmarkRequest>, _) -> Loacl_V1_BenchmarkResponse in
            try await Task.sleep(for: .seconds(60))
            return Loacl_V1_BenchmarkResponse()
        },
        .unary(TestMethods.slowEcho) { (request: Loacl_V1_BenchmarkRequest, _) in
            probe.started.withLockedValue { $0 += 1 }
            try await Task.sleep(for: .milliseconds(Int(request.responseSize)))
            var response = Loacl_V1_BenchmarkResponse()
            response.payload = request.payload
            return response
        },
        .unary(TestMethods.fail) { (_: Loacl_V1_BenchmarkRequest, _) -> Loacl_V1_BenchmarkResponse in
            throw PlainTestError()
        },
        .bidirectional(TestMethods.echoUntilCancelled) {
            (requests: RequestStream<Loacl_V1_BenchmarkRequest>, writer: ResponseWriter<Loacl_V1_BenchmarkResponse>, _) in
            probe.started.withLockedValue { $0 += 1 }
            do {
                for try await request in requests {
                    var response = Loacl_V1_BenchmarkResponse()
                    response.payload = request.payload
                    try await writer.write(response)
                }
            } catch {
                probe.cancellations.withLockedValue { $0 += 1 }
                throw error
            }
        },
    ]
}

/// A running server on an ephemeral TCP port and a Unix socket in a temp folder.
struct TestServer: Sendable {
    let server: RPCServer
    let tcpPort: Int
    let unixPath: String
    let tlsPort: Int?
    let probe: Probe

    static func start(
        tls: TLSConfiguration? = nil,
        interceptors: [any ServerInterceptor] = [],
        observers: [any ServerCallObserver] = [],
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        configure: (inout ServerConfiguration) -> Void = { _ in }
    ) async throws -> TestServer {
        let probe = Probe()
        let unixPath = NSTemporaryDirectory() + "loacl-test-\(UUID().uuidString.prefix(8)).sock"
        var listeners: [Listener] = [.tcp(host: "127.0.0.1", port: 0), .unix(path: unixPath)]
        if tls != nil { listeners.append(.tls(host: "127.0.0.1", port: 0)) }
        var configuration = ServerConfiguration(listeners: listeners, tls: tls)
        configuration.gracePeriod = .seconds(5)
        configure(&configuration)
        var logger = Logger(label: "loacl.test.server")
        logger.logLevel = .critical
        let server = try RPCServer(configuration: configuration, methods: MethodTable(testMethods(probe)),
                                   interceptors: interceptors, observers: observers, group: group, logger: logger)
        let bound = try await server.start()
        var tcpPort = 0
        var tlsPort: Int?
        for endpoint in bound {
            if case .tcp(_, let port) = endpoint { tcpPort = port }
            if case .tls(_, let port) = endpoint { tlsPort = port }
        }
        return TestServer(server: server, tcpPort: tcpPort, unixPath: unixPath, tlsPort: tlsPort, probe: probe)
    }

    func client(_ endpoint: Endpoint? = nil, tls: TLSConfiguration? = nil) throws -> LOACLClientConnection {
        var configuration = ClientConfiguration(endpoint: endpoint ?? .tcp(host: "127.0.0.1", port: tcpPort), tls: tls)
        configuration.maxConnectAttempts = 2
        configuration.reconnectInitialDelay = .milliseconds(20)
        return try LOACLClientConnection(configuration: configuration)
    }

    func stop() async {
        await server.shutdownGracefully()
    }
}

func benchmarkRequest(_ text: String, responseSize: UInt32 = 0) -> Loacl_V1_BenchmarkRequest {
    var request = Loacl_V1_BenchmarkRequest()
    request.payload = Array(text.utf8)
    request.responseSize = responseSize
    return request
}

/// Waits (bounded) until `condition` holds.
func eventually(timeout: Duration = .seconds(30), _ condition: () -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let end = clock.now + timeout
    while clock.now < end {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}
