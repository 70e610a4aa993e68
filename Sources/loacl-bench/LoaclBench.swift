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
    @Option(help: "Where the callers' tasks run: loop (each on its connection's event loop, the client's taskExecutor: no thread hop per call) or global (Swift's global executor: two hops per call).")
    var executor = "loop"

    func validate() throws {
        guard (port == nil) != (unix == nil) else { throw ValidationError("give exactly one of --port and --unix") }
        guard mode == "unary" || mode == "streaming" else { throw ValidationError("--mode is unary or streaming") }
        guard executor == "loop" || executor == "global" else { throw ValidationError("--executor is loop or global") }
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
        // Monotonic nanoseconds, read once per call: the time a call's echo arrived is the next
        // call's start (and the deadline check), as in bench/raw-echo's client.
        let start = Self.monotonicNanos()
        let measureFrom = start + UInt64(warmup * 1e9)
        let end = measureFrom + UInt64(duration * 1e9)
        let streaming = mode == "streaming"
        let onLoop = executor == "loop"

        let cpuStart = Self.processCPUMicroseconds()
        let (latencies, errors, allCalls) = await withTaskGroup(of: ([UInt64], Int, Int).self) { group in
            for i in 0..<concurrency {
                let client = clients[i % clients.count]
                group.addTask(executorPreference: onLoop ? client.taskExecutor : nil) {
                    var samples: [UInt64] = []
                    samples.reserveCapacity(1 << 16)
                    var errors = 0
                    var calls = 0
                    if streaming {
                        do {
                            try await client.bidirectional(Loacl_V1_BenchmarkService.Method.streamingCall,
                                                           requestType: Loacl_V1_BenchmarkRequest.self,
                                                           responseType: Loacl_V1_BenchmarkResponse.self) { writer, responses in
                                var iterator = responses.makeAsyncIterator()
                                var now = Self.monotonicNanos()
                                while now < end {
                                    let t0 = now
                                    try await writer.write(call)
                                    guard let response = try await iterator.next() else { break }
                                    now = Self.monotonicNanos()
                                    calls += 1
                                    if response.payload.count != expectedSize { errors += 1 }
                                    if t0 >= measureFrom { samples.append(now - t0) }
                                }
                                writer.finish()
                            }
                        } catch {
                            errors += 1
                        }
                    } else {
                        var now = Self.monotonicNanos()
                        while now < end {
                            let t0 = now
                            do {
                                let response: Loacl_V1_BenchmarkResponse = try await client.unary(Loacl_V1_BenchmarkService.Method.unaryCall, call)
                                now = Self.monotonicNanos()
                                calls += 1
                                if response.payload.count != expectedSize { errors += 1; continue }
                                if t0 >= measureFrom { samples.append(now - t0) }
                            } catch {
                                now = Self.monotonicNanos()
                                errors += 1
                                if errors > 1000 { break }
                            }
                        }
                    }
                    return (samples, errors, calls)
                }
            }
            var all: [UInt64] = []
            var errors = 0
            var calls = 0
            for await (samples, e, c) in group {
                all += samples
                errors += e
                calls += c
            }
            return (all, errors, calls)
        }
        let cpuPerCall = Double(Self.processCPUMicroseconds() - cpuStart) / Double(max(allCalls, 1))
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
        // client_cpu_us: this process's CPU time (user + system, every thread) per completed call,
        // warm-up included: what the load generator itself costs.
        print(String(format: "calls_per_sec=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f calls=%d client_cpu_us=%.2f",
                     rate, percentile(0.5), percentile(0.99), percentile(0.999), sorted.count, cpuPerCall))
    }

    static func processCPUMicroseconds() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1_000_000 + Int(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec)
    }

    static func monotonicNanos() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}
