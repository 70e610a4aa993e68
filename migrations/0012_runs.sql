-- 0012: runs — a reply as a server-side object of its thread (docs/API.md "Runs").
--
-- A run is created in SendMessage's turn transaction, together with the user message it
-- answers, and from then on belongs to the thread, not to the call: it goes on when the caller
-- goes away, any caller who sees the thread can follow it (StreamRun) or stop it (CancelRun),
-- on any server sharing this database.
--
-- loacl.runs: one row per run. At most one unfinished run (queued, in_progress,
-- requires_action) per thread: a unique partial index, so two concurrent sends cannot both
-- start one. `server_instance` and `lease_expires_at`: the server running it renews the lease
-- (loacl.renew_run_leases); a run whose lease expired lost its server (kill -9, a crash, a
-- network split) and is finished by another server (loacl.claim_lost_runs, then the normal
-- finishing statements as the run's own session).
--
-- loacl.run_events: the run's events, persisted in batches (one row per flush: not one INSERT
-- per delta). `events` holds the batch as protobuf bytes (loacl.v1.SendMessageEvent, each
-- preceded by its length as a 4-byte big-endian integer), `text` the reply text the batch's
-- deltas carry, so the text of a run whose server died can be put together in SQL.
--
-- Both tables carry their thread's session (set by 0009's trigger function, reading the thread
-- as the caller) and share messages' policy: visible exactly to who sees the thread.

CREATE TABLE loacl.runs (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    thread_id         uuid        NOT NULL REFERENCES loacl.threads (id) ON DELETE CASCADE,
    session_id        uuid        NOT NULL,
    user_message_id   uuid        REFERENCES loacl.messages (id) ON DELETE SET NULL,
    reply_message_id  uuid        REFERENCES loacl.messages (id) ON DELETE SET NULL,
    status            text        NOT NULL DEFAULT 'in_progress' CHECK (status IN (
                          'queued', 'in_progress', 'requires_action',
                          'completed', 'incomplete', 'failed', 'cancelled', 'expired')),
    last_error_code    text,
    last_error_message text,
    incomplete_reason  text,
    provider          text        NOT NULL DEFAULT '',
    model             text        NOT NULL DEFAULT '',
    input_tokens      integer     NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens     integer     NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at        timestamptz,
    ended_at          timestamptz,
    server_instance   text        NOT NULL,
    lease_expires_at  timestamptz NOT NULL,
    -- Last sequence number persisted in run_events (0: none yet).
    last_sequence     integer     NOT NULL DEFAULT 0 CHECK (last_sequence >= 0),
    cancel_requested_at timestamptz
);
-- The Assistants rule: one unfinished run per thread.
CREATE UNIQUE INDEX runs_one_unfinished_per_thread ON loacl.runs (thread_id)
    WHERE status IN ('queued', 'in_progress', 'requires_action');
-- ListRuns: a thread's runs newest first, keyset cursor on (created_at, id).
CREATE INDEX runs_thread_created_idx ON loacl.runs (thread_id, created_at DESC, id DESC);
-- Lease renewal and the search for lost runs touch unfinished runs only.
CREATE INDEX runs_unfinished_lease_idx ON loacl.runs (lease_expires_at)
    WHERE status IN ('queued', 'in_progress', 'requires_action');

CREATE TABLE loacl.run_events (
    run_id     uuid    NOT NULL REFERENCES loacl.runs (id) ON DELETE CASCADE,
    thread_id  uuid    NOT NULL,
    session_id uuid    NOT NULL,
    first_seq  integer NOT NULL CHECK (first_seq >= 1),
    last_seq   integer NOT NULL,
    events     bytea   NOT NULL,
    text       text    NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, first_seq),
    CHECK (last_seq >= first_seq)
);

CREATE TRIGGER runs_thread_session BEFORE INSERT OR UPDATE OF thread_id, session_id ON loacl.runs
    FOR EACH ROW EXECUTE FUNCTION loacl.messages_thread_session();
CREATE TRIGGER run_events_thread_session BEFORE INSERT OR UPDATE OF thread_id, session_id ON loacl.run_events
    FOR EACH ROW EXECUTE FUNCTION loacl.messages_thread_session();

ALTER TABLE loacl.runs       ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE loacl.run_events ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;

CREATE POLICY runs_thread ON loacl.runs
    USING (session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id)))
    WITH CHECK (session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id)));
CREATE POLICY run_events_thread ON loacl.run_events
    USING (session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id)))
    WITH CHECK (session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id)));

