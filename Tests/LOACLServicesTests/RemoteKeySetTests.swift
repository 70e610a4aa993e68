import Foundation
import LOACLCrypto
import LOACLFakeOpenAI
@testable import LOACLServices
import LOACLTestKeys
import Logging
import Synchronization
import Testing

/// `--jwt-jwks-url`: the keys come from a local HTTP server; time moves by hand, so the
/// once-a-minute refetch limit is tested without waiting a minute. No database needed.
@Suite("JWKS URL: caching and refreshing")
struct RemoteKeySetTests {
    /// The JWKS server: serves `document` (with `Cache-Control: max-age=300`), or `failure`.
    final class Provider: Sendable {
        let document: Mutex<String>
        let failure = Mutex<FakeOpenAIServer.Reply?>(nil)
        private let started = Mutex<FakeOpenAIServer?>(nil)

        init(_ keys: [TestSigningKey]) async throws {
            document = Mutex(TestSigningKey.jwks(keys))
            let server = try await FakeOpenAIServer.start { [unowned self] _, _ in
                failure.withLock { $0 } ?? .status(200, headers: [("Cache-Control", "public, max-age=300")], body: document.withLock { $0 })
            }
            started.withLock { $0 = server }
        }

        var server: FakeOpenAIServer { started.withLock { $0! } }

        var url: String { server.baseURL + "/auth/v1/.well-known/jwks.json" }
        var fetches: Int { server.requests.count }

        /// A verifier with no secret that reads this provider's keys (on `clock`'s time if given).
        func verifier(clock: ManualClock? = nil) -> UserTokenVerifier {
            let logger = Logger(label: "loacl.tests.jwks")
            let remote = clock.map { RemoteKeySet(url: url, now: $0.now, logger: logger) } ?? RemoteKeySet(url: url, logger: logger)
            return UserTokenVerifier(JWTVerifier(secret: nil), remote: remote)
        }
    }

    /// A clock that moves only when told to.
    final class ManualClock: Sendable {
        let instant = Mutex(ContinuousClock.now)
        func advance(_ by: Duration) { instant.withLock { $0 += by } }
        var now: @Sendable () -> ContinuousClock.Instant { { self.instant.withLock { $0 } } }
    }

    let logs = Logger(label: "loacl.tests.jwks")
    let claims = #"{"sub":"8d0f8f4e-3c1a-4f1e-9a55-2c0a5b7f1e11","exp":\#(Int(Date().timeIntervalSince1970) + 600)}"#

