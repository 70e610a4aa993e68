import GRPCCore

/// Hand-written method descriptors standing in for generated stubs.
enum EchoMethods {
    static let service = ServiceDescriptor(fullyQualifiedService: "bench.Echo")
    /// Unary: one payload in, the same payload out.
    static let unary = MethodDescriptor(service: service, method: "Unary", type: .unary)
    /// Bidirectional streaming: every message received is written back.
    static let streaming = MethodDescriptor(
        service: service, method: "Streaming", type: .bidirectionalStreaming)
}
