// A HEADERS payload (CallHeaders) and a TRAILERS payload (CallStatus) through protobuf-c and
// the metadata checks: a decoded message must re-encode to bytes that decode to the same value,
// and metadata that passes the key check must survive its wire round trip.
import FuzzSupport
import LOACLCore
import LOACLMessages
import LOACLWire
import NIOCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCallHeaders(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: start, count: count)
    let payload = ByteBuffer(bytes: input)
    if let headers = try? Loacl_Wire_V1_CallHeaders(framePayload: payload) {
        let again = try? Loacl_Wire_V1_CallHeaders(serializedBytes: headers.serializedBytes())
        fuzzCheck(again == headers, "CallHeaders round trip changed the value")
        if let metadata = try? Metadata(wire: headers.metadata) {
            fuzzCheck(metadata.count == headers.metadata.count, "metadata lost entries")
            fuzzCheck((try? Metadata(wire: metadata.wireEntries)) == metadata, "metadata round trip changed it")
            _ = metadata.byteCount
        }
    }
    if let status = try? Loacl_Wire_V1_CallStatus(framePayload: payload) {
        if let error = status.rpcError {
            fuzzCheck(Loacl_Wire_V1_CallStatus(error).code == status.code, "status code round trip")
        }
    }
    return 0
}
