//! Schedules and their runs. A run is claimed by moving `next_run_at` forward with a
//! compare-and-set in the transaction that inserts the run row (unique per slot), so
//! one slot runs at most once, whatever crashes or restarts in between.

use super::{Store, StoreError, bool_int, col, col_bool, col_json, new_id, to_json};
use crate::schedules::{MissedPolicy, Targets, Task, TaskAction, Trigger};
use garrison_proto::ServerId;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Running,
    Succeeded,
    /// A task failed (or timed out).
    Failed,
    /// Not run: server offline with only-when-online, previous run still going, or a
    /// slot missed while Garrison was down.
    Skipped,
    /// Garrison stopped during the run.
    Interrupted,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Skipped => "skipped",
            RunState::Interrupted => "interrupted",
        }
    }

    fn parse(s: &str) -> Option<RunState> {
        Some(match s {
            "running" => RunState::Running,
            "succeeded" => RunState::Succeeded,
            "failed" => RunState::Failed,
            "skipped" => RunState::Skipped,
            "interrupted" => RunState::Interrupted,
            _ => return None,
        })
    }
}

/// Why a run happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunCause {
    /// Its slot came.
    Scheduled,
    /// Someone asked ("run now").
    Manual,
    /// The `run_once` policy, for slots missed while Garrison was down.
    CatchUp,
}

impl RunCause {
    pub fn as_str(self) -> &'static str {
        match self {
            RunCause::Scheduled => "scheduled",
            RunCause::Manual => "manual",
            RunCause::CatchUp => "catch_up",
        }
    }

    fn parse(s: &str) -> Option<RunCause> {
        Some(match s {
            "scheduled" => RunCause::Scheduled,
            "manual" => RunCause::Manual,
            "catch_up" => RunCause::CatchUp,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Succeeded,
    Failed,
    /// Not run: an earlier task failed, or the server was offline.
    Skipped,
}

/// What one task did on one server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskOutcome {
    /// The task's position in the chain.
    pub index: usize,
    pub action: TaskAction,
    #[schema(value_type = String)]
    pub server: ServerId,
    pub state: TaskState,
    pub started_at: i64,
    pub finished_at: i64,
    /// What the task produced: console lines after a command, the backup's id, the
    /// matched line, the state reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduleRecord {
    pub id: String,
    /// `None` for an admin-wide schedule.
    pub server_id: Option<ServerId>,
    pub targets: Targets,
    pub name: String,
    pub trigger: Trigger,
    pub enabled: bool,
    pub only_when_online: bool,
    pub missed: MissedPolicy,
    pub tasks: Vec<Task>,
    pub next_run_at: Option<i64>,
    pub last_run_at: Option<i64>,
    pub last_outcome: Option<RunState>,
    /// Held while a run is going: the lease's end.
    pub lease_until: Option<i64>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The fields a user sets (create and replace).
#[derive(Debug, Clone)]
pub struct ScheduleSpec {
    pub name: String,
    pub targets: Targets,
    pub trigger: Trigger,
    pub enabled: bool,
    pub only_when_online: bool,
    pub missed: MissedPolicy,
    pub tasks: Vec<Task>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    pub id: String,
    pub schedule_id: String,
    pub due_at: Option<i64>,
    pub cause: RunCause,
    pub state: RunState,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub tasks: Vec<TaskOutcome>,
    pub error: Option<String>,
}

/// The outcome of claiming a due slot.
#[derive(Debug)]
pub enum Claim {
    /// This process runs it.
    Run(RunRecord),
    /// The previous run still holds the lease: the slot is recorded as skipped.
    Busy,
    /// Someone else moved the schedule on (another claim, an edit, a delete).
    Lost,
}

macro_rules! select_schedules {
    () => {
        "SELECT id, server_id, targets, name, trigger_spec, enabled, only_when_online, missed, \
         tasks, next_run_at, last_run_at, last_outcome, lease_until, created_by, created_at, \
         updated_at FROM schedules"
    };
}

macro_rules! select_runs {
    () => {
        "SELECT id, schedule_id, due_at, cause, state, started_at, finished_at, tasks, error \
         FROM schedule_runs"
    };
}

fn schedule_from_row(row: &AnyRow) -> Result<ScheduleRecord, StoreError> {
    let missed: String = col(row, "missed")?;
    let outcome: Option<String> = col(row, "last_outcome")?;
    Ok(ScheduleRecord {
        id: col(row, "id")?,
        server_id: col::<Option<String>>(row, "server_id")?.map(ServerId),
        targets: col_json(row, "targets")?,
        name: col(row, "name")?,
        trigger: col_json(row, "trigger_spec")?,
        enabled: col_bool(row, "enabled")?,
        only_when_online: col_bool(row, "only_when_online")?,
        missed: MissedPolicy::parse(&missed)
            .ok_or_else(|| StoreError::Corrupt(format!("column missed: {missed:?}")))?,
        tasks: col_json(row, "tasks")?,
        next_run_at: col(row, "next_run_at")?,
        last_run_at: col(row, "last_run_at")?,
        last_outcome: outcome
            .map(|o| {
                RunState::parse(&o)
                    .ok_or_else(|| StoreError::Corrupt(format!("column last_outcome: {o:?}")))
            })
            .transpose()?,
        lease_until: col(row, "lease_until")?,
        created_by: col(row, "created_by")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
    })
}

fn run_from_row(row: &AnyRow) -> Result<RunRecord, StoreError> {
    let cause: String = col(row, "cause")?;
    let state: String = col(row, "state")?;
    Ok(RunRecord {
        id: col(row, "id")?,
        schedule_id: col(row, "schedule_id")?,
        due_at: col(row, "due_at")?,
        cause: RunCause::parse(&cause)
            .ok_or_else(|| StoreError::Corrupt(format!("column cause: {cause:?}")))?,
        state: RunState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("column state: {state:?}")))?,
        started_at: col(row, "started_at")?,
        finished_at: col(row, "finished_at")?,
        tasks: col_json(row, "tasks")?,
        error: col(row, "error")?,
    })
}

