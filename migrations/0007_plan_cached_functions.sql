-- 0007: the identity and session functions on every call's path, with plans PostgreSQL can keep.
--
-- A LANGUAGE sql function that cannot be inlined (SECURITY DEFINER, a SET clause, or a scalar
-- body with a FROM clause) is parsed and planned again on every call in every statement. With
-- Row Level Security they are everywhere (policies, WITH CHECK, the triggers' statements): a
-- profile of SendMessage showed ~60 % of PostgreSQL's time there. PL/pgSQL functions keep
-- their statements' plans per connection, and inlinable SQL functions become part of the
-- calling plan. Same names, arguments, results and rules as before; only how they run changes.

-- Inlinable: no function call with a FROM clause inside (the old body called
-- current_tenant_id(), a scalar function that reads a table and so is never inlined).
CREATE OR REPLACE FUNCTION loacl.tenant_assistant_ids() RETURNS SETOF uuid
    LANGUAGE sql STABLE
    AS $$
    SELECT a.id FROM loacl.assistants a JOIN loacl.tenants t ON t.id = a.tenant_id
    WHERE t.api_key_hash = loacl.current_tenant_key_hash()
$$;

-- The assistants policy reads the tenant inline instead of calling current_tenant_id(): that
-- function's plan was re-made whenever it ran under another role than last time (as
-- loacl_app for a call's own statements, as the owner inside the definer functions).
ALTER POLICY assistants_tenant ON loacl.assistants
    USING (tenant_id IN (SELECT t.id FROM loacl.tenants t WHERE t.api_key_hash = (SELECT loacl.current_tenant_key_hash())))
    WITH CHECK (tenant_id IN (SELECT t.id FROM loacl.tenants t WHERE t.api_key_hash = (SELECT loacl.current_tenant_key_hash())));

CREATE OR REPLACE FUNCTION loacl.current_tenant_id() RETURNS uuid
    LANGUAGE plpgsql STABLE
    AS $$
BEGIN
    RETURN (SELECT t.id FROM loacl.tenants t WHERE t.api_key_hash = loacl.current_tenant_key_hash());
END
$$;

CREATE OR REPLACE FUNCTION loacl.resolve_session(token_hash bytea) RETURNS SETOF loacl.sessions
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN QUERY
    SELECT s.* FROM loacl.sessions s
    WHERE s.token_hash = resolve_session.token_hash
      AND s.status = 'active'
      AND (s.expires_at IS NULL OR s.expires_at > now());
END
$$;

CREATE OR REPLACE FUNCTION loacl.owns_live_session(sid uuid) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN EXISTS (
        SELECT 1 FROM loacl.sessions s
        WHERE s.id = sid
          AND s.status = 'active'
          AND (s.expires_at IS NULL OR s.expires_at > now())
          AND ((s.session_type = 'guest' AND s.fingerprint = loacl.current_fingerprint())
               OR (s.session_type = 'authenticated' AND s.user_id = auth.uid())));
END
$$;

CREATE OR REPLACE FUNCTION loacl.session_assistant()
    RETURNS TABLE (id uuid, assistant_id text, name text, tools_enabled text[], guest_session_ttl interval)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT a.id, a.assistant_id, a.name, a.tools_enabled, a.guest_session_ttl
    FROM loacl.sessions s JOIN loacl.assistants a ON a.id = s.assistant_id
    WHERE s.id = loacl.current_session_id() AND loacl.owns_live_session(s.id);
END
$$;

CREATE OR REPLACE FUNCTION loacl.session_assistant_runtime()
    RETURNS TABLE (id uuid, name text, instructions text, configuration jsonb, tools_enabled text[],
                   api_key_ciphertext bytea, api_key_hash bytea)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT a.id, a.name, a.instructions, a.configuration, a.tools_enabled, t.api_key_ciphertext, t.api_key_hash
    FROM loacl.sessions s
    JOIN loacl.assistants a ON a.id = s.assistant_id
    JOIN loacl.tenants t ON t.id = a.tenant_id
    WHERE s.id = loacl.current_session_id() AND loacl.owns_live_session(s.id);
END
$$;

CREATE OR REPLACE FUNCTION loacl.session_quota_state()
    RETURNS TABLE (session_tokens_today bigint, guest_messages_today bigint, session_messages_last_minute bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
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
    WHERE s.id = loacl.current_session_id() AND loacl.owns_live_session(s.id);
END
$$;
