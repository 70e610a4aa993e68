import LOACLMessages

/// The server's dispatch table: full method path → method. Built once at startup from the
/// services' handlers; the descriptors come from protobuf-c's service descriptors.
public struct MethodTable: Sendable {
    private var methods: [String: ServerMethod] = [:]

    public init() {}

    public init(_ methods: [ServerMethod]) {
        for m in methods { register(m) }
    }

    public mutating func register(_ method: ServerMethod) {
        precondition(methods[method.descriptor.path] == nil, "\(method.descriptor.path) registered twice")
        methods[method.descriptor.path] = method
    }

    public mutating func register(contentsOf list: [ServerMethod]) {
        for m in list { register(m) }
    }

    public func method(forPath path: String) -> ServerMethod? { methods[path] }

    public var paths: [String] { methods.keys.sorted() }

    /// Full names of the services with at least one method, e.g. "loacl.v1.MessageService".
    public var serviceNames: Set<String> {
        Set(methods.values.map { method in
            let path = method.descriptor.path.dropFirst() // "/pkg.Service/Method"
            return String(path.prefix { $0 != "/" })
        })
    }
}
