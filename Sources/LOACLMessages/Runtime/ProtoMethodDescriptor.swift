/// One rpc of a service.
public struct ProtoMethodDescriptor: Sendable, Hashable, CustomStringConvertible {
    /// Full service name, e.g. "loacl.v1.ThreadService".
    public let service: String
    /// Method name as declared, e.g. "CreateThread".
    public let method: String
    /// "/loacl.v1.ThreadService/CreateThread": the key the wire protocol dispatches on.
    public let path: String
    public let clientStreaming: Bool
    public let serverStreaming: Bool
    /// Full proto name of the request message.
    public let requestType: String
    /// Full proto name of the response message.
    public let responseType: String

    public init(
        service: String, method: String, clientStreaming: Bool, serverStreaming: Bool,
        requestType: String, responseType: String
    ) {
        self.service = service
        self.method = method
        self.path = "/\(service)/\(method)"
        self.clientStreaming = clientStreaming
        self.serverStreaming = serverStreaming
        self.requestType = requestType
        self.responseType = responseType
    }

    public var description: String { path }
}

/// A service and its methods, in declaration order.
public struct ProtoServiceDescriptor: Sendable, Hashable {
    /// Full service name, e.g. "loacl.v1.ThreadService".
    public let name: String
    public let methods: [ProtoMethodDescriptor]

    public init(name: String, methods: [ProtoMethodDescriptor]) {
        self.name = name
        self.methods = methods
    }

    /// The method called `name` ("CreateThread"), if the service has one.
    public func method(named name: String) -> ProtoMethodDescriptor? {
        methods.first { $0.method == name }
    }
}
