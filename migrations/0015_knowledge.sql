-- 0015: knowledge files and the `file_search` tool (docs/API.md "File search").
--
-- A tenant uploads documents to an assistant; loacld extracts their text, splits it into
-- chunks and stores each with its tsvector (the assistant's text search configuration, default
-- `simple`) under a GIN index. A run of an assistant with `file_search` in `tools_enabled`
-- searches the chunks for the user's message as the session (Row Level Security: a session
-- reads only its own assistant's chunks, a tenant only its own assistants').

CREATE TABLE loacl.knowledge_files (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    assistant_id uuid        NOT NULL REFERENCES loacl.assistants (id) ON DELETE CASCADE,
    filename     text        NOT NULL CHECK (char_length(filename) BETWEEN 1 AND 255 AND position('/' IN filename) = 0),
    file_type    text        NOT NULL,
    file_size    bigint      NOT NULL CHECK (file_size >= 0),
    sha256       bytea       NOT NULL CHECK (octet_length(sha256) = 32),
    chunk_count  integer     NOT NULL DEFAULT 0 CHECK (chunk_count >= 0),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX knowledge_files_assistant_created_idx ON loacl.knowledge_files (assistant_id, created_at DESC, id DESC);

CREATE TABLE loacl.knowledge_chunks (
    file_id      uuid     NOT NULL REFERENCES loacl.knowledge_files (id) ON DELETE CASCADE,
    assistant_id uuid     NOT NULL,
    chunk_index  integer  NOT NULL CHECK (chunk_index >= 0),
    content      text     NOT NULL,
    tsv          tsvector NOT NULL,
    PRIMARY KEY (file_id, chunk_index)
);
CREATE INDEX knowledge_chunks_tsv_idx ON loacl.knowledge_chunks USING gin (tsv);
CREATE INDEX knowledge_chunks_assistant_idx ON loacl.knowledge_chunks (assistant_id);

-- How many of an assistant's chunks hold each lexeme (kept by loacld on upload and delete): a
-- search ORs only the message's rarest lexemes, so a question full of common words does not
-- rank thousands of chunks (docs/API.md, File search).
CREATE TABLE loacl.knowledge_terms (
    assistant_id uuid    NOT NULL REFERENCES loacl.assistants (id) ON DELETE CASCADE,
    lexeme       text    NOT NULL,
    chunks       integer NOT NULL CHECK (chunks >= 0),
    PRIMARY KEY (assistant_id, lexeme)
);

ALTER TABLE loacl.knowledge_files  ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE loacl.knowledge_chunks ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE loacl.knowledge_terms  ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;

-- The tenant: everything of its own assistants.
CREATE POLICY knowledge_files_tenant ON loacl.knowledge_files
    USING (assistant_id IN (SELECT t.id FROM loacl.tenant_assistant_ids() AS t(id)))
    WITH CHECK (assistant_id IN (SELECT t.id FROM loacl.tenant_assistant_ids() AS t(id)));
CREATE POLICY knowledge_chunks_tenant ON loacl.knowledge_chunks
    USING (assistant_id IN (SELECT t.id FROM loacl.tenant_assistant_ids() AS t(id)))
    WITH CHECK (assistant_id IN (SELECT t.id FROM loacl.tenant_assistant_ids() AS t(id)));
-- A session: reads its own (live) session's assistant's documents.
CREATE POLICY knowledge_files_session_read ON loacl.knowledge_files FOR SELECT
    USING (assistant_id = (SELECT a.id FROM loacl.session_assistant() a));
CREATE POLICY knowledge_chunks_session_read ON loacl.knowledge_chunks FOR SELECT
    USING (assistant_id = (SELECT a.id FROM loacl.session_assistant() a));
CREATE POLICY knowledge_terms_tenant ON loacl.knowledge_terms
    USING (assistant_id IN (SELECT t.id FROM loacl.tenant_assistant_ids() AS t(id)))
    WITH CHECK (assistant_id IN (SELECT t.id FROM loacl.tenant_assistant_ids() AS t(id)));
CREATE POLICY knowledge_terms_session_read ON loacl.knowledge_terms FOR SELECT
    USING (assistant_id = (SELECT a.id FROM loacl.session_assistant() a));

-- The search itself runs in a SECURITY DEFINER function: under a caller's policies PostgreSQL
-- may not use the GIN index for `tsv @@ query` (the match operator is not leakproof, so it must
-- wait for the policy filters) and would test every chunk of the assistant — 10 ms and more for
-- 10,000 chunks. The function finds the caller's assistant itself (its live session, through
-- loacl.session_assistant()) and reads only that assistant's chunks; the owner's read policies
-- below serve it alone.
CREATE POLICY knowledge_files_definer_read ON loacl.knowledge_files FOR SELECT TO CURRENT_USER USING (true);
CREATE POLICY knowledge_chunks_definer_read ON loacl.knowledge_chunks FOR SELECT TO CURRENT_USER USING (true);
CREATE POLICY knowledge_terms_definer_read ON loacl.knowledge_terms FOR SELECT TO CURRENT_USER USING (true);

-- The chunks of the current session's assistant most relevant to `p_message`: the message's
-- rarest lexemes of three or more characters, ORed — the rarest one always, then the next
-- rarest while their chunks add up to at most 300, at most `p_terms` (a lexeme no chunk has is
-- skipped) — ranked by ts_rank, the best `p_limit`. Only the first 300 matching chunks are
-- ranked (a question made of common words only: a bounded cost, an approximate answer).
CREATE FUNCTION loacl.search_knowledge(p_config regconfig, p_message text, p_terms integer, p_limit integer)
    RETURNS TABLE (file_id uuid, filename text, chunk_index integer, content text, score real)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    assistant uuid;
    query tsquery;
