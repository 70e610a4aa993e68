internal import CProtobufC

extension ProtoServiceDescriptor {
    /// Reads names and message types from protobuf-c's service descriptor; protoc-c does not
    /// record streaming, so the generator passes those flags by method name.
    init(cDescriptor c: ProtobufCServiceDescriptor, streaming: [String: (client: Bool, server: Bool)]) {
        let name = String(cString: c.name)
        var methods: [ProtoMethodDescriptor] = []
        methods.reserveCapacity(Int(c.n_methods))
        for i in 0..<Int(c.n_methods) {
            let m = c.methods[i]
            let method = String(cString: m.name)
            let flags = streaming[method] ?? (client: false, server: false)
            methods.append(ProtoMethodDescriptor(
                service: name, method: method,
                clientStreaming: flags.client, serverStreaming: flags.server,
                requestType: String(cString: m.input.pointee.name),
                responseType: String(cString: m.output.pointee.name)))
        }
        self.init(name: name, methods: methods)
    }
}
