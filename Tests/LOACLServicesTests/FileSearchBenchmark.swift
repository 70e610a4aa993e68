import Foundation
import LOACLMessages
import LOACLPostgres
@testable import LOACLServices
import Testing

/// Issue 13's search benchmark (run by bench/file-search.sh; skipped unless LOACL_BENCH=1): the
/// file_search step — KnowledgeSearch's statement as a guest session, Row Level Security and
/// all — over 10,000 chunks (≈ 5 MB of text) of one assistant, p50/p99 of many queries; once in
/// a thread without attachments and once in a thread whose attachments add
/// LOACL_BENCH_THREAD_CHUNKS (200) chunks of the same kind of text (both sources, one query).
@Suite("File search benchmark", .serialized, .enabled(if: ProcessInfo.processInfo.environment["LOACL_BENCH"] == "1"))
struct FileSearchBenchmark {
    static let chunks = Int(ProcessInfo.processInfo.environment["LOACL_BENCH_CHUNKS"] ?? "") ?? 10_000
    static let queries = Int(ProcessInfo.processInfo.environment["LOACL_BENCH_QUERIES"] ?? "") ?? 2_000
    static let threadChunks = Int(ProcessInfo.processInfo.environment["LOACL_BENCH_THREAD_CHUNKS"] ?? "") ?? 200

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
            let (guestCaller, session) = try await h.startGuest(assistant.id)
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
            // Files of 500-character chunks, one statement per file, indexed as the services do
            // (SearchIndexSQL), written as the superuser. $1 owner, $2 name, $3 chunks, $4 count.
            func load(files: Int, chunks: Int, owner: String, file: String, chunk: String, terms: String, key: String) async throws {
                for f in 0..<files {
                    let json = SearchIndexSQL.json((0..<(chunks / files)).map { _ in text(500) })
                    try await h.superuser("""
                        WITH cfg AS (SELECT 'simple'::regconfig AS cfg), f AS (\(file) RETURNING id), \(SearchIndexSQL.rows(json: "$3")),
                        c AS (\(chunk) SELECT f.id, $1, rows.n, rows.content, rows.tsv FROM f, rows)
                        \(SearchIndexSQL.addTerms(terms, owner: key, value: "$1"))
                        """, [owner, "doc\(f).txt", json, String(chunks / files)])
                }
            }
            // 10,000 chunks in 100 knowledge files.
            let loadStart = ContinuousClock.now
            try await load(files: 100, chunks: Self.chunks, owner: assistant.id, file: """
                INSERT INTO loacl.knowledge_files (assistant_id, filename, file_type, file_size, sha256, chunk_count)
                VALUES ($1, $2, 'text/plain', 50000, decode(repeat('ab', 32), 'hex'), $4)
                """, chunk: "INSERT INTO loacl.knowledge_chunks (file_id, assistant_id, chunk_index, content, tsv)",
                terms: "loacl.knowledge_terms", key: "assistant_id")
            let loadTime = ContinuousClock.now - loadStart
            let loadSeconds = Double(loadTime.components.seconds) + Double(loadTime.components.attoseconds) / 1e18
            // Questions like a user's: eight to fifteen words, common and rare ones (drawn
            // before the attachments' text: the same questions as before thread attachments).
            let questions = (0..<200).map { _ in (0..<Int.random(in: 8...15, using: &generator)).map { _ in word() }.joined(separator: " ") + "?" }
            // Two threads of the guest: one without attachments, one with text attachments of
            // `threadChunks` chunks in all (20 files), indexed as FileService does.
            let bare = try await h.createThread(guestCaller)
            let attached = try await h.createThread(guestCaller)
            try await load(files: 20, chunks: Self.threadChunks, owner: attached.id, file: """
                INSERT INTO loacl.files (thread_id, filename, file_type, file_size, sha256, storage_path)
                VALUES ($1, $2, 'text/plain', $4::bigint, decode(repeat('ab', 32), 'hex'), $2)
                """, chunk: "INSERT INTO loacl.file_chunks (file_id, thread_id, chunk_index, content, tsv)",
                terms: "loacl.file_terms", key: "thread_id")
            for table in ["knowledge_chunks", "knowledge_terms", "file_chunks", "file_terms"] { try await h.superuser("ANALYZE loacl.\(table)") }
            let megabytes = Double(try await h.superuser("SELECT sum(octet_length(content)) FROM loacl.knowledge_chunks").scalar.flatMap(Double.init) ?? 0) / 1e6

            let identity = try h.sessionIdentity(session)
            let database = h.services.database
            let clock = ContinuousClock()
            for (thread, threadChunks) in [(bare, 0), (attached, Self.threadChunks)] {
                var samples: [Double] = []
                var hitCounts: [Int] = []
                var threadHits = 0
                for n in 0..<(Self.queries + 50) {
                    let statement = KnowledgeSearch.statement(configuration: "simple", message: questions[n % questions.count],
                                                              threadID: thread.id, topK: 5)
                    let start = clock.now
                    let hits = try await database.transaction(as: identity) { connection in
                        KnowledgeSearch.hits(try connection.commit(after: [statement])[0])
                    }
                    let elapsed = clock.now - start
                    if n >= 50 {
                        samples.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
                        hitCounts.append(hits.count)
                        threadHits += hits.filter { $0.source == .thread }.count
                    }
                }
                func pct(_ p: Double) -> Double { UpstreamLatencyBenchmark.pct(samples, p) }
                print(String(format: "BENCH file-search chunks=%d text_mb=%.1f load_s=%.1f thread_chunks=%d queries=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f mean_hits=%.2f mean_thread_hits=%.2f",
                             Self.chunks, megabytes, loadSeconds, threadChunks, samples.count, pct(0.5), pct(0.9), pct(0.99), pct(1),
                             Double(hitCounts.reduce(0, +)) / Double(hitCounts.count), Double(threadHits) / Double(hitCounts.count)))
                #expect(hitCounts.allSatisfy { $0 <= 5 })
                #expect((threadHits > 0) == (threadChunks > 0))
            }
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
