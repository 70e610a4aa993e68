-- 0013: function tools — the model calls functions, the caller runs them (docs/API.md "Tools").
--
-- Declarations live in the assistant's configuration (`configuration.functions`, validated by
-- loacld: names, JSON Schema objects, sizes), under the assistants' policies like the rest of
-- the assistant. A run that the model answers with function calls pauses in
-- `requires_action` with the step's calls in `runs.pending_tool_calls`; SubmitToolOutputs (any
-- caller who sees the thread, on any server) stores the outputs as `tool` messages and sets the
-- run back to `in_progress` in one transaction, and the running server goes on.
--
-- Thread messages gain the role `tool` (a function's output, `metadata.tool_call_id`); the
-- assistant message that made the calls keeps them in `metadata.tool_calls`.

ALTER TABLE loacl.messages DROP CONSTRAINT messages_role_check;
ALTER TABLE loacl.messages ADD CONSTRAINT messages_role_check CHECK (role IN ('user', 'assistant', 'system', 'tool'));

ALTER TABLE loacl.assistants ADD CONSTRAINT assistants_functions_array CHECK (
    NOT configuration ? 'functions'
    OR (jsonb_typeof(configuration->'functions') = 'array' AND jsonb_array_length(configuration->'functions') <= 64));

-- The step a run waits on: its calls (`[{"call_id","name","arguments"}]`) and the sequence
-- number of the run's `requires_action` event (a submitter's stream follows the run from there).
ALTER TABLE loacl.runs ADD COLUMN pending_tool_calls jsonb CHECK (pending_tool_calls IS NULL OR jsonb_typeof(pending_tool_calls) = 'array');
ALTER TABLE loacl.runs ADD COLUMN action_sequence integer;
GRANT UPDATE (pending_tool_calls, action_sequence) ON loacl.runs TO loacl_app;
