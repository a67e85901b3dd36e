-- Audit entries say how the actor authenticated and which server they concern.
-- `via`: "session", "key:<api key id>", "ticket" (console WebSocket ticket), or NULL for
-- actions Garrison took by itself (and entries written before this migration).
-- `server_id` has no foreign key: the log outlives deleted servers.

ALTER TABLE audit_log ADD COLUMN via TEXT;

ALTER TABLE audit_log ADD COLUMN server_id TEXT;

-- Entries written before: server actions named their server as the target.
UPDATE audit_log SET server_id = target WHERE substr(action, 1, 7) = 'server.';

CREATE INDEX audit_log_server ON audit_log (server_id, seq);

CREATE INDEX audit_log_user ON audit_log (user_id, seq);

CREATE INDEX audit_log_action ON audit_log (action, seq);
