-- 0010: SendMessage's checks as one function, so a turn is one round trip; threads count the
-- changes to their messages, so a server can tell whether a history it holds is still current.
--
-- SendMessage used to read its context (thread, assistant runtime, quota counters) in one round
-- trip, decide in Swift whether the turn may go on, and store the user message in a second.
-- `loacl.begin_turn` makes the same decisions inside PostgreSQL and raises when the turn must
-- not go on, so the client sends the checks, the history read, the user message's INSERT and
-- the COMMIT together: a failed check aborts the rest of the pipeline, nothing is stored.
--
-- SECURITY INVOKER: the thread and the guided questions are read as the caller, under Row Level
-- Security; the assistant's runtime settings and the quota counters come from the existing
-- SECURITY DEFINER helpers, which check the caller's session themselves.
--
-- Errors carry client-facing messages in SQLSTATE class LC (loacld passes the message on):
-- LCN01 not found, LCP01 failed precondition, LCR01 resource exhausted; 28000 as before for a
-- session that is no longer live.
--
-- The send lock (a transaction-scoped advisory lock per guest fingerprint, or per user session)
-- is taken only when the assistant has quotas: it exists so that the counters read after it
-- include every earlier send. In a VOLATILE PL/pgSQL function each statement takes a new
-- snapshot, so the counters are read after the lock is held.

CREATE FUNCTION loacl.begin_turn(p_thread uuid, p_lock_key text, p_providers text[], p_default_provider text)
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

    RETURN QUERY SELECT t.titled, r.instructions, r.configuration::text, r.api_key_ciphertext, r.api_key_hash,
        (SELECT json_agg(g.question ORDER BY g.priority DESC, g.id)::text FROM (
            SELECT gq.question, gq.priority, gq.id FROM loacl.guided_questions gq
            WHERE gq.assistant_id = r.id AND gq.is_active ORDER BY gq.priority DESC, gq.id LIMIT 20) g);
END
$$;

REVOKE EXECUTE ON FUNCTION loacl.begin_turn(uuid, text, text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION loacl.begin_turn(uuid, text, text[], text) TO loacl_app;

-- threads.messages_version: raised by the number of the thread's messages each statement
-- inserts, updates or deletes, in the same transaction (the UPDATE holds the thread row until
-- COMMIT, so changes are counted in commit order). A server that read a thread's history
-- together with its version V (one statement, one snapshot) and then stored k messages itself
-- knows that history plus its own k messages is the whole story exactly when the version is
-- V + k: SendMessage then skips re-reading the history (see docs/SCHEMA.md). Existing threads
-- start at 0: only changes count.
ALTER TABLE loacl.threads ADD COLUMN messages_version bigint NOT NULL DEFAULT 0;

-- Statement-level triggers with transition tables: one UPDATE per thread and statement. A
-- row-level UPDATE of the same thread row for every message of a bulk insert would make each
-- UPDATE walk the row's ever longer chain of versions from the same transaction (quadratic).
-- These replace 0003's row-level touch_thread_on_message (the BEFORE UPDATE trigger on threads
-- still sets updated_at). An insert is refused if the caller could not update its thread, so no
-- message is stored without its count.
DROP TRIGGER touch_thread_on_message ON loacl.messages;
DROP FUNCTION loacl.touch_thread_on_message();

CREATE FUNCTION loacl.count_thread_messages_changes() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    threads bigint;
    updated bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH changed AS (SELECT thread_id, count(*) AS n FROM new_rows GROUP BY thread_id)
        UPDATE loacl.threads t SET messages_version = t.messages_version + c.n FROM changed c WHERE t.id = c.thread_id;
        GET DIAGNOSTICS updated = ROW_COUNT;
        SELECT count(DISTINCT thread_id) INTO threads FROM new_rows;
        IF updated < threads THEN
            RAISE EXCEPTION 'thread not found' USING ERRCODE = 'insufficient_privilege';
        END IF;
    ELSIF TG_OP = 'UPDATE' THEN
        WITH changed AS (
            SELECT thread_id, count(*) AS n FROM (SELECT thread_id FROM old_rows UNION ALL SELECT thread_id FROM new_rows) r
            GROUP BY thread_id)
        UPDATE loacl.threads t SET messages_version = t.messages_version + c.n FROM changed c WHERE t.id = c.thread_id;
    ELSE
        -- A thread's cascade finds no thread left to count.
        WITH changed AS (SELECT thread_id, count(*) AS n FROM old_rows GROUP BY thread_id)
        UPDATE loacl.threads t SET messages_version = t.messages_version + c.n FROM changed c WHERE t.id = c.thread_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER count_thread_messages_inserts AFTER INSERT ON loacl.messages
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION loacl.count_thread_messages_changes();
CREATE TRIGGER count_thread_messages_updates AFTER UPDATE ON loacl.messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION loacl.count_thread_messages_changes();
CREATE TRIGGER count_thread_messages_deletes AFTER DELETE ON loacl.messages
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION loacl.count_thread_messages_changes();
