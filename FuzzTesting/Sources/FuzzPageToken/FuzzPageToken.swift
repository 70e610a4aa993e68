// Page tokens as clients send them back: any text must be accepted or refused with
// INVALID_ARGUMENT, and an accepted token must re-encode to one that decodes to the same value.
import FuzzSupport
@testable import LOACLServices

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPageToken(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let text = fuzzText(UnsafeRawBufferPointer(start: start, count: count))
    for kind in [PageToken.Kind.time, .priority, .offset] {
        guard let token = try? PageToken.decode(text, expecting: kind) else { continue }
        let again = try? PageToken.decode(token.encoded(), expecting: kind)
        fuzzCheck(again == token, "page token round trip changed \(token)")
    }
    return 0
}
