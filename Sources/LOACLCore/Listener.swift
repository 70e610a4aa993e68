/// A server listener: the protocol it speaks and where. Written `tcp:host:port`, `tls:host:port`
/// or `unix:/path` for the LOACL wire (docs/PROTOCOL.md), and `grpc:host:port` (cleartext
/// HTTP/2, prior knowledge), `grpcs:host:port` (TLS, ALPN `h2`) or `grpc+unix:/path` for gRPC
/// (docs/GRPC.md).
public struct Listener: Sendable, Hashable, CustomStringConvertible {
    /// The protocol spoken on the listener's connections.
    public enum Wire: Sendable, Hashable {
        /// LOACL wire v1.
        case loacl
        /// gRPC over HTTP/2.
        case grpc
    }

    public var wire: Wire
    /// The address, and whether it is TLS (`.tls`).
    public var endpoint: Endpoint

    public init(_ wire: Wire, _ endpoint: Endpoint) {
        self.wire = wire
        self.endpoint = endpoint
    }

    public static func tcp(host: String, port: Int) -> Listener { Listener(.loacl, .tcp(host: host, port: port)) }
    public static func tls(host: String, port: Int) -> Listener { Listener(.loacl, .tls(host: host, port: port)) }
    public static func unix(path: String) -> Listener { Listener(.loacl, .unix(path: path)) }
    public static func grpc(host: String, port: Int) -> Listener { Listener(.grpc, .tcp(host: host, port: port)) }
    public static func grpcs(host: String, port: Int) -> Listener { Listener(.grpc, .tls(host: host, port: port)) }
    public static func grpcUnix(path: String) -> Listener { Listener(.grpc, .unix(path: path)) }

    /// gRPC schemes and the LOACL wire scheme with the same address syntax.
    private static let grpcSchemes = [("grpc+unix:", "unix:"), ("grpcs:", "tls:"), ("grpc:", "tcp:")]

    public init(parsing text: String) throws(Endpoint.ParseError) {
        let expected = "unix:/path, tcp:host:port, tls:host:port, grpc:host:port, grpcs:host:port or grpc+unix:/path"
        var wire = Wire.loacl
        var address = text
        if let (scheme, loacl) = Self.grpcSchemes.first(where: { text.hasPrefix($0.0) }) {
            wire = .grpc
            address = loacl + text.dropFirst(scheme.count)
        }
        do {
            self.init(wire, try Endpoint(parsing: address))
        } catch {
            throw Endpoint.ParseError(text: text, reason: error.reason, expected: expected)
        }
    }

    public var description: String {
        guard wire == .grpc else { return endpoint.description }
        switch endpoint {
        case .unix(let path): return "grpc+unix:\(path)"
        case .tcp: return "grpc:" + endpoint.description.dropFirst("tcp:".count)
        case .tls: return "grpcs:" + endpoint.description.dropFirst("tls:".count)
        }
    }
}
