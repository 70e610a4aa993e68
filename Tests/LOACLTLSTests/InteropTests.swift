import Foundation
import LOACLTestKeys
import LOACLTLS
import NIOCore
import Testing

/// Handshakes with independent TLS peers: the `openssl s_server` CLI and CPython's `ssl` module.
@Suite("Interoperability")
struct InteropTests {
    let certs = TestCertificates.shared

    @Test func ourClientTalksToOpenSSLServer() async throws {
        // `-rev` echoes each line reversed; `-accept 0` picks a port and prints it.
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["openssl", "s_server", "-4", "-accept", "0", "-cert", certs.serverCertificate,
                            "-key", certs.serverKey, "-alpn", "loacl/1", "-rev", "-naccept", "1"]
        let output = Pipe()
        server.standardOutput = output
        server.standardError = output
        try server.run()
        defer { if server.isRunning { server.terminate() } }
        let reader = output.fileHandleForReading
        let port = try #require(await onOwnThread { Self.acceptedPort(reader) })

        let client = try await TLSTestClient.connect(port: port, loaclClientConfiguration)
        let echoed = try await client.roundTrip([ByteBuffer(string: "hello openssl\n")])
        #expect(String(buffer: echoed) == "lssnepo olleh\n")
        let info = try await client.handshake.get()
        #expect(info.alpnProtocol == "loacl/1")
        #expect(info.protocolVersion == "TLSv1.3")
    }

    @Test func pythonClientTalksToOurServer() async throws {
        let server = try await TLSEchoServer.start(loaclServerConfiguration)
        let result = await Self.python(port: server.port, message: "hello from python", clientCertificate: false)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains(#""echo": "hello from python""#), "\(result.output)")
        #expect(result.output.contains(#""alpn": "loacl/1""#))
        #expect(result.output.contains(#""version": "TLSv1.3""#))
        #expect(result.output.contains(#""clean_shutdown": true"#), "server answers close_notify")
        #expect(try #require(await server.nextOutcome()).get().serverName == "localhost")
        try await server.stop()
    }

    @Test func pythonClientWithCertificateTalksToMutualTLSServer() async throws {
        let server = try await TLSEchoServer.start(.server(
            certificateChainFile: certs.serverCertificate, privateKeyFile: certs.serverKey,
            caFile: certs.caFile, clientVerification: .required))
        let result = await Self.python(port: server.port, message: "mtls from python", clientCertificate: true)
        #expect(result.output.contains(#""echo": "mtls from python""#), "\(result.output)")
        #expect(try #require(await server.nextOutcome()).get().peerSubject == "CN=loacl-test-client,O=LOACL")
        try await server.stop()
    }

    private static func python(port: Int, message: String, clientCertificate: Bool) async -> (status: Int32, output: String) {
        let certs = TestCertificates.shared
        let script = """
        import json, socket, ssl, sys
        ctx = ssl.create_default_context(cafile=sys.argv[2])
        ctx.set_alpn_protocols(["loacl/1"])
        if sys.argv[4] == "1":
            ctx.load_cert_chain(sys.argv[5], sys.argv[6])
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="localhost") as s:
            want = sys.argv[3].encode()
            s.sendall(want)
            got = b""
            while len(got) < len(want):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            result = {"echo": got.decode(), "alpn": s.selected_alpn_protocol(), "version": s.version()}
            s.unwrap()  # sends close_notify and waits for the server's
            result["clean_shutdown"] = True
            print(json.dumps(result))
        """
        return await runProcess(["python3", "-c", script, String(port), certs.caFile, message, clientCertificate ? "1" : "0",
                           certs.clientCertificate, certs.clientKey])
    }

    /// Reads s_server's output until its "ACCEPT 0.0.0.0:PORT" line (blocking: on a thread of its own).
    private static func acceptedPort(_ handle: FileHandle) -> Int? {
        var text = ""
        while true {
            let data = handle.availableData
            if data.isEmpty { return nil }
            text += String(decoding: data, as: UTF8.self)
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("ACCEPT") }),
               let port = line.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) {
                return port
            }
        }
    }
}
