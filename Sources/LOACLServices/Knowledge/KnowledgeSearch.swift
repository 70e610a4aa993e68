import Foundation
import LOACLMessages
import LOACLPostgres

/// The `file_search` tool: the chunks of the assistant's knowledge files most relevant to a
/// message, by PostgreSQL full-text search — any of the message's words of three or more
/// characters (shorter ones, "of", "on", "do", match everything and rank nothing), ranked by
/// `ts_rank` — read as the caller's session (Row Level Security: its own assistant's files only).
enum KnowledgeSearch {
    static let defaultTopK = 5

    /// $1 assistant, $2 text search configuration, $3 the message, $4 how many.
    static let sql = """
        SELECT c.file_id, f.filename, c.chunk_index, c.content, ts_rank(c.tsv, q.query) AS score
        FROM (SELECT pg_catalog.to_tsquery($2::regconfig, pg_catalog.array_to_string(ARRAY(
                  SELECT pg_catalog.quote_literal(l) FROM pg_catalog.unnest(
                      pg_catalog.tsvector_to_array(pg_catalog.to_tsvector($2::regconfig, $3))) AS l
                  WHERE pg_catalog.length(l) >= 3), ' | ')) AS query) q,
             loacl.knowledge_chunks c JOIN loacl.knowledge_files f ON f.id = c.file_id
        WHERE c.assistant_id = $1 AND c.tsv @@ q.query
        ORDER BY score DESC, c.file_id, c.chunk_index
        LIMIT $4
        """

    static func statement(assistantID: String, configuration: String, message: String, topK: Int) -> PostgresStatement {
        PostgresStatement(sql, [assistantID, configuration.isEmpty ? "simple" : configuration, message, String(topK)])
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
