import LOACLCore
import NIOCore
import NIOHPACK

/// The request headers of one gRPC call (grpc/grpc doc/PROTOCOL-HTTP2.md "Requests"), checked:
/// method path, deadline and custom metadata. A request LOACL cannot serve gets a `Rejection`.
struct GRPCRequestHead {
    /// `/package.Service/Method`.
    var path: String
    var metadata = Metadata()
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

    /// The request's headers in one pass (HTTP/2 header names are lowercase: NIOHTTP2Handler
    /// checks): the first value of each header LOACL reads, every `grpc-accept-encoding` value,
    /// and the rest as metadata. Checked in this order: method, content type, path, encoding,
    /// timeout, metadata.
    init(_ headers: HPACKHeaders, now: NIODeadline = .now()) throws(Rejection) {
        var method: String?, contentType: String?, path: String?, encoding: String?, timeout: String?
        var metadata = Metadata()
        var badMetadata: RPCError?
        for (name, value, _) in headers {
            switch name {
            case ":method": if method == nil { method = value }
            case ":path": if path == nil { path = value }
            case "content-type": if contentType == nil { contentType = value }
            case "grpc-encoding": if encoding == nil { encoding = value }
            case "grpc-timeout": if timeout == nil { timeout = value }
            case "grpc-accept-encoding": if !acceptsGzip { acceptsGzip = Self.lists("gzip", in: value) }
            // Read by HTTP/2 or not at all: never handed to handlers as metadata.
            case "te", "content-length", "user-agent", "grpc-message-type": break
            default:
                guard badMetadata == nil, !name.hasPrefix(":") else { break }
                badMetadata = Self.add(name, value, to: &metadata)
            }
        }
        guard method == "POST" else {
            throw .http(status: 405, reason: "gRPC calls are POST requests")
        }
        let type = contentType ?? ""
        guard type == "application/grpc" || type.hasPrefix("application/grpc+proto") || type.hasPrefix("application/grpc;") else {
            throw .http(status: 415, reason: "content-type \(type.prefix(64)) is not application/grpc[+proto]")
        }
        guard let path, path.hasPrefix("/") else {
            throw .status(RPCError(.unimplemented, "missing :path"))
        }
        self.path = path
        if let encoding {
            guard let known = GRPCEncoding(rawValue: encoding) else {
                throw .status(RPCError(.unimplemented, "message encoding \(encoding.prefix(32)) is not supported (\(GRPCEncoding.accepted))"))
            }
            self.encoding = known
        }
        if let timeout {
            guard let amount = Self.timeout(timeout) else {
                throw .status(RPCError(.invalidArgument, "malformed grpc-timeout \(timeout.prefix(32))"))
            }
            deadline = now + amount
        }
        if let badMetadata { throw .status(badMetadata) }
        self.metadata = metadata
    }

    /// Adds one custom header to `metadata` (`-bin` values base64-decoded); the error if it is not valid.
    private static func add(_ name: String, _ value: String, to metadata: inout Metadata) -> RPCError? {
        guard Metadata.isValidKey(name) else {
            return RPCError(.invalidArgument, "invalid metadata key \(name.prefix(64))")
        }
        guard name.hasSuffix("-bin") else {
            metadata.add(name, value)
            return nil
        }
        guard let bytes = GRPCBinaryHeader.decode(value) else {
            return RPCError(.invalidArgument, "metadata \(name) is not base64")
        }
        metadata.add(name, bytes: bytes)
        return nil
    }

    /// Whether the comma-separated `list` has `token` (spaces and tabs around items ignored).
    static func lists(_ token: String, in list: String) -> Bool {
        func isBlank(_ c: UInt8) -> Bool { c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") }
        return list.utf8.split(separator: UInt8(ascii: ",")).contains { item in
            var item = item[...]
            while let c = item.first, isBlank(c) { item.removeFirst() }
            while let c = item.last, isBlank(c) { item.removeLast() }
            return item.elementsEqual(token.utf8)
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
