import Foundation
import LOACLCore
import NIOHPACK

/// The response side of gRPC's headers: response headers, trailers (Trailers-Only too) and the
/// encodings they need (`-bin` values in base64, `grpc-message` percent-encoded).
enum GRPCHeaders {
    /// `:status 200`, the content type and encodings, then `metadata`.
    static func response(_ metadata: Metadata = Metadata(), encoding: GRPCEncoding = .identity) -> HPACKHeaders {
        if encoding == .identity && metadata.isEmpty { return plainResponse }
        var headers = plainResponse
        if encoding != .identity { headers.add(name: "grpc-encoding", value: encoding.rawValue) }
        append(metadata, to: &headers)
        return headers
    }

    /// The call's end: `grpc-status`, `grpc-message` and the error's metadata. `trailersOnly`
    /// (nothing sent yet) starts with the response headers, in the same HEADERS frame.
    static func trailers(_ status: RPCError?, trailersOnly: Bool) -> HPACKHeaders {
        if status == nil && !trailersOnly { return okTrailers }
        var headers = trailersOnly ? plainResponse : HPACKHeaders()
        headers.add(name: "grpc-status", value: "\(status?.code.rawValue ?? 0)")
        if let status {
            if !status.message.isEmpty { headers.add(name: "grpc-message", value: percentEncoded(status.message)) }
            append(status.metadata, to: &headers)
        }
        return headers
    }

    // Built once: most calls send exactly these (HPACK still indexes them per connection).
    private static let plainResponse: HPACKHeaders = [
        ":status": "200", "content-type": "application/grpc", "grpc-accept-encoding": GRPCEncoding.accepted,
    ]
    private static let okTrailers: HPACKHeaders = ["grpc-status": "0"]

    /// An answer to a request that is not gRPC at all (wrong method or content type); `reason` is
    /// its body too (`GRPCServerStream.end(httpStatus:reason:)`).
    static func httpError(status: Int, reason: String) -> HPACKHeaders {
        [":status": "\(status)", "content-type": "text/plain", "grpc-status": "\(StatusCode.internal.rawValue)",
         "grpc-message": percentEncoded(reason)]
    }

    /// Entries that are not valid HTTP/2 fields (`HTTP2HeaderBlockCheck.isSendable`: a peer would
    /// take the whole block as malformed) are left out.
    private static func append(_ metadata: Metadata, to headers: inout HPACKHeaders) {
        for entry in metadata {
            let value = switch entry.value {
            case .text(let text): text
            case .binary(let bytes): GRPCBinaryHeader.encode(bytes)
            }
            if HTTP2HeaderBlockCheck.isSendable(entry.key, value) { headers.add(name: entry.key, value: value) }
        }
    }

    /// Percent-encodes every byte outside printable ASCII, and `%` itself (the spec's
    /// Status-Message rule), over the message's UTF-8.
    static func percentEncoded(_ message: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]()
        out.reserveCapacity(message.utf8.count)
        for byte in message.utf8 {
            if byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: "%") {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Values of `-bin` metadata: standard base64, padded when sent, padding optional when received.
enum GRPCBinaryHeader {
    static func encode(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    static func decode(_ text: String) -> [UInt8]? {
        var padded = text
        while padded.utf8.count % 4 != 0 { padded += "=" }
        return Data(base64Encoded: padded).map { [UInt8]($0) }
    }
}
