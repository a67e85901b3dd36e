-- Garrison panel schema, version 1.
-- Portable between SQLite and PostgreSQL: ids are TEXT, times are BIGINT unix millis,
-- JSON is TEXT, booleans are BIGINT 0/1. The only per-backend piece is the
-- auto-increment column, written as {{auto_id}} and substituted by the runner.
-- Statements are separated by a semicolon at the end of a line.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_admin BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);

CREATE INDEX api_keys_user_id ON api_keys (user_id);

CREATE TABLE servers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    template TEXT NOT NULL,
    port BIGINT NOT NULL,
    variables TEXT NOT NULL,
    auto_start BIGINT NOT NULL DEFAULT 0,
    restart TEXT NOT NULL,
    state TEXT NOT NULL,
    state_changed_at BIGINT NOT NULL,
    last_exit TEXT,
    node TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX servers_created ON servers (created_at, id);

CREATE TABLE server_state_history (
    seq {{auto_id}},
    server_id TEXT NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    at BIGINT NOT NULL,
    reason TEXT,
    exit_info TEXT
);

CREATE INDEX server_state_history_server ON server_state_history (server_id, seq);

-- No foreign key on user_id: the audit trail outlives deleted users.
CREATE TABLE audit_log (
    seq {{auto_id}},
    id TEXT NOT NULL UNIQUE,
    at BIGINT NOT NULL,
    user_id TEXT,
    action TEXT NOT NULL,
    target TEXT,
    ip TEXT,
    detail TEXT NOT NULL
);

CREATE INDEX audit_log_at ON audit_log (at);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
