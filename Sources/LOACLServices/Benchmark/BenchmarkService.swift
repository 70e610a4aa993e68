import LOACLCore
import LOACLMessages
import LOACLServerCore

/// `loacl.v1.BenchmarkService`: echo calls with no database and no credentials, for the RPC
/// benchmark and protocol conformance tests. `StreamingCall` also echoes request metadata whose
/// key starts with `x-echo-` (text and `-bin`) in its response headers, for metadata round trips.
public struct BenchmarkService: Loacl_V1_BenchmarkServiceHandler {
    /// Largest generated response; keeps the MESSAGE frame under the default 4 MiB limit.
    public static let maxResponseSize = 4 * 1024 * 1024 - 64

    public init() {}

    public func unaryCall(_ request: Loacl_V1_BenchmarkRequest, context: ServerContext) throws -> Loacl_V1_BenchmarkResponse {
        try Self.respond(to: request)
    }

    public func streamingCall(
        _ requests: RequestStream<Loacl_V1_BenchmarkRequest>, responses: ResponseWriter<Loacl_V1_BenchmarkResponse>,
        context: ServerContext
    ) async throws {
        let echoed = context.metadata.filter { $0.key.hasPrefix("x-echo-") }
        if !echoed.isEmpty {
            var headers = Metadata()
            for entry in echoed {
                switch entry.value {
                case .text(let text): headers.add(entry.key, text)
                case .binary(let bytes): headers.add(entry.key, bytes: bytes)
                }
            }
            try await responses.writeHeaders(headers)
        }
        for try await request in requests {
            try await responses.write(try Self.respond(to: request))
        }
    }

    static func respond(to request: Loacl_V1_BenchmarkRequest) throws(RPCError) -> Loacl_V1_BenchmarkResponse {
        var response = Loacl_V1_BenchmarkResponse()
        if request.responseSize > 0 {
            guard request.responseSize <= maxResponseSize else {
                throw RPCError.invalidArgument("response_size must be at most \(maxResponseSize)")
            }
            response.payload = [UInt8](repeating: 0x61, count: Int(request.responseSize))
        } else {
            response.payload = request.payload
        }
        return response
    }
}
