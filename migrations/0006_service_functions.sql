-- 0006: SECURITY DEFINER helpers the services need beyond 0003, and the owner policies they use.
--
-- - loacl.session_assistant_runtime(): what SendMessage sends upstream for the current session
--   (instructions, configuration, the tenant's *encrypted* API key and its hash, the AAD). Sessions cannot read
--   assistants or tenants themselves.
-- - loacl.session_quota_state(): usage counters the per-assistant quotas and the per-session
--   rate limit are checked against, including a guest's expired sessions (which RLS hides).
-- - loacl.purge_expired_guest_sessions(retention, batch): the sweep's retention step.
-- Each checks the caller itself; EXECUTE is granted to loacl_app only.

-- The owner reads tenants only for session_assistant_runtime(): the ciphertext is useless
-- without the server's master key, and the owner still sees no plaintext.
CREATE POLICY tenants_definer_read ON loacl.tenants FOR SELECT TO CURRENT_USER USING (true);
-- The retention sweep deletes guest sessions (threads, messages, files, suggestions cascade;
-- usage rows keep their totals with session_id/thread_id set to NULL).
CREATE POLICY sessions_definer_purge ON loacl.sessions FOR DELETE TO CURRENT_USER
    USING (session_type = 'guest' AND expires_at IS NOT NULL AND expires_at < now());

-- Configuration of the current session's assistant, for the owner of that live session.
CREATE FUNCTION loacl.session_assistant_runtime()
    RETURNS TABLE (id uuid, name text, instructions text, configuration jsonb, tools_enabled text[],
                   api_key_ciphertext bytea, api_key_hash bytea)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT a.id, a.name, a.instructions, a.configuration, a.tools_enabled, t.api_key_ciphertext, t.api_key_hash
    FROM loacl.sessions s
    JOIN loacl.assistants a ON a.id = s.assistant_id
    JOIN loacl.tenants t ON t.id = a.tenant_id
    WHERE s.id = loacl.current_session_id() AND loacl.owns_live_session(s.id)
$$;

-- Counters for the current live session: its tokens today (UTC), the messages its guest
-- fingerprint sent today to the same assistant over all its sessions (0 for users), and the
-- messages this session sent in the last minute. Empty unless the caller owns the session.
CREATE FUNCTION loacl.session_quota_state()
    RETURNS TABLE (session_tokens_today bigint, guest_messages_today bigint, session_messages_last_minute bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT
        COALESCE((SELECT sum(u.metric_value) FROM loacl.usage_metrics u
                  WHERE u.session_id = s.id AND u.metric_type = 'tokens'
                    AND u.recorded_at >= date_trunc('day', now(), 'UTC')), 0)::bigint,
        CASE WHEN s.session_type = 'guest' THEN
            COALESCE((SELECT sum(u.metric_value) FROM loacl.usage_metrics u
                      JOIN loacl.sessions g ON g.id = u.session_id
                      WHERE g.session_type = 'guest' AND g.fingerprint = s.fingerprint
                        AND g.assistant_id = s.assistant_id AND u.metric_type = 'messages'
                        AND u.recorded_at >= date_trunc('day', now(), 'UTC')), 0)::bigint
        ELSE 0::bigint END,
        COALESCE((SELECT sum(u.metric_value) FROM loacl.usage_metrics u
                  WHERE u.session_id = s.id AND u.metric_type = 'messages'
                    AND u.recorded_at > pg_catalog.clock_timestamp() - interval '1 minute'), 0)::bigint
    FROM loacl.sessions s
    WHERE s.id = loacl.current_session_id() AND loacl.owns_live_session(s.id)
$$;

-- Deletes up to `batch` guest sessions whose expiry passed more than `retention` ago, with
-- everything under them. Returns what was deleted so the server can remove stored files.
CREATE FUNCTION loacl.purge_expired_guest_sessions(retention interval, batch integer)
    RETURNS TABLE (session_id uuid, assistant_id uuid)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF retention IS NULL OR retention < interval '0' OR batch IS NULL OR batch < 1 THEN
        RAISE EXCEPTION 'retention must be >= 0 and batch >= 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    DELETE FROM loacl.sessions s
    WHERE s.id IN (SELECT x.id FROM loacl.sessions x
                   WHERE x.session_type = 'guest' AND x.expires_at IS NOT NULL
                     AND x.expires_at < now() - retention
                   ORDER BY x.expires_at LIMIT batch)
    RETURNING s.id, s.assistant_id;
END
$$;

REVOKE EXECUTE ON FUNCTION loacl.session_assistant_runtime(), loacl.session_quota_state(),
    loacl.purge_expired_guest_sessions(interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION loacl.session_assistant_runtime(), loacl.session_quota_state(),
    loacl.purge_expired_guest_sessions(interval, integer) TO loacl_app;
