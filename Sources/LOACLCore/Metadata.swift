/// Ordered call metadata: keys are lowercase ASCII, a key may repeat, and keys ending in
/// `-bin` carry bytes instead of text (the same rules as gRPC).
public struct Metadata: Sendable, Hashable, ExpressibleByDictionaryLiteral, Sequence {
    public typealias Key = String
        public enum Value: Sendable, Hashable, ExpressibleByStringLiteral {
        public init(stringLiteral s: String) { self = .text(s) }
        case text(String)
        case binary([UInt8])
    }

    public struct Entry: Sendable, Hashable {
        public var key: String
        public var value: Value
        public init(key: String, value: Value) {
            self.key = key
            self.value = value
        }
    }

    public private(set) var entries: [Entry]

    public init() { entries = [] }

    public init(dictionaryLiteral elements: (String, Value)...) {
        entries = elements.map { Entry(key: $0.0.lowercased(), value: $0.1) }
    }

    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }

    public mutating func add(_ key: String, _ value: String) {
        entries.append(Entry(key: key.lowercased(), value: .text(value)))
    }

    public mutating func add(_ key: String, bytes: [UInt8]) {
        entries.append(Entry(key: key.lowercased(), value: .binary(bytes)))
    }

    /// Replaces every entry for `key` with one text value.
    public mutating func set(_ key: String, _ value: String) {
        let k = key.lowercased()
        entries.removeAll { $0.key == k }
        entries.append(Entry(key: k, value: .text(value)))
    }

    /// The first text value for `key`.
    public subscript(key: String) -> String? {
        for entry in entries where entry.key == key {
            if case .text(let s) = entry.value { return s }
        }
        return nil
    }

    /// The first binary value for `key`.
    public func bytes(_ key: String) -> [UInt8]? {
        for entry in entries where entry.key == key {
            if case .binary(let b) = entry.value { return b }
        }
        return nil
    }

    public func makeIterator() -> IndexingIterator<[Entry]> { entries.makeIterator() }

    /// Encoded size estimate used to enforce the metadata limit: key and value bytes.
    public var byteCount: Int {
        entries.reduce(0) { total, e in
            switch e.value {
            case .text(let s): total + e.key.utf8.count + s.utf8.count
            case .binary(let b): total + e.key.utf8.count + b.count
            }
        }
    }

    /// Whether `key` is a legal metadata key: 1–128 bytes of `[a-z0-9-_.]`.
    public static func isValidKey(_ key: String) -> Bool {
        let utf8 = key.utf8
        guard !utf8.isEmpty, utf8.count <= 128 else { return false }
        return utf8.allSatisfy { c in
            (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x5F || c == 0x2E
        }
    }
}