impl Store {
    pub async fn insert_schedule(
        &self,
        server: Option<&ServerId>,
        spec: &ScheduleSpec,
        next_run_at: Option<i64>,
        created_by: Option<&str>,
        now: i64,
    ) -> Result<ScheduleRecord, StoreError> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO schedules (id, server_id, targets, name, trigger_spec, enabled, \
             only_when_online, missed, tasks, next_run_at, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
        )
        .bind(&id)
        .bind(server.map(ServerId::as_str))
        .bind(to_json(&spec.targets)?)
        .bind(&spec.name)
        .bind(to_json(&spec.trigger)?)
        .bind(bool_int(spec.enabled))
        .bind(bool_int(spec.only_when_online))
        .bind(spec.missed.as_str())
        .bind(to_json(&spec.tasks)?)
        .bind(next_run_at)
        .bind(created_by)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.get_schedule(&id).await?.ok_or(StoreError::NotFound)
    }

    pub async fn get_schedule(&self, id: &str) -> Result<Option<ScheduleRecord>, StoreError> {
        sqlx::query(concat!(select_schedules!(), " WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(schedule_from_row)
            .transpose()
    }

    /// A server's schedules, or (`None`) the admin-wide ones, oldest first.
    pub async fn list_schedules(
        &self,
        server: Option<&ServerId>,
    ) -> Result<Vec<ScheduleRecord>, StoreError> {
        let rows = match server {
            Some(s) => {
                sqlx::query(concat!(
                    select_schedules!(),
                    " WHERE server_id = $1 ORDER BY created_at, id"
                ))
                .bind(s.as_str())
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(concat!(
                    select_schedules!(),
                    " WHERE server_id IS NULL ORDER BY created_at, id"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(schedule_from_row).collect()
    }

    /// Replaces what a user sets, and the next slot. False when it does not exist.
    pub async fn update_schedule(
        &self,
        id: &str,
        spec: &ScheduleSpec,
        next_run_at: Option<i64>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let res = sqlx::query(
            "UPDATE schedules SET targets = $2, name = $3, trigger_spec = $4, enabled = $5, \
             only_when_online = $6, missed = $7, tasks = $8, next_run_at = $9, updated_at = $10 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(to_json(&spec.targets)?)
        .bind(&spec.name)
        .bind(to_json(&spec.trigger)?)
        .bind(bool_int(spec.enabled))
        .bind(bool_int(spec.only_when_online))
        .bind(spec.missed.as_str())
        .bind(to_json(&spec.tasks)?)
        .bind(next_run_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    pub async fn delete_schedule(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM schedule_runs WHERE schedule_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let res = sqlx::query("DELETE FROM schedules WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(res.rows_affected() > 0)
    }

    /// Enabled schedules whose slot has come, earliest first.
    pub async fn due_schedules(&self, now: i64) -> Result<Vec<ScheduleRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            select_schedules!(),
            " WHERE enabled = 1 AND next_run_at IS NOT NULL AND next_run_at <= $1 \
             ORDER BY next_run_at LIMIT 500"
        ))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(schedule_from_row).collect()
    }

    /// Claims the slot `due` of schedule `id` for this process: moves `next_run_at` to
    /// `next`, takes the lease until `lease_until` and inserts the running run, in one
    /// transaction. If the previous run still holds the lease, the slot is moved on and
    /// recorded as skipped instead.
    #[allow(clippy::too_many_arguments)]
    pub async fn claim_slot(
        &self,
        id: &str,
        due: i64,
        next: Option<i64>,
        cause: RunCause,
        owner: &str,
        lease_until: i64,
        now: i64,
    ) -> Result<Claim, StoreError> {
        let mut tx = self.write_tx().await?;
        let taken = sqlx::query(
            "UPDATE schedules SET next_run_at = $3, last_run_at = $4, lease_owner = $5, \
             lease_until = $6 WHERE id = $1 AND next_run_at = $2 AND enabled = 1 \
             AND (lease_until IS NULL OR lease_until < $4)",
        )
        .bind(id)
        .bind(due)
        .bind(next)
        .bind(now)
        .bind(owner)
        .bind(lease_until)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if taken {
            let run =
                insert_run(&mut tx, id, Some(due), cause, RunState::Running, now, None).await?;
            tx.commit().await?;
            return Ok(Claim::Run(run));
        }
        let moved = sqlx::query(
            "UPDATE schedules SET next_run_at = $3 WHERE id = $1 AND next_run_at = $2 \
             AND enabled = 1",
        )
        .bind(id)
        .bind(due)
        .bind(next)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if !moved {
            return Ok(Claim::Lost);
        }
        insert_run(
            &mut tx,
            id,
            Some(due),
            cause,
            RunState::Skipped,
            now,
            Some("the previous run was still going"),
        )
        .await?;
        tx.commit().await?;
        Ok(Claim::Busy)
    }

    /// Moves a missed slot on without running it (the `skip` policy), recording one
    /// skipped run that says why. False when someone else moved it first.
    pub async fn skip_slot(
        &self,
        id: &str,
        due: i64,
        next: Option<i64>,
        now: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let moved = sqlx::query(
            "UPDATE schedules SET next_run_at = $3, last_outcome = 'skipped' \
             WHERE id = $1 AND next_run_at = $2",
        )
        .bind(id)
        .bind(due)
        .bind(next)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if moved {
            insert_run(
                &mut tx,
                id,
                Some(due),
                RunCause::Scheduled,
                RunState::Skipped,
                now,
                Some(reason),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(moved)
    }

    /// "Run now": takes the lease without touching the next slot. `None` while a run
    /// holds it.
    pub async fn claim_manual(
        &self,
        id: &str,
        owner: &str,
        lease_until: i64,
        now: i64,
    ) -> Result<Option<RunRecord>, StoreError> {
        let mut tx = self.write_tx().await?;
        let taken = sqlx::query(
            "UPDATE schedules SET last_run_at = $2, lease_owner = $3, lease_until = $4 \
             WHERE id = $1 AND (lease_until IS NULL OR lease_until < $2)",
        )
        .bind(id)
        .bind(now)
        .bind(owner)
        .bind(lease_until)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if !taken {
            return Ok(None);
        }
        let run = insert_run(
            &mut tx,
            id,
            None,
            RunCause::Manual,
            RunState::Running,
            now,
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(run))
    }

    /// The outcomes so far of a running run (the UI shows progress).
    pub async fn save_run_progress(
        &self,
        run: &str,
        tasks: &[TaskOutcome],
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE schedule_runs SET tasks = $2 WHERE id = $1 AND state = 'running'")
            .bind(run)
            .bind(to_json(&tasks)?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends a run and releases its schedule's lease (if this owner still holds it).
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_run(
        &self,
        run: &str,
        schedule: &str,
        owner: &str,
        state: RunState,
        tasks: &[TaskOutcome],
        error: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "UPDATE schedule_runs SET state = $2, tasks = $3, error = $4, finished_at = $5 \
             WHERE id = $1",
        )
        .bind(run)
        .bind(state.as_str())
        .bind(to_json(&tasks)?)
        .bind(error)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE schedules SET lease_owner = NULL, lease_until = NULL, last_outcome = $3 \
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(schedule)
        .bind(owner)
        .bind(state.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// At start: runs left `running` by a process that is gone are marked interrupted
    /// and their leases released. One panel process uses a store at a time.
    pub async fn interrupt_runs(&self, now: i64) -> Result<u64, StoreError> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query(
            "UPDATE schedule_runs SET state = 'interrupted', finished_at = $1, \
             error = 'Garrison stopped during the run' WHERE state = 'running'",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "UPDATE schedules SET lease_owner = NULL, lease_until = NULL, \
             last_outcome = CASE WHEN lease_owner IS NULL THEN last_outcome ELSE 'interrupted' END \
             WHERE lease_owner IS NOT NULL",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// A schedule's runs, newest first; `before` is a `started_at` cursor.
    pub async fn list_runs(
        &self,
        schedule: &str,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            select_runs!(),
            " WHERE schedule_id = $1 AND started_at < $2 ORDER BY started_at DESC, id DESC LIMIT $3"
        ))
        .bind(schedule)
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(run_from_row).collect()
    }

    pub async fn get_run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        sqlx::query(concat!(select_runs!(), " WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(run_from_row)
            .transpose()
    }

    /// Deletes finished runs that started before `older_than`.
    pub async fn prune_runs(&self, older_than: i64) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM schedule_runs WHERE started_at < $1 AND state <> 'running'")
                .bind(older_than)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}

async fn insert_run(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    schedule: &str,
    due: Option<i64>,
    cause: RunCause,
    state: RunState,
    now: i64,
    error: Option<&str>,
) -> Result<RunRecord, StoreError> {
    let id = new_id();
    let finished = (state != RunState::Running).then_some(now);
    sqlx::query(
        "INSERT INTO schedule_runs (id, schedule_id, due_at, cause, state, started_at, \
         finished_at, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(schedule)
    .bind(due)
    .bind(cause.as_str())
    .bind(state.as_str())
    .bind(now)
    .bind(finished)
    .bind(error)
    .execute(&mut **tx)
    .await
    .map_err(|e| StoreError::from_sqlx(e, "this slot already has a run"))?;
    Ok(RunRecord {
        id,
        schedule_id: schedule.to_owned(),
        due_at: due,
        cause,
        state,
        started_at: now,
        finished_at: finished,
        tasks: Vec::new(),
        error: error.map(str::to_owned),
    })
}
