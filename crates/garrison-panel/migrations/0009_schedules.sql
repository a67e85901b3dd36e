-- Schedules (a trigger and a chain of tasks, for one server or, admin-wide, for many)
-- and the history of their runs.

CREATE TABLE schedules (
    id TEXT PRIMARY KEY,
    -- NULL for an admin-wide schedule, whose servers are in `targets`.
    server_id TEXT REFERENCES servers (id) ON DELETE CASCADE,
    targets TEXT NOT NULL DEFAULT '{}',
    name TEXT NOT NULL,
    trigger_spec TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    only_when_online BIGINT NOT NULL,
    missed TEXT NOT NULL,
    tasks TEXT NOT NULL,
    -- The slot the scheduler runs next; NULL while disabled. Moved forward in the same
    -- transaction that claims a run, so a slot is never run twice.
    next_run_at BIGINT,
    last_run_at BIGINT,
    last_outcome TEXT,
    -- Held by the process running the schedule now, until `lease_until`.
    lease_owner TEXT,
    lease_until BIGINT,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX schedules_server ON schedules (server_id);
CREATE INDEX schedules_due ON schedules (next_run_at);

CREATE TABLE schedule_runs (
    id TEXT PRIMARY KEY,
    schedule_id TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    -- The slot this run was for; NULL for "run now".
    due_at BIGINT,
    cause TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    tasks TEXT NOT NULL DEFAULT '[]',
    error TEXT
);

-- One run per slot, whatever happens.
CREATE UNIQUE INDEX schedule_runs_slot ON schedule_runs (schedule_id, due_at);
CREATE INDEX schedule_runs_history ON schedule_runs (schedule_id, started_at);
CREATE INDEX schedule_runs_age ON schedule_runs (started_at);
