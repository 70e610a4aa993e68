-- 0016: text attachments of a thread are searchable by `file_search` runs in that thread
-- (docs/API.md "File search").
--
-- FileService indexes a text attachment (text, Markdown, CSV, JSON, PDF) when its upload
-- completes, in the same transaction as its `files` row: chunks with their tsvector (the
-- assistant's text search configuration) in `file_chunks`, per-thread lexeme counts in
-- `file_terms`. Both carry the thread's session, set by 0009's trigger from the thread as the
-- caller sees it, and sit under the messages' policy: a guest or user reads and writes only
-- those of its visible sessions' threads; tenants and the owner have no policy on them (they
-- are conversation content). Deleting the file (or its thread, or its session) removes them.
--
-- One search covers both sources: `loacl.search_files` (SECURITY INVOKER) picks the message's
-- rarest lexemes by the assistant's and the thread's counts together, matches the assistant's
-- knowledge chunks through the definer function `loacl.knowledge_matches` (so the GIN index
-- serves `@@`, see 0015) and the thread's chunks under the caller's own policies (the
-- thread_id index; a thread's chunks are few), and ranks them as one list.

-- The composite foreign key below: a chunk's thread is its file's thread.
ALTER TABLE loacl.files ADD CONSTRAINT files_id_thread_key UNIQUE (id, thread_id);

CREATE TABLE loacl.file_chunks (
    file_id     uuid     NOT NULL,
    thread_id   uuid     NOT NULL,
    session_id  uuid     NOT NULL, -- the thread's, by trigger, for the policy
    chunk_index integer  NOT NULL CHECK (chunk_index >= 0),
    content     text     NOT NULL,
    tsv         tsvector NOT NULL,
    PRIMARY KEY (file_id, chunk_index),
    FOREIGN KEY (file_id, thread_id) REFERENCES loacl.files (id, thread_id) ON DELETE CASCADE
);
CREATE INDEX file_chunks_thread_idx ON loacl.file_chunks (thread_id);

-- How many of a thread's attachment chunks hold each lexeme (kept by FileService on upload and
-- delete; the thread's deletion cascades).
CREATE TABLE loacl.file_terms (
    thread_id  uuid    NOT NULL REFERENCES loacl.threads (id) ON DELETE CASCADE,
    session_id uuid    NOT NULL,
    lexeme     text    NOT NULL,
    chunks     integer NOT NULL CHECK (chunks >= 0),
    PRIMARY KEY (thread_id, lexeme)
);

CREATE TRIGGER file_chunks_thread_session BEFORE INSERT OR UPDATE OF thread_id, session_id ON loacl.file_chunks
    FOR EACH ROW EXECUTE FUNCTION loacl.messages_thread_session();
CREATE TRIGGER file_terms_thread_session BEFORE INSERT OR UPDATE OF thread_id, session_id ON loacl.file_terms
    FOR EACH ROW EXECUTE FUNCTION loacl.messages_thread_session();

ALTER TABLE loacl.file_chunks ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE loacl.file_terms  ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;

CREATE POLICY file_chunks_thread ON loacl.file_chunks
    USING (session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id)))
    WITH CHECK (session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id)));
CREATE POLICY file_terms_thread ON loacl.file_terms
    USING (session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id)))
    WITH CHECK (session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id)));

GRANT SELECT, INSERT, DELETE ON loacl.file_chunks TO loacl_app;
GRANT SELECT, INSERT, UPDATE (chunks) ON loacl.file_terms TO loacl_app;

-- The current session's assistant's knowledge chunks that match `p_query`: at most `p_cap` of
-- them ranked by ts_rank, the best `p_limit` returned (so only those cross into the caller's
-- query). SECURITY DEFINER for the GIN index (0015); it reads only the chunks the session may
-- read anyway (knowledge_chunks_session_read), whatever the query.
CREATE FUNCTION loacl.knowledge_matches(p_query tsquery, p_cap integer, p_limit integer)
    RETURNS TABLE (file_id uuid, filename text, chunk_index integer, content text, score real)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    assistant uuid;
BEGIN
    SELECT a.id INTO assistant FROM loacl.session_assistant() a;
    IF assistant IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT m.file_id, f.filename, m.chunk_index, m.content, m.score
    FROM (SELECT c.file_id, c.chunk_index, c.content, ts_rank(c.tsv, p_query) AS score
          FROM (SELECT k.file_id, k.chunk_index, k.content, k.tsv FROM loacl.knowledge_chunks k
                WHERE k.assistant_id = assistant AND k.tsv @@ p_query LIMIT p_cap) c
          ORDER BY 4 DESC, 1, 2 LIMIT p_limit) m
    JOIN loacl.knowledge_files f ON f.id = m.file_id;
