import AsyncHTTPClient
import Logging
import NIOCore

/// Outbound HTTP for the OpenAI providers: one shared `HTTPClient` (connection pool), a POST
/// whose response body is an event stream read chunk by chunk, retries before the first delta,
/// and cancellation that closes the upstream request at once.
public struct UpstreamTransport: Sendable {
    public let client: HTTPClient
    public var retry: RetryPolicy
    /// Whole-request deadline, reply streaming included.
    public var requestTimeout: Duration
    public var logger: Logger

    public init(client: HTTPClient, retry: RetryPolicy = RetryPolicy(), requestTimeout: Duration = .seconds(600),
                logger: Logger = Logger(label: "loacl.upstream")) {
        self.client = client
        self.retry = retry
        self.requestTimeout = requestTimeout
        self.logger = logger
    }

    /// A client set up for upstream calls: `connectTimeout` per connection attempt, and
    /// `readTimeout` as the longest silence tolerated between body chunks.
    public static func makeHTTPClient(connectTimeout: Duration = .seconds(10), readTimeout: Duration = .seconds(120)) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .init(connectTimeout), read: .init(readTimeout))
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// POSTs `body` (JSON) to `url` and streams the decoded reply. The returned stream's
    /// consumer owns the request: when its task is cancelled or it stops iterating, the
    /// request is cancelled and the connection closed.
    /// `sending`, if given, is called once the first attempt's request has been written (the
    /// HTTP client asked for more body after the last byte), and again when the stream ends
    /// (so it is called even when no attempt was made). Without it the body goes as one buffer.
    func stream<Decoder: StreamDecoder>(url: String, apiKey: String?, body: [UInt8], sending: (@Sendable () -> Void)? = nil,
                                         makeDecoder: @escaping @Sendable () -> Decoder) -> AsyncThrowingStream<ChatEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream<ChatEvent, any Error>.makeStream()
        let task = Task {
            defer { sending?() }
            do {
                try await run(url: url, apiKey: apiKey, body: body, makeDecoder: makeDecoder, sending: sending, continuation: continuation)
            } catch {
                continuation.finish(throwing: Task.isCancelled ? CancellationError() : error)
            }
        }
        // Cancel on the consumer's cancellation or abandonment, not after a normal finish (the
        // task may still be draining the body for connection reuse).
        continuation.onTermination = { termination in
            if case .cancelled = termination { task.cancel() }
        }
        return stream
    }

    private func makeRequest(url: String, apiKey: String?, body: [UInt8], sent: (@Sendable () -> Void)? = nil) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "text/event-stream")
        request.headers.add(name: "User-Agent", value: "loacl-upstream/1")
        if let apiKey, !apiKey.isEmpty {
            request.headers.add(name: "Authorization", value: "Bearer \(apiKey)")
        }
        if let sent {
            request.body = .stream(SignallingBody(buffer: ByteBuffer(bytes: body), sent: sent), length: .known(Int64(body.count)))
        } else {
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        return request
    }

    private func run<Decoder: StreamDecoder>(url: String, apiKey: String?, body: [UInt8], makeDecoder: @Sendable () -> Decoder,
                                              sending: (@Sendable () -> Void)?,
                                              continuation: AsyncThrowingStream<ChatEvent, any Error>.Continuation) async throws {
        var attempt = 0
        var sentDelta = false
        while true {
            attempt += 1
            let failure: ChatProviderError
            var retryAfter: Duration?
            do {
                let response = try await client.execute(makeRequest(url: url, apiKey: apiKey, body: body, sent: attempt == 1 ? sending : nil),
                                                        deadline: .now() + .init(requestTimeout), logger: logger)
                if response.status != .ok {
                    let errorBody = (try? await response.body.collect(upTo: 64 * 1024)).map { Array(buffer: $0) } ?? []
                    try Task.checkCancellation()
                    let headers = response.headers.map { (name: $0.name, value: $0.value) }
                    switch HTTPFailure.classify(status: Int(response.status.code), body: errorBody,
                                                retryAfter: RetryPolicy.retryAfter(headers: headers)) {
                    case .fatal(let error): throw error
                    case .retryable(let error, let after):
                        failure = error
                        retryAfter = after
                    }
                } else {
                    var decoder = makeDecoder()
                    var parser = ServerSentEventParser()
                    var iterator = response.body.makeAsyncIterator()
                    do {
                        while let chunk = try await iterator.next() {
                            for event in try parser.feed(chunk.readableBytesView) {
                                switch try decoder.decode(event) {
                                case .ignored: break
                                case .delta(let text):
                                    sentDelta = true
                                    continuation.yield(.delta(text))
                                case .toolCallDeltas(let pieces):
                                    sentDelta = true
                                    for piece in pieces { continuation.yield(.toolCallDelta(piece)) }
                                case .both(let text, let pieces):
                                    sentDelta = true
                                    continuation.yield(.delta(text))
                                    for piece in pieces { continuation.yield(.toolCallDelta(piece)) }
                                case .completed(let usage):
                                    continuation.yield(.completed(usage))
                                    continuation.finish()
                                    // Read the (tiny) rest so the connection can go back to the
                                    // pool; the consumer is not kept waiting for it.
                                    while (try? await iterator.next()) != nil {}
                                    return
                                }
                            }
                        }
                        _ = parser.finish()
                        continuation.yield(.completed(try decoder.endOfStream()))
                        continuation.finish()
                        return
                    } catch let error as ChatProviderError {
                        throw error
                    } catch is ServerSentEventParser.LineTooLong {
                        throw ChatProviderError.unavailable("malformed event stream: a line exceeds 1 MiB")
                    } catch {
                        try Task.checkCancellation()
                        let text = "connection lost while streaming the reply: \(Self.describe(error))"
                        if sentDelta { throw ChatProviderError.unavailable(text) }
                        failure = .unavailable(text)
                    }
                }
            } catch let error as ChatProviderError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                try Task.checkCancellation()
                failure = .unavailable("\(url): \(Self.describe(error))")
            }

            guard attempt < retry.maxAttempts, !sentDelta else { throw failure }
            let wait = max(retryAfter ?? .zero, retry.backoff(retry: attempt))
            if wait > retry.maxRetryAfter { throw failure }
            logger.notice("upstream attempt failed; retrying",
                          metadata: ["attempt": "\(attempt)", "error": "\(failure)", "wait": "\(wait)"])
            try await Task.sleep(for: wait)
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .readTimeout: return "no data from the upstream within the read timeout"
            case .deadlineExceeded: return "the upstream request exceeded its deadline"
            case .remoteConnectionClosed: return "the upstream closed the connection"
            case .connectTimeout: return "connecting to the upstream timed out"
            default: return "\(error)"
            }
        }
        return "\(error)"
    }
}

/// A request body of one buffer that calls `sent` when the HTTP client asks for more after it:
/// by then the request has been handed to the connection.
struct SignallingBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let buffer: ByteBuffer
    let sent: @Sendable () -> Void

    struct AsyncIterator: AsyncIteratorProtocol {
        var buffer: ByteBuffer?
        let sent: @Sendable () -> Void

        mutating func next() async -> ByteBuffer? {
            if let buffer {
                self.buffer = nil
                return buffer
            }
            sent()
            return nil
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(buffer: buffer, sent: sent) }
}
