//! The scheduler: one task that wakes every second, claims the schedules whose slot has
//! come and spawns their runs. At start it marks runs a previous process left running
//! as interrupted, then applies each schedule's missed-run policy. On shutdown running
//! runs end as interrupted, and the loop returns only after every run has written its
//! end.

use super::{ScheduleSettings, tasks, timing};
use crate::AppState;
use crate::store::{
    Claim, RunCause, RunRecord, RunState, ScheduleRecord, ServerRecord, StoreError, TaskOutcome,
    TaskState, now_millis,
};
use garrison_proto::{Event, ScheduleEvent, SchedulePhase, ServerState};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::mpsc;

const TICK: Duration = Duration::from_secs(1);
const PRUNE_EVERY_MILLIS: i64 = 3600 * 1000;

pub struct Scheduler {
    /// This process's lease owner name.
    owner: String,
    pub settings: ScheduleSettings,
    /// Every run holds a clone; the loop waits for all of them to drop on shutdown.
    /// `None` once shutting down: no new run starts.
    guard: Mutex<Option<mpsc::Sender<()>>>,
}

/// The loop's half of the run guard.
pub struct RunsDone(mpsc::Receiver<()>);

impl Scheduler {
    pub fn new(settings: ScheduleSettings) -> (Scheduler, RunsDone) {
        let (tx, rx) = mpsc::channel(1);
        (
            Scheduler {
                owner: format!("panel-{}", uuid::Uuid::now_v7()),
                settings,
                guard: Mutex::new(Some(tx)),
            },
            RunsDone(rx),
        )
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    fn guard(&self) -> Option<mpsc::Sender<()>> {
        self.guard.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn close(&self) {
        self.guard.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// "Run now": claims the lease and starts the run in the background. `Ok(None)` while
/// another run of the schedule is going.
pub async fn run_now(
    state: &AppState,
    schedule: &ScheduleRecord,
) -> Result<Option<RunRecord>, StoreError> {
    let Some(guard) = state.scheduler.guard() else {
        return Ok(None);
    };
    let targets = targets(state, schedule).await?;
    let now = now_millis();
    let lease = now + super::run_budget_millis(&schedule.tasks, targets.len());
    let Some(run) = state
        .store
        .claim_manual(&schedule.id, state.scheduler.owner(), lease, now)
        .await?
    else {
        return Ok(None);
    };
    tokio::spawn(execute(
        state.clone(),
        schedule.clone(),
        run.clone(),
        targets,
        guard,
    ));
    Ok(Some(run))
}

/// The scheduler loop; ends on shutdown once every run has ended.
pub async fn run(state: AppState, RunsDone(mut done): RunsDone) {
    let now = now_millis();
    match state.store.interrupt_runs(now).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(runs = n, "schedule runs were interrupted by the last stop"),
        Err(e) => tracing::error!(error = %e, "cannot mark interrupted schedule runs"),
    }
    catch_up(&state).await;
    let mut shutdown = state.shutdown.clone();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_prune = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = crate::shutting_down(&mut shutdown) => break,
        }
        let now = now_millis();
        match state.store.due_schedules(now).await {
            Ok(due) => {
                for s in due {
                    start_due(&state, &s, now, RunCause::Scheduled).await;
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read due schedules"),
        }
        if now - last_prune > PRUNE_EVERY_MILLIS {
            last_prune = now;
            let keep = i64::from(state.scheduler.settings.history_days) * 86_400_000;
            if let Err(e) = state.store.prune_runs(now - keep).await {
                tracing::warn!(error = %e, "cannot prune schedule history");
            }
        }
    }
    state.scheduler.close();
    // Returns `None` once every run dropped its guard.
    while done.recv().await.is_some() {}
}

/// Slots that passed while Garrison was down: `skip` moves them on with one skipped run
/// on record, `run_once` runs once now however many were missed.
async fn catch_up(state: &AppState) {
    let now = now_millis();
    let due = match state.store.due_schedules(now).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "cannot read missed schedules");
            return;
        }
    };
    for s in due {
        match s.missed {
            super::MissedPolicy::RunOnce => start_due(state, &s, now, RunCause::CatchUp).await,
            super::MissedPolicy::Skip => {
                let Some(slot) = s.next_run_at else { continue };
                let next = timing::next_after(&s.trigger, now, slot);
                if let Err(e) = state
                    .store
                    .skip_slot(
                        &s.id,
                        slot,
                        next,
                        now,
                        "missed while Garrison was not running (policy: skip)",
                    )
                    .await
                {
                    tracing::error!(schedule = %s.id, error = %e, "cannot skip a missed slot");
                }
            }
        }
    }
}

