-- Two-factor authentication by TOTP (RFC 6238).
-- One row per user who started enrolment; `enabled` flips to 1 once a code confirmed
-- the secret. `last_step` is the last accepted TOTP time step (unix time / 30): a code
-- whose step is not newer is refused, so a code cannot be replayed.
-- The secret is base32 text: it must be readable to check codes.

CREATE TABLE user_two_factor (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 0,
    last_step BIGINT,
    created_at BIGINT NOT NULL,
    enabled_at BIGINT
);

-- Recovery codes, stored only as SHA-256 hex; a used code is deleted.
CREATE TABLE two_factor_recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);
