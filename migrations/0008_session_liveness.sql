-- 0008: PostgreSQL checks, inside each call's own transaction, that the call's session is live.
--
-- loacld keeps recently resolved sessions in memory, so most calls skip the token look-up (one
-- round trip). What makes that safe is this check: the identity statement that starts every
-- transaction run as a session calls it, so a session revoked (by any server), expired or
-- swept since it was cached fails its next call with SQLSTATE 28000 (UNAUTHENTICATED), before
-- any of the call's own statements run. One primary-key probe; PL/pgSQL keeps its plan.
CREATE FUNCTION loacl.assert_live_session(sid uuid) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM loacl.sessions s
                   WHERE s.id = sid AND s.status = 'active'
                     AND (s.expires_at IS NULL OR s.expires_at > now())) THEN
        RAISE EXCEPTION 'session is unknown, expired or revoked' USING ERRCODE = 'invalid_authorization_specification';
    END IF;
    RETURN true;
END
$$;

REVOKE EXECUTE ON FUNCTION loacl.assert_live_session(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION loacl.assert_live_session(uuid) TO loacl_app;
