import LOACLMessages
import LOACLServer
import LOACLServerCore
import LOACLTLS
import NIOPosix
import Testing

/// Resource limits under hostile clients (issue 17, part 3): too many connections, a preface or
/// TLS hello sent too slowly, a peer that sends and never reads.
@Suite("Hostile clients", .ownThread)
struct HostileClientTests {
    typealias R = RawConnection
    static let ping = R.frame(6, 0, 0, [1, 2, 3, 4, 5, 6, 7, 8])

    @Test("over maxConnections: GOAWAY RESOURCE_EXHAUSTED after the preface, then closed; a freed slot is reused")
    func maxConnections() async throws {
        let server = try await TestServer.start { $0.maxConnections = 1 }
        defer { Task { await server.stop() } }
        var first: R? = try await R(tcpPort: server.tcpPort)
        await first?.send(R.preface)
        #expect(await first?.read(8) == R.preface)

        let second = try await R(unixPath: server.unixPath) // the limit is for all listeners together
        await second.send(R.preface)
        #expect(await second.read(8) == R.preface)
        let goAway = try #require(try await second.readGoAway())
        #expect(goAway.code == 8)
        #expect(goAway.reason == "more than 1 connections; retry later")
        #expect(await second.isClosedByPeer())

        // The admitted connection is unaffected.
        await first?.send(Self.ping)
        #expect(await first?.readFrame(type: 6)?.flags == 2)
        first = nil
        #expect(await eventually { server.server.connectionCount == 0 })
        let third = try await R(tcpPort: server.tcpPort)
        await third.send(R.preface + Self.ping)
        #expect(await third.read(8) == R.preface)
        #expect(await third.readFrame()?.type == 6)
    }

    @Test("a preface sent too slowly, or none at all, gets the connection closed")
    func slowPreface() async throws {
        // 1 s, not less: with every suite starting at once on two cores, the polite client's
        // preface once took longer than 300 ms to be read.
        let server = try await TestServer.start { $0.connection.handshakeTimeout = .seconds(1) }
        defer { Task { await server.stop() } }
        let silent = try await R(tcpPort: server.tcpPort)
        let slow = try await R(unixPath: server.unixPath)
        await slow.send(Array(R.preface.prefix(5)))
        let polite = try await R(tcpPort: server.tcpPort)
        await polite.send(R.preface)
        #expect(await polite.read(8) == R.preface)

        let start = ContinuousClock.now
        #expect(await silent.isClosedByPeer())
        #expect(await slow.isClosedByPeer())
        #expect(ContinuousClock.now - start < .seconds(10))
        // A connection whose preface came in time stays.
        #expect(await polite.send(Self.ping))
        #expect(await polite.readFrame(type: 6)?.flags == 2)
    }

    @Test("a TLS client that never finishes its handshake gets the connection closed")
    func slowTLSHello() async throws {
        let certs = Certificates.shared
        let tls = TLSConfiguration.server(certificateChainFile: certs.path("server.pem"), privateKeyFile: certs.path("server.key"),
                                          caFile: nil, clientVerification: .none)
        let server = try await TestServer.start(tls: tls) { $0.connection.handshakeTimeout = .milliseconds(300) }
        defer { Task { await server.stop() } }
        let raw = try await R(tcpPort: try #require(server.tlsPort))
        await raw.send([0x16, 0x03, 0x01]) // the first bytes of a ClientHello, and no more
        let start = ContinuousClock.now
        #expect(await raw.isClosedByPeer())
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    @Test("requests held unread across calls past maxInboundBuffer: GOAWAY RESOURCE_EXHAUSTED")
    func unreadRequestsAcrossCalls() async throws {
        let server = try await TestServer.start { $0.connection.maxInboundBuffer = 64 * 1024 }
        defer { Task { await server.stop() } }
        let raw = try await R(tcpPort: server.tcpPort)
        await raw.send(R.preface)
        #expect(await raw.read(8) == R.preface)
        // Each call stays well inside its own 1 MiB window; their handlers never read.
        let chunk = [UInt8](repeating: 7, count: 40 * 1024)
        await raw.send(R.frame(1, 0, 1, R.headers("/loacl.test.Test/Stall")) + R.frame(2, 0, 1, chunk))
        await raw.send(R.frame(1, 0, 3, R.headers("/loacl.test.Test/Stall")) + R.frame(2, 0, 3, chunk))
        let goAway = try #require(try await raw.readGoAway())
        #expect(goAway.code == 8)
        #expect(goAway.reason == "more than 65536 bytes of requests not yet read on one connection")
        #expect(await raw.isClosedByPeer())
    }

    @Test("a peer that floods PINGs and never reads is closed once the replies queued pass the limit")
    func peerThatNeverReads() async throws {
        // Its own event loop: the flood keeps one busy for seconds, which would stall the other
        // tests' servers on the shared one.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await TestServer.start(group: group) { $0.connection.maxOutboundBuffer = 64 * 1024 }
        // Socket writes that wait for seconds: RawConnection waits on threads of its own.
        let raw = try await R(tcpPort: server.tcpPort, socketBuffers: 4096)
        let burst = Array([[UInt8]](repeating: Self.ping, count: 4096).joined()) // 72 KiB of PINGs
        var sent = 0
        var open = await raw.send(R.preface)
        // Kernel socket buffers take some replies first; without the limit the
        // server would queue all 256 MiB of them.
        while open && sent < 256 * 1024 * 1024 {
            open = await raw.send(burst)
            sent += burst.count
        }
        #expect(!open, "the server accepted \(sent) bytes of PINGs without closing")
        await server.stop()
        try await group.shutdownGracefully()
    }
}
