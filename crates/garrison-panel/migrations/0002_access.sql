-- Who may do what: server owners, subusers with a permission set, and API keys narrowed
-- to a permission subset, allowed IP ranges and an expiry.

ALTER TABLE servers ADD COLUMN owner_id TEXT REFERENCES users (id) ON DELETE SET NULL;

CREATE INDEX servers_owner ON servers (owner_id);

CREATE TABLE server_subusers (
    server_id TEXT NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    permissions TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (server_id, user_id)
);

CREATE INDEX server_subusers_user ON server_subusers (user_id);

ALTER TABLE api_keys ADD COLUMN permissions TEXT;

ALTER TABLE api_keys ADD COLUMN allowed_ips TEXT;

ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
