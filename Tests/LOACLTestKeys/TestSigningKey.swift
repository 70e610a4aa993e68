// Signing keys for JWT tests, made and used by the `openssl` command-line tool (target
// LOACLTestKeys, shared by the crypto and services tests), so the tokens LOACL verifies come
// from an independent implementation:
//
//     let key = try await TestSigningKey.generate(.ec, keyID: "ec-1")
//     let jwks = TestSigningKey.jwks([key])                             // {"keys":[…]}
//     let token = try await key.token(claims: #"{"sub":"…","exp":…}"#)  // ES256, kid ec-1
//
// Each runs `openssl` off the cooperative pool (`offCooperativePool`).
import Foundation
import LOACLEncoding

public struct TestSigningKey: Sendable {
    public enum Kind: Sendable {
        case rsa, ec, ed25519

        /// The JWS `alg` this key signs with.
        public var algorithm: String {
            switch self {
            case .rsa: "RS256"
            case .ec: "ES256"
            case .ed25519: "EdDSA"
            }
        }
    }

    public let kind: Kind
    public let keyID: String
    /// The private key in PEM, in a temporary folder of its own.
    public let privateKeyPath: String
    /// The public key as PEM text (what an algorithm-confusion attacker uses as the HMAC key).
    public let publicKeyPEM: String
    /// The JWK (JSON object text) of the public key.
    public let jwk: String

    public static func generate(_ kind: Kind, keyID: String) async throws -> TestSigningKey {
        try await offCooperativePool { try generateBlocking(kind, keyID: keyID) }
    }

    private static func generateBlocking(_ kind: Kind, keyID: String) throws -> TestSigningKey {
        let folder = NSTemporaryDirectory() + "loacl-jwk-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = folder + "/key.pem"
        switch kind {
        case .rsa: try openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path])
        case .ec: try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path])
        case .ed25519: try openssl(["genpkey", "-algorithm", "ED25519", "-out", path])
        }
        let pem = String(decoding: try openssl(["pkey", "-in", path, "-pubout"]), as: UTF8.self)
        let der = try openssl(["pkey", "-in", path, "-pubout", "-outform", "DER"])
        let fields: String
        switch kind {
        case .rsa:
            let text = String(decoding: try openssl(["rsa", "-in", path, "-noout", "-modulus"]), as: UTF8.self)
            guard let modulus = Hex.decode(text.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "Modulus=", with: "").lowercased()) else {
                throw Failure("unexpected openssl -modulus output")
            }
            fields = #""kty":"RSA","n":"\#(Base64URL.encode(modulus))","e":"AQAB""#
        case .ec:
            // SubjectPublicKeyInfo for P-256 ends with the uncompressed point 04 || x || y.
            let point = der.suffix(65)
            fields = #""kty":"EC","crv":"P-256","x":"\#(Base64URL.encode(point.dropFirst().prefix(32)))","y":"\#(Base64URL.encode(point.suffix(32)))""#
        case .ed25519:
            fields = #""kty":"OKP","crv":"Ed25519","x":"\#(Base64URL.encode(der.suffix(32)))""#
        }
        return TestSigningKey(kind: kind, keyID: keyID, privateKeyPath: path, publicKeyPEM: pem,
                              jwk: #"{\#(fields),"kid":"\#(keyID)","use":"sig","alg":"\#(kind.algorithm)"}"#)
    }

    /// `{"keys":[…]}` of these keys' JWKs.
    public static func jwks(_ keys: [TestSigningKey]) -> String {
        #"{"keys":[\#(keys.map(\.jwk).joined(separator: ","))]}"#
    }

    /// A signed token; `header` defaults to this key's `alg` and `kid`.
    public func token(claims: String, header: String? = nil) async throws -> String {
        let header = header ?? #"{"alg":"\#(kind.algorithm)","typ":"JWT","kid":"\#(keyID)"}"#
        let input = Base64URL.encode(header.utf8) + "." + Base64URL.encode(claims.utf8)
        return input + "." + Base64URL.encode(try await signature(input))
    }

    /// The JWS signature of `input`: PKCS#1 v1.5 (RS256), raw r || s (ES256) or Ed25519.
    public func signature(_ input: String) async throws -> [UInt8] {
        try await offCooperativePool { try signatureBlocking(input) }
    }

    private func signatureBlocking(_ input: String) throws -> [UInt8] {
        let inputPath = privateKeyPath + "." + UUID().uuidString // tests sign in parallel
        try Data(input.utf8).write(to: URL(fileURLWithPath: inputPath))
        defer { try? FileManager.default.removeItem(atPath: inputPath) }
        switch kind {
        case .rsa: return try Self.openssl(["dgst", "-sha256", "-sign", privateKeyPath, inputPath])
        case .ec: return try Self.rawECDSA(fromDER: Self.openssl(["dgst", "-sha256", "-sign", privateKeyPath, inputPath]))
        case .ed25519: return try Self.openssl(["pkeyutl", "-sign", "-inkey", privateKeyPath, "-rawin", "-in", inputPath])
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Runs `openssl` and returns its standard output.
    @discardableResult
    static func openssl(_ arguments: [String]) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw Failure("openssl \(arguments.prefix(2).joined(separator: " ")) failed") }
        return [UInt8](data)
    }

    /// DER `SEQUENCE { INTEGER r, INTEGER s }` → 32-byte r || 32-byte s.
    static func rawECDSA(fromDER der: [UInt8]) throws -> [UInt8] {
        var index = 2 // SEQUENCE tag and a one-byte length (a P-256 signature is < 128 bytes)
        guard der.count > 2, der[0] == 0x30, der[1] < 0x80 else { throw Failure("unexpected ECDSA DER") }
        var raw: [UInt8] = []
        for _ in 0..<2 {
            guard index + 2 <= der.count, der[index] == 0x02 else { throw Failure("unexpected ECDSA DER") }
            let length = Int(der[index + 1])
            guard index + 2 + length <= der.count else { throw Failure("unexpected ECDSA DER") }
            let integer = der[(index + 2)..<(index + 2 + length)].drop { $0 == 0 }
            guard integer.count <= 32 else { throw Failure("unexpected ECDSA DER") }
            raw += [UInt8](repeating: 0, count: 32 - integer.count) + integer
            index += 2 + length
        }
        return raw
    }
}
