//! Running one task of a chain on one server. The caller bounds each with its timeout.

use super::{Task, TaskAction};
use crate::AppState;
use crate::hub::Frame;
use crate::store::{BackupState, NewAudit, ScheduleRecord, ServerRecord};
use garrison_proto::{Event, ServerState};
use std::time::Duration;
use tokio::sync::broadcast;

/// How long a command task collects the console's answer.
const COMMAND_OUTPUT_WINDOW: Duration = Duration::from_secs(1);
const COMMAND_OUTPUT_LINES: usize = 20;
const BACKUP_POLL: Duration = Duration::from_millis(500);
const STATE_POLL: Duration = Duration::from_millis(250);

/// Runs `task` on `server`: `Ok(output)` or `Err(why it failed)`. `console` is a
/// subscription taken before the previous task started, when this task waits for a
/// console line (so a line printed in between is not missed).
pub async fn run(
    state: &AppState,
    schedule: &ScheduleRecord,
    server: &ServerRecord,
    task: &Task,
    console: Option<broadcast::Receiver<Frame>>,
) -> Result<Option<String>, String> {
    let id = &server.id;
    match task.action {
        TaskAction::Power => {
            let action = task.power.ok_or("the task names no power action")?;
            state
                .node
                .power(id, action)
                .await
                .map_err(|e| e.to_string())?;
            audit(
                state,
                schedule,
                server,
                &format!("server.power.{}", action.as_str()),
            )
            .await;
            let now = state.node.state(id).await.map_err(|e| e.to_string())?;
            Ok(Some(format!(
                "{} sent; the server is {now}",
                action.as_str()
            )))
        }
        TaskAction::Command => {
            let command = task.command.as_deref().ok_or("the task names no command")?;
            let mut rx = state.hub.subscribe(id);
            match state.node.command(id, command).await {
                Ok(()) => {}
                Err(garrison_proto::NodeError::NotRunning) => {
                    let st = state.node.state(id).await.map_err(|e| e.to_string())?;
                    return Err(format!(
                        "the server is {st}; it takes commands only while running"
                    ));
                }
                Err(e) => return Err(e.to_string()),
            }
            audit(state, schedule, server, "server.command").await;
            let lines = collect_lines(&mut rx, COMMAND_OUTPUT_WINDOW, COMMAND_OUTPUT_LINES).await;
            Ok((!lines.is_empty()).then(|| lines.join("\n")))
        }
        TaskAction::Backup => {
            let req = crate::api::backups::CreateBackup {
                name: Some(
                    task.name
                        .clone()
                        .unwrap_or_else(|| format!("Scheduled: {}", schedule.name)),
                ),
                ignore: task.ignore.clone(),
                locked: task.locked,
                rotate: true,
            };
            let b = crate::api::backups::start_backup(
                state,
                server,
                schedule.created_by.as_deref(),
                &req,
            )
            .await
            .map_err(|e| e.to_string())?;
            loop {
                tokio::time::sleep(BACKUP_POLL).await;
                let now = state
                    .store
                    .get_backup(id, &b.id)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or("the backup was deleted while it was being made")?;
                match now.state {
                    BackupState::Creating => continue,
                    BackupState::Ready => {
                        return Ok(Some(format!(
                            "backup {} ready, {} bytes",
                            now.id,
                            now.size.unwrap_or(0)
                        )));
                    }
                    BackupState::Failed => {
                        return Err(now.error.unwrap_or_else(|| "the backup failed".into()));
                    }
                    BackupState::Cancelled => return Err("the backup was cancelled".into()),
                }
            }
        }
        TaskAction::WaitFor => {
            if let Some(want) = task.state {
                wait_for_state(state, server, want).await
            } else {
                let pattern = task
                    .console
                    .as_deref()
                    .ok_or("the task names nothing to wait for")?;
                let re = super::compile_pattern(pattern)?;
                let mut rx = console.unwrap_or_else(|| state.hub.subscribe(id));
                wait_for_line(&mut rx, &re).await
            }
        }
        TaskAction::Delay => {
            tokio::time::sleep(Duration::from_secs(u64::from(task.secs.unwrap_or(0)))).await;
            Ok(None)
        }
    }
}

async fn wait_for_state(
    state: &AppState,
    server: &ServerRecord,
    want: ServerState,
) -> Result<Option<String>, String> {
    loop {
        let now = state
            .node
            .state(&server.id)
            .await
            .map_err(|e| e.to_string())?;
        if now == want {
            return Ok(Some(format!("the server is {now}")));
        }
        tokio::time::sleep(STATE_POLL).await;
    }
}

async fn wait_for_line(
    rx: &mut broadcast::Receiver<Frame>,
    re: &regex::Regex,
) -> Result<Option<String>, String> {
    loop {
        match rx.recv().await {
            Ok(frame) => {
                if let Some(line) = console_lines(&frame).into_iter().find(|l| re.is_match(l)) {
                    return Ok(Some(line));
                }
            }
            // Frames lost to a slow reader: the line may be among them; keep waiting.
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => {
                return Err("the server was removed".into());
            }
        }
    }
}

/// Console lines printed within `window`, at most `max`.
async fn collect_lines(
    rx: &mut broadcast::Receiver<Frame>,
    window: Duration,
    max: usize,
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + window;
    let mut out = Vec::new();
    while out.len() < max {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(frame)) => out.extend(console_lines(&frame)),
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
            Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => break,
        }
    }
    out.truncate(max);
    out
}

fn console_lines(frame: &Frame) -> Vec<String> {
    if frame.console.is_none() {
        return Vec::new();
    }
    match serde_json::from_str::<Event>(frame.json.as_str()) {
        Ok(Event::Console(c)) => c.lines,
        _ => Vec::new(),
    }
}

/// Actions a schedule takes are in the audit log under the schedule's author, marked
/// `via: schedule`.
async fn audit(state: &AppState, schedule: &ScheduleRecord, server: &ServerRecord, action: &str) {
    let detail = serde_json::json!({"schedule": schedule.id, "schedule_name": schedule.name});
    let entry = NewAudit {
        user_id: schedule.created_by.as_deref(),
        via: Some(crate::audit::VIA_SCHEDULE),
        ip: None,
        server_id: Some(server.id.as_str()),
        action,
        target: Some(server.id.as_str()),
        detail: &detail,
    };
    if let Err(e) = state.store.audit_entry(&entry).await {
        tracing::warn!(error = %e, "could not write a schedule's audit entry");
    }
}
