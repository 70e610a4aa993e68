// The TLS server's handshake path: bytes from a client (a ClientHello and whatever follows,
// split at fuzz-chosen points) into LOACL's OpenSSL channel handler, as a TLS listener gets
// them, with client certificates optional (mutual TLS parsing on) and LOACL's ALPN. The
// handler must fail the handshake cleanly (TLSError, channel closed) or complete it.
import Foundation
import FuzzSupport
import LOACLTLS
import NIOCore
import NIOEmbedded

/// Test certificates from scripts/gen-test-certs.sh, which scripts/fuzz.sh runs into the folder
/// it names in LOACL_FUZZ_TLS_DIR (made before the run: a Process here would count as a leak).
let serverContext: TLSContext = {
    guard let directory = ProcessInfo.processInfo.environment["LOACL_FUZZ_TLS_DIR"] else {
        fatalError("LOACL_FUZZ_TLS_DIR is not set: run this target with scripts/fuzz.sh")
    }
    return try! TLSContext(configuration: .server(
        certificateChainFile: directory + "/server-chain.pem", privateKeyFile: directory + "/server.key",
        caFile: directory + "/ca.pem", clientVerification: .optional, alpnProtocols: [TLSConfiguration.loaclALPN, "h2"]))
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTLSHandshake(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let split = FuzzSplit(UnsafeRawBufferPointer(start: start, count: count))
    let channel = EmbeddedChannel(handler: OpenSSLHandler(context: serverContext, mode: .server))
    _ = try? channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    for chunk in split.chunks where channel.isActive {
        do {
            try channel.writeInbound(channel.allocator.buffer(bytes: chunk))
        } catch {
            break
        }
        while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
    }
    _ = try? channel.finish()
    // A handshake that failed closed the channel itself; the pipeline's teardown is still queued.
    channel.embeddedEventLoop.run()
    return 0
}
