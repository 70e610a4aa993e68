import LOACLCore
import NIOCore
import NIOHPACK

/// The request headers of one gRPC call (grpc/grpc doc/PROTOCOL-HTTP2.md "Requests"), checked:
/// method path, deadline and custom metadata. A request LOACL cannot serve gets a `Rejection`.
struct GRPCRequestHead {
    /// `/package.Service/Method`.
    var path: String
    var metadata: Metadata
    var deadline: NIODeadline?
    /// The requests' encoding (`grpc-encoding`).
    var encoding = GRPCEncoding.identity
    /// Whether the client takes gzip-compressed responses (`grpc-accept-encoding`).
    var acceptsGzip = false

    /// Why a request is not served, and how it is answered.
    enum Rejection: Error {
        /// Not a gRPC request: an HTTP status, no gRPC call.
        case http(status: Int, reason: String)
        /// A gRPC request that ends at once with this status (Trailers-Only).
        case status(RPCError)
    }

    /// Headers LOACL reads itself (or HTTP/2's own): never handed to handlers as metadata.
    private static let reserved: Set<String> = [
        "te", "content-type", "content-length", "user-agent", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding",
        "grpc-message-type",
    ]

    init(_ headers: HPACKHeaders, now: NIODeadline = .now()) throws(Rejection) {
        guard headers.first(name: ":method") == "POST" else {
            throw .http(status: 405, reason: "gRPC calls are POST requests")
        }
        let contentType = headers.first(name: "content-type") ?? ""
        guard contentType == "application/grpc" || contentType.hasPrefix("application/grpc+proto")
                || contentType.hasPrefix("application/grpc;") else {
            throw .http(status: 415, reason: "content-type \(contentType.prefix(64)) is not application/grpc[+proto]")
        }
        guard let path = headers.first(name: ":path"), path.hasPrefix("/") else {
            throw .status(RPCError(.unimplemented, "missing :path"))
        }
        self.path = path
        if let name = headers.first(name: "grpc-encoding") {
            guard let encoding = GRPCEncoding(rawValue: name) else {
                throw .status(RPCError(.unimplemented, "message encoding \(name.prefix(32)) is not supported (\(GRPCEncoding.accepted))"))
            }
            self.encoding = encoding
        }
        acceptsGzip = headers[canonicalForm: "grpc-accept-encoding"].contains { $0 == "gzip" }
        if let timeout = headers.first(name: "grpc-timeout") {
            guard let amount = Self.timeout(timeout) else {
                throw .status(RPCError(.invalidArgument, "malformed grpc-timeout \(timeout.prefix(32))"))
            }
            deadline = now + amount
        }
        metadata = Metadata()
        for (name, value, _) in headers where !name.hasPrefix(":") && !Self.reserved.contains(name) {
            guard Metadata.isValidKey(name) else {
                throw .status(RPCError(.invalidArgument, "invalid metadata key \(name.prefix(64))"))
            }
            if name.hasSuffix("-bin") {
                guard let bytes = GRPCBinaryHeader.decode(value) else {
                    throw .status(RPCError(.invalidArgument, "metadata \(name) is not base64"))
                }
                metadata.add(name, bytes: bytes)
            } else {
                metadata.add(name, value)
            }
        }
    }

    /// `grpc-timeout`: at most 8 digits and a unit (H, M, S, m, u, n).
    static func timeout(_ text: String) -> TimeAmount? {
        guard let unit = text.last, text.count >= 2, text.count <= 9, let value = Int64(text.dropLast()), value >= 0 else {
            return nil
        }
        switch unit {
        case "H": return .hours(value)
        case "M": return .minutes(value)
        case "S": return .seconds(value)
        case "m": return .milliseconds(value)
        case "u": return .microseconds(value)
        case "n": return .nanoseconds(value)
        default: return nil
        }
    }
}
