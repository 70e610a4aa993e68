import Foundation

/// JSON text for SQL parameters (`$n::jsonb`) and stored metadata: objects with sorted keys, so
/// the same value is always the same text.
enum JSONText {
    static func object(_ object: [String: Any]) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8), as: UTF8.self)
    }

    static func array(_ array: [Any]) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: array, options: [.sortedKeys])) ?? Data("[]".utf8), as: UTF8.self)
    }
}
