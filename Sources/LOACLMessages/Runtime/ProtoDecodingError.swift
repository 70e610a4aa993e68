/// Why bytes could not be decoded into a message.
public struct ProtoDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        /// protobuf-c rejected the bytes: truncated, a bad varint or length, a wire type that does
        /// not match the field, a nested message that does not parse, or memory exhausted.
        case malformed
        /// A string field holds bytes that are not valid UTF-8. `field` is the proto full name
        /// of the field, e.g. "loacl.wire.v1.MetadataEntry.value".
        case invalidUTF8(field: String)
    }

    /// Full proto name of the message being decoded (the outermost one).
    public var messageName: String
    public var reason: Reason

    public init(messageName: String, reason: Reason) {
        self.messageName = messageName
        self.reason = reason
    }

    public var description: String {
        switch reason {
        case .malformed:
            "cannot decode \(messageName): malformed or truncated protobuf"
        case .invalidUTF8(let field):
            "cannot decode \(messageName): invalid UTF-8 in string field \(field)"
        }
    }
}