    @Test func cachesAndRefetchesAnUnknownKidAtMostOnceAMinute() async throws {
        let first = try await TestSigningKey.generate(.ec, keyID: "ec-1")
        let rotated = try await TestSigningKey.generate(.ed25519, keyID: "ed-2")
        let provider = try await Provider([first])
        defer { Task { await provider.server.stop() } }
        let clock = ManualClock()
        let verifier = provider.verifier(clock: clock)

        #expect(try await verifier.verify(first.token(claims: claims)).subject != nil)
        #expect(try await verifier.verify(first.token(claims: claims)).subject != nil)
        #expect(provider.fetches == 1)
        #expect(provider.server.requests.first?.path == "/auth/v1/.well-known/jwks.json")

        // The provider rotates its key. Within the minute a new kid is not fetched again…
        provider.document.withLock { $0 = TestSigningKey.jwks([rotated]) }
        clock.advance(.seconds(30))
        await #expect(throws: JWTError.unknownKey("ed-2")) { try await verifier.verify(rotated.token(claims: claims)) }
        #expect(provider.fetches == 1)
        // …after it, once: the rotated key verifies and the old one is gone.
        clock.advance(.seconds(31))
        #expect(try await verifier.verify(rotated.token(claims: claims)).subject != nil)
        #expect(provider.fetches == 2)
        await #expect(throws: JWTError.unknownKey("ec-1")) { try await verifier.verify(first.token(claims: claims)) }
        #expect(provider.fetches == 2)

        // Made-up kids cost at most one fetch a minute however many arrive.
        let forged = try await first.token(claims: claims, header: #"{"alg":"ES256","kid":"made-up"}"#)
        clock.advance(.seconds(60))
        for _ in 0..<5 {
            await #expect(throws: JWTError.unknownKey("made-up")) { try await verifier.verify(forged) }
        }
        #expect(provider.fetches == 3)
    }

    @Test func concurrentCallersShareOneFetch() async throws {
        let key = try await TestSigningKey.generate(.ed25519, keyID: "ed-1")
        let provider = try await Provider([key])
        defer { Task { await provider.server.stop() } }
        let verifier = provider.verifier()
        let token = try await key.token(claims: claims)
        let verified = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<20 { group.addTask { try await verifier.verify(token).subject != nil } }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(verified == 20)
        #expect(provider.fetches == 1)
        #expect(await verifier.remote?.fetchCount == 1)
    }

    @Test func refreshesAfterMaxAgeAndKeepsKeysWhenAFetchFails() async throws {
        let key = try await TestSigningKey.generate(.ec, keyID: "ec-1")
        let provider = try await Provider([key])
        defer { Task { await provider.server.stop() } }
        let clock = ManualClock()
        let verifier = provider.verifier(clock: clock)
        let token = try await key.token(claims: claims)

        #expect(try await verifier.verify(token).subject != nil)
        clock.advance(.seconds(299)) // max-age=300: still fresh
        #expect(try await verifier.verify(token).subject != nil)
        #expect(provider.fetches == 1)

        // Stale, and the provider is down or serves garbage: the old keys keep working, and
        // the failing provider is asked again at most once a minute.
        for failure: FakeOpenAIServer.Reply in [.status(503, body: "down"), .status(200, body: #"{"keys":"nope"}"#)] {
            provider.failure.withLock { $0 = failure }
            clock.advance(.seconds(61))
            #expect(try await verifier.verify(token).subject != nil)
            #expect(try await verifier.verify(token).subject != nil)
        }
        #expect(provider.fetches == 3)

        provider.failure.withLock { $0 = nil }
        clock.advance(.seconds(61))
        #expect(try await verifier.verify(token).subject != nil)
        #expect(provider.fetches == 4)
        clock.advance(.seconds(120))
        #expect(try await verifier.verify(token).subject != nil)
        #expect(provider.fetches == 4)
    }

    @Test func optionsReadTheFileAndRefuseHalfConfigurations() async throws {
        let key = try await TestSigningKey.generate(.rsa, keyID: "rsa-1")
        let path = NSTemporaryDirectory() + "loacl-jwks-" + UUID().uuidString.prefix(8) + ".json"
        try Data(TestSigningKey.jwks([key]).utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }

        let verifier = try #require(try UserTokenOptions(jwksFile: path, audience: "authenticated").makeVerifier(logger: logs))
        #expect(verifier.remote == nil)
        #expect(verifier.verifier.keys.keys.map(\.keyID) == ["rsa-1"])
        #expect(verifier.verifier.audience == "authenticated")

        #expect(try UserTokenOptions().makeVerifier(logger: logs) == nil)
        #expect(throws: UserTokenOptions.Invalid.self) { try UserTokenOptions(issuer: "https://idp").makeVerifier(logger: logs) }
        #expect(throws: UserTokenOptions.Invalid.self) { try UserTokenOptions(jwksFile: path + ".missing").makeVerifier(logger: logs) }
        #expect(throws: UserTokenOptions.Invalid.self) { try UserTokenOptions(jwksURL: "file:///etc/passwd").makeVerifier(logger: logs) }
    }

    @Test func cacheControl() {
        #expect(JWKSDownload.maxAge(["public, max-age=600, stale-while-revalidate=60"]) == .seconds(600))
        #expect(JWKSDownload.maxAge(["no-store"]) == .zero)
        #expect(JWKSDownload.maxAge(["public"]) == nil)
        #expect(JWKSDownload.maxAge([]) == nil)
    }
}
