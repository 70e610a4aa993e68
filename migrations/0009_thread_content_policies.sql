-- 0009: the thread-content policies test a row's thread against the caller's threads once per
-- statement instead of once per row.
--
-- As written in 0004, `USING (EXISTS (SELECT 1 FROM loacl.threads t WHERE t.id = x.thread_id
-- AND ...))` is a correlated sub-plan: PostgreSQL runs it again for every row it reads, so a
-- history read of 200 messages did 200 thread look-ups, each with the threads and sessions
-- policies inside (≈ 14 ms for SendMessage's history under load, ≈ 65 µs a row). As an IN over
-- the caller's threads it becomes a hashed sub-plan, built once per statement from the
-- caller's visible sessions (a guest's or user's own threads: few) and probed per row. Same
-- rows visible as before. WITH CHECK keeps the correlated form: it checks single new rows,
-- for which one index probe is cheaper than collecting every thread of the caller.
ALTER POLICY messages_thread ON loacl.messages
    USING (thread_id IN (SELECT t.id FROM loacl.threads t
                         WHERE t.session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id))));
ALTER POLICY files_thread ON loacl.files
    USING (thread_id IN (SELECT t.id FROM loacl.threads t
                         WHERE t.session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id))));
ALTER POLICY follow_up_suggestions_thread ON loacl.follow_up_suggestions
    USING (thread_id IN (SELECT t.id FROM loacl.threads t
                         WHERE t.session_id IN (SELECT v.id FROM loacl.visible_session_ids() AS v(id))));
