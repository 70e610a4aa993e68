import Foundation
import LOACLCrypto
import LOACLTestKeys
import Testing

/// RS256, ES256 and EdDSA tokens signed by the openssl tool, verified against a JWKS.
@Suite("JWKS JWT verification")
struct JWKSTests {
    /// One key of each type, made once for the suite (RSA key generation takes a moment), by a
    /// task: a static initialiser would block every test waiting for it on the cooperative pool.
    private static let making = Task {
        (rsa: try await TestSigningKey.generate(.rsa, keyID: "rsa-1"), ec: try await TestSigningKey.generate(.ec, keyID: "ec-1"),
         ed: try await TestSigningKey.generate(.ed25519, keyID: "ed-1"))
    }
    static var keys: (rsa: TestSigningKey, ec: TestSigningKey, ed: TestSigningKey) { get async throws { try await making.value } }
    static var all: [TestSigningKey] { get async throws { let keys = try await keys; return [keys.rsa, keys.ec, keys.ed] } }

    let now = Date(timeIntervalSince1970: 1_750_000_000)
    let claims = #"{"sub":"8d0f8f4e-3c1a-4f1e-9a55-2c0a5b7f1e11","exp":1750000600,"iss":"https://idp.example/auth/v1","aud":"authenticated"}"#

    func verifier(_ keys: [TestSigningKey]? = nil, secret: String? = nil, issuer: String? = nil, audience: String? = nil) async throws -> JWTVerifier {
        let keys = if let keys { keys } else { try await Self.all }
        return JWTVerifier(secret: secret.map { Array($0.utf8) }, keys: try JSONWebKeySet(json: Array(TestSigningKey.jwks(keys).utf8)),
                           issuer: issuer, audience: audience)
    }

    @Test(arguments: [0, 1, 2])
    func validTokensOfEachTypeVerify(_ index: Int) async throws {
        let key = try await Self.all[index]
        let claims = try await verifier(issuer: "https://idp.example/auth/v1", audience: "authenticated")
            .verify(try await key.token(claims: claims), now: now)
        #expect(claims.subject == "8d0f8f4e-3c1a-4f1e-9a55-2c0a5b7f1e11")
        #expect(claims.audience == ["authenticated"])
    }

    @Test(arguments: [0, 1, 2])
    func tamperedPayloadIsRejected(_ index: Int) async throws {
        let key = try await Self.all[index]
        var parts = try await key.token(claims: claims).split(separator: ".").map(String.init)
        parts[1] = Base64URL.encode(claims.replacingOccurrences(of: "8d0f", with: "9d0f").utf8)
        await #expect(throws: JWTError.badSignature) { try await verifier().verify(parts.joined(separator: "."), now: now) }
    }

    @Test func anotherKeyUnderTheSameKidIsRejected() async throws {
        let impostor = try await TestSigningKey.generate(.ec, keyID: "ec-1")
        await #expect(throws: JWTError.badSignature) { try await verifier().verify(try await impostor.token(claims: claims), now: now) }
    }

    @Test func algNoneIsRejected() async throws {
        let header = #"{"alg":"none","typ":"JWT","kid":"rsa-1"}"#
        let unsigned = Base64URL.encode(header.utf8) + "." + Base64URL.encode(claims.utf8) + "."
        await #expect(throws: JWTError.unsupportedAlgorithm("none")) { try await verifier().verify(unsigned, now: now) }
        // Signed and all, but still alg none.
        let signed = try await Self.keys.rsa.token(claims: claims, header: header)
        await #expect(throws: JWTError.unsupportedAlgorithm("none")) { try await verifier(secret: "s").verify(signed, now: now) }
    }

    @Test func hs256SignedWithThePublicKeyIsRejected() async throws {
        // Algorithm confusion: the attacker HMACs with the public key (PEM, or the raw JWK
        // text) and hopes the verifier uses the RSA key's bytes as the HS256 secret.
        for (index, key) in try await Self.all.enumerated() {
            for secret in [key.publicKeyPEM, key.jwk] {
                let forged = JWTVerifier.sign(claims: claims, secret: Array(secret.utf8),
                                              header: #"{"alg":"HS256","typ":"JWT","kid":"\#(key.keyID)"}"#)
                await #expect(throws: JWTError.unsupportedAlgorithm("HS256"), "key \(index)") { try await verifier().verify(forged, now: now) }
                await #expect(throws: JWTError.badSignature, "key \(index)") {
                    try await verifier(secret: "the-real-hs256-secret-0123456789abcdef").verify(forged, now: now)
                }
            }
        }
        // The HS256 secret itself still works next to the JWKS.
        let secret = "the-real-hs256-secret-0123456789abcdef"
        let good = JWTVerifier.sign(claims: claims, secret: Array(secret.utf8))
        #expect(try await verifier(secret: secret).verify(good, now: now).subject != nil)
    }