-- The owner (SECURITY DEFINER functions below) reads and updates run bookkeeping only: never
-- run_events (conversation content), and the reply itself is stored as the run's session.
CREATE POLICY runs_definer_read ON loacl.runs FOR SELECT TO CURRENT_USER USING (true);
CREATE POLICY runs_definer_update ON loacl.runs FOR UPDATE TO CURRENT_USER USING (true) WITH CHECK (true);

GRANT SELECT, INSERT ON loacl.runs TO loacl_app;
GRANT UPDATE (reply_message_id, status, last_error_code, last_error_message, incomplete_reason, provider, model,
              input_tokens, output_tokens, started_at, ended_at, last_sequence, cancel_requested_at)
    ON loacl.runs TO loacl_app;
GRANT SELECT, INSERT ON loacl.run_events TO loacl_app;

-- Renews the leases of the unfinished runs `p_server` runs; returns how many.
CREATE FUNCTION loacl.renew_run_leases(p_server text, p_lease interval) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n integer;
BEGIN
    UPDATE loacl.runs SET lease_expires_at = now() + p_lease
    WHERE server_instance = p_server AND status IN ('queued', 'in_progress', 'requires_action');
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- Takes over up to `p_limit` unfinished runs whose lease expired: they now belong to
-- `p_server` for `p_lease` (so two servers never finish the same run), and are returned with
-- what it takes to finish them as their own session (the session's kind, fingerprint, user).
-- The caller then stores the persisted text and ends the run `incomplete` (server_lost).
CREATE FUNCTION loacl.claim_lost_runs(p_server text, p_lease interval, p_limit integer)
    RETURNS TABLE (run_id uuid, thread_id uuid, session_id uuid, session_type text, fingerprint text, user_id uuid,
                   provider text, last_sequence integer)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN QUERY
    WITH lost AS (
        SELECT r.id FROM loacl.runs r
        WHERE r.status IN ('queued', 'in_progress', 'requires_action') AND r.lease_expires_at < now()
        ORDER BY r.lease_expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE loacl.runs r SET server_instance = p_server, lease_expires_at = now() + p_lease
        FROM lost WHERE r.id = lost.id
        RETURNING r.id, r.thread_id, r.session_id, r.provider, r.last_sequence
    )
    SELECT c.id, c.thread_id, c.session_id, s.session_type, s.fingerprint, s.user_id, c.provider, c.last_sequence
    FROM claimed c LEFT JOIN loacl.sessions s ON s.id = c.session_id;
END
$$;

-- Ends a claimed run whose session nobody can see any more (a guest session that expired):
-- nothing of it can be read, so nothing is stored; only the bookkeeping ends.
CREATE FUNCTION loacl.abandon_run(p_run uuid, p_server text, p_reason text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE loacl.runs SET status = 'incomplete', incomplete_reason = p_reason, ended_at = now()
    WHERE id = p_run AND server_instance = p_server AND status IN ('queued', 'in_progress', 'requires_action');
    RETURN FOUND;
END
$$;

REVOKE EXECUTE ON FUNCTION loacl.renew_run_leases(text, interval) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION loacl.claim_lost_runs(text, interval, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION loacl.abandon_run(uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION loacl.renew_run_leases(text, interval) TO loacl_app;
GRANT EXECUTE ON FUNCTION loacl.claim_lost_runs(text, interval, integer) TO loacl_app;
GRANT EXECUTE ON FUNCTION loacl.abandon_run(uuid, text, text) TO loacl_app;

-- The Assistants rule, checked in SendMessage's turn right after loacl.begin_turn (0010): a
-- thread with an unfinished run takes no new message until that run has ended
-- (FAILED_PRECONDITION naming the run). The unique index above settles two sends that pass this
-- check at the same time. SECURITY INVOKER: the caller sees the thread's runs or nothing.
CREATE FUNCTION loacl.assert_no_unfinished_run(p_thread uuid) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    running uuid;
BEGIN
    SELECT r.id INTO running FROM loacl.runs r
    WHERE r.thread_id = p_thread AND r.status IN ('queued', 'in_progress', 'requires_action');
    IF FOUND THEN
        RAISE EXCEPTION 'thread has an unfinished run %: wait for it to end or cancel it (CancelRun)', running
            USING ERRCODE = 'LCP01';
    END IF;
    RETURN true;
END
$$;
REVOKE EXECUTE ON FUNCTION loacl.assert_no_unfinished_run(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION loacl.assert_no_unfinished_run(uuid) TO loacl_app;
