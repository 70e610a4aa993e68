import LOACLCore
import LOACLMessages
@testable import LOACLServerCore
import NIOCore
import NIOPosix
import Synchronization

/// One call's transport for the fuzzer: the request messages are given up front (the client
/// has half-closed after them); responses are counted and dropped.
final class FuzzCallStream: ServerCallStream {
    let eventLoop: any EventLoop = FuzzCallStream.loop
    static let loop = MultiThreadedEventLoopGroup.singleton.next()
    private let requests: Mutex<[ByteBuffer]>

    init(requests: [ByteBuffer]) {
        self.requests = Mutex(requests)
    }

    func singleRequest() throws -> ByteBuffer {
        try requests.withLock { requests in
            guard !requests.isEmpty else { throw RPCError.invalidArgument("no request message") }
            return requests.removeFirst()
        }
    }

    func nextRequest() async throws -> ByteBuffer? {
        requests.withLock { requests in requests.isEmpty ? nil : requests.removeFirst() }
    }

    func send<M: ProtoMessage>(_ message: M) async throws { _ = message.serializedSize }
    func sendHeaders(_ metadata: Metadata) async throws {}
    func finish(_ status: RPCError?) {}
}
