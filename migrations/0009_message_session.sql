-- 0009: messages carry their thread's session, so their policy needs no thread look-up.
--
-- 0004's messages policy, `EXISTS (SELECT 1 FROM loacl.threads t WHERE t.id =
-- messages.thread_id AND t.session_id IN (visible sessions))`, is a correlated sub-plan that
-- PostgreSQL runs again for every row it reads. A history read of 200 messages did 200 thread
-- look-ups, and under SendMessage's write load each look-up walks the thread row's chain of
-- versions (every message insert updates the thread's updated_at): the benchmark's history
-- read took 14.6 ms. Testing the thread against the caller's threads as one hashed set per
-- statement fixed reads but made every single-row statement (an INSERT ... RETURNING checks
-- the new row against the policy) collect all of the caller's threads: 0.25 ms for a guest
-- with 300 threads.
--
-- With the thread's session copied into each message, the policy is `session_id IN (visible
-- sessions)`: a hashed set of the caller's few sessions, built once per statement, and one
-- probe per row. The copy cannot drift: a trigger sets it from the thread on every insert (and
-- on any update of thread_id or session_id), reading the thread as the caller (so a thread the
-- caller cannot see is refused, 42501), and a thread's session can no longer change.
-- Files and follow-up suggestions keep 0004's policies (few rows per statement).

-- Existing rows: filled with Row Level Security set aside for this transaction (the migration
-- role owns the tables; FORCE is restored below).
ALTER TABLE loacl.messages NO FORCE ROW LEVEL SECURITY;
ALTER TABLE loacl.threads NO FORCE ROW LEVEL SECURITY;
ALTER TABLE loacl.messages ADD COLUMN session_id uuid;
UPDATE loacl.messages m SET session_id = t.session_id FROM loacl.threads t WHERE t.id = m.thread_id;
ALTER TABLE loacl.messages ALTER COLUMN session_id SET NOT NULL;
ALTER TABLE loacl.messages FORCE ROW LEVEL SECURITY;
ALTER TABLE loacl.threads FORCE ROW LEVEL SECURITY;

CREATE FUNCTION loacl.messages_thread_session() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    SELECT t.session_id INTO NEW.session_id FROM loacl.threads t WHERE t.id = NEW.thread_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'thread % not found', NEW.thread_id USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER messages_thread_session BEFORE INSERT OR UPDATE OF thread_id, session_id ON loacl.messages
    FOR EACH ROW EXECUTE FUNCTION loacl.messages_thread_session();

CREATE FUNCTION loacl.threads_session_fixed() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RAISE EXCEPTION 'a thread cannot move to another session' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER threads_session_fixed BEFORE UPDATE OF session_id ON loacl.threads
    FOR EACH ROW WHEN (OLD.session_id IS DISTINCT FROM NEW.session_id)
    EXECUTE FUNCTION loacl.threads_session_fixed();

ALTER POLICY messages_thread ON loacl.messages
    USING (session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id)))
    WITH CHECK (session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id)));