async fn start_due(state: &AppState, s: &ScheduleRecord, now: i64, cause: RunCause) {
    let Some(slot) = s.next_run_at else { return };
    let Some(guard) = state.scheduler.guard() else {
        return;
    };
    // Intervals stay on their grid (`slot + k * secs`); late slots are not made up.
    let next = timing::next_after(&s.trigger, now.max(slot), slot);
    let targets = match targets(state, s).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(schedule = %s.id, error = %e, "cannot load a schedule's servers");
            return;
        }
    };
    let lease = now + super::run_budget_millis(&s.tasks, targets.len());
    match state
        .store
        .claim_slot(
            &s.id,
            slot,
            next,
            cause,
            state.scheduler.owner(),
            lease,
            now,
        )
        .await
    {
        Ok(Claim::Run(run)) => {
            tokio::spawn(execute(state.clone(), s.clone(), run, targets, guard));
        }
        Ok(Claim::Busy) => {
            tracing::info!(schedule = %s.id, "slot skipped: the previous run is still going");
        }
        Ok(Claim::Lost) => {}
        Err(e) => tracing::error!(schedule = %s.id, error = %e, "cannot claim a schedule slot"),
    }
}

/// The servers a run acts on: the schedule's own, or an admin-wide schedule's targets
/// (servers deleted since are left out).
async fn targets(state: &AppState, s: &ScheduleRecord) -> Result<Vec<ServerRecord>, StoreError> {
    if let Some(id) = &s.server_id {
        return Ok(state.store.get_server(id).await?.into_iter().collect());
    }
    if s.targets.all {
        return state.store.list_servers().await;
    }
    let mut out = Vec::with_capacity(s.targets.servers.len());
    for id in &s.targets.servers {
        if let Some(r) = state.store.get_server(id).await? {
            out.push(r);
        }
    }
    Ok(out)
}

/// Runs the chain on each server in turn (one server's failure does not stop the
/// others), writes the end and releases the lease.
async fn execute(
    state: AppState,
    s: ScheduleRecord,
    run: RunRecord,
    servers: Vec<ServerRecord>,
    _guard: mpsc::Sender<()>,
) {
    let mut outcomes: Vec<TaskOutcome> = Vec::new();
    let mut shutdown = state.shutdown.clone();
    let ended = tokio::select! {
        end = chain(&state, &s, &run, &servers, &mut outcomes) => end,
        _ = crate::shutting_down(&mut shutdown) => End {
            state: RunState::Interrupted,
            error: Some("Garrison stopped during the run".into()),
        },
    };
    crate::prometheus::schedule_outcome(ended.state.as_str());
    if let Err(e) = state
        .store
        .finish_run(
            &run.id,
            &s.id,
            state.scheduler.owner(),
            ended.state,
            &outcomes,
            ended.error.as_deref(),
            now_millis(),
        )
        .await
    {
        tracing::error!(schedule = %s.id, run = %run.id, error = %e, "cannot record a schedule run's end");
    }
}

struct End {
    state: RunState,
    error: Option<String>,
}

