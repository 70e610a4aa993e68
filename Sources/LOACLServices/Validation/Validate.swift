import Foundation
import LOACLCore

/// Request checks shared by the services. Every failure is INVALID_ARGUMENT naming the field.
enum Validate {
    static let defaultPageSize = 50
    static let maxPageSize = 200
    static let maxMetadataBytes = 16 * 1024

    /// A canonical lowercase UUID.
    static func uuid(_ value: String, _ field: String) throws(RPCError) -> String {
        guard !value.isEmpty else { throw RPCError.invalidArgument("\(field) is required") }
        guard value.utf8.count == 36, let uuid = UUID(uuidString: value) else {
            throw RPCError.invalidArgument("\(field) must be a UUID")
        }
        return uuid.uuidString.lowercased()
    }

    /// A UUID or nil for the empty string.
    static func optionalUUID(_ value: String, _ field: String) throws(RPCError) -> String? {
        value.isEmpty ? nil : try uuid(value, field)
    }

    /// Text of `min...max` characters (Unicode scalars counted as PostgreSQL counts characters),
    /// without NUL or other control characters except tab/newline when `multiline`.
    @discardableResult
    static func text(_ value: String, _ field: String, min: Int = 0, max: Int, multiline: Bool = false) throws(RPCError) -> String {
        let count = value.unicodeScalars.count
        if count < min {
            throw RPCError.invalidArgument(min == 1 ? "\(field) is required" : "\(field) must have at least \(min) characters")
        }
        guard count <= max else { throw RPCError.invalidArgument("\(field) must have at most \(max) characters") }
        for scalar in value.unicodeScalars where scalar.properties.generalCategory == .control {
            if multiline && (scalar == "\n" || scalar == "\t" || scalar == "\r") { continue }
            throw RPCError.invalidArgument("\(field) must not contain control characters")
        }
        return value
    }

    /// Byte-limited UTF-8 text (message content). Swift strings decoded from the wire are valid
    /// UTF-8 already (invalid bytes would have become U+FFFD); NUL cannot be stored by PostgreSQL.
    static func content(_ value: String, _ field: String, maxBytes: Int) throws(RPCError) -> String {
        guard !value.isEmpty else { throw RPCError.invalidArgument("\(field) is required") }
        guard value.utf8.count <= maxBytes else {
            throw RPCError.invalidArgument("\(field) must be at most \(maxBytes) bytes of UTF-8")
        }
        guard !value.utf8.contains(0) else { throw RPCError.invalidArgument("\(field) must not contain NUL") }
        return value
    }

    /// `metadata_json`: empty means `{}`; otherwise a JSON object of at most 16 KiB. Returns the
    /// text to store (PostgreSQL normalises it as jsonb).
    static func metadata(_ value: String, _ field: String = "metadata_json") throws(RPCError) -> String {
        if value.isEmpty { return "{}" }
        guard value.utf8.count <= maxMetadataBytes else {
            throw RPCError.invalidArgument("\(field) must be at most \(maxMetadataBytes) bytes")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(value.utf8), options: []),
              object is [String: Any] else {
            throw RPCError.invalidArgument("\(field) must be a JSON object")
        }
        guard !value.contains("\\u0000") else {
            throw RPCError.invalidArgument("\(field) must not contain \\u0000")
        }
        return value
    }

    /// 0 → 50; 1...200; anything else is an error.
    static func pageSize(_ value: Int32, _ field: String = "page_size") throws(RPCError) -> Int {
        if value == 0 { return defaultPageSize }
        guard value > 0, value <= maxPageSize else {
            throw RPCError.invalidArgument("\(field) must be between 0 and \(maxPageSize)")
        }
        return Int(value)
    }

    /// The update mask as a set of known field names; empty or unknown names are errors.
    static func updateMask(_ mask: [String], allowed: Set<String>, _ field: String = "update_mask") throws(RPCError) -> Set<String> {
        guard !mask.isEmpty else { throw RPCError.invalidArgument("\(field) must name at least one field") }
        var fields = Set<String>()
        for name in mask {
            guard allowed.contains(name) else {
                throw RPCError.invalidArgument("\(field): unknown field \"\(name)\" (allowed: \(allowed.sorted().joined(separator: ", ")))")
            }
            fields.insert(name)
        }
        return fields
    }

    /// Guest fingerprint: 8–256 printable ASCII characters.
    static func fingerprint(_ value: String) throws(RPCError) -> String {
        let bytes = value.utf8
        guard (8...256).contains(bytes.count), bytes.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else {
            throw RPCError.invalidArgument("fingerprint must be 8-256 printable ASCII characters without spaces")
        }
        return value
    }
}
