-- Backups of servers (the archives themselves live in the node's storage driver) and
-- the outcome of a server's last restore.

CREATE TABLE backups (
    id TEXT PRIMARY KEY,
    server_id TEXT NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    storage TEXT NOT NULL,
    compression TEXT NOT NULL,
    ignore_patterns TEXT NOT NULL DEFAULT '[]',
    locked BIGINT NOT NULL DEFAULT 0,
    size BIGINT,
    sha256 TEXT,
    manifest_sha256 TEXT,
    files BIGINT,
    bytes BIGINT,
    integrity TEXT,
    verified_at BIGINT,
    error TEXT,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    completed_at BIGINT
);

CREATE INDEX backups_server ON backups (server_id, created_at);

ALTER TABLE servers ADD COLUMN restore_status TEXT;
