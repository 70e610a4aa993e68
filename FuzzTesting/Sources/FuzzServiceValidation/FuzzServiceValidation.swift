// Every data-service RPC on a fuzzed request, without a database: byte 0 picks the method,
// byte 1 the caller (none, tenant, guest, user), the rest is the request message (a streaming
// call gets it as its one message). The call must end with a status and never INTERNAL or
// UNKNOWN (an error nobody mapped), nor crash or hang.
import Dispatch
import FuzzSupport
import LOACLCore
import Logging
@testable import LOACLServerCore
@testable import LOACLServices
import NIOCore
import Synchronization

let logger = Logger(label: "fuzz") { _ in SwiftLogNoOpLogHandler() }

func call(_ method: ServerMethod, _ identity: CallerIdentity, _ request: ByteBuffer) -> (any Error)? {
    let stream = FuzzCallStream(requests: [request])
    let context = ServerContext(method: method.descriptor, metadata: Metadata(), deadline: nil,
                                peer: PeerInfo(transport: .unix, address: "fuzz"), logger: logger)
    let done = DispatchSemaphore(value: 0)
    let outcome = Mutex<(any Error)?>(nil)
    Task {
        do {
            try await CallerIdentity.$current.withValue(identity) { try await method.body(stream, context) }
        } catch {
            outcome.withLock { $0 = error }
        }
        done.signal()
    }
    done.wait()
    return outcome.withLock { $0 }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzServiceValidation(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: start, count: count)
    guard input.count >= 2 else { return 0 }
    let methods = DetachedServices.methods
    let method = methods[Int(input[0]) % methods.count]
    let identity = DetachedServices.identity(input[1])
    let error = call(method, identity, ByteBuffer(bytes: input.dropFirst(2)))
    if let error {
        guard let status = error as? RPCError else {
            fuzzCheck(false, "\(method.descriptor.path) threw \(type(of: error)) instead of a status: \(error)")
            return 0
        }
        fuzzCheck(status.code != .internal && status.code != .unknown, "\(method.descriptor.path): \(status)")
    }
    return 0
}
