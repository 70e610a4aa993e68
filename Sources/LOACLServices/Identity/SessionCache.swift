import Synchronization

/// Sessions recently resolved from their tokens, so a call does not spend a database round trip
/// on the look-up before its own work (≈ 0.4 ms of every session call, and of the time to a
/// chat reply's first delta).
///
/// A hit is only a hint: every transaction run as a session asks PostgreSQL whether the
/// session is still live (`loacl.assert_live_session` in the identity statement, see
/// `IdentitySettings`), so a session revoked, expired or deleted since, by this server or any
/// other, is refused with UNAUTHENTICATED by its very next call. Entries are dropped after
/// `lifetime` (the next call resolves again, which also refreshes `last_active_at`), when the
/// session's expiry passes, and when a call made with them is refused as unauthenticated.
final class SessionCache: Sendable {
    struct Entry {
        var record: SessionRecord
        var resolvedAt: ContinuousClock.Instant
    }

    let lifetime: Duration
    let capacity: Int
    private let entries = Mutex<[[UInt8]: Entry]>([:])

    init(lifetime: Duration, capacity: Int = 10_000) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// The session of `tokenHash`, when resolved less than `lifetime` ago and not past its expiry.
    func record(tokenHash: [UInt8], nowMs: Int64, now: ContinuousClock.Instant = .now) -> SessionRecord? {
        guard lifetime > .zero else { return nil }
        return entries.withLock { entries in
            guard let entry = entries[tokenHash] else { return nil }
            let expired = entry.record.expiresAtMs != 0 && entry.record.expiresAtMs <= nowMs
            guard !expired, now - entry.resolvedAt < lifetime else {
                entries[tokenHash] = nil
                return nil
            }
            return entry.record
        }
    }

    func store(_ record: SessionRecord, tokenHash: [UInt8], now: ContinuousClock.Instant = .now) {
        guard lifetime > .zero else { return }
        entries.withLock { entries in
            if entries.count >= capacity, entries[tokenHash] == nil {
                // Full: drop the stale entries, or everything if none is (a burst of new
                // sessions); the next calls resolve from the database again.
                entries = entries.filter { now - $0.value.resolvedAt < lifetime }
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[tokenHash] = Entry(record: record, resolvedAt: now)
        }
    }

    func remove(tokenHash: [UInt8]) {
        _ = entries.withLock { $0.removeValue(forKey: tokenHash) }
    }

    var count: Int { entries.withLock { $0.count } }
}
