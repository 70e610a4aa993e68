import Foundation

/// The SQL both kinds of searchable files share (knowledge files per assistant, migration 0015;
/// thread attachments per thread, 0016): a document's chunks with their tsvectors, and the
/// per-owner lexeme counts kept beside them (`knowledge_terms` by assistant, `file_terms` by
/// thread) for the search's choice of rare words.
enum SearchIndexSQL {
    /// The chunks as the JSON array `rows` reads: `[{"n": 0, "content": "…"}, …]`.
    static func json(_ chunks: [String]) -> String {
        JSONText.array(chunks.enumerated().map { ["n": $0.offset, "content": $0.element] })
    }

    /// CTE `rows (n, content, tsv)`: the chunks of JSON parameter `json` with their tsvectors in
    /// the configuration of a preceding CTE `cfg (cfg regconfig)`.
    static func rows(json: String) -> String {
        """
        rows AS (
            SELECT r.n, r.content, to_tsvector(cfg.cfg, r.content) AS tsv
            FROM cfg, jsonb_to_recordset(\(json)::jsonb) AS r(n int, content text)
        )
        """
    }

    /// A statement (or CTE body) that adds the lexemes of CTE `rows` to `terms`' counts for
    /// `owner` (its key column) = `value`.
    static func addTerms(_ terms: String, owner: String, value: String) -> String {
        """
        INSERT INTO \(terms) AS k (\(owner), lexeme, chunks)
        SELECT \(value), l.lexeme, count(*) FROM rows, pg_catalog.unnest(pg_catalog.tsvector_to_array(rows.tsv)) AS l(lexeme)
        GROUP BY l.lexeme
        ON CONFLICT (\(owner), lexeme) DO UPDATE SET chunks = k.chunks + EXCLUDED.chunks
        """
    }

    /// CTEs `gone, counted` for a statement that deletes file `file`: its chunks' lexemes leave
    /// `terms`' counts (the chunks themselves go with the file, by cascade).
    static func forgetTerms(of file: String, chunks: String, terms: String, owner: String) -> String {
        """
        gone AS (
            SELECT c.\(owner) AS owner, l.lexeme, count(*) AS n
            FROM \(chunks) c, pg_catalog.unnest(pg_catalog.tsvector_to_array(c.tsv)) AS l(lexeme)
            WHERE c.file_id = \(file) GROUP BY c.\(owner), l.lexeme
        ), counted AS (
            UPDATE \(terms) k SET chunks = GREATEST(0, k.chunks - g.n)
            FROM gone g WHERE k.\(owner) = g.owner AND k.lexeme = g.lexeme
        )
        """
    }
}
