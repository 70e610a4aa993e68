/// One rpc of a service. A class, not a struct: every call carries its method's descriptor (in
/// its context, its server method, its client headers), and a copy of a class is one reference
/// count where a copy of six strings is up to six (bench/RESULTS.md, session 11). Immutable;
/// equal when every field is.
public final class ProtoMethodDescriptor: Sendable, Hashable, CustomStringConvertible {
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

    public static func == (a: ProtoMethodDescriptor, b: ProtoMethodDescriptor) -> Bool {
        a === b || (a.path == b.path && a.clientStreaming == b.clientStreaming && a.serverStreaming == b.serverStreaming
            && a.requestType == b.requestType && a.responseType == b.responseType)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(path)
        hasher.combine(clientStreaming)
        hasher.combine(serverStreaming)
        hasher.combine(requestType)
        hasher.combine(responseType)
    }
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
