-- Servers get a description, resource limits and the outcome of their last install;
-- templates that admins add (created, imported or synced from a repository) are stored.

ALTER TABLE servers ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE servers ADD COLUMN limits TEXT NOT NULL DEFAULT '{}';
ALTER TABLE servers ADD COLUMN install_status TEXT;

CREATE TABLE templates (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE template_repos (
    id TEXT PRIMARY KEY,
    location TEXT NOT NULL,
    kind TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    synced_at BIGINT,
    sync_error TEXT,
    template_count BIGINT NOT NULL DEFAULT 0
);

CREATE UNIQUE INDEX template_repos_location ON template_repos (location);
