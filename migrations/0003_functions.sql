-- 0003: triggers and server-side functions.
-- SECURITY DEFINER functions are owned by the migration role, pin search_path and are executable
-- by loacl_app only. They read across identities, so each one checks the caller's identity itself.

-- updated_at maintenance.
CREATE FUNCTION loacl.touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER tenants_touch_updated_at BEFORE UPDATE ON loacl.tenants
    FOR EACH ROW EXECUTE FUNCTION loacl.touch_updated_at();
CREATE TRIGGER assistants_touch_updated_at BEFORE UPDATE ON loacl.assistants
    FOR EACH ROW EXECUTE FUNCTION loacl.touch_updated_at();
CREATE TRIGGER threads_touch_updated_at BEFORE UPDATE ON loacl.threads
    FOR EACH ROW EXECUTE FUNCTION loacl.touch_updated_at();

-- A guest session without expires_at gets now() + the assistant's guest_session_ttl.
-- Definer: guests cannot read assistants themselves.
CREATE FUNCTION loacl.sessions_default_expiry() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NEW.session_type = 'guest' AND NEW.expires_at IS NULL THEN
        SELECT now() + a.guest_session_ttl INTO NEW.expires_at
        FROM loacl.assistants a WHERE a.id = NEW.assistant_id;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER sessions_default_expiry BEFORE INSERT ON loacl.sessions
    FOR EACH ROW EXECUTE FUNCTION loacl.sessions_default_expiry();

-- A thread's assistant is its session's assistant (the composite foreign key enforces it).
CREATE FUNCTION loacl.threads_default_assistant() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NEW.assistant_id IS NULL THEN
        SELECT s.assistant_id INTO NEW.assistant_id FROM loacl.sessions s WHERE s.id = NEW.session_id;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER threads_default_assistant BEFORE INSERT ON loacl.threads
    FOR EACH ROW EXECUTE FUNCTION loacl.threads_default_assistant();

-- Fixed seed trigger: assistant and session come from the message's thread. Records the tokens
-- of a new message and any later change of tokens_used (as a delta). Runs as the caller, whose
-- RLS policies let it see the thread and log usage for its own session.
CREATE FUNCTION loacl.track_message_tokens() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    delta bigint := NEW.tokens_used - CASE WHEN TG_OP = 'UPDATE' THEN OLD.tokens_used ELSE 0 END;
BEGIN
    IF delta <> 0 THEN
        INSERT INTO loacl.usage_metrics (assistant_id, session_id, thread_id, metric_type, metric_value)
        SELECT t.assistant_id, t.session_id, t.id, 'tokens', delta
        FROM loacl.threads t WHERE t.id = NEW.thread_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER track_message_tokens_trigger AFTER INSERT OR UPDATE OF tokens_used ON loacl.messages
    FOR EACH ROW EXECUTE FUNCTION loacl.track_message_tokens();

-- A new message moves its thread to the top of "newest first".
CREATE FUNCTION loacl.touch_thread_on_message() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE loacl.threads SET updated_at = now() WHERE id = NEW.thread_id AND updated_at < now();
    RETURN NULL;
END
$$;
CREATE TRIGGER touch_thread_on_message AFTER INSERT ON loacl.messages
    FOR EACH ROW EXECUTE FUNCTION loacl.touch_thread_on_message();

-- Periodic sweep replacing the seed's statement-level trigger: marks active sessions whose
-- expires_at has passed as 'expired'. Policies also hide them at read time, so the sweep only
-- keeps `status` truthful. Returns the number of sessions expired.
CREATE FUNCTION loacl.expire_guest_sessions() RETURNS integer
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
    WITH expired AS (
        UPDATE loacl.sessions SET status = 'expired'
        WHERE status = 'active' AND expires_at IS NOT NULL AND expires_at <= now()
        RETURNING 1
    )
    SELECT count(*)::integer FROM expired
$$;

