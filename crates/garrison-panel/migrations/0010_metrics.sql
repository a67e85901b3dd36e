-- Resource history of servers and nodes: raw samples, and averages per minute and per
-- hour rolled up from them (`res`: 0 raw, 60000 minute, 3600000 hour).

CREATE TABLE metrics (
    -- A server id, or `node:<name>` for a node's machine.
    target TEXT NOT NULL,
    res BIGINT NOT NULL,
    at BIGINT NOT NULL,
    cpu DOUBLE PRECISION,
    cpu_max DOUBLE PRECISION,
    memory BIGINT,
    memory_max BIGINT,
    disk BIGINT,
    players DOUBLE PRECISION,
    players_max BIGINT,
    net_rx BIGINT,
    net_tx BIGINT,
    load1 DOUBLE PRECISION,
    memory_total BIGINT,
    disk_total BIGINT,
    samples BIGINT NOT NULL,
    PRIMARY KEY (target, res, at)
);

CREATE INDEX metrics_age ON metrics (res, at);
