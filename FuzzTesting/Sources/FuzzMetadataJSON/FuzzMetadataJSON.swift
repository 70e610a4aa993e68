// `metadata_json` as every create and update request carries it: accepted text must be a JSON
// object of at most 16 KiB without \u0000 (what PostgreSQL's jsonb then stores).
import Foundation
import FuzzSupport
@testable import LOACLServices

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMetadataJSON(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let text = fuzzText(UnsafeRawBufferPointer(start: start, count: count))
    guard let stored = try? Validate.metadata(text) else { return 0 }
    fuzzCheck(stored.utf8.count <= Validate.maxMetadataBytes, "accepted metadata over the limit")
    fuzzCheck(!stored.contains("\\u0000"), "accepted metadata with \\u0000")
    let object = try? JSONSerialization.jsonObject(with: Data(stored.utf8))
    fuzzCheck(object is [String: Any], "accepted metadata that is not a JSON object")
    return 0
}