-- Token lookup before any identity is known: the session only while active and unexpired.
CREATE FUNCTION loacl.resolve_session(token_hash bytea) RETURNS SETOF loacl.sessions
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT s.* FROM loacl.sessions s
    WHERE s.token_hash = resolve_session.token_hash
      AND s.status = 'active'
      AND (s.expires_at IS NULL OR s.expires_at > now())
$$;

-- True when the current identity owns the live session `sid` (guest: fingerprint, user: uid).
CREATE FUNCTION loacl.owns_live_session(sid uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT EXISTS (
        SELECT 1 FROM loacl.sessions s
        WHERE s.id = sid
          AND s.status = 'active'
          AND (s.expires_at IS NULL OR s.expires_at > now())
          AND ((s.session_type = 'guest' AND s.fingerprint = loacl.current_fingerprint())
               OR (s.session_type = 'authenticated' AND s.user_id = auth.uid())))
$$;

-- Ends the caller's own live session (logout). A definer function because a guest's session
-- stops being visible to it once revoked, and RLS requires updated rows to stay visible.
CREATE FUNCTION loacl.revoke_session(session_id uuid) RETURNS boolean
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
    WITH revoked AS (
        UPDATE loacl.sessions s SET status = 'revoked'
        WHERE s.id = revoke_session.session_id AND loacl.owns_live_session(s.id)
        RETURNING 1
    )
    SELECT count(*) = 1 FROM revoked
$$;

-- Basic, non-secret info about the assistant of the current session (loacl.session_id), for
-- guests and users who may not read the assistants table. Empty when the caller does not own
-- that live session.
CREATE FUNCTION loacl.session_assistant()
    RETURNS TABLE (id uuid, assistant_id text, name text, tools_enabled text[], guest_session_ttl interval)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT a.id, a.assistant_id, a.name, a.tools_enabled, a.guest_session_ttl
    FROM loacl.sessions s JOIN loacl.assistants a ON a.id = s.assistant_id
    WHERE s.id = loacl.current_session_id() AND loacl.owns_live_session(s.id)
$$;

-- Quota state of an assistant: each configured limit with the usage in the current period
-- (calendar hour/day/month, UTC). Allowed for the owning tenant and for the owner of a live
-- session on that assistant (the current session); empty otherwise.
CREATE FUNCTION loacl.quota_usage(p_assistant_id uuid)
    RETURNS TABLE (metric_type text, period text, max_value bigint, used bigint, period_start timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT q.metric_type, q.period, q.max_value,
           COALESCE((SELECT sum(u.metric_value) FROM loacl.usage_metrics u
                     WHERE u.assistant_id = q.assistant_id AND u.metric_type = q.metric_type
                       AND u.recorded_at >= date_trunc(q.period, now(), 'UTC')), 0)::bigint,
           date_trunc(q.period, now(), 'UTC')
    FROM loacl.assistant_quotas q
    WHERE q.assistant_id = p_assistant_id
      AND (EXISTS (SELECT 1 FROM loacl.assistants a JOIN loacl.tenants t ON t.id = a.tenant_id
                   WHERE a.id = p_assistant_id AND t.api_key_hash = loacl.current_tenant_key_hash())
           OR EXISTS (SELECT 1 FROM loacl.sessions s
                      WHERE s.id = loacl.current_session_id() AND s.assistant_id = p_assistant_id
                        AND loacl.owns_live_session(s.id)))
    ORDER BY q.metric_type, q.period
$$;

REVOKE EXECUTE ON FUNCTION loacl.expire_guest_sessions(), loacl.resolve_session(bytea),
    loacl.owns_live_session(uuid), loacl.revoke_session(uuid), loacl.session_assistant(), loacl.quota_usage(uuid),
    loacl.sessions_default_expiry() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION loacl.expire_guest_sessions(), loacl.resolve_session(bytea),
    loacl.owns_live_session(uuid), loacl.revoke_session(uuid), loacl.session_assistant(), loacl.quota_usage(uuid) TO loacl_app;
