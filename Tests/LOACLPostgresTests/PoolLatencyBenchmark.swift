import Foundation
import LOACLPostgres
import Testing

/// Not a test: the cost of a round trip through the pool (thread-pool hop included) against
/// the same statement on a connection used directly. Skipped unless LOACL_BENCH=1; prints only.
@Suite("Pool latency benchmark", .enabled(if: ProcessInfo.processInfo.environment["LOACL_BENCH"] == "1"))
struct PoolLatencyBenchmark {
    @Test func roundTripThroughThePoolAndDirect() async throws {
        let database = try TestDatabase()
        let conninfo = database.conninfo(user: "loacl_owner")
        let pool = PostgresPool(configuration: .init(conninfo: conninfo, maxConnections: 2))
        let direct = try PostgresConnection.connect(conninfo)
        defer { direct.close() }
        let clock = ContinuousClock()
        var pooled: [Duration] = [], plain: [Duration] = []
        for _ in 0..<200 { _ = try await pool.withConnection { try $0.execParams("SELECT $1::int", ["1"]) } }
        for _ in 0..<2000 {
            pooled.append(try await clock.measure { _ = try await pool.withConnection { try $0.execParams("SELECT $1::int", ["1"]) } })
            plain.append(try clock.measure { _ = try direct.execParams("SELECT $1::int", ["1"]) })
        }
        await pool.close()
        func ms(_ values: [Duration], _ q: Double) -> String {
            let sorted = values.sorted()
            let d = sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]
            return String(format: "%.3f", Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000)
        }
        print("BENCH pool round trip: p50 \(ms(pooled, 0.5)) ms, p99 \(ms(pooled, 0.99)) ms; direct: p50 \(ms(plain, 0.5)) ms, p99 \(ms(plain, 0.99)) ms")
    }
}