BEGIN
    SELECT a.id INTO assistant FROM loacl.session_assistant() a;
    IF assistant IS NULL THEN
        RETURN;
    END IF;
    SELECT to_tsquery(p_config, string_agg(quote_literal(r.lexeme), ' | ')) INTO query
    FROM (SELECT ranked.lexeme FROM (
              SELECT w.lexeme, row_number() OVER o AS n, sum(k.chunks) OVER o AS running
              FROM (SELECT DISTINCT l AS lexeme FROM unnest(tsvector_to_array(to_tsvector(p_config, p_message))) AS l
                    WHERE length(l) >= 3) w
              JOIN loacl.knowledge_terms k ON k.assistant_id = assistant AND k.lexeme = w.lexeme AND k.chunks > 0
              WINDOW o AS (ORDER BY k.chunks, w.lexeme)) ranked
          WHERE ranked.n = 1 OR ranked.running <= 300
          ORDER BY ranked.n LIMIT p_terms) r;
    IF query IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT m.file_id, f.filename, m.chunk_index, m.content, ts_rank(m.tsv, query)
    FROM (SELECT c.file_id, c.chunk_index, c.content, c.tsv FROM loacl.knowledge_chunks c
          WHERE c.assistant_id = assistant AND c.tsv @@ query LIMIT 300) m
    JOIN loacl.knowledge_files f ON f.id = m.file_id
    ORDER BY 5 DESC, m.file_id, m.chunk_index
    LIMIT p_limit;
END
$$;
REVOKE EXECUTE ON FUNCTION loacl.search_knowledge(regconfig, text, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION loacl.search_knowledge(regconfig, text, integer, integer) TO loacl_app;

GRANT SELECT, INSERT, DELETE ON loacl.knowledge_files, loacl.knowledge_chunks TO loacl_app;
GRANT SELECT, INSERT, UPDATE (chunks) ON loacl.knowledge_terms TO loacl_app;

-- SendMessage's turn learns whether the assistant searches its files: begin_turn (0010) now
-- returns the assistant's `tools_enabled` inside the configuration it hands back (key
-- `tools_enabled`, never stored), so a turn without `file_search` costs nothing more. The body
-- is 0010's but for the RETURN QUERY.
CREATE OR REPLACE FUNCTION loacl.begin_turn(p_thread uuid, p_lock_key text, p_providers text[], p_default_provider text)
    RETURNS TABLE (has_title boolean, instructions text, configuration text,
                   api_key_ciphertext bytea, api_key_hash bytea, questions text)
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
    t record;
    q record;
    provider text;
    tokens_limit bigint;
    guest_limit bigint;
    minute_limit bigint;
BEGIN
    SELECT * INTO r FROM loacl.session_assistant_runtime();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'session is no longer active' USING ERRCODE = '28000';
    END IF;
    SELECT th.status, COALESCE(th.title, '') <> '' AS titled INTO t
    FROM loacl.threads th WHERE th.id = p_thread AND th.assistant_id = r.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'thread not found' USING ERRCODE = 'LCN01';
    END IF;
    IF t.status <> 'active' THEN
        RAISE EXCEPTION 'thread is %', t.status USING ERRCODE = 'LCP01';
    END IF;
    provider := COALESCE(NULLIF(r.configuration->>'provider', ''), p_default_provider);
    IF NOT provider = ANY (p_providers) THEN
        RAISE EXCEPTION 'the assistant''s provider "%" is not configured on this server', provider USING ERRCODE = 'LCP01';
    END IF;

    tokens_limit := COALESCE((r.configuration->>'tokens_per_session_per_day')::bigint, 0);
    guest_limit := COALESCE((r.configuration->>'messages_per_guest_per_day')::bigint, 0);
    minute_limit := COALESCE((r.configuration->>'messages_per_session_per_minute')::bigint, 0);
    IF tokens_limit > 0 OR guest_limit > 0 OR minute_limit > 0 THEN
        PERFORM pg_advisory_xact_lock(hashtextextended(p_lock_key, 0));
        SELECT * INTO q FROM loacl.session_quota_state();
        IF NOT FOUND THEN
            RAISE EXCEPTION 'session is no longer active' USING ERRCODE = '28000';
        END IF;
        IF tokens_limit > 0 AND q.session_tokens_today >= tokens_limit THEN
            RAISE EXCEPTION 'quota exceeded: tokens per session per day (%)', tokens_limit USING ERRCODE = 'LCR01';
        END IF;
        IF guest_limit > 0 AND q.guest_messages_today >= guest_limit THEN
            RAISE EXCEPTION 'quota exceeded: messages per guest per day (%)', guest_limit USING ERRCODE = 'LCR01';
        END IF;
        IF minute_limit > 0 AND q.session_messages_last_minute >= minute_limit THEN
            RAISE EXCEPTION 'rate limit: % messages per minute per session', minute_limit USING ERRCODE = 'LCR01';
        END IF;
    END IF;

    RETURN QUERY SELECT t.titled, r.instructions,
        (r.configuration || jsonb_build_object('tools_enabled', to_jsonb(r.tools_enabled)))::text,
        r.api_key_ciphertext, r.api_key_hash,
        (SELECT json_agg(g.question ORDER BY g.priority DESC, g.id)::text FROM (
            SELECT gq.question, gq.priority, gq.id FROM loacl.guided_questions gq
            WHERE gq.assistant_id = r.id AND gq.is_active ORDER BY gq.priority DESC, gq.id LIMIT 20) g);
END
$$;

