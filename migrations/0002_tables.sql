-- 0002: tables, constraints and indexes (plain PostgreSQL 15: gen_random_uuid() is built in).

-- A tenant is one OpenAI API key. The server computes both columns; the plaintext key never
-- reaches the database.
CREATE TABLE loacl.tenants (
    id                 uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    api_key_hash       bytea       NOT NULL UNIQUE CHECK (octet_length(api_key_hash) = 32),  -- HMAC-SHA256(key)
    api_key_ciphertext bytea       NOT NULL CHECK (octet_length(api_key_ciphertext) > 28),  -- nonce(12)||ct||tag(16)
    key_hint           text        NOT NULL CHECK (char_length(key_hint) BETWEEN 1 AND 32), -- "sk-...abcd"
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE loacl.assistants (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id         uuid        NOT NULL REFERENCES loacl.tenants (id) ON DELETE CASCADE,
    assistant_id      text        CHECK (char_length(assistant_id) BETWEEN 1 AND 255), -- optional OpenAI assistant id
    name              text        CHECK (char_length(name) <= 256),
    instructions      text        CHECK (char_length(instructions) <= 256000),
    guest_session_ttl interval    NOT NULL DEFAULT interval '24 hours'
                                  CHECK (guest_session_ttl > interval '0' AND guest_session_ttl <= interval '365 days'),
    configuration     jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(configuration) = 'object'),
    tools_enabled     text[]      NOT NULL DEFAULT '{}' CHECK (array_position(tools_enabled, NULL) IS NULL),
    metadata          jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX assistants_tenant_created_idx ON loacl.assistants (tenant_id, created_at DESC, id DESC);
CREATE INDEX assistants_external_id_idx ON loacl.assistants (tenant_id, assistant_id) WHERE assistant_id IS NOT NULL;

-- Per-assistant limits: at most max_value of metric_type per calendar hour/day/month (UTC).
CREATE TABLE loacl.assistant_quotas (
    assistant_id uuid        NOT NULL REFERENCES loacl.assistants (id) ON DELETE CASCADE,
    metric_type  text        NOT NULL CHECK (metric_type ~ '^[a-z][a-z0-9_]{0,62}$'),
    period       text        NOT NULL CHECK (period IN ('hour', 'day', 'month')),
    max_value    bigint      NOT NULL CHECK (max_value >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (assistant_id, metric_type, period)
);

CREATE TABLE loacl.sessions (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    assistant_id   uuid        NOT NULL REFERENCES loacl.assistants (id) ON DELETE CASCADE,
    session_type   text        NOT NULL CHECK (session_type IN ('guest', 'authenticated')),
    user_id        uuid,
    fingerprint    text        CHECK (char_length(fingerprint) BETWEEN 1 AND 512),
    token_hash     bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32), -- sha256(session token)
    status         text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'expired', 'revoked')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz, -- guests: set from the assistant's guest_session_ttl when omitted
    last_active_at timestamptz NOT NULL DEFAULT now(),
    metadata       jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT sessions_identity_check CHECK (
        (session_type = 'guest' AND fingerprint IS NOT NULL AND user_id IS NULL)
        OR (session_type = 'authenticated' AND user_id IS NOT NULL AND fingerprint IS NULL)),
    CONSTRAINT sessions_expiry_check CHECK (expires_at IS NULL OR expires_at > created_at),
    UNIQUE (id, assistant_id) -- target of threads' composite foreign key
);
CREATE INDEX sessions_fingerprint_idx ON loacl.sessions (fingerprint) WHERE session_type = 'guest';
CREATE INDEX sessions_user_idx ON loacl.sessions (user_id) WHERE session_type = 'authenticated';
CREATE INDEX sessions_assistant_idx ON loacl.sessions (assistant_id);
CREATE INDEX sessions_expiry_sweep_idx ON loacl.sessions (expires_at) WHERE status = 'active' AND expires_at IS NOT NULL;

CREATE TABLE loacl.threads (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id   uuid        NOT NULL,
    assistant_id uuid        NOT NULL, -- filled from the session when omitted
    title        text        CHECK (char_length(title) <= 1024),
    status       text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived', 'deleted')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz, -- soft delete: set together with status = 'deleted'
    metadata     jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    FOREIGN KEY (session_id, assistant_id) REFERENCES loacl.sessions (id, assistant_id) ON DELETE CASCADE,
    CONSTRAINT threads_soft_delete_check CHECK ((status = 'deleted') = (deleted_at IS NOT NULL))
);
-- List a session's threads newest first; keyset cursor on (updated_at, id), optional status filter.
CREATE INDEX threads_session_updated_idx ON loacl.threads (session_id, updated_at DESC, id DESC);
CREATE INDEX threads_session_status_updated_idx ON loacl.threads (session_id, status, updated_at DESC, id DESC);
CREATE INDEX threads_assistant_idx ON loacl.threads (assistant_id);

