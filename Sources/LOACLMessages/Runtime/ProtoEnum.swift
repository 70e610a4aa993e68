/// A proto enum as an open set of Int32 values: values this build does not know survive a round
/// trip. Every generated enum conforms.
public protocol ProtoEnum: RawRepresentable, Hashable, Sendable, CaseIterable, CustomStringConvertible
where RawValue == Int32, AllCases == [Self] {
    init(rawValue: Int32)
    /// The zero value.
    init()
    /// The enum's full proto name, e.g. "loacl.v1.Role".
    static var protoEnumName: String { get }
    /// The value's name in the .proto file ("ROLE_USER"), nil for an unknown value.
    var protoName: String? { get }
}

extension ProtoEnum {
    public var description: String { protoName ?? "\(Self.protoEnumName)(\(rawValue))" }
}
