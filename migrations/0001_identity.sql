-- 0001: schema `loacl` and the request-identity functions the RLS policies are built on.
--
-- The server sets the identity per transaction with set_config(name, value, true):
--   loacl.user_id          authenticated user (JWT sub, a UUID)        -> auth.uid()
--   loacl.fingerprint      guest browser/device fingerprint            -> loacl.current_fingerprint()
--   loacl.tenant_key_hash  hex HMAC-SHA256 of the tenant's API key     -> loacl.current_tenant_key_hash()
--   loacl.session_id       session the request runs in (a UUID)        -> loacl.current_session_id()
-- An unset setting reads as NULL (after a local set_config ends it reads as '', also mapped to NULL),
-- and NULL never equals anything, so no identity means no rows.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'loacl_app') THEN
        RAISE EXCEPTION 'role loacl_app does not exist'
            USING HINT = 'create it first (scripts/local-postgres.sh start does): LOGIN NOSUPERUSER NOBYPASSRLS';
    END IF;
END
$$;

CREATE SCHEMA loacl;
REVOKE ALL ON SCHEMA loacl FROM PUBLIC;
GRANT USAGE ON SCHEMA loacl TO loacl_app;

-- auth.uid() already exists on Supabase (it reads the request JWT); create ours only where missing.
DO $$
BEGIN
    IF pg_catalog.to_regnamespace('auth') IS NULL THEN
        CREATE SCHEMA auth;
        GRANT USAGE ON SCHEMA auth TO loacl_app;
    END IF;
    IF pg_catalog.to_regprocedure('auth.uid()') IS NULL THEN
        CREATE FUNCTION auth.uid() RETURNS uuid
            LANGUAGE sql STABLE PARALLEL SAFE
            AS $f$ SELECT NULLIF(pg_catalog.current_setting('loacl.user_id', true), '')::uuid $f$;
        COMMENT ON FUNCTION auth.uid() IS 'LOACL: authenticated user id from setting loacl.user_id';
    END IF;
END
$$;

CREATE FUNCTION loacl.current_fingerprint() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(pg_catalog.current_setting('loacl.fingerprint', true), '') $$;

CREATE FUNCTION loacl.current_tenant_key_hash() RETURNS bytea
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT pg_catalog.decode(NULLIF(pg_catalog.current_setting('loacl.tenant_key_hash', true), ''), 'hex') $$;

CREATE FUNCTION loacl.current_session_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(pg_catalog.current_setting('loacl.session_id', true), '')::uuid $$;

COMMENT ON FUNCTION loacl.current_fingerprint() IS 'guest fingerprint from setting loacl.fingerprint';
COMMENT ON FUNCTION loacl.current_tenant_key_hash() IS 'HMAC-SHA256 of the tenant API key from setting loacl.tenant_key_hash (hex)';
COMMENT ON FUNCTION loacl.current_session_id() IS 'current session id from setting loacl.session_id';