CREATE TABLE loacl.messages (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    thread_id   uuid        NOT NULL REFERENCES loacl.threads (id) ON DELETE CASCADE,
    role        text        NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
    content     text        NOT NULL CHECK (char_length(content) <= 1048576),
    -- clock_timestamp(): several messages written in one transaction still sort in write order.
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    tokens_used integer     NOT NULL DEFAULT 0 CHECK (tokens_used >= 0),
    metadata    jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    UNIQUE (id, thread_id) -- target of files'/suggestions' composite foreign keys
);
-- A thread's messages oldest first; keyset cursor on (created_at, id).
CREATE INDEX messages_thread_created_idx ON loacl.messages (thread_id, created_at, id);

CREATE TABLE loacl.files (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    thread_id    uuid        NOT NULL REFERENCES loacl.threads (id) ON DELETE CASCADE,
    message_id   uuid,
    filename     text        NOT NULL CHECK (char_length(filename) BETWEEN 1 AND 255 AND strpos(filename, '/') = 0),
    file_type    text        NOT NULL CHECK (char_length(file_type) BETWEEN 1 AND 255), -- media type
    file_size    bigint      NOT NULL CHECK (file_size >= 0),
    sha256       bytea       NOT NULL CHECK (octet_length(sha256) = 32),
    storage_path text        NOT NULL CHECK (char_length(storage_path) BETWEEN 1 AND 4096),
    created_at   timestamptz NOT NULL DEFAULT now(),
    metadata     jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    -- A file attached to a message belongs to that message's thread.
    FOREIGN KEY (message_id, thread_id) REFERENCES loacl.messages (id, thread_id) ON DELETE CASCADE
);
CREATE INDEX files_thread_created_idx ON loacl.files (thread_id, created_at, id);
CREATE INDEX files_message_idx ON loacl.files (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX files_thread_sha256_idx ON loacl.files (thread_id, sha256);

CREATE TABLE loacl.guided_questions (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    assistant_id uuid        NOT NULL REFERENCES loacl.assistants (id) ON DELETE CASCADE,
    question     text        NOT NULL CHECK (char_length(question) BETWEEN 1 AND 4096),
    category     text        CHECK (char_length(category) <= 256),
    priority     integer     NOT NULL DEFAULT 0,
    is_active    boolean     NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    metadata     jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object')
);
-- Active questions of an assistant by priority (highest first).
CREATE INDEX guided_questions_active_idx ON loacl.guided_questions (assistant_id, priority DESC, id)
    WHERE is_active;
CREATE INDEX guided_questions_assistant_idx ON loacl.guided_questions (assistant_id);

CREATE TABLE loacl.follow_up_suggestions (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    thread_id  uuid        NOT NULL REFERENCES loacl.threads (id) ON DELETE CASCADE,
    message_id uuid        NOT NULL,
    suggestion text        NOT NULL CHECK (char_length(suggestion) BETWEEN 1 AND 4096),
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz,
    metadata   jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    FOREIGN KEY (message_id, thread_id) REFERENCES loacl.messages (id, thread_id) ON DELETE CASCADE
);
CREATE INDEX follow_up_suggestions_message_idx ON loacl.follow_up_suggestions (message_id, created_at, id);
CREATE INDEX follow_up_suggestions_thread_idx ON loacl.follow_up_suggestions (thread_id, created_at, id);

-- Append-only usage log. Session/thread references survive their hard delete as NULL so
-- per-assistant totals (billing, quotas) stay correct.
CREATE TABLE loacl.usage_metrics (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    assistant_id uuid        NOT NULL REFERENCES loacl.assistants (id) ON DELETE CASCADE,
    session_id   uuid        REFERENCES loacl.sessions (id) ON DELETE SET NULL,
    thread_id    uuid        REFERENCES loacl.threads (id) ON DELETE SET NULL,
    metric_type  text        NOT NULL CHECK (metric_type ~ '^[a-z][a-z0-9_]{0,62}$'), -- 'tokens', 'messages', 'files', ...
    metric_value bigint      NOT NULL, -- negative only for corrections (e.g. tokens_used lowered)
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
-- Totals per metric type over a time range (and per day) by assistant / session / thread.
CREATE INDEX usage_metrics_assistant_time_idx ON loacl.usage_metrics (assistant_id, recorded_at)
    INCLUDE (metric_type, metric_value);
CREATE INDEX usage_metrics_session_time_idx ON loacl.usage_metrics (session_id, recorded_at)
    INCLUDE (metric_type, metric_value) WHERE session_id IS NOT NULL;
CREATE INDEX usage_metrics_thread_time_idx ON loacl.usage_metrics (thread_id, recorded_at)
    INCLUDE (metric_type, metric_value) WHERE thread_id IS NOT NULL;
