import Foundation
@testable import LOACLServices
import Testing

/// The interceptor's session cache on its own (PostgreSQL's liveness check is covered over a
/// socket in SessionAndThreadTests).
@Suite("Session cache")
struct SessionCacheTests {
    static func record(_ id: String, expiresAtMs: Int64 = 0) -> SessionRecord {
        SessionRecord(id: id, assistantID: "a", kind: .guest(fingerprint: "fp-test-1"), status: "active",
                      createdAtMs: 0, expiresAtMs: expiresAtMs, lastActiveAtMs: 0, metadataJSON: "{}")
    }

    @Test func anEntryLastsItsLifetime() {
        let cache = SessionCache(lifetime: .seconds(30))
        let start = ContinuousClock.now
        cache.store(Self.record("s1"), tokenHash: [1], now: start)
        #expect(cache.record(tokenHash: [1], nowMs: 0, now: start + .seconds(29))?.id == "s1")
        #expect(cache.record(tokenHash: [1], nowMs: 0, now: start + .seconds(30)) == nil)
        #expect(cache.count == 0, "an outlived entry is dropped when found")
        #expect(cache.record(tokenHash: [2], nowMs: 0, now: start) == nil)
    }

    @Test func anEntryEndsWhenItsSessionExpires() {
        let cache = SessionCache(lifetime: .seconds(30))
        let start = ContinuousClock.now
        cache.store(Self.record("s1", expiresAtMs: 1_000), tokenHash: [1], now: start)
        #expect(cache.record(tokenHash: [1], nowMs: 999, now: start)?.id == "s1")
        #expect(cache.record(tokenHash: [1], nowMs: 1_000, now: start) == nil)
    }

    @Test func aZeroLifetimeCachesNothing() {
        let cache = SessionCache(lifetime: .zero)
        cache.store(Self.record("s1"), tokenHash: [1])
        #expect(cache.count == 0 && cache.record(tokenHash: [1], nowMs: 0) == nil)
    }

    @Test func aFullCacheMakesRoom() {
        let cache = SessionCache(lifetime: .seconds(30), capacity: 3)
        let start = ContinuousClock.now
        cache.store(Self.record("old"), tokenHash: [0], now: start)
        cache.store(Self.record("s1"), tokenHash: [1], now: start + .seconds(20))
        cache.store(Self.record("s2"), tokenHash: [2], now: start + .seconds(20))
        // Full: the outlived entry goes, the live ones stay.
        cache.store(Self.record("s3"), tokenHash: [3], now: start + .seconds(40))
        #expect(cache.count == 3)
        #expect(cache.record(tokenHash: [1], nowMs: 0, now: start + .seconds(40))?.id == "s1")
        // Full of live entries: all go, so a burst of new sessions cannot grow it.
        cache.store(Self.record("s4"), tokenHash: [4], now: start + .seconds(41))
        #expect(cache.count == 1)
        cache.remove(tokenHash: [4])
        #expect(cache.count == 0)
    }
}
