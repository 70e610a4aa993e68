import LOACLCore
import LOACLMessages
import LOACLServer

/// `loacl.v1.BenchmarkService`: echo calls with no database and no credentials, for the RPC
/// benchmark and protocol conformance tests.
public struct BenchmarkService: Sendable {
    /// Largest generated response; keeps the MESSAGE frame under the default 4 MiB limit.
    public static let maxResponseSize = 4 * 1024 * 1024 - 64

    public init() {}

    public var methods: [ServerMethod] {
        [
            .unary(Loacl_V1_BenchmarkService.Method.unaryCall) { (request: Loacl_V1_BenchmarkRequest, _) in
                try Self.respond(to: request)
            },
            .bidirectional(Loacl_V1_BenchmarkService.Method.streamingCall) {
                (requests: RequestStream<Loacl_V1_BenchmarkRequest>, responses: ResponseWriter<Loacl_V1_BenchmarkResponse>, _) in
                for try await request in requests {
                    try await responses.write(try Self.respond(to: request))
                }
            },
        ]
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
