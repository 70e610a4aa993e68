import Foundation
import LOACLCore
import LOACLCrypto
import LOACLFakeOpenAI
import LOACLMessages
import LOACLServices
import LOACLTestKeys
import Testing

/// StartAuthenticatedSession through the real server with identity-provider tokens: RS256 and
/// ES256 keys published at a JWKS URL (a local HTTP server), issuer and audience configured,
/// HS256 still accepted with the shared secret.
@Suite("Authenticated sessions with JWKS-signed tokens")
struct JWKSSessionTests {
    @Test func rs256AndEs256TokensStartSessions() async throws {
        let rsa = try await TestSigningKey.generate(.rsa, keyID: "rsa-1")
        let ec = try await TestSigningKey.generate(.ec, keyID: "ec-1")
        let jwks = TestSigningKey.jwks([rsa, ec])
        let provider = try await FakeOpenAIServer.start { _, _ in .status(200, body: jwks) }
        defer { Task { await provider.stop() } }
        let issuer = "https://project.supabase.example/auth/v1"
        let verifier = JWTVerifier(secret: Array(Harness.jwtSecret.utf8), issuer: issuer, audience: "authenticated")
        let userTokens = UserTokenVerifier(verifier, remote: RemoteKeySet(url: provider.baseURL + "/jwks.json", logger: .init(label: "jwks")))

        try await withHarness(userTokens: userTokens) { h in
            let assistant = try await h.createAssistant(Caller.newTenant())
            func start(_ jwt: String) async throws -> Loacl_V1_StartSessionResponse {
                var request = Loacl_V1_StartAuthenticatedSessionRequest()
                request.assistantID = assistant.id
                request.jwt = jwt
                return try await h.call(SS.startAuthenticatedSession, request, as: .anonymous)
            }
            func claims(_ user: String, iss: String? = nil, aud: String = "authenticated", expiresIn: Int = 600) -> String {
                #"{"sub":"\#(user)","iss":"\#(iss ?? issuer)","aud":"\#(aud)","role":"authenticated","exp":\#(Int(Date().timeIntervalSince1970) + expiresIn)}"#
            }

            for key in [rsa, ec] {
                let user = UUID().uuidString.lowercased()
                let started = try await start(try await key.token(claims: claims(user)))
                #expect(started.session.type == .authenticated && started.session.userID == user)
                let got: Loacl_V1_GetSessionResponse = try await h.call(SS.getSession, Loacl_V1_GetSessionRequest(),
                                                                          as: .session(started.sessionToken))
                #expect(got.session.userID == user)
            }
            // HS256 with the shared secret still works (with the configured iss and aud).
            let hs256 = JWTVerifier.sign(claims: claims(UUID().uuidString), secret: Array(Harness.jwtSecret.utf8))
            #expect(try await start(hs256).session.type == .authenticated)

            let user = UUID().uuidString
            let rejected = [
                try await rsa.token(claims: claims(user), header: #"{"alg":"RS256","kid":"rsa-9"}"#),
                try await rsa.token(claims: claims(user, iss: "https://elsewhere.example/auth/v1")),
                try await ec.token(claims: claims(user, aud: "anon")),
                try await ec.token(claims: claims(user, expiresIn: -600)),
                JWTVerifier.sign(claims: claims(user), secret: Array(rsa.publicKeyPEM.utf8), header: #"{"alg":"HS256","kid":"rsa-1"}"#),
                Base64URL.encode(#"{"alg":"none","kid":"rsa-1"}"#.utf8) + "." + Base64URL.encode(claims(user).utf8) + ".",
            ]
            for token in rejected {
                await expectCode(.unauthenticated) { _ = try await start(token) }
            }
            // No secret or key leaks into the log.
            #expect(!h.logs.lines.withLockedValue { $0 }.contains { $0.contains(Harness.jwtSecret) })
        }
        #expect(provider.requests.count == 1)
    }
}
