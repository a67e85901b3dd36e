-- Users get an email address and can be disabled; sessions remember where they came
-- from and when they were last used, for the sessions list and idle expiry.

ALTER TABLE users ADD COLUMN email TEXT;

ALTER TABLE users ADD COLUMN disabled BIGINT NOT NULL DEFAULT 0;

CREATE UNIQUE INDEX users_email ON users (email);

ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT;

ALTER TABLE sessions ADD COLUMN ip TEXT;

ALTER TABLE sessions ADD COLUMN user_agent TEXT;
