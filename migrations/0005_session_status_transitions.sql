-- 0005: a session's status only moves forward: active -> expired | revoked. A user (who can still
-- see its ended sessions) must not reactivate one, and a finished session is not reopened by
-- accident; start a new session instead.
CREATE FUNCTION loacl.sessions_status_forward() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF OLD.status <> 'active' AND NEW.status IS DISTINCT FROM OLD.status THEN
        RAISE EXCEPTION 'session % is %, it cannot become %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER sessions_status_forward BEFORE UPDATE OF status ON loacl.sessions
    FOR EACH ROW EXECUTE FUNCTION loacl.sessions_status_forward();
