-- 0014: a server finds the cancel requests for its runs without relying on NOTIFY alone.
--
-- CancelRun records `runs.cancel_requested_at` and NOTIFYs the running server; a notification
-- sent while that server's listener was (re)connecting is lost. The server therefore also asks
-- for its runs with a pending request each time it renews their leases, so a cancel lands
-- within a third of the lease at worst (the notification makes it milliseconds normally).
CREATE FUNCTION loacl.cancel_requested_runs(p_server text) RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT r.id FROM loacl.runs r
    WHERE r.server_instance = p_server AND r.cancel_requested_at IS NOT NULL
      AND r.status IN ('queued', 'in_progress', 'requires_action')
$$;
REVOKE EXECUTE ON FUNCTION loacl.cancel_requested_runs(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION loacl.cancel_requested_runs(text) TO loacl_app;
