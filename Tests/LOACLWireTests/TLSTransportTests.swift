import LOACLClient
import LOACLServer
import LOACLServerCore
import LOACLTLS
import Testing

/// The RPC server's `tls:` listener with real certificates: verification failures, plaintext
/// clients, and mutual TLS with the peer's subject visible to handlers.
@Suite("TLS transport", .ownThread)
struct TLSTransportTests {
    typealias Res = Loacl_V1_BenchmarkResponse
    let certs = Certificates.shared

    private func serverTLS(mutual: Bool = false, expired: Bool = false) -> TLSConfiguration {
        .server(certificateChainFile: certs.path(expired ? "expired.pem" : "server.pem"),
                privateKeyFile: certs.path(expired ? "expired.key" : "server.key"),
                caFile: mutual ? certs.path("ca.pem") : nil,
                clientVerification: mutual ? .required : .none)
    }

    private func tlsClient(_ server: TestServer, ca: String = "ca.pem", cert: String? = nil, key: String? = nil) throws -> LOACLClientConnection {
        try server.client(.tls(host: "localhost", port: server.tlsPort!),
                          tls: .client(caFile: certs.path(ca), serverName: "localhost",
                                       certificateChainFile: cert.map(certs.path), privateKeyFile: key.map(certs.path)))
    }

    @Test("unary and streaming over TLS with the right CA")
    func works() async throws {
        let server = try await TestServer.start(tls: serverTLS())
        defer { Task { await server.stop() } }
        let client = try tlsClient(server)
        defer { Task { await client.close() } }
        let response: Res = try await client.unary(Loacl_V1_BenchmarkService.Method.unaryCall, benchmarkRequest("secret"))
        #expect(response.payload == Array("secret".utf8))
        let count = try await client.serverStreaming(TestMethods.repeatEcho, benchmarkRequest("x", responseSize: 20), responseType: Res.self) { responses in
            var n = 0
            for try await _ in responses { n += 1 }
            return n
        }
        #expect(count == 20)
    }

    @Test("wrong CA and expired certificate fail with UNAVAILABLE; the server keeps serving")
    func verificationFailures() async throws {
        let server = try await TestServer.start(tls: serverTLS())
        defer { Task { await server.stop() } }
        let wrongCA = try tlsClient(server, ca: "other-ca.pem")
        await #expect(throws: RPCError.self) {
            let _: Res = try await wrongCA.unary(Loacl_V1_BenchmarkService.Method.unaryCall, benchmarkRequest("x"))
        }
        await wrongCA.close()

        let expired = try await TestServer.start(tls: serverTLS(expired: true))
        defer { Task { await expired.stop() } }
        let toExpired = try tlsClient(expired)
        do {
            let _: Res = try await toExpired.unary(Loacl_V1_BenchmarkService.Method.unaryCall, benchmarkRequest("x"))
            Issue.record("an expired certificate was accepted")
        } catch let error as RPCError {
            #expect(error.code == .unavailable)
        }
        await toExpired.close()

        let good = try tlsClient(server)
        let response: Res = try await good.unary(Loacl_V1_BenchmarkService.Method.unaryCall, benchmarkRequest("ok"))
        #expect(response.payload == Array("ok".utf8))
        await good.close()
    }

    @Test("a plaintext client on the TLS port is closed; the server keeps serving")
    func plaintextOnTLSPort() async throws {
        let server = try await TestServer.start(tls: serverTLS())
        defer { Task { await server.stop() } }
        let raw = try await RawConnection(tcpPort: server.tlsPort!)
        await raw.send(RawConnection.preface + RawConnection.frame(1, 0, 1, RawConnection.headers("/loacl.v1.BenchmarkService/UnaryCall")))
        #expect(await raw.isClosedByPeer())
        let client = try tlsClient(server)
        let response: Res = try await client.unary(Loacl_V1_BenchmarkService.Method.unaryCall, benchmarkRequest("still"))
        #expect(response.payload == Array("still".utf8))
        await client.close()
    }

    @Test("mutual TLS: a CA-signed client certificate is accepted and its subject reaches the handler; none or a foreign one is refused")
    func mutualTLS() async throws {
        let server = try await TestServer.start(tls: serverTLS(mutual: true))
        defer { Task { await server.stop() } }
        let accepted = try tlsClient(server, cert: "client.pem", key: "client.key")
        let response: Res = try await accepted.unary(TestMethods.echoMetadata, Loacl_V1_BenchmarkRequest())
        let text = String(decoding: response.payload, as: UTF8.self)
        #expect(text.hasPrefix("|"))
        #expect(text.contains("CN="))
        await accepted.close()

        for (cert, key) in [(String?.none, String?.none), ("other-client.pem", "other-client.key")] {
            let refused = try tlsClient(server, cert: cert, key: key)
            await #expect(throws: RPCError.self) {
                let _: Res = try await refused.unary(Loacl_V1_BenchmarkService.Method.unaryCall, benchmarkRequest("x"))
            }
            await refused.close()
        }
    }
}
