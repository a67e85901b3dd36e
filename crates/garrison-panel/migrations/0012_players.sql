-- Players joining and leaving servers, from console lines.

CREATE TABLE player_events (
    id TEXT PRIMARY KEY,
    server_id TEXT NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- `joined` or `left`.
    kind TEXT NOT NULL,
    at BIGINT NOT NULL
);

CREATE INDEX player_events_server ON player_events (server_id, at);
