import ArgumentParser
import GRPCCore
import GRPCNIOTransportHTTP2Posix

/// `grpc-echo client …`: drives `concurrency` callers spread over `connections` HTTP/2
/// connections to 127.0.0.1 for `warmup + duration` seconds, then prints one summary line.
struct ClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client", abstract: "Load the echo server on 127.0.0.1 and print a summary line.")

    enum Mode: String, ExpressibleByArgument, CaseIterable, Sendable {
        /// Each caller loops on unary calls.
        case unary
        /// Each caller holds one bidi stream open and ping-pongs one message at a time.
        case streaming
    }

    @Option(help: "TCP port on 127.0.0.1.")
    var port: Int
    @Option(help: "HTTP/2 connections (one GRPCClient each).")
    var connections: Int = 1
    @Option(help: "Calls (or streams) in flight across all connections.")
    var concurrency: Int = 64
    @Option(help: "Payload size in bytes.")
    var payload: Int = 64
    @Option(help: "Measured seconds.")
    var duration: Double = 5
    @Option(help: "Unmeasured seconds before measuring starts.")
    var warmup: Double = 0.5
    @Option(help: "unary | streaming")
    var mode: Mode = .unary

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port out of range") }
        guard connections >= 1, concurrency >= connections else {
            throw ValidationError("need 1 <= --connections <= --concurrency")
        }
        guard payload >= 0, duration > 0, duration <= 600, warmup >= 0, warmup <= 60 else {
            throw ValidationError("need --payload >= 0, 0 < --duration <= 600, 0 <= --warmup <= 60")
        }
    }

    func run() async throws {
        let clients = try (0..<connections).map { _ in
            GRPCClient(
                transport: try .http2NIOPosix(
                    target: .ipv4(address: "127.0.0.1", port: port),
                    transportSecurity: .plaintext
                )
            )
        }
        let window = LoadWindow(warmup: warmup, duration: duration)
        let load = LoadSpec(payload: [UInt8](repeating: 0x5A, count: payload), window: window)
        let mode = self.mode
        let concurrency = self.concurrency

        let result = try await withThrowingDiscardingTaskGroup { group in
            for client in clients {
                group.addTask { try await client.runConnections() }
            }
            defer { clients.forEach { $0.beginGracefulShutdown() } }
            return try await withThrowingTaskGroup(of: WorkerResult.self) { workers in
                for index in 0..<concurrency {
                    let client = clients[index % clients.count]
                    workers.addTask {
                        switch mode {
                        case .unary: try await EchoWorker.unary(client: client, load: load)
                        case .streaming: try await EchoWorker.streaming(client: client, load: load)
                        }
                    }
                }
                var total = WorkerResult()
                for try await partial in workers { total.merge(partial) }
                return total
            }
        }
        if result.errors > 0 {
            printError("grpc-echo client: \(result.errors) failed or mismatched calls")
        }
        print(LatencySummary(latenciesNanos: result.latenciesNanos, seconds: duration).line)
        if result.latenciesNanos.isEmpty { throw ExitCode.failure }
    }
}