async fn chain(
    state: &AppState,
    s: &ScheduleRecord,
    run: &RunRecord,
    servers: &[ServerRecord],
    outcomes: &mut Vec<TaskOutcome>,
) -> End {
    if servers.is_empty() {
        return End {
            state: RunState::Skipped,
            error: Some("the schedule has no servers".into()),
        };
    }
    let mut first_error: Option<String> = None;
    let mut ran_any = false;
    for server in servers {
        let emit = |phase, error: Option<String>| {
            crate::events::publish(
                state,
                &Event::Schedule(ScheduleEvent {
                    server: server.id.clone(),
                    schedule: s.id.clone(),
                    run: run.id.clone(),
                    name: s.name.clone(),
                    phase,
                    error,
                    at: now_millis(),
                }),
            )
        };
        let online = matches!(state.node.state(&server.id).await, Ok(ServerState::Running));
        if s.only_when_online && !online {
            let now = now_millis();
            outcomes.extend(s.tasks.iter().enumerate().map(|(index, t)| TaskOutcome {
                index,
                action: t.action,
                server: server.id.clone(),
                state: TaskState::Skipped,
                started_at: now,
                finished_at: now,
                output: None,
                error: Some("the server is not running (only when online)".into()),
            }));
            emit(
                SchedulePhase::Skipped,
                Some("the server is not running".into()),
            );
            continue;
        }
        ran_any = true;
        emit(SchedulePhase::Started, None);
        let mut failed: Option<String> = None;
        let mut console = None;
        for (index, task) in s.tasks.iter().enumerate() {
            let started_at = now_millis();
            if failed.is_some() {
                outcomes.push(TaskOutcome {
                    index,
                    action: task.action,
                    server: server.id.clone(),
                    state: TaskState::Skipped,
                    started_at,
                    finished_at: started_at,
                    output: None,
                    error: Some("an earlier task failed".into()),
                });
                continue;
            }
            // A console wait right after this task listens from now on.
            let next_waits = s
                .tasks
                .get(index + 1)
                .is_some_and(|n| n.action == super::TaskAction::WaitFor && n.console.is_some());
            let listen_next = next_waits.then(|| state.hub.subscribe(&server.id));
            let limit = Duration::from_secs(u64::from(task.timeout_secs()));
            let result = match tokio::time::timeout(
                limit,
                tasks::run(state, s, server, task, console.take()),
            )
            .await
            {
                Ok(r) => r,
                Err(_) => Err(format!("timed out after {} s", limit.as_secs())),
            };
            console = listen_next;
            let (task_state, output, error) = match result {
                Ok(output) => (TaskState::Succeeded, output, None),
                Err(e) => {
                    let what = format!(
                        "task {} ({}) on {}: {e}",
                        index + 1,
                        task.action.as_str(),
                        server.name
                    );
                    first_error.get_or_insert(what.clone());
                    if !task.continue_on_failure {
                        failed = Some(what);
                    }
                    (TaskState::Failed, None, Some(e))
                }
            };
            outcomes.push(TaskOutcome {
                index,
                action: task.action,
                server: server.id.clone(),
                state: task_state,
                started_at,
                finished_at: now_millis(),
                output,
                error,
            });
            if let Err(e) = state.store.save_run_progress(&run.id, outcomes).await {
                tracing::warn!(run = %run.id, error = %e, "cannot save a run's progress");
            }
        }
        let server_failed = outcomes
            .iter()
            .any(|o| o.server == server.id && o.state == TaskState::Failed);
        if server_failed {
            emit(SchedulePhase::Failed, first_error.clone());
        } else {
            emit(SchedulePhase::Succeeded, None);
        }
    }
    match (first_error, ran_any) {
        (Some(e), _) => End {
            state: RunState::Failed,
            error: Some(e),
        },
        (None, false) => End {
            state: RunState::Skipped,
            error: Some("no server was running (only when online)".into()),
        },
        (None, true) => End {
            state: RunState::Succeeded,
            error: None,
        },
    }
}
