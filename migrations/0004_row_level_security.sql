-- 0004: Row Level Security on every table and the runtime role's grants.
--
-- Identities (see 0001): a tenant (API key hash), a guest (fingerprint) and an authenticated user
-- (auth.uid()). RLS is ENABLEd and FORCEd everywhere, so the policies also bind the table owner;
-- the owner (the role running this migration) gets only the extra read/update policies the
-- SECURITY DEFINER functions of 0003 need, and none on tenant keys or conversation content.
-- Identity functions are wrapped as (SELECT fn()) so they are evaluated once per statement;
-- set-returning helpers are called in FROM so the planner can inline them.

-- Helpers (SECURITY INVOKER: the caller's own RLS applies inside them as well).
CREATE FUNCTION loacl.current_tenant_id() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$ SELECT t.id FROM loacl.tenants t WHERE t.api_key_hash = loacl.current_tenant_key_hash() $$;

CREATE FUNCTION loacl.tenant_assistant_ids() RETURNS SETOF uuid
    LANGUAGE sql STABLE
    AS $$ SELECT a.id FROM loacl.assistants a WHERE a.tenant_id = loacl.current_tenant_id() $$;

-- Sessions the current guest/user may see: a guest its live sessions, a user all of its sessions.
CREATE FUNCTION loacl.visible_session_ids() RETURNS SETOF uuid
    LANGUAGE sql STABLE
    AS $$
    SELECT s.id FROM loacl.sessions s
    WHERE (s.session_type = 'guest' AND s.fingerprint = loacl.current_fingerprint()
           AND s.status = 'active' AND s.expires_at > now())
       OR (s.session_type = 'authenticated' AND s.user_id = auth.uid())
$$;

-- Sessions the current guest/user may write new threads into: active and unexpired.
CREATE FUNCTION loacl.live_session_ids() RETURNS SETOF uuid
    LANGUAGE sql STABLE
    AS $$
    SELECT s.id FROM loacl.sessions s
    WHERE s.status = 'active' AND (s.expires_at IS NULL OR s.expires_at > now())
      AND ((s.session_type = 'guest' AND s.fingerprint = loacl.current_fingerprint())
           OR (s.session_type = 'authenticated' AND s.user_id = auth.uid()))
$$;

ALTER TABLE loacl.tenants               ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE loacl.assistants            ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE loacl.assistant_quotas      ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE loacl.sessions              ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE loacl.threads               ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE loacl.messages              ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE loacl.files                 ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE loacl.guided_questions      ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE loacl.follow_up_suggestions ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE loacl.usage_metrics         ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;

-- tenants: a tenant sees and registers only the row of its own key.
CREATE POLICY tenants_self ON loacl.tenants
    USING (api_key_hash = (SELECT loacl.current_tenant_key_hash()))
    WITH CHECK (api_key_hash = (SELECT loacl.current_tenant_key_hash()));

-- assistants: the owning tenant. Guests/users read basic info via loacl.session_assistant().
CREATE POLICY assistants_tenant ON loacl.assistants
    USING (tenant_id = (SELECT loacl.current_tenant_id()))
    WITH CHECK (tenant_id = (SELECT loacl.current_tenant_id()));
CREATE POLICY assistants_definer_read ON loacl.assistants FOR SELECT TO CURRENT_USER USING (true);

CREATE POLICY assistant_quotas_tenant ON loacl.assistant_quotas
    USING (assistant_id IN (SELECT v.id FROM loacl.tenant_assistant_ids() AS v(id)))
    WITH CHECK (assistant_id IN (SELECT v.id FROM loacl.tenant_assistant_ids() AS v(id)));
CREATE POLICY assistant_quotas_definer_read ON loacl.assistant_quotas FOR SELECT TO CURRENT_USER USING (true);

-- sessions: a guest starts sessions for its fingerprint and sees them while live; a user starts
-- and sees sessions for its uid. (An UPDATE's new row must stay visible, so a guest cannot set
-- its own session to revoked directly: loacl.revoke_session() does that.)
-- (Inline predicates: a policy on sessions cannot query sessions without recursing.)
CREATE POLICY sessions_select ON loacl.sessions FOR SELECT
    USING ((session_type = 'guest' AND fingerprint = (SELECT loacl.current_fingerprint())
            AND status = 'active' AND expires_at > now())
        OR (session_type = 'authenticated' AND user_id = (SELECT auth.uid())));
CREATE POLICY sessions_insert ON loacl.sessions FOR INSERT
    WITH CHECK (status = 'active' AND (
        (session_type = 'guest' AND fingerprint = (SELECT loacl.current_fingerprint()))
        OR (session_type = 'authenticated' AND user_id = (SELECT auth.uid()))));
CREATE POLICY sessions_update ON loacl.sessions FOR UPDATE
    USING ((session_type = 'guest' AND fingerprint = (SELECT loacl.current_fingerprint())
            AND status = 'active' AND expires_at > now())
        OR (session_type = 'authenticated' AND user_id = (SELECT auth.uid())))
    WITH CHECK ((session_type = 'guest' AND fingerprint = (SELECT loacl.current_fingerprint()))
        OR (session_type = 'authenticated' AND user_id = (SELECT auth.uid())));
CREATE POLICY sessions_delete ON loacl.sessions FOR DELETE
    USING ((session_type = 'guest' AND fingerprint = (SELECT loacl.current_fingerprint())
            AND status = 'active' AND expires_at > now())
        OR (session_type = 'authenticated' AND user_id = (SELECT auth.uid())));
-- For resolve_session(), expire_guest_sessions(), owns_live_session() and the expiry trigger.
CREATE POLICY sessions_definer_read ON loacl.sessions FOR SELECT TO CURRENT_USER USING (true);
CREATE POLICY sessions_definer_update ON loacl.sessions FOR UPDATE TO CURRENT_USER
    USING (true) WITH CHECK (true);

-- threads: those of visible sessions; new threads only in live sessions.
CREATE POLICY threads_select ON loacl.threads FOR SELECT
    USING (session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id)));
