-- Alert rules and the alerts they raise, notification channels and their delivery
-- log, and maintenance windows.

CREATE TABLE alert_rules (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- NULL: every server (or the node, for node rules).
    server_id TEXT REFERENCES servers (id) ON DELETE CASCADE,
    params TEXT NOT NULL DEFAULT '{}',
    severity TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    -- A rule notifies at most once per target per this many seconds.
    throttle_secs BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    rule_id TEXT NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    -- A server id, or `node:<name>`.
    target TEXT NOT NULL,
    server_id TEXT,
    state TEXT NOT NULL,
    severity TEXT NOT NULL,
    title TEXT NOT NULL,
    message TEXT NOT NULL,
    value DOUBLE PRECISION,
    muted BIGINT NOT NULL DEFAULT 0,
    fired_at BIGINT NOT NULL,
    resolved_at BIGINT,
    -- `auto`, or the id of the user who resolved it.
    resolved_by TEXT,
    notified_at BIGINT
);

-- One open alert per rule and target.
CREATE UNIQUE INDEX alerts_open ON alerts (rule_id, target) WHERE state = 'firing';
CREATE INDEX alerts_recent ON alerts (fired_at);
CREATE INDEX alerts_server ON alerts (server_id, fired_at);

CREATE TABLE notification_channels (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    config TEXT NOT NULL,
    -- Event names (or prefixes) it receives, JSON list.
    events TEXT NOT NULL,
    -- Only these servers' events (JSON list; empty: all).
    servers TEXT NOT NULL DEFAULT '[]',
    enabled BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE notification_deliveries (
    id TEXT PRIMARY KEY,
    channel_id TEXT NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    title TEXT NOT NULL,
    ok BIGINT NOT NULL,
    attempts TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX notification_deliveries_channel ON notification_deliveries (channel_id, created_at);

CREATE TABLE maintenance_windows (
    id TEXT PRIMARY KEY,
    -- NULL: the whole node.
    server_id TEXT REFERENCES servers (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- When each window starts: a cron expression in `timezone`.
    cron TEXT NOT NULL,
    timezone TEXT NOT NULL,
    duration_secs BIGINT NOT NULL,
    -- Stop the server(s) when the window opens / start them when it closes.
    stop_at_start BIGINT NOT NULL DEFAULT 0,
    start_at_end BIGINT NOT NULL DEFAULT 0,
    enabled BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
