import LOACLTLS
import NIOCore
import NIOPosix
import Testing

@Suite("TLS over loopback sockets")
struct TLSLoopbackTests {
    let certs = TestCertificates.shared

    @Test func smallEchoNegotiatesALPNAndTLS13() async throws {
        let server = try await TLSEchoServer.start(loaclServerConfiguration)
        let client = try await TLSTestClient.connect(port: server.port, loaclClientConfiguration)
        let echoed = try await client.roundTrip([ByteBuffer(string: "hello over TLS")])
        #expect(String(buffer: echoed) == "hello over TLS")

        let clientSide = try await client.handshake.get()
        #expect(clientSide.alpnProtocol == "loacl/1")
        #expect(clientSide.protocolVersion == "TLSv1.3")
        #expect(clientSide.peerCommonName == "localhost")
        #expect(clientSide.peerSubject == "CN=localhost,O=LOACL")
        let serverSide = try #require(await server.nextOutcome()).get()
        #expect(serverSide.alpnProtocol == "loacl/1")
        #expect(serverSide.serverName == "localhost")
        #expect(serverSide.peerSubject == nil)
        #expect(serverSide.cipher == clientSide.cipher)
        try await server.stop()
    }

    @Test func multiMegabyteEchoBothWays() async throws {
        let server = try await TLSEchoServer.start(loaclServerConfiguration)
        let client = try await TLSTestClient.connect(port: server.port, loaclClientConfiguration)
        let payload = randomBuffer(6 * 1024 * 1024 + 123)
        let echoed = try await client.roundTrip([payload])
        #expect(echoed.readableBytes == payload.readableBytes)
        #expect(echoed == payload)
        try await server.stop()
    }

    @Test func manyLargeWritesInOneFlush() async throws {
        let server = try await TLSEchoServer.start(loaclServerConfiguration)
        let client = try await TLSTestClient.connect(port: server.port, loaclClientConfiguration)
        _ = try await client.handshake.get()
        // Let the handshake's own writes (client Finished) go out first: under load they were
        // still pending when the exchange began, and counted as a second socket write.
        try await client.channel.channel.eventLoop.submit {}.get()
        let chunks = (0..<128).map { _ in randomBuffer(65_536 + 17) }
        var expected = ByteBuffer()
        for chunk in chunks { expected.writeImmutableBuffer(chunk) }
        let (echoed, socketWrites) = try await client.exchange(chunks)
        #expect(echoed == expected)
        #expect(socketWrites == 1)
        try await server.stop()
    }

    @Test func manySmallWritesAreCoalescedIntoOneSocketWrite() async throws {
        let server = try await TLSEchoServer.start(loaclServerConfiguration)
        let client = try await TLSTestClient.connect(port: server.port, loaclClientConfiguration)
        _ = try await client.handshake.get()
        // Let the handshake's own writes (client Finished) go out first.
        try await client.channel.channel.eventLoop.submit {}.get()
        let chunks = (0..<500).map { ByteBuffer(string: "message \($0);") }
        let expected = chunks.map { String(buffer: $0) }.joined()
        let (echoed, socketWrites) = try await client.exchange(chunks)
        #expect(String(buffer: echoed) == expected)
        // 500 writes and one flush became a single encrypted socket write.
        #expect(socketWrites == 1)
        try await server.stop()
    }

