-- Users' SSH public keys, for signing in to SFTP.

CREATE TABLE ssh_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    key_type TEXT NOT NULL,
    public_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE UNIQUE INDEX ssh_keys_user_fingerprint ON ssh_keys (user_id, fingerprint);
