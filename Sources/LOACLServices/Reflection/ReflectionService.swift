import Foundation
import LOACLCore
import LOACLMessages
import LOACLServerCore

/// Server reflection, `grpc.reflection.v1` and `v1alpha` (grpc/grpc doc/server-reflection.md):
/// lists the services served and hands out the descriptors of every .proto file compiled into
/// LOACL (`ProtoFileDescriptors`, generated from proto/), so grpcurl, Postman and other tools
/// call LOACL with no .proto files at hand. One implementation answers both versions: their
/// messages are the same on the wire, so v1alpha requests and answers are transcoded.
public struct ReflectionService: Sendable {
    typealias Request = Grpc_Reflection_V1_ServerReflectionRequest
    typealias Response = Grpc_Reflection_V1_ServerReflectionResponse

    private let services: [String]
    private let files: [String: (bytes: [UInt8], dependencies: [String])]

    /// - Parameter services: full names of the services served (`MethodTable.serviceNames`);
    ///   the reflection services add themselves.
    public init(services: Set<String>) {
        self.services = services.union([Grpc_Reflection_V1_ServerReflection.name, Grpc_Reflection_V1Alpha_ServerReflection.name]).sorted()
        var files: [String: (bytes: [UInt8], dependencies: [String])] = [:]
        for file in ProtoFileDescriptors.files {
            files[file.name] = (Data(base64Encoded: file.base64).map { [UInt8]($0) } ?? [], file.dependencies)
        }
        self.files = files
    }

    /// Both versions' methods, for `MethodTable.register(contentsOf:)`.
    public var serverMethods: [ServerMethod] {
        V1(service: self).serverMethods + V1Alpha(service: self).serverMethods
    }

    /// The answer to one request.
    func answer(_ request: Request) -> Response {
        var response = Response()
        response.validHost = request.host
        response.originalRequest = request
        switch request.messageRequest {
        case .listServices:
            var list = Grpc_Reflection_V1_ListServiceResponse()
            list.service = services.map { name in
                var service = Grpc_Reflection_V1_ServiceResponse()
                service.name = name
                return service
            }
            response.listServicesResponse = list
        case .fileByFilename(let name):
            response.messageResponse = fileResponse(name, notFound: "no file named \(name.prefix(200))")
        case .fileContainingSymbol(let symbol):
            response.messageResponse = fileResponse(ProtoFileDescriptors.symbols[symbol] ?? "",
                                                    notFound: "no symbol named \(symbol.prefix(200))")
        case .fileContainingExtension(let request):
            response.messageResponse = error(.notFound, "no extension \(request.extensionNumber) of \(request.containingType.prefix(200))")
        case .allExtensionNumbersOfType(let type):
            guard ProtoFileDescriptors.symbols[type] != nil else {
                response.messageResponse = error(.notFound, "no type named \(type.prefix(200))")
                break
            }
            var numbers = Grpc_Reflection_V1_ExtensionNumberResponse()
            numbers.baseTypeName = type // LOACL's protos declare no extensions
            response.allExtensionNumbersResponse = numbers
        case nil:
            response.messageResponse = error(.invalidArgument, "empty reflection request")
        }
        return response
    }

    /// The file, then every file it depends on (transitively), each once.
    private func fileResponse(_ name: String, notFound: String) -> Response.OneOf_MessageResponse {
        guard files[name] != nil else { return error(.notFound, notFound) }
        var order: [String] = []
        var seen: Set<String> = []
        var pending = [name]
        while let next = pending.popLast() {
            guard seen.insert(next).inserted, let file = files[next] else { continue }
            order.append(next)
            pending.append(contentsOf: file.dependencies.reversed())
        }
        var descriptors = Grpc_Reflection_V1_FileDescriptorResponse()
        descriptors.fileDescriptorProto = order.compactMap { files[$0]?.bytes }
        return .fileDescriptorResponse(descriptors)
    }

    private func error(_ code: StatusCode, _ message: String) -> Response.OneOf_MessageResponse {
        var error = Grpc_Reflection_V1_ErrorResponse()
        error.errorCode = Int32(code.rawValue)
        error.errorMessage = message
        return .errorResponse(error)
    }
}

extension ReflectionService {
    /// `grpc.reflection.v1.ServerReflection`: one answer per request, in order.
    struct V1: Grpc_Reflection_V1_ServerReflectionHandler {
        let service: ReflectionService

        func serverReflectionInfo(_ requests: RequestStream<Grpc_Reflection_V1_ServerReflectionRequest>,
                                  responses: ResponseWriter<Grpc_Reflection_V1_ServerReflectionResponse>,
                                  context: ServerContext) async throws {
            for try await request in requests {
                try await responses.write(service.answer(request))
            }
        }
    }

    /// `grpc.reflection.v1alpha.ServerReflection`: the same protocol under its older package; each
    /// request is read as a v1 one and each answer written back as v1alpha (same wire format).
    struct V1Alpha: Grpc_Reflection_V1Alpha_ServerReflectionHandler {
        let service: ReflectionService

        func serverReflectionInfo(_ requests: RequestStream<Grpc_Reflection_V1Alpha_ServerReflectionRequest>,
                                  responses: ResponseWriter<Grpc_Reflection_V1Alpha_ServerReflectionResponse>,
                                  context: ServerContext) async throws {
            for try await request in requests {
                let answer = service.answer(try Request(serializedBytes: request.serializedBytes()))
                try await responses.write(try Grpc_Reflection_V1Alpha_ServerReflectionResponse(serializedBytes: answer.serializedBytes()))
            }
        }
    }
}
