import LOACLTLS
import NIOCore
import Testing

@Suite("Mutual TLS")
struct MutualTLSTests {
    let certs = TestCertificates.shared

    private func startServer(_ verification: TLSConfiguration.PeerVerification = .required) async throws -> TLSEchoServer {
        try await TLSEchoServer.start(.server(certificateChainFile: certs.serverCertificate, privateKeyFile: certs.serverKey,
                                              caFile: certs.caFile, clientVerification: verification))
    }

    private func clientConfiguration(certificate: String?, key: String?) -> TLSConfiguration {
        .client(caFile: certs.caFile, serverName: "localhost", certificateChainFile: certificate, privateKeyFile: key)
    }

    /// Connects a client the server should refuse; returns the server's handshake outcome.
    private func refusedOutcome(_ server: TLSEchoServer, _ configuration: TLSConfiguration) async throws -> HandshakeOutcome {
        let client = try await TLSTestClient.connect(port: server.port, configuration)
        // With TLS 1.3 the client finishes first and learns of the refusal from the server's alert.
        let echoed = try? await client.roundTrip([ByteBuffer(string: "let me in")])
        #expect(echoed.map { String(buffer: $0) } != "let me in")
        return try #require(await server.nextOutcome())
    }

    @Test func validClientCertificateIsAcceptedAndVisible() async throws {
        let server = try await startServer()
        let client = try await TLSTestClient.connect(
            port: server.port, clientConfiguration(certificate: certs.clientCertificate, key: certs.clientKey))
        #expect(String(buffer: try await client.roundTrip([ByteBuffer(string: "mtls")])) == "mtls")
        let event = try #require(await server.nextOutcome()).get()
        #expect(event.peerSubject == "CN=loacl-test-client,O=LOACL")
        #expect(event.peerCommonName == "loacl-test-client")
        #expect(event.alpnProtocol == "loacl/1")
        try await server.stop()
    }

    @Test func missingClientCertificateIsRefused() async throws {
        let server = try await startServer()
        let outcome = try await refusedOutcome(server, clientConfiguration(certificate: nil, key: nil))
        #expect {
            try outcome.get()
        } throws: { error in
            guard case let .handshakeFailed(reason)? = error as? TLSError else { return false }
            return reason.contains("peer did not return a certificate")
        }
        try await server.stop()
    }

    @Test func clientCertificateFromForeignCAIsRefused() async throws {
        let server = try await startServer()
        let outcome = try await refusedOutcome(
            server, clientConfiguration(certificate: certs.otherClientCertificate, key: certs.otherClientKey))
        #expect {
            try outcome.get()
        } throws: { error in
            guard case .certificateVerificationFailed? = error as? TLSError else { return false }
            return true
        }
        try await server.stop()
    }

    @Test func optionalVerificationAcceptsAnonymousClients() async throws {
        let server = try await startServer(.optional)
        let anonymous = try await TLSTestClient.connect(port: server.port, clientConfiguration(certificate: nil, key: nil))
        #expect(String(buffer: try await anonymous.roundTrip([ByteBuffer(string: "anon")])) == "anon")
        #expect(try #require(await server.nextOutcome()).get().peerSubject == nil)

        let known = try await TLSTestClient.connect(
            port: server.port, clientConfiguration(certificate: certs.clientCertificate, key: certs.clientKey))
        #expect(String(buffer: try await known.roundTrip([ByteBuffer(string: "known")])) == "known")
        #expect(try #require(await server.nextOutcome()).get().peerCommonName == "loacl-test-client")
        try await server.stop()
    }
}