CREATE POLICY threads_insert ON loacl.threads FOR INSERT
    WITH CHECK (session_id IN (SELECT v.id FROM loacl.live_session_ids() AS v(id)));
CREATE POLICY threads_update ON loacl.threads FOR UPDATE
    USING (session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id)))
    WITH CHECK (session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id)));
CREATE POLICY threads_delete ON loacl.threads FOR DELETE
    USING (session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id)));

-- Thread content: rows whose thread belongs to a visible session.
CREATE POLICY messages_thread ON loacl.messages
    USING (EXISTS (SELECT 1 FROM loacl.threads t WHERE t.id = messages.thread_id
                   AND t.session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id))))
    WITH CHECK (EXISTS (SELECT 1 FROM loacl.threads t WHERE t.id = messages.thread_id
                        AND t.session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id))));
CREATE POLICY files_thread ON loacl.files
    USING (EXISTS (SELECT 1 FROM loacl.threads t WHERE t.id = files.thread_id
                   AND t.session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id))))
    WITH CHECK (EXISTS (SELECT 1 FROM loacl.threads t WHERE t.id = files.thread_id
                        AND t.session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id))));
CREATE POLICY follow_up_suggestions_thread ON loacl.follow_up_suggestions
    USING (EXISTS (SELECT 1 FROM loacl.threads t WHERE t.id = follow_up_suggestions.thread_id
                   AND t.session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id))))
    WITH CHECK (EXISTS (SELECT 1 FROM loacl.threads t WHERE t.id = follow_up_suggestions.thread_id
                        AND t.session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id))));

-- guided_questions: the tenant manages them; a guest/user reads the active ones of the
-- assistant of its current live session (loacl.session_id).
CREATE POLICY guided_questions_tenant ON loacl.guided_questions
    USING (assistant_id IN (SELECT v.id FROM loacl.tenant_assistant_ids() AS v(id)))
    WITH CHECK (assistant_id IN (SELECT v.id FROM loacl.tenant_assistant_ids() AS v(id)));
CREATE POLICY guided_questions_session_read ON loacl.guided_questions FOR SELECT
    USING (is_active AND assistant_id IN (
        SELECT s.assistant_id FROM loacl.sessions s
        WHERE s.id = (SELECT loacl.current_session_id()) AND s.id IN (SELECT v.id FROM loacl.live_session_ids() AS v(id))));

-- usage_metrics (append-only for loacl_app): the tenant sees its assistants' usage, a guest/user
-- the usage of its visible sessions. Rows are written for one's own assistants or sessions.
CREATE POLICY usage_metrics_tenant_read ON loacl.usage_metrics FOR SELECT
    USING (assistant_id IN (SELECT v.id FROM loacl.tenant_assistant_ids() AS v(id)));
CREATE POLICY usage_metrics_session_read ON loacl.usage_metrics FOR SELECT
    USING (session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id)));
CREATE POLICY usage_metrics_insert ON loacl.usage_metrics FOR INSERT
    WITH CHECK (assistant_id IN (SELECT v.id FROM loacl.tenant_assistant_ids() AS v(id))
        OR EXISTS (SELECT 1 FROM loacl.sessions s
                   WHERE s.id = usage_metrics.session_id AND s.assistant_id = usage_metrics.assistant_id
                     AND s.id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id))));
CREATE POLICY usage_metrics_definer_read ON loacl.usage_metrics FOR SELECT TO CURRENT_USER USING (true);

-- Runtime role: only the privileges the services use; it owns nothing.
GRANT SELECT, INSERT ON loacl.tenants TO loacl_app;
GRANT UPDATE (api_key_ciphertext, key_hint) ON loacl.tenants TO loacl_app;
GRANT SELECT, INSERT, DELETE ON loacl.sessions TO loacl_app;
GRANT UPDATE (status, last_active_at, expires_at, metadata) ON loacl.sessions TO loacl_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    loacl.assistants, loacl.assistant_quotas, loacl.threads, loacl.messages, loacl.files,
    loacl.guided_questions, loacl.follow_up_suggestions TO loacl_app;
GRANT SELECT, INSERT ON loacl.usage_metrics TO loacl_app;
