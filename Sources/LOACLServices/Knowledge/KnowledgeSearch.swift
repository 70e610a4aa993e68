import Foundation
import LOACLMessages
import LOACLPostgres

/// The `file_search` tool: the chunks most relevant to a message among the assistant's
/// knowledge files and the text attachments of the run's thread, by PostgreSQL full-text search
/// — any of the message's rarest words (see `sql`), ranked by `ts_rank` as one list — read as the
/// caller's session (Row Level Security: its own assistant's files, its own thread's
/// attachments).
enum KnowledgeSearch {
    static let defaultTopK = 5

    /// The message's lexemes that count: at most this many, the rarest among the chunks of both
    /// sources (a lexeme no chunk has cannot match and is skipped).
    static let queryTerms = 4

    /// `loacl.search_files` (migration 0016): the message's rarest lexemes ORed (their counts
    /// kept in `knowledge_terms` and `file_terms`), so the candidates are the few chunks that
    /// share something unusual with the question, ranked by `ts_rank`; the knowledge side
    /// through a SECURITY DEFINER function so that the GIN index serves the match.
    /// $1 text search configuration, $2 the message, $3 the thread, $4 how many.
    static let sql = """
        SELECT source, file_id, filename, chunk_index, content, score
        FROM loacl.search_files($1::regconfig, $2, $3::uuid, \(queryTerms), $4)
        """

    static func statement(configuration: String, message: String, threadID: String, topK: Int) -> PostgresStatement {
        PostgresStatement(sql, [configuration.isEmpty ? "simple" : configuration, message, threadID, String(topK)])
    }

    static func hits(_ result: PostgresResult) -> [Loacl_V1_FileSearchHit] {
        result.namedRows.map { row in
            var hit = Loacl_V1_FileSearchHit()
            hit.fileID = row.string("file_id")
            hit.filename = row.string("filename")
            hit.chunkIndex = UInt32(clamping: row.int64OrZero("chunk_index"))
            hit.text = row.string("content")
            hit.score = Double(row.string("score")) ?? 0
            hit.source = row.string("source") == "thread" ? .thread : .knowledge
            return hit
        }
    }

    /// The passages as instructions for the model, numbered for citation.
    static func context(_ hits: [Loacl_V1_FileSearchHit]) -> String {
        "Passages from the assistant's files that may answer the user (cite them as [n]):\n"
            + hits.enumerated().map { "[\($0.offset + 1)] \($0.element.filename): \($0.element.text)" }.joined(separator: "\n\n")
    }
}
