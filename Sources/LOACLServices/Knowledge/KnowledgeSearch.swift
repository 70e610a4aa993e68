import Foundation
import LOACLMessages
import LOACLPostgres

/// The `file_search` tool: the chunks of the assistant's knowledge files most relevant to a
/// message, by PostgreSQL full-text search — any of the message's rarest words (see `sql`),
/// ranked by `ts_rank` — read as the caller's session (Row Level Security: its own assistant's
/// files only).
enum KnowledgeSearch {
    static let defaultTopK = 5

    /// The message's lexemes that count: at most this many, the rarest among the assistant's
    /// chunks (a lexeme no chunk has cannot match and is skipped).
    static let queryTerms = 4

    /// `loacl.search_knowledge` (migration 0015): the current session's assistant's chunks for
    /// the message — its rarest lexemes ORed (their counts kept in `knowledge_terms`), so the
    /// candidates are the few chunks that share something unusual with the question, ranked by
    /// `ts_rank`. SECURITY DEFINER so that the GIN index serves the match (see the migration).
    /// $1 text search configuration, $2 the message, $3 how many.
    static let sql = "SELECT file_id, filename, chunk_index, content, score FROM loacl.search_knowledge($1::regconfig, $2, \(queryTerms), $3)"

    static func statement(configuration: String, message: String, topK: Int) -> PostgresStatement {
        PostgresStatement(sql, [configuration.isEmpty ? "simple" : configuration, message, String(topK)])
    }

    static func hits(_ result: PostgresResult) -> [Loacl_V1_FileSearchHit] {
        result.namedRows.map { row in
            var hit = Loacl_V1_FileSearchHit()
            hit.fileID = row.string("file_id")
            hit.filename = row.string("filename")
            hit.chunkIndex = UInt32(clamping: row.int64OrZero("chunk_index"))
            hit.text = row.string("content")
            hit.score = Double(row.string("score")) ?? 0
            return hit
        }
    }

    /// The passages as instructions for the model, numbered for citation.
    static func context(_ hits: [Loacl_V1_FileSearchHit]) -> String {
        "Passages from the assistant's files that may answer the user (cite them as [n]):\n"
            + hits.enumerated().map { "[\($0.offset + 1)] \($0.element.filename): \($0.element.text)" }.joined(separator: "\n\n")
    }
}
