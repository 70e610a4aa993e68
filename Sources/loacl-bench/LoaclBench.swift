import ArgumentParser
import Foundation
import LOACLClient

/// Load generator for bench/run.sh, following the client contract in bench/README.md:
/// prints one line `calls_per_sec=… p50_us=… p99_us=… p999_us=… calls=…`.
@main
struct LoaclBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loacl-bench",
        abstract: "LOACL RPC load generator (BenchmarkService echo).",
        subcommands: [Client.self],
        defaultSubcommand: Client.self)
}

struct Client: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run echo calls against a loacld and print one result line.")

    @Option(help: "TCP port on 127.0.0.1.") var port: Int?
    @Option(help: "Unix socket path.") var unix: String?
    @Option(help: "With --port: connect with TLS, verifying the server (name \"localhost\") against this CA file.") var tlsCa: String?
    @Option(help: "Connections.") var connections = 1
    @Option(help: "Concurrent callers, spread round-robin over the connections.") var concurrency = 64
    @Option(help: "Payload bytes per call.") var payload = 64
    @Option(help: "Measured seconds.") var duration = 5.0
    @Option(help: "Seconds of warmup (calls started then are not counted).") var warmup = 0.5
    @Option(help: "unary or streaming.") var mode = "unary"

    func validate() throws {
        guard (port == nil) != (unix == nil) else { throw ValidationError("give exactly one of --port and --unix") }
        guard mode == "unary" || mode == "streaming" else { throw ValidationError("--mode is unary or streaming") }
        guard connections > 0, concurrency > 0, duration > 0 else { throw ValidationError("counts and duration must be positive") }
    }

    func run() async throws {
        let endpoint: Endpoint = if let unix { .unix(path: unix) } else if tlsCa != nil { .tls(host: "127.0.0.1", port: port!) } else { .tcp(host: "127.0.0.1", port: port!) }
        let tls: TLSConfiguration? = tlsCa.map { .client(caFile: $0, serverName: "localhost") }
        let clients = try (0..<connections).map { _ in try LOACLClientConnection(configuration: ClientConfiguration(endpoint: endpoint, tls: tls)) }
        var request = Loacl_V1_BenchmarkRequest()
        request.payload = [UInt8](repeating: 0x5A, count: payload)
        let call = request
        let expectedSize = payload
        let clock = ContinuousClock()
        let start = clock.now
        let measureFrom = start + .seconds(warmup)
        let end = measureFrom + .seconds(duration)
        let streaming = mode == "streaming"

        let (latencies, errors) = await withTaskGroup(of: ([UInt64], Int).self) { group in
            for i in 0..<concurrency {
                let client = clients[i % clients.count]
                group.addTask {
                    var samples: [UInt64] = []
                    samples.reserveCapacity(1 << 16)
                    var errors = 0
                    if streaming {
                        do {
                            try await client.bidirectional(Loacl_V1_BenchmarkService.Method.streamingCall,
                                                           requestType: Loacl_V1_BenchmarkRequest.self,
                                                           responseType: Loacl_V1_BenchmarkResponse.self) { writer, responses in
                                var iterator = responses.makeAsyncIterator()
                                while clock.now < end {
                                    let t0 = clock.now
                                    try await writer.write(call)
                                    guard let response = try await iterator.next() else { break }
                                    if response.payload.count != expectedSize { errors += 1 }
                                    if t0 >= measureFrom { samples.append(Self.nanos(clock.now - t0)) }
                                }
                                writer.finish()
                            }
                        } catch {
                            errors += 1
                        }
                    } else {
                        while clock.now < end {
                            let t0 = clock.now
                            do {
                                let response: Loacl_V1_BenchmarkResponse = try await client.unary(Loacl_V1_BenchmarkService.Method.unaryCall, call)
                                if response.payload.count != expectedSize { errors += 1; continue }
                                if t0 >= measureFrom { samples.append(Self.nanos(clock.now - t0)) }
                            } catch {
                                errors += 1
                                if errors > 1000 { break }
                            }
                        }
                    }
                    return (samples, errors)
                }
            }
            var all: [UInt64] = []
            var errors = 0
            for await (samples, e) in group {
                all += samples
                errors += e
            }
            return (all, errors)
        }
        for client in clients { await client.close() }
        if errors > 0 { FileHandle.standardError.write(Data("loacl-bench: \(errors) failed calls\n".utf8)) }
        guard !latencies.isEmpty else {
            FileHandle.standardError.write(Data("loacl-bench: no call succeeded\n".utf8))
            throw ExitCode(1)
        }
        let sorted = latencies.sorted()
        func percentile(_ p: Double) -> Double {
            let rank = max(1, Int((p * Double(sorted.count)).rounded(.up)))
            return Double(sorted[min(rank, sorted.count) - 1]) / 1000
        }
        let rate = Double(sorted.count) / duration
        print(String(format: "calls_per_sec=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f calls=%d",
                     rate, percentile(0.5), percentile(0.99), percentile(0.999), sorted.count))
    }

    static func nanos(_ d: Duration) -> UInt64 {
        UInt64(d.components.seconds) * 1_000_000_000 + UInt64(d.components.attoseconds / 1_000_000_000)
    }
}
