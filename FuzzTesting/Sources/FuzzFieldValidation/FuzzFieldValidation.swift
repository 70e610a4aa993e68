// The field checks every request goes through before the database: UUIDs, bounded text,
// message content, guest fingerprints and update masks. An accepted value must keep its
// promise (a canonical UUID, no control characters, no NUL, within its limits).
import FuzzSupport
@testable import LOACLServices

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFieldValidation(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let text = fuzzText(UnsafeRawBufferPointer(start: start, count: count))
    if let uuid = try? Validate.uuid(text, "id") {
        fuzzCheck(uuid == uuid.lowercased() && uuid.utf8.count == 36, "UUID \(uuid) is not canonical")
    }
    if let line = try? Validate.text(text, "title", min: 1, max: 200) {
        fuzzCheck(!line.unicodeScalars.contains { $0.properties.generalCategory == .control }, "control character accepted")
    }
    _ = try? Validate.text(text, "instructions", max: 32_000, multiline: true)
    if let content = try? Validate.content(text, "content", maxBytes: 4096) {
        fuzzCheck(!content.utf8.contains(0) && content.utf8.count <= 4096, "content check failed")
    }
    _ = try? Validate.fingerprint(text)
    let mask = text.split(separator: ",").map(String.init)
    _ = try? Validate.updateMask(mask, allowed: ["name", "instructions", "metadata_json"])
    return 0
}
