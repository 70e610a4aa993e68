import Foundation

/// A function the model may call (declared by the assistant). The caller of LOACL runs it; the
/// model only sees the declaration and, later, the output.
public struct ChatTool: Sendable, Hashable {
    public var name: String
    public var description: String
    /// A JSON Schema object as JSON text (`{"type":"object",...}`), sent to the upstream as is.
    public var parametersJSON: String
    public var strict: Bool

    public init(name: String, description: String = "", parametersJSON: String = #"{"type":"object","properties":{}}"#,
                strict: Bool = false) {
        self.name = name
        self.description = description
        self.parametersJSON = parametersJSON
        self.strict = strict
    }
}

/// One function call the model made: its id (the upstream's `call_id`), the function and the
/// arguments exactly as the model wrote them (JSON text).
public struct ChatToolCall: Sendable, Hashable, Codable {
    public var callID: String
    public var name: String
    public var arguments: String

    public init(callID: String, name: String, arguments: String) {
        self.callID = callID
        self.name = name
        self.arguments = arguments
    }

    enum CodingKeys: String, CodingKey {
        case callID = "call_id"
        case name, arguments
    }
}

/// A piece of a function call as it streams: `index` is the call's position in the step (the
/// upstream's output index, or its `tool_calls` index); `callID` and `name` are known from the
/// first piece on; `arguments` is the next fragment of the arguments text.
public struct ChatToolCallDelta: Sendable, Hashable {
    public var index: Int
    public var callID: String
    public var name: String
    public var arguments: String

    public init(index: Int, callID: String, name: String, arguments: String) {
        self.index = index
        self.callID = callID
        self.name = name
        self.arguments = arguments
    }
}

/// A JSON document embedded as JSON (not as a string) in an encoded request body: the tool
/// parameters schema. Text that does not parse encodes as an empty object. Object keys are
/// written sorted, so a request body is the same bytes for the same declaration.
indirect enum EmbeddedJSON: Codable, Hashable {
    case null, bool(Bool), integer(Int64), number(Double), string(String), array([EmbeddedJSON]), object([String: EmbeddedJSON])

    init(_ text: String) {
        self = (try? JSONDecoder().decode(EmbeddedJSON.self, from: Data(text.utf8))) ?? .object([:])
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let v = try? c.decode(Bool.self) { self = .bool(v) }
        else if let v = try? c.decode(Int64.self) { self = .integer(v) }
        else if let v = try? c.decode(Double.self) { self = .number(v) }
        else if let v = try? c.decode(String.self) { self = .string(v) }
        else if let v = try? c.decode([EmbeddedJSON].self) { self = .array(v) }
        else { self = .object(try c.decode([String: EmbeddedJSON].self)) }
    }

    func encode(to encoder: any Encoder) throws {
        switch self {
        case .object(let object):
            var c = encoder.container(keyedBy: Key.self)
            for (key, value) in object.sorted(by: { $0.key < $1.key }) { try c.encode(value, forKey: Key(key)) }
        case .array(let array):
            var c = encoder.unkeyedContainer()
            for value in array { try c.encode(value) }
        case .null:
            var c = encoder.singleValueContainer()
            try c.encodeNil()
        case .bool(let v):
            var c = encoder.singleValueContainer()
            try c.encode(v)
        case .integer(let v):
            var c = encoder.singleValueContainer()
            try c.encode(v)
        case .number(let v):
            var c = encoder.singleValueContainer()
            try c.encode(v)
        case .string(let v):
            var c = encoder.singleValueContainer()
            try c.encode(v)
        }
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
