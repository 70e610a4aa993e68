import Foundation
import LOACLMessages
import LOACLPostgres
@testable import LOACLServices
import Testing

/// Issue 13's search benchmark (run by bench/file-search.sh; skipped unless LOACL_BENCH=1): the
/// file_search step — KnowledgeSearch's statement as a guest session, Row Level Security and
/// all — over 10,000 chunks (≈ 5 MB of text) of one assistant, p50/p99 of many queries.
@Suite("File search benchmark", .serialized, .enabled(if: ProcessInfo.processInfo.environment["LOACL_BENCH"] == "1"))
struct FileSearchBenchmark {
    static let chunks = Int(ProcessInfo.processInfo.environment["LOACL_BENCH_CHUNKS"] ?? "") ?? 10_000
    static let queries = Int(ProcessInfo.processInfo.environment["LOACL_BENCH_QUERIES"] ?? "") ?? 2_000

    /// A vocabulary with a long tail, so some words are in thousands of chunks and most in few.
    static func vocabulary(_ count: Int) -> [String] {
        var generator = SeededGenerator(seed: 42)
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        return (0..<count).map { _ in String((0..<Int.random(in: 3...10, using: &generator)).map { _ in letters.randomElement(using: &generator)! }) }
    }

    @Test func searchLatencyOver10kChunks() async throws {
        try await withHarness(logLevel: .info) { h in
            let tenant = Caller.newTenant()
            let assistant = try await h.createAssistant(tenant) { $0.toolsEnabled = ["file_search"] }
            let (_, session) = try await h.startGuest(assistant.id)
            let words = Self.vocabulary(5_000)
            var generator = SeededGenerator(seed: 7)
            // Zipf-like: word i drawn with weight 1/(i+1).
            let weights = (0..<words.count).map { 1.0 / Double($0 + 1) }
            let total = weights.reduce(0, +)
            let cumulative = weights.reduce(into: [Double]()) { $0.append(($0.last ?? 0) + $1 / total) }
            func word() -> String {
                let x = Double.random(in: 0..<1, using: &generator)
                var low = 0, high = cumulative.count - 1
                while low < high { let mid = (low + high) / 2; if cumulative[mid] < x { low = mid + 1 } else { high = mid } }
                return words[low]
            }
            func text(_ characters: Int) -> String {
                var out = ""
                while out.count < characters { out += word() + (Int.random(in: 0..<12, using: &generator) == 0 ? ". " : " ") }
                return out
            }
            // 10,000 chunks in 100 files, inserted as the owner would (one statement per file).
            let fileCount = 100
            for f in 0..<fileCount {
                let rows = (0..<(Self.chunks / fileCount)).map { ["n": $0, "content": text(500)] as [String: Any] }
                let json = String(decoding: try JSONSerialization.data(withJSONObject: rows), as: UTF8.self)
                try h.superuser("""
                    WITH f AS (
                        INSERT INTO loacl.knowledge_files (assistant_id, filename, file_type, file_size, sha256, chunk_count)
                        VALUES ($1, $2, 'text/plain', 50000, decode(repeat('ab', 32), 'hex'), $3) RETURNING id
                    ), rows AS (
                        SELECT r.n, r.content, to_tsvector('simple', r.content) AS tsv FROM jsonb_to_recordset($4::jsonb) AS r(n int, content text)
                    ), c AS (
                        INSERT INTO loacl.knowledge_chunks (file_id, assistant_id, chunk_index, content, tsv)
                        SELECT f.id, $1, rows.n, rows.content, rows.tsv FROM f, rows
                    )
                    INSERT INTO loacl.knowledge_terms AS k (assistant_id, lexeme, chunks)
                    SELECT $1, l.lexeme, count(*) FROM rows, unnest(tsvector_to_array(rows.tsv)) AS l(lexeme) GROUP BY l.lexeme
                    ON CONFLICT (assistant_id, lexeme) DO UPDATE SET chunks = k.chunks + EXCLUDED.chunks
                    """, [assistant.id, "doc\(f).txt", String(Self.chunks / fileCount), json])
            }
            try h.superuser("ANALYZE loacl.knowledge_chunks")
            try h.superuser("ANALYZE loacl.knowledge_terms")
            let megabytes = Double(try h.superuser("SELECT sum(octet_length(content)) FROM loacl.knowledge_chunks").scalar.flatMap(Double.init) ?? 0) / 1e6

            // Questions like a user's: eight to fifteen words, common and rare ones.
            let questions = (0..<200).map { _ in (0..<Int.random(in: 8...15, using: &generator)).map { _ in word() }.joined(separator: " ") + "?" }
            let identity = try h.sessionIdentity(session)
            let database = h.services.database
            let clock = ContinuousClock()
            var samples: [Double] = []
            var hitCounts: [Int] = []
            for n in 0..<(Self.queries + 50) {
                let statement = KnowledgeSearch.statement(configuration: "simple",
                                                          message: questions[n % questions.count], topK: 5)
                let start = clock.now
                let hits = try await database.transaction(as: identity) { connection in
                    KnowledgeSearch.hits(try connection.commit(after: [statement])[0])
                }
                if n >= 50 { samples.append(Double((clock.now - start).components.attoseconds) / 1e15 + Double((clock.now - start).components.seconds) * 1000); hitCounts.append(hits.count) }
            }
            func pct(_ p: Double) -> Double { UpstreamLatencyBenchmark.pct(samples, p) }
            print(String(format: "BENCH file-search chunks=%d text_mb=%.1f queries=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f mean_hits=%.2f",
                         Self.chunks, megabytes, samples.count, pct(0.5), pct(0.9), pct(0.99), pct(1), Double(hitCounts.reduce(0, +)) / Double(hitCounts.count)))
            #expect(hitCounts.allSatisfy { $0 <= 5 })
        }
    }
}

/// A small deterministic generator (SplitMix64), so every run indexes the same text.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Harness {
    /// The identity a call with this guest session's token runs as.
    func sessionIdentity(_ session: Loacl_V1_Session) throws -> CallerIdentity {
        .session(SessionRecord(id: session.id, assistantID: session.assistantID, kind: .guest(fingerprint: session.fingerprint),
                               status: "active", createdAtMs: session.createdAtMs, expiresAtMs: session.expiresAtMs,
                               lastActiveAtMs: session.createdAtMs, metadataJSON: "{}"))
    }
}
