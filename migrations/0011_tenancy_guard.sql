-- 0011: loacld refuses a database session in which Row Level Security would not bind it.
--
-- RLS is LOACL's only tenancy boundary, and PostgreSQL skips it silently for superusers,
-- BYPASSRLS roles and (without FORCE) table owners. loacld calls this function in the setup
-- statement of every new pool connection (`Database.sessionSetup`), so a connection that fails
-- it is never used; `loacld serve` opens one before listening and exits if it fails.
--
-- Refused, for the login role (session_user) and the effective role (current_user):
--   * a superuser or a BYPASSRLS role;
--   * a member (direct or indirect, INHERIT or NOINHERIT) of such a role: any member can
--     SET ROLE to it;
--   * the owner of a loacl table, or a member of the owner: an owner can turn RLS off;
-- and any table in schema loacl whose RLS is disabled or not FORCEd.
-- SECURITY INVOKER (the default) on purpose: current_user must stay the caller's role.
-- SQLSTATE LCT01; the message names the role or table, the hint says what to connect as.
CREATE FUNCTION loacl.assert_tenancy_enforced() RETURNS boolean
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    fix constant text := 'connect loacld as loacl_app: CREATE ROLE loacl_app LOGIN PASSWORD ''...'' '
        || 'NOSUPERUSER NOBYPASSRLS NOINHERIT, with no role granted to it; the migrations grant it '
        || 'what it needs (docs/SCHEMA.md, "Runtime role")';
    who name;
    bypassing name;
    owned record;
    tbl record;
BEGIN
    FOREACH who IN ARRAY ARRAY[current_user, session_user]::name[] LOOP
        SELECT r.rolname INTO bypassing
        FROM pg_roles r
        WHERE (r.rolsuper OR r.rolbypassrls) AND pg_has_role(who, r.oid, 'MEMBER')
        ORDER BY r.rolname <> who, r.rolname
        LIMIT 1;
        IF bypassing = who THEN
            RAISE EXCEPTION 'database role "%" bypasses row level security (superuser or BYPASSRLS)', who
                USING ERRCODE = 'LCT01', HINT = fix;
        ELSIF bypassing IS NOT NULL THEN
            RAISE EXCEPTION 'database role "%" is a member of "%", which bypasses row level security (a member can SET ROLE to it)', who, bypassing
                USING ERRCODE = 'LCT01', HINT = fix;
        END IF;

        SELECT c.relname, o.rolname AS owner INTO owned
        FROM pg_class c
        JOIN pg_roles o ON o.oid = c.relowner
        WHERE c.relnamespace = 'loacl'::regnamespace AND c.relkind IN ('r', 'p')
          AND pg_has_role(who, c.relowner, 'MEMBER')
        ORDER BY c.relname
        LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'database role "%" owns table loacl.% (as "%" or a member of it) and could turn row level security off',
                who, owned.relname, owned.owner
                USING ERRCODE = 'LCT01', HINT = fix || '; run the migrations as another role, e.g. loacl_owner';
        END IF;
    END LOOP;

    FOR tbl IN
        SELECT c.relname, c.relrowsecurity
        FROM pg_class c
        WHERE c.relnamespace = 'loacl'::regnamespace AND c.relkind IN ('r', 'p')
          AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
        ORDER BY c.relname
        LIMIT 1
    LOOP
        RAISE EXCEPTION 'table loacl.% has row level security %',
            tbl.relname, CASE WHEN tbl.relrowsecurity THEN 'not forced' ELSE 'disabled' END
            USING ERRCODE = 'LCT01',
                  HINT = format('as the migration role: ALTER TABLE loacl.%I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', tbl.relname);
    END LOOP;
    RETURN true;
END
$$;

GRANT EXECUTE ON FUNCTION loacl.assert_tenancy_enforced() TO PUBLIC;