    @Test func hostnameIPAddressIsVerifiedAgainstSubjectAltName() async throws {
        let server = try await TLSEchoServer.start(loaclServerConfiguration)
        let byIP = try await TLSTestClient.connect(port: server.port, loaclClientConfiguration, serverName: "127.0.0.1")
        #expect(String(buffer: try await byIP.roundTrip([ByteBuffer(string: "ip")])) == "ip")

        let wrongName = try await TLSTestClient.connect(port: server.port, loaclClientConfiguration, serverName: "example.com")
        await #expect {
            _ = try await wrongName.handshake.get()
        } throws: { error in
            guard case let .certificateVerificationFailed(reason)? = error as? TLSError else { return false }
            return reason.contains("hostname mismatch")
        }
        await wrongName.close()
        try await server.stop()
    }

    @Test func clientWithWrongCAFailsCleanly() async throws {
        let server = try await TLSEchoServer.start(loaclServerConfiguration)
        let client = try await TLSTestClient.connect(
            port: server.port, .client(caFile: certs.otherCAFile, serverName: "localhost"))
        await #expect {
            _ = try await client.handshake.get()
        } throws: { error in
            guard case let .certificateVerificationFailed(reason)? = error as? TLSError else { return false }
            return reason.contains("unable to get local issuer certificate")
        }
        await client.close()
        // The server saw the client's alert.
        let outcome = try #require(await server.nextOutcome())
        #expect(throws: TLSError.self) { try outcome.get() }
        try await server.stop()
    }

    @Test func expiredServerCertificateIsRejected() async throws {
        let server = try await TLSEchoServer.start(
            .server(certificateChainFile: certs.expiredCertificate, privateKeyFile: certs.expiredKey))
        let client = try await TLSTestClient.connect(port: server.port, loaclClientConfiguration)
        await #expect(throws: TLSError.certificateVerificationFailed(reason: "certificate has expired")) {
            _ = try await client.handshake.get()
        }
        await client.close()
        try await server.stop()
    }

    @Test func plaintextClientIsRefusedAndServerKeepsServing() async throws {
        let server = try await TLSEchoServer.start(loaclServerConfiguration)
        let raw = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: server.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let reply = try await raw.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"))
            var received = ByteBuffer()
            for try await chunk in inbound { received.writeImmutableBuffer(chunk) }
            return received // ends when the server closes the connection
        }
        // At most a TLS alert record (content type 21) comes back, never an echo.
        if reply.readableBytes > 0 { #expect(reply.getInteger(at: 0, as: UInt8.self) == 21) }
        let refused = try #require(await server.nextOutcome())
        #expect {
            try refused.get()
        } throws: { error in
            guard case let .handshakeFailed(reason)? = error as? TLSError else { return false }
            return reason.contains("http request") || reason.contains("wrong version number")
        }

        let client = try await TLSTestClient.connect(port: server.port, loaclClientConfiguration)
        #expect(String(buffer: try await client.roundTrip([ByteBuffer(string: "still here")])) == "still here")
        try await server.stop()
    }

    @Test func tls11ClientIsRefused() async throws {
        let server = try await TLSEchoServer.start(loaclServerConfiguration)
        let result = await runProcess(["openssl", "s_client", "-connect", "127.0.0.1:\(server.port)", "-tls1_1",
                                 "-cipher", "DEFAULT:@SECLEVEL=0", "-CAfile", certs.caFile], input: "")
        #expect(result.status != 0)
        let outcome = try #require(await server.nextOutcome())
        #expect {
            try outcome.get()
        } throws: { error in
            guard case let .handshakeFailed(reason)? = error as? TLSError else { return false }
            return reason.contains("unsupported protocol")
        }
        try await server.stop()
    }

    @Test func clientALPNMismatchIsRefused() async throws {
        let server = try await TLSEchoServer.start(loaclServerConfiguration)
        var configuration = loaclClientConfiguration
        configuration.alpnProtocols = ["h2"]
        let client = try await TLSTestClient.connect(port: server.port, configuration)
        await #expect(throws: TLSError.self) { _ = try await client.handshake.get() }
        await client.close()
        let outcome = try #require(await server.nextOutcome())
        #expect(throws: TLSError.self) { try outcome.get() }
        try await server.stop()
    }

    @Test func tls12OnlyClientStillWorks() async throws {
        let server = try await TLSEchoServer.start(loaclServerConfiguration)
        var configuration = loaclClientConfiguration
        configuration.maximumVersion = .tls1_2
        let client = try await TLSTestClient.connect(port: server.port, configuration)
        #expect(String(buffer: try await client.roundTrip([ByteBuffer(string: "v1.2")])) == "v1.2")
        let info = try await client.handshake.get()
        #expect(info.protocolVersion == "TLSv1.2")
        #expect(info.alpnProtocol == "loacl/1")
        try await server.stop()
    }
}
