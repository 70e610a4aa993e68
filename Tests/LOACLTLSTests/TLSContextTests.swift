import Foundation
import LOACLTLS
import Testing

@Suite("TLSContext construction errors")
struct TLSContextTests {
    let certs = TestCertificates.shared

    private func garbageFile(_ name: String, _ contents: String) throws -> String {
        let path = certs.path(name)
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func validServerAndClientContexts() throws {
        let server = try TLSContext(configuration: loaclServerConfiguration)
        #expect(server.configuration.alpnProtocols == ["loacl/1"])
        _ = try TLSContext(configuration: loaclClientConfiguration)
        // The chain file form (leaf + CA) works too.
        _ = try TLSContext(configuration: .server(certificateChainFile: certs.path("server-chain.pem"), privateKeyFile: certs.serverKey))
    }

    @Test func missingCertificateFile() {
        #expect(throws: TLSError.fileNotFound(path: "/nonexistent/server.pem")) {
            try TLSContext(configuration: .server(certificateChainFile: "/nonexistent/server.pem", privateKeyFile: certs.serverKey))
        }
    }

    @Test func badCertificateIncludesOpenSSLReason() throws {
        let path = try garbageFile("garbage-cert.pem", "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n")
        #expect {
            try TLSContext(configuration: .server(certificateChainFile: path, privateKeyFile: certs.serverKey))
        } throws: { error in
            guard case let .badCertificate(badPath, reason)? = error as? TLSError else { return false }
            return badPath == path && reason.contains("error:")
        }
    }

    @Test func badPrivateKey() throws {
        let path = try garbageFile("garbage.key", "this is not a key\n")
        #expect {
            try TLSContext(configuration: .server(certificateChainFile: certs.serverCertificate, privateKeyFile: path))
        } throws: { error in
            guard case let .badPrivateKey(badPath, reason)? = error as? TLSError else { return false }
            return badPath == path && !reason.isEmpty
        }
    }

    @Test func keyNotMatchingCertificate() {
        #expect {
            try TLSContext(configuration: .server(certificateChainFile: certs.serverCertificate, privateKeyFile: certs.clientKey))
        } throws: { error in
            guard case let .keyDoesNotMatchCertificate(reason)? = error as? TLSError else { return false }
            return reason.contains("mismatch")
        }
    }

    @Test func badCAFile() throws {
        let path = try garbageFile("garbage-ca.pem", "nothing useful here\n")
        #expect {
            try TLSContext(configuration: .client(caFile: path))
        } throws: { error in
            guard case let .badCAFile(badPath, reason)? = error as? TLSError else { return false }
            return badPath == path && !reason.isEmpty
        }
        #expect(throws: TLSError.fileNotFound(path: "/nonexistent/ca.pem")) {
            try TLSContext(configuration: .client(caFile: "/nonexistent/ca.pem"))
        }
    }

    @Test func inconsistentConfigurations() {
        #expect(throws: TLSError.invalidConfiguration("a certificate chain needs a private key file")) {
            try TLSContext(configuration: TLSConfiguration(certificateChainFile: certs.serverCertificate, peerVerification: .none))
        }
        var configuration = loaclClientConfiguration
        configuration.alpnProtocols = [""]
        #expect(throws: TLSError.self) { try TLSContext(configuration: configuration) }
        configuration = loaclClientConfiguration
        configuration.minimumVersion = .tls1_3
        configuration.maximumVersion = .tls1_2
        #expect(throws: TLSError.self) { try TLSContext(configuration: configuration) }
    }
}
