/// Where a server listens or a client connects, written as `unix:/path/to.sock`,
/// `tcp:host:port` or `tls:host:port` (IPv6 hosts in brackets: `tcp:[::1]:7700`).
public enum Endpoint: Sendable, Hashable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: Int)
    case tls(host: String, port: Int)

    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let text: String
        public let reason: String
        /// The forms accepted where the text was read.
        public var expected = "unix:/path, tcp:host:port or tls:host:port"
        public var description: String { "invalid address \"\(text)\": \(reason) (expected \(expected))" }
    }

    public init(parsing text: String) throws(ParseError) {
        guard let colon = text.firstIndex(of: ":") else { throw ParseError(text: text, reason: "missing scheme") }
        let scheme = text[..<colon]
        let rest = String(text[text.index(after: colon)...])
        switch scheme {
        case "unix":
            guard !rest.isEmpty else { throw ParseError(text: text, reason: "empty socket path") }
            self = .unix(path: rest)
        case "tcp", "tls":
            let (host, port) = try Self.hostPort(rest, text)
            self = scheme == "tcp" ? .tcp(host: host, port: port) : .tls(host: host, port: port)
        default:
            throw ParseError(text: text, reason: "unknown scheme \"\(scheme)\"")
        }
    }

    private static func hostPort(_ s: String, _ text: String) throws(ParseError) -> (String, Int) {
        var host: Substring
        var portText: Substring
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]"), s[s.index(after: close)...].hasPrefix(":") else {
                throw ParseError(text: text, reason: "bad bracketed IPv6 host")
            }
            host = s[s.index(after: s.startIndex)..<close]
            portText = s[s.index(close, offsetBy: 2)...]
        } else {
            guard let colon = s.lastIndex(of: ":") else { throw ParseError(text: text, reason: "missing port") }
            host = s[..<colon]
            portText = s[s.index(after: colon)...]
        }
        guard !host.isEmpty else { throw ParseError(text: text, reason: "empty host") }
        guard let port = Int(portText), (0...65535).contains(port) else { throw ParseError(text: text, reason: "bad port") }
        return (String(host), port)
    }

    public var description: String {
        switch self {
        case .unix(let path): "unix:\(path)"
        case .tcp(let host, let port): "tcp:\(host.contains(":") ? "[\(host)]" : host):\(port)"
        case .tls(let host, let port): "tls:\(host.contains(":") ? "[\(host)]" : host):\(port)"
        }
    }
}