END
$$;
REVOKE EXECUTE ON FUNCTION loacl.knowledge_matches(tsquery, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION loacl.knowledge_matches(tsquery, integer, integer) TO loacl_app;

-- The passages for `p_message` in the current session's assistant's knowledge files and the
-- text attachments of thread `p_thread` (as far as the caller sees it), best `p_limit` first.
-- The query is 0015's: the message's rarest lexemes of three or more characters — counted over
-- both sources — ORed (the rarest always, then more while their chunks add up to at most 300,
-- at most `p_terms`); at most 300 matching chunks of each source are ranked.
CREATE FUNCTION loacl.search_files(p_config regconfig, p_message text, p_thread uuid, p_terms integer, p_limit integer)
    RETURNS TABLE (source text, file_id uuid, filename text, chunk_index integer, content text, score real)
    LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    assistant uuid;
    query tsquery;
    in_knowledge boolean;
    in_thread boolean;
BEGIN
    SELECT a.id INTO assistant FROM loacl.session_assistant() a;
    IF assistant IS NULL THEN
        RETURN;
    END IF;
    -- The query, and whether its words are in each source at all (a source without any is
    -- not searched: a thread without attachments costs nothing more).
    SELECT to_tsquery(p_config, string_agg(quote_literal(r.lexeme), ' | ')), bool_or(r.knowledge > 0), bool_or(r.thread > 0)
    INTO query, in_knowledge, in_thread
    FROM (SELECT ranked.lexeme, ranked.knowledge, ranked.thread FROM (
              SELECT c.lexeme, c.knowledge, c.thread, row_number() OVER o AS n, sum(c.knowledge + c.thread) OVER o AS running
              FROM (SELECT w.lexeme, COALESCE(k.chunks, 0) AS knowledge, COALESCE(t.chunks, 0) AS thread
                    FROM (SELECT DISTINCT l AS lexeme FROM unnest(tsvector_to_array(to_tsvector(p_config, p_message))) AS l
                          WHERE length(l) >= 3) w
                    LEFT JOIN loacl.knowledge_terms k ON k.assistant_id = assistant AND k.lexeme = w.lexeme
                    LEFT JOIN loacl.file_terms t ON t.thread_id = p_thread AND t.lexeme = w.lexeme) c
              WHERE c.knowledge + c.thread > 0
              WINDOW o AS (ORDER BY c.knowledge + c.thread, c.lexeme)) ranked
          WHERE ranked.n = 1 OR ranked.running <= 300
          ORDER BY ranked.n LIMIT p_terms) r;
    IF query IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT h.source, h.file_id, h.filename, h.chunk_index, h.content, h.score FROM (
        SELECT 'knowledge'::text AS source, k.file_id, k.filename, k.chunk_index, k.content, k.score
        FROM loacl.knowledge_matches(query, 300, p_limit) k
        WHERE in_knowledge
        UNION ALL
        SELECT 'thread', m.file_id, f.filename, m.chunk_index, m.content, m.score
        FROM (SELECT c.file_id, c.chunk_index, c.content, ts_rank(c.tsv, query) AS score
              FROM (SELECT t.file_id, t.chunk_index, t.content, t.tsv FROM loacl.file_chunks t
                    WHERE in_thread AND t.thread_id = p_thread AND t.tsv @@ query LIMIT 300) c
              ORDER BY 4 DESC, 1, 2 LIMIT p_limit) m
        JOIN loacl.files f ON f.id = m.file_id) h
    ORDER BY h.score DESC, h.source, h.file_id, h.chunk_index
    LIMIT p_limit;
END
$$;
REVOKE EXECUTE ON FUNCTION loacl.search_files(regconfig, text, uuid, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION loacl.search_files(regconfig, text, uuid, integer, integer) TO loacl_app;

-- 0015's knowledge-only search, replaced by loacl.search_files.
DROP FUNCTION loacl.search_knowledge(regconfig, text, integer, integer);

-- The knowledge chunks' GIN index without its pending list: with `fastupdate` (the default) new
-- entries wait in an unsorted list that every search reads through until a vacuum merges it —
-- after an upload of a few thousand chunks that was most of a search's time (8 ms of 9 for
-- 10,000 chunks, bench/RESULTS.md). Uploads now merge their entries as they insert them.
ALTER INDEX loacl.knowledge_chunks_tsv_idx SET (fastupdate = off);
SELECT pg_catalog.gin_clean_pending_list('loacl.knowledge_chunks_tsv_idx'::regclass);
