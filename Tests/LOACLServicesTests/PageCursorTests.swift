import LOACLPostgres
@testable import LOACLServices
import LOACLTestKeys
import Testing

/// Page cursors carry Unix microseconds; the list queries compare them as timestamptz
/// parameters (so the comparison can be an index condition under RLS). The text form must be
/// exactly the instant PostgreSQL itself computes.
@Suite("Page cursor timestamps")
struct PageCursorTests {
    @Test func timestampTextIsExactlyTheInstantPostgreSQLComputes() async throws {
        let cluster = try PGCluster.fromEnvironment()
        var samples: [Int64] = [0, 1, -1, 999_999, -1_000_000, -1_000_001, 951_782_400_000_000 /* 2000-02-29 */,
                                4_107_542_400_000_000 /* 2100-03-01 */, -62_135_596_800_000_000 /* 0001-01-01 */,
                                1_764_110_401_123_456, 253_402_300_799_999_999 /* 9999-12-31 23:59:59.999999 */]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 { samples.append(Int64.random(in: -62_000_000_000_000_000...253_000_000_000_000_000, using: &generator)) }
        // Hundreds of round trips: on a thread of their own, not the cooperative pool.
        let texts = samples.map { SQL.timestampParameter(micros: $0) }
        let rows = try await onOwnThread {
            let connection = try cluster.superuserConnection("postgres")
            defer { connection.close() }
            return try texts.map { text in
                try connection.execParams("""
                    SELECT (extract(epoch FROM $1::timestamptz) * 1000000)::int8 AS back
                    """, [text]).first
            }
        }
        for (micros, (text, row)) in zip(samples, zip(texts, rows)) {
            let row = try #require(row)
            // extract() is exact (numeric); `epoch + n * interval` is not (float8) for far dates.
            #expect(row.int64("back") == micros, "\(micros) → \(text)")
        }
    }
}
