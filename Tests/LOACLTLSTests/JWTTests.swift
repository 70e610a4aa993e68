import Foundation
import LOACLCrypto
import Testing

@Suite("HS256 JWT verification")
struct JWTTests {
    let secret = "super-secret-jwt-token-with-at-least-32-characters-long"
    let now = Date(timeIntervalSince1970: 1_750_000_000)
    var verifier: JWTVerifier { JWTVerifier(secret: secret) }

    private func token(_ claims: String, header: String = #"{"alg":"HS256","typ":"JWT"}"#) -> String {
        JWTVerifier.sign(claims: claims, secret: Array(secret.utf8), header: header)
    }

    @Test func jwtIOKnownAnswer() throws {
        // The well-known example token from jwt.io (no exp).
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
        let claims = try JWTVerifier(secret: "your-256-bit-secret", requireExpiration: false).verify(token)
        #expect(claims.subject == "1234567890")
        #expect(claims.all["name"] == .string("John Doe"))
        #expect(claims.issuedAt == Date(timeIntervalSince1970: 1_516_239_022))
        #expect(throws: JWTError.invalidClaims("exp is missing")) { try JWTVerifier(secret: "your-256-bit-secret").verify(token) }
    }

    @Test func validSupabaseStyleToken() throws {
        let jwt = token(#"{"aud":"authenticated","exp":1750000600,"iat":1749996400,"iss":"https://x.supabase.co/auth/v1","sub":"8d0f8f4e-3c1a-4f1e-9a55-2c0a5b7f1e11","role":"authenticated","email":"a@b.c"}"#)
        let claims = try verifier.verify(jwt, now: now)
        #expect(claims.subject == "8d0f8f4e-3c1a-4f1e-9a55-2c0a5b7f1e11")
        #expect(claims.role == "authenticated")
        #expect(claims.audience == ["authenticated"])
        #expect(claims.issuer == "https://x.supabase.co/auth/v1")
        #expect(claims.expiresAt == Date(timeIntervalSince1970: 1_750_000_600))
        #expect(claims.all["email"] == .string("a@b.c"))
    }

    @Test func expiryAndNotBeforeWithLeeway() throws {
        #expect(throws: JWTError.expired) { try verifier.verify(token(#"{"sub":"u","exp":1749999900}"#), now: now) }
        // Expired 10 s ago: inside the default 30 s leeway.
        #expect(try verifier.verify(token(#"{"sub":"u","exp":1749999990}"#), now: now).subject == "u")
        #expect(throws: JWTError.notYetValid) { try verifier.verify(token(#"{"sub":"u","exp":1750009999,"nbf":1750000100}"#), now: now) }
        #expect(try verifier.verify(token(#"{"sub":"u","exp":1750009999,"nbf":1750000010}"#), now: now).subject == "u")
        #expect(throws: JWTError.invalidClaims("exp is not a number")) { try verifier.verify(token(#"{"exp":"soon"}"#), now: now) }
    }

    @Test func badSignatureIsRejected() {
        let jwt = token(#"{"sub":"u","exp":1750009999}"#)
        let forged = JWTVerifier.sign(claims: #"{"sub":"u","exp":1750009999}"#, secret: Array("another-secret".utf8))
        #expect(throws: JWTError.badSignature) { try verifier.verify(forged, now: now) }
        // Payload swapped under the original signature.
        var parts = jwt.split(separator: ".").map(String.init)
        parts[1] = Base64URL.encode(#"{"sub":"admin","exp":1750009999}"#.utf8)
        #expect(throws: JWTError.badSignature) { try verifier.verify(parts.joined(separator: "."), now: now) }
    }

    @Test func otherAlgorithmsAreRejected() {
        let unsigned = Base64URL.encode(#"{"alg":"none","typ":"JWT"}"#.utf8) + "." + Base64URL.encode(#"{"sub":"u","exp":1750009999}"#.utf8) + "."
        #expect(throws: JWTError.unsupportedAlgorithm("none")) { try verifier.verify(unsigned, now: now) }
        #expect(throws: JWTError.unsupportedAlgorithm("RS256")) {
            try verifier.verify(token(#"{"sub":"u","exp":1750009999}"#, header: #"{"alg":"RS256","typ":"JWT"}"#), now: now)
        }
        #expect(throws: JWTError.unsupportedAlgorithm("hs256")) {
            try verifier.verify(token(#"{"sub":"u","exp":1750009999}"#, header: #"{"alg":"hs256"}"#), now: now)
        }
    }

    @Test func malformedTokensAreRejected() {
        let good = token(#"{"sub":"u","exp":1750009999}"#)
        let malformed = [
            "", "abc", "a.b", "a.b.c.d", good + ".x",
            good.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + "+",
            "e30.e30.*", // bad base64url in the signature
            Base64URL.encode("not json".utf8) + "." + Base64URL.encode("{}".utf8) + ".AA",
            Base64URL.encode(#"["HS256"]"#.utf8) + "." + Base64URL.encode("{}".utf8) + ".AA",
        ]
        for candidate in malformed {
            #expect {
                try verifier.verify(candidate, now: now)
            } throws: { error in
                guard case .malformed = error as? JWTError else { return false }
                return true
            }
        }
    }
}
