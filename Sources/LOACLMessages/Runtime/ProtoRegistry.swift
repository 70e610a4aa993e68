/// Every generated message type and service, looked up by proto name.
public enum ProtoRegistry {
    /// All generated message types (map entries excluded), in .proto file order.
    public static var messageTypes: [any ProtoMessage.Type] { generatedMessageTypes }

    /// All generated services, in .proto file order.
    public static var services: [ProtoServiceDescriptor] { generatedServices }

    /// The message type whose full proto name is `name` ("loacl.v1.Thread").
    public static func messageType(named name: String) -> (any ProtoMessage.Type)? {
        messageTypesByName[name]
    }

    /// The service whose full proto name is `name` ("loacl.v1.ThreadService").
    public static func service(named name: String) -> ProtoServiceDescriptor? {
        servicesByName[name]
    }

    /// The method whose path is `path` ("/loacl.v1.ThreadService/CreateThread").
    public static func method(path: String) -> ProtoMethodDescriptor? {
        methodsByPath[path]
    }

    private static let messageTypesByName: [String: any ProtoMessage.Type] =
        Dictionary(generatedMessageTypes.map { ($0.protoMessageName, $0) }, uniquingKeysWith: { a, _ in a })

    private static let servicesByName: [String: ProtoServiceDescriptor] =
        Dictionary(generatedServices.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })

    private static let methodsByPath: [String: ProtoMethodDescriptor] =
        Dictionary(generatedServices.flatMap(\.methods).map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
}
