// gRPC request headers as HPACK delivers them (names and values after decompression), one
// `name: value` per line of the input: method, content type, path, grpc-encoding, grpc-timeout,
// `-bin` metadata in base64 and every other key's checks. Also the response side's
// percent-encoding of grpc-message, which must keep printable ASCII only.
import FuzzSupport
import NIOCore
import NIOHPACK
@testable import LOACLServer

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGRPCRequestHead(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let text = fuzzText(UnsafeRawBufferPointer(start: start, count: count))
    var headers = HPACKHeaders()
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        // HPACKHeaders takes ASCII names only (HTTP/2 refuses others before a handler sees them).
        guard let colon = line.dropFirst().firstIndex(of: ":"), line[..<colon].allSatisfy(\.isASCII) else { continue }
        let value = line[line.index(after: colon)...]
        headers.add(name: String(line[..<colon]), value: String(value.drop { $0 == " " }))
    }
    _ = try? GRPCRequestHead(headers, now: .uptimeNanoseconds(1_000_000_000))
    if let timeout = headers.first(name: "grpc-timeout") { _ = GRPCRequestHead.timeout(timeout) }
    let encoded = GRPCHeaders.percentEncoded(text)
    fuzzCheck(encoded.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }, "grpc-message not printable ASCII")
    if let bytes = GRPCBinaryHeader.decode(text) {
        fuzzCheck(GRPCBinaryHeader.decode(GRPCBinaryHeader.encode(bytes)) == bytes, "-bin round trip changed the bytes")
    }
    return 0
}
