import NIOHPACK

/// The header-block rules of RFC 9113 §8.2–8.3 that swift-nio-http2's header-block validation
/// enforces, checked here instead (`GRPCTransport` turns that validation off: in swift-nio-http2
/// 1.46 one flag covers both directions, and validating LOACL's own constant response headers
/// and trailers cost as much as checking the client's). Same rules, same outcome: a block that
/// breaks one is a stream error of type PROTOCOL_ERROR (`GRPCStreamRouter` resets the stream).
///
/// - Field names: a lowercase `token` (RFC 9110 §5.6.2), never a connection-specific field
///   (`connection`, `keep-alive`, `proxy-connection`, `transfer-encoding`, `upgrade`); `te` only as
///   `trailers` (requests).
/// - Field values: no NUL, CR or LF; pseudo-header values no control byte, space or DEL either.
/// - Requests: pseudo-header fields before regular ones, each at most once, only `:method`,
///   `:scheme`, `:path` (not empty) and `:authority`; the first three present — or, for CONNECT,
///   exactly `:method` and `:authority` (no extended CONNECT: the server never offers it).
/// - Trailers: no pseudo-header field.
enum HTTP2HeaderBlockCheck {
    /// Whether `headers`, the first header block of a stream, are a well-formed request's.
    static func isValidRequest(_ headers: HPACKHeaders) -> Bool {
        var seen: UInt8 = 0
        var regular = false
        var isConnect = false
        for (name, value, _) in headers {
            guard name.utf8.first == UInt8(ascii: ":") else {
                regular = true
                guard isValidRegular(name, value) else { return false }
                if name.utf8.count == 2 && name == "te" && value != "trailers" { return false }
                continue
            }
            let field = pseudoHeader(name)
            guard !regular, field != 0, seen & field == 0, isValidPseudoValue(value) else { return false }
            seen |= field
            if field == path && value.isEmpty { return false }
            if field == method { isConnect = value == "CONNECT" }
        }
        return isConnect ? seen == method | authority : seen & (method | scheme | path) == method | scheme | path
    }

    /// Whether `headers`, a later header block of a stream, are well-formed trailers.
    static func isValidTrailers(_ headers: HPACKHeaders) -> Bool {
        for (name, value, _) in headers {
            guard name.utf8.first != UInt8(ascii: ":"), isValidRegular(name, value) else { return false }
        }
        return true
    }

    /// Whether LOACL may send `name: value` (response metadata from a handler): what the receiving
    /// side checks of a regular field, and never `te`.
    static func isSendable(_ name: String, _ value: String) -> Bool {
        isValidRegular(name, value) && name != "te"
    }

    // MARK: Fields

    private static let path: UInt8 = 1, method: UInt8 = 2, scheme: UInt8 = 4, authority: UInt8 = 8

    /// The request pseudo-header `name` is (its bit), or 0 when it is none of them.
    private static func pseudoHeader(_ name: String) -> UInt8 {
        switch name {
        case ":path": path
        case ":method": method
        case ":scheme": scheme
        case ":authority": authority
        default: 0
        }
    }

    private static func isValidRegular(_ name: String, _ value: String) -> Bool {
        isToken(name) && !isConnectionSpecific(name) && !value.utf8.contains { $0 == 0 || $0 == 0x0A || $0 == 0x0D }
    }

    private static func isValidPseudoValue(_ value: String) -> Bool {
        !value.utf8.contains { $0 <= 0x20 || $0 == 0x7F }
    }

    private static func isConnectionSpecific(_ name: String) -> Bool {
        switch name.utf8.count {
        case 7: name == "upgrade"
        case 10: name == "connection" || name == "keep-alive"
        case 16: name == "proxy-connection"
        case 17: name == "transfer-encoding"
        default: false
        }
    }

    /// A lowercase token: `! # $ % & ' * + - . ^ _ \` | ~`, digits and lowercase letters.
    private static func isToken(_ name: String) -> Bool {
        !name.utf8.isEmpty && name.utf8.allSatisfy { byte in
            byte < 64 ? tokenLow & (1 << UInt64(byte)) != 0 : byte < 128 && tokenHigh & (1 << UInt64(byte - 64)) != 0
        }
    }

    /// Token bytes 0–63: 0x21, 0x23–0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x30–0x39.
    private static let tokenLow: UInt64 = bits([0x21, 0x2A, 0x2B, 0x2D, 0x2E] + Array(0x23...0x27) + Array(0x30...0x39))
    /// Token bytes 64–127 (less 64): 0x5E–0x7A, 0x7C, 0x7E.
    private static let tokenHigh: UInt64 = bits((Array(0x5E...0x7A) + [0x7C, 0x7E]).map { $0 - 64 })

    private static func bits(_ positions: [Int]) -> UInt64 {
        positions.reduce(0) { $0 | 1 << UInt64($1) }
    }
}
