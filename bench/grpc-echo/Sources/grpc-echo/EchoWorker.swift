import GRPCCore
import Synchronization

/// One caller's loop. Every loop ends at `load.window.end`.
enum EchoWorker {
    static func unary<Transport: ClientTransport>(
        client: GRPCClient<Transport>, load: LoadSpec
    ) async throws -> WorkerResult {
        var result = WorkerResult()
        let request = ClientRequest(message: load.payload)
        let expected = load.payload.count
        while true {
            let start = ContinuousClock.now
            if start >= load.window.end { break }
            do {
                let count = try await client.unary(
                    request: request,
                    descriptor: EchoMethods.unary,
                    serializer: RawBytesSerializer(),
                    deserializer: RawBytesDeserializer(),
                    options: .defaults
                ) { response in try response.message.count }
                if count == expected {
                    result.record(start: start, window: load.window)
                } else {
                    result.errors += 1
                }
            } catch {
                result.errors += 1
            }
        }
        return result
    }

    /// One bidi stream, one message in flight on it: write, wait for the echo, repeat.
    static func streaming<Transport: ClientTransport>(
        client: GRPCClient<Transport>, load: LoadSpec
    ) async throws -> WorkerResult {
        // The response handler tells the producer each echo arrived; the producer times the
        // round trip and leaves its measurements in `outcome` when it stops writing.
        let (echoes, echoed) = AsyncStream.makeStream(of: Bool.self)
        let outcome = SharedResult()
        let request = StreamingClientRequest(of: [UInt8].self) { writer in
            var result = WorkerResult()
            var arrivals = echoes.makeAsyncIterator()
            while true {
                let start = ContinuousClock.now
                if start >= load.window.end { break }
                try await writer.write(load.payload)
                guard let matched = await arrivals.next() else { break }
                if matched {
                    result.record(start: start, window: load.window)
                } else {
                    result.errors += 1
                }
            }
            outcome.value.withLock { $0.merge(result) }
        }
        do {
            try await client.bidirectionalStreaming(
                request: request,
                descriptor: EchoMethods.streaming,
                serializer: RawBytesSerializer(),
                deserializer: RawBytesDeserializer(),
                options: .defaults
            ) { response in
                defer { echoed.finish() }
                for try await message in response.messages {
                    echoed.yield(message.count == load.payload.count)
                }
            }
        } catch {
            outcome.value.withLock { $0.errors += 1 }
        }
        echoed.finish()
        return outcome.value.withLock { $0 }
    }
}

/// Hands the producer's measurements to the worker (escaping closures cannot capture a Mutex).
private final class SharedResult: Sendable {
    let value = Mutex(WorkerResult())
}
