/// Immutable heap storage for a message field whose type contains the message itself (a
/// recursive message would otherwise have infinite size). Replaced, never mutated, so sharing it
/// between copies of the outer value is safe.
public final class ProtoBox<Value: Sendable & Hashable>: Sendable, Hashable {
    public let value: Value

    public init(_ value: Value) {
        self.value = value
    }

    public static func == (lhs: ProtoBox, rhs: ProtoBox) -> Bool {
        lhs === rhs || lhs.value == rhs.value
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(value)
    }
}