    @Test func kidMustNameAKeyOfTheTokensType() async throws {
        let key = try await Self.keys.rsa
        await #expect(throws: JWTError.unknownKey("rsa-2")) {
            try await verifier().verify(try await key.token(claims: claims, header: #"{"alg":"RS256","kid":"rsa-2"}"#), now: now)
        }
        // No kid: fine with a one-key set, refused with several.
        let noKid = try await key.token(claims: claims, header: #"{"alg":"RS256"}"#)
        #expect(try await verifier([key]).verify(noKid, now: now).subject != nil)
        await #expect(throws: JWTError.unknownKey(nil)) { try await verifier().verify(noKid, now: now) }
        // An RS256 token naming the EC key, and an ES256 token naming the RSA key.
        await #expect(throws: JWTError.algorithmMismatch("RS256")) {
            try await verifier().verify(try await key.token(claims: claims, header: #"{"alg":"RS256","kid":"ec-1"}"#), now: now)
        }
        await #expect(throws: JWTError.algorithmMismatch("ES256")) {
            try await verifier().verify(try await Self.keys.ec.token(claims: claims, header: #"{"alg":"ES256","kid":"rsa-1"}"#), now: now)
        }
        // The kid is the client's text: messages quote it printable and short.
        #expect(JWTError.unknownKey("a\nb\"c").description == #"JWT kid "a?b?c" is not in the key set"#)
        #expect(JWTError.unknownKey(String(repeating: "k", count: 500)).description.count < 100)
        await #expect(throws: JWTError.unsupportedAlgorithm("RS512")) {
            try await verifier().verify(try await key.token(claims: claims, header: #"{"alg":"RS512","kid":"rsa-1"}"#), now: now)
        }
    }

    @Test func issuerAndAudienceAreCheckedWhenConfigured() async throws {
        let token = try await Self.keys.ed.token(claims: claims)
        #expect(try await verifier().verify(token, now: now).issuer == "https://idp.example/auth/v1")
        await #expect(throws: JWTError.invalidClaims("iss is not the configured issuer")) {
            try await verifier(issuer: "https://other.example/auth/v1").verify(token, now: now)
        }
        await #expect(throws: JWTError.invalidClaims("aud does not include the configured audience")) {
            try await verifier(audience: "service_role").verify(token, now: now)
        }
        let noIssuer = try await Self.keys.ed.token(claims: #"{"sub":"u","exp":1750000600}"#)
        await #expect(throws: JWTError.invalidClaims("iss is not the configured issuer")) {
            try await verifier(issuer: "https://idp.example/auth/v1").verify(noIssuer, now: now)
        }
        let audiences = try await Self.keys.ed.token(claims: #"{"sub":"u","exp":1750000600,"aud":["account","authenticated"]}"#)
        #expect(try await verifier(audience: "authenticated").verify(audiences, now: now).audience == ["account", "authenticated"])
        await #expect(throws: JWTError.invalidClaims("aud does not include the configured audience")) {
            try await verifier(audience: "admin").verify(audiences, now: now)
        }
    }

    @Test func expiredAndNotYetValidAreRejected() async throws {
        let key = try await Self.keys.ec
        await #expect(throws: JWTError.expired) { try await verifier().verify(try await key.token(claims: #"{"sub":"u","exp":1749999900}"#), now: now) }
        await #expect(throws: JWTError.notYetValid) {
            try await verifier().verify(try await key.token(claims: #"{"sub":"u","exp":1750009999,"nbf":1750000100}"#), now: now)
        }
        await #expect(throws: JWTError.invalidClaims("exp is missing")) { try await verifier().verify(try await key.token(claims: #"{"sub":"u"}"#), now: now) }
    }

    @Test func es256SignatureMustBeRaw64Bytes() async throws {
        let key = try await Self.keys.ec
        let token = try await key.token(claims: claims)
        let input = String(token[..<token.lastIndex(of: ".")!])
        let raw = try await key.signature(input)
        #expect(raw.count == 64)
        let der = try #require(ECDSASignature.der(fromRawP256: raw))
        for signature in [der, Array(raw.dropLast()), raw + [0], [UInt8](repeating: 0, count: 64), []] {
            await #expect(throws: JWTError.badSignature, "\(signature.count) bytes") {
                try await verifier().verify(input + "." + Base64URL.encode(signature), now: now)
            }
        }
        #expect(try await verifier().verify(input + "." + Base64URL.encode(raw), now: now).subject != nil)
    }

    @Test func keySetParsing() async throws {
        let good = try await Self.keys.ed.jwk
        let set = try JSONWebKeySet(json: Array(#"""
            {"keys":[\#(good),
              {"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB","kid":"enc"},
              {"kty":"oct","k":"c2VjcmV0","kid":"hmac"},
              {"kty":"EC","crv":"P-384","x":"AA","y":"AA","kid":"p384"},
              {"kty":"RSA","n":"\#(Base64URL.encode([UInt8](repeating: 0xC3, count: 128)))","e":"AQAB","kid":"rsa-1024"},
              {"kty":"EC","crv":"P-256","x":"\#(Base64URL.encode([UInt8](repeating: 1, count: 32)))","y":"\#(Base64URL.encode([UInt8](repeating: 2, count: 32)))","kid":"off-curve"},
              {"kty":"OKP","crv":"Ed25519","x":"AAAA","kid":"short"},
              {"kty":"RSA","n":"AQAB","e":"AQAB","alg":"PS256","kid":"ps"},
              "not an object"]}
            """#.utf8))
        #expect(set.keys.map(\.keyID) == ["ed-1"])
        #expect(set.skipped.count == 8)
        #expect(set.skipped.contains { $0.hasPrefix("key \"off-curve\"") })
        await #expect(throws: JWKSError.noUsableKeys([])) { try JSONWebKeySet(json: Array(#"{"keys":[]}"#.utf8)) }
        await #expect(throws: JWKSError.malformed("no \"keys\" array")) { try JSONWebKeySet(json: Array(#"{"kty":"RSA"}"#.utf8)) }
        await #expect(throws: JWKSError.malformed("not a JSON object")) { try JSONWebKeySet(json: Array("[]".utf8)) }
    }
}
