import GRPCCore

/// Echo service registered by hand (no code generation).
struct EchoService: RegistrableRPCService {
    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.registerHandler(
            forMethod: EchoMethods.unary,
            deserializer: RawBytesDeserializer(),
            serializer: RawBytesSerializer()
        ) { request, _ in
            let single = try await ServerRequest(stream: request)
            return StreamingServerResponse(single: ServerResponse(message: single.message))
        }
        router.registerHandler(
            forMethod: EchoMethods.streaming,
            deserializer: RawBytesDeserializer(),
            serializer: RawBytesSerializer()
        ) { request, _ in
            StreamingServerResponse { writer in
                for try await message in request.messages {
                    try await writer.write(message)
                }
                return [:]
            }
        }
    }
}
