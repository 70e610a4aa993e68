import Foundation
import LOACLPostgres

/// A thread's attachments for the `file_search` tool (migration 0016): a text attachment (text,
/// Markdown, CSV, JSON, PDF — what knowledge files accept, through the same TextExtraction) is
/// split into chunks when its upload completes and indexed in the transaction that records it,
/// in the assistant's text search configuration. Any other type, and text that cannot be
/// extracted (not UTF-8, an unreadable PDF), is stored as before and not searched.
enum AttachmentIndex {
    /// The attachment's chunks, or none when file search does not read it.
    static func chunks(of bytes: [UInt8], type: String) async -> [String] {
        guard TextExtraction.reads(type),
              let text = try? await TextExtraction.text(of: bytes, type: type) else { return [] }
        return Array(TextChunker.chunks(text).prefix(AssistantService.maxKnowledgeChunks))
    }

    /// Stores the chunks of file `fileID` of thread `threadID` with their tsvectors, and adds
    /// their lexemes to the thread's counts. Runs as the uploading session, after the file's
    /// row: the policies (and the session trigger) admit only its own thread.
    static func insert(fileID: String, threadID: String, chunks: [String]) -> PostgresStatement {
        PostgresStatement("""
            WITH cfg AS (
                SELECT COALESCE(NULLIF(r.configuration->>'text_search_config', ''), 'simple')::regconfig AS cfg
                FROM loacl.session_assistant_runtime() r
            ), \(SearchIndexSQL.rows(json: "$3")), c AS (
                INSERT INTO loacl.file_chunks (file_id, thread_id, chunk_index, content, tsv)
                SELECT $1, $2, rows.n, rows.content, rows.tsv FROM rows
            )
            \(SearchIndexSQL.addTerms("loacl.file_terms", owner: "thread_id", value: "$2"))
            """, [fileID, threadID, SearchIndexSQL.json(chunks)])
    }

    /// CTEs for a statement that deletes the file whose id SQL expression `file` gives: its
    /// chunks' lexemes leave the thread's counts (the chunks themselves go with the file, by
    /// cascade).
    static func forgetTerms(of file: String) -> String {
        SearchIndexSQL.forgetTerms(of: file, chunks: "loacl.file_chunks", terms: "loacl.file_terms", owner: "thread_id")
    }
}
