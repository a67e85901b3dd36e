//! Schedules: a trigger (cron in a time zone, or a fixed interval) and a chain of up to
//! 20 tasks, for one server or (admin-wide) for many. `timing.rs` computes when they
//! are due, `engine.rs` claims and runs them, `tasks.rs` runs one task.
//!
//! A run is claimed in one store transaction that also moves the schedule's
//! `next_run_at` forward and inserts the run row (unique per slot), so a slot is never
//! run twice, even across restarts. Every task has a timeout, so no run stays
//! "running" forever.

pub mod engine;
pub mod tasks;
pub mod timing;

use crate::error::ApiError;
use garrison_proto::{PowerAction, ServerId, ServerState};
use serde::{Deserialize, Serialize};

/// Tasks a schedule runs at most.
pub const MAX_TASKS: usize = 20;
/// The longest delay task and the longest task timeout: one day.
pub const MAX_TASK_SECS: u32 = 86_400;
/// Servers an admin-wide schedule names at most (beyond "all servers").
pub const MAX_TARGETS: usize = 1000;
const MAX_NAME: usize = 100;
const MAX_PATTERN: usize = 500;

/// When a schedule is due.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// A 5-field cron expression (`minute hour day-of-month month day-of-week`, names
    /// like `MON` and `JAN`, `L`, `#`, `W`) or an alias (`@hourly`, `@daily`,
    /// `@weekly`, `@monthly`, `@yearly`), evaluated in `timezone` (an IANA name, default
    /// `UTC`), DST-correct: a time skipped by a spring-forward runs right after the gap,
    /// a repeated hour runs once.
    Cron {
        expression: String,
        #[serde(default = "utc")]
        timezone: String,
    },
    /// Every `secs` seconds, counted from when the schedule was saved.
    Interval { secs: u64 },
}

fn utc() -> String {
    "UTC".into()
}

/// What happens to slots missed while Garrison was not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MissedPolicy {
    /// Leave them out; the next run is the next slot from now.
    #[default]
    Skip,
    /// Run once at start (however many were missed), then follow the trigger.
    RunOnce,
}

impl MissedPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            MissedPolicy::Skip => "skip",
            MissedPolicy::RunOnce => "run_once",
        }
    }

    pub fn parse(s: &str) -> Option<MissedPolicy> {
        match s {
            "skip" => Some(MissedPolicy::Skip),
            "run_once" => Some(MissedPolicy::RunOnce),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskAction {
    /// Send a power action (`power`).
    Power,
    /// Send a console command (`command`); the output is what the console printed in
    /// the next second.
    Command,
    /// Make a backup (`name`, `ignore`, `locked` optional) and wait until it is ready;
    /// at the server's backup limit the oldest unlocked backup is rotated away.
    Backup,
    /// Wait until the server is in `state`, or its console prints a line matching the
    /// regular expression `console`.
    WaitFor,
    /// Wait `secs` seconds.
    Delay,
}

impl TaskAction {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskAction::Power => "power",
            TaskAction::Command => "command",
            TaskAction::Backup => "backup",
            TaskAction::WaitFor => "wait_for",
            TaskAction::Delay => "delay",
        }
    }
}

/// One step of a chain: `action` and the fields that action takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub action: TaskAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::api::openapi::PowerActionName>)]
    pub power: Option<PowerAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Backup: its name (default "Scheduled: <schedule name>").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Backup: gitignore-syntax lines to leave out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// Backup: keep it from rotation and deletion.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub locked: bool,
    /// Wait for: this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::api::openapi::ServerStateName>)]
    pub state: Option<ServerState>,
    /// Wait for: a console line matching this regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<String>,
    /// Delay: seconds (1 to 86400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secs: Option<u32>,
    /// Go on with the next task when this one fails (the run is still marked failed).
    #[serde(default)]
    pub continue_on_failure: bool,
    /// Seconds before the task counts as failed; defaults per action (command 30,
    /// power 120, backup 14400, wait for 300, delay its length plus 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u32>,
}

impl Task {
    pub fn timeout_secs(&self) -> u32 {
        self.timeout_secs.unwrap_or(match self.action {
            TaskAction::Command => 30,
            TaskAction::Power => 120,
            TaskAction::Backup => 14_400,
            TaskAction::WaitFor => 300,
            TaskAction::Delay => self.secs.unwrap_or(0).saturating_add(5),
        })
    }

    /// The permission the schedule's author must hold on the server for this task.
    pub fn permission(&self) -> Option<garrison_proto::Permission> {
        use garrison_proto::Permission;
        match self.action {
            TaskAction::Power => self.power.map(Permission::for_power),
            TaskAction::Command => Some(Permission::ControlConsole),
            TaskAction::Backup => Some(Permission::BackupCreate),
            TaskAction::WaitFor | TaskAction::Delay => None,
        }
    }
}

/// The servers an admin-wide schedule acts on.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Every server, including ones made later.
    #[serde(default)]
    pub all: bool,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub servers: Vec<ServerId>,
}

/// Limits the panel's settings put on schedules.
#[derive(Debug, Clone)]
pub struct ScheduleSettings {
    /// The shortest interval trigger allowed.
    pub min_interval_secs: u64,
    /// Runs are kept this many days.
    pub history_days: u32,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        ScheduleSettings {
            min_interval_secs: 60,
            history_days: 30,
        }
    }
}

/// Checks a trigger; the message names what is wrong.
pub fn check_trigger(t: &Trigger, settings: &ScheduleSettings) -> Result<(), ApiError> {
    match t {
        Trigger::Cron {
            expression,
            timezone,
        } => {
            timing::parse_cron(expression)
                .map_err(|e| ApiError::invalid("trigger.expression", e))?;
            timing::parse_zone(timezone).map_err(|e| ApiError::invalid("trigger.timezone", e))?;
        }
        Trigger::Interval { secs } => {
            if *secs < settings.min_interval_secs || *secs > 366 * 86_400 {
                return Err(ApiError::invalid(
                    "trigger.secs",
                    format!(
                        "an interval must be between {} seconds and a year",
                        settings.min_interval_secs
                    ),
                ));
            }
        }
    }
    Ok(())
}

pub fn check_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.chars().count() > MAX_NAME {
        return Err(ApiError::invalid(
            "name",
            format!("a name must be 1 to {MAX_NAME} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "name",
            "a name must not hold control characters",
        ));
    }
    Ok(())
}

/// Checks a chain: its length, and that each task has exactly the fields its action
/// takes, with sane values. Errors name the field as `tasks[i].field`.
pub fn check_tasks(tasks: &[Task]) -> Result<(), ApiError> {
    if tasks.is_empty() || tasks.len() > MAX_TASKS {
        return Err(ApiError::invalid(
            "tasks",
            format!("a schedule has 1 to {MAX_TASKS} tasks"),
        ));
    }
    for (i, t) in tasks.iter().enumerate() {
        check_task(t).map_err(|(field, message)| ApiError::Invalid {
            field: format!("tasks[{i}].{field}"),
            message,
        })?;
    }
    Ok(())
}

fn check_task(t: &Task) -> Result<(), (&'static str, String)> {
    let has = [
        ("power", t.power.is_some()),
        ("command", t.command.is_some()),
        ("name", t.name.is_some()),
        ("ignore", !t.ignore.is_empty()),
        ("locked", t.locked),
        ("state", t.state.is_some()),
        ("console", t.console.is_some()),
        ("secs", t.secs.is_some()),
    ];
    let allowed: &[&str] = match t.action {
        TaskAction::Power => &["power"],
        TaskAction::Command => &["command"],
        TaskAction::Backup => &["name", "ignore", "locked"],
        TaskAction::WaitFor => &["state", "console"],
        TaskAction::Delay => &["secs"],
    };
    if let Some((field, _)) = has.iter().find(|(f, set)| *set && !allowed.contains(f)) {
        return Err((
            field,
            format!("a {} task does not take {field}", t.action.as_str()),
        ));
    }
    match t.action {
        TaskAction::Power if t.power.is_none() => {
            return Err((
                "power",
                "a power task needs power: start, stop, restart or kill".into(),
            ));
        }
        TaskAction::Command => {
            let command = t.command.as_deref().unwrap_or_default();
            crate::api::servers::check_command(command).map_err(|e| ("command", e.to_string()))?;
        }
        TaskAction::Backup => {
            if let Some(name) = &t.name {
                check_name(name).map_err(|e| ("name", e.to_string()))?;
            }
            if t.ignore.len() > 100 || t.ignore.iter().any(|l| l.len() > 1000) {
                return Err(("ignore", "at most 100 lines of 1000 bytes".into()));
            }
        }
        TaskAction::WaitFor => match (&t.state, &t.console) {
            (Some(_), Some(_)) => {
                return Err((
                    "console",
                    "a wait task waits for a state or a console pattern, not both".into(),
                ));
            }
            (None, None) => {
                return Err((
                    "state",
                    "a wait task needs a state or a console pattern to wait for".into(),
                ));
            }
            (None, Some(pattern)) => {
                compile_pattern(pattern).map_err(|e| ("console", e))?;
            }
            (Some(_), None) => {}
        },
        TaskAction::Delay => match t.secs {
            Some(s) if (1..=MAX_TASK_SECS).contains(&s) => {}
            _ => {
                return Err(("secs", format!("a delay is 1 to {MAX_TASK_SECS} seconds")));
            }
        },
        TaskAction::Power => {}
    }
    if let Some(timeout) = t.timeout_secs
        && !(1..=MAX_TASK_SECS).contains(&timeout)
    {
        return Err((
            "timeout_secs",
            format!("a timeout is 1 to {MAX_TASK_SECS} seconds"),
        ));
    }
    Ok(())
}

/// A console pattern: bounded in length and in compiled size.
pub fn compile_pattern(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.is_empty() || pattern.len() > MAX_PATTERN {
        return Err(format!("a pattern is 1 to {MAX_PATTERN} bytes"));
    }
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("not a valid regular expression: {e}"))
}

/// The longest a run of `tasks` on `servers` servers can take: every task's timeout,
/// plus a minute. The run's lease lasts this long.
pub fn run_budget_millis(tasks: &[Task], servers: usize) -> i64 {
    let per_server: i64 = tasks.iter().map(|t| i64::from(t.timeout_secs())).sum();
    (per_server * i64::try_from(servers.max(1)).unwrap_or(i64::MAX / 1000) + 60)
        .saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(json: serde_json::Value) -> Task {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn tasks_take_only_their_fields() {
        let ok = [
            serde_json::json!({"action": "power", "power": "restart"}),
            serde_json::json!({"action": "command", "command": "say hi"}),
            serde_json::json!({"action": "backup"}),
            serde_json::json!({"action": "backup", "name": "nightly", "locked": true}),
            serde_json::json!({"action": "wait_for", "state": "running", "timeout_secs": 60}),
            serde_json::json!({"action": "wait_for", "console": "^Done"}),
            serde_json::json!({"action": "delay", "secs": 10, "continue_on_failure": true}),
        ];
        for t in ok {
            check_tasks(&[task(t.clone())]).unwrap_or_else(|e| panic!("{t}: {e}"));
        }
        let bad = [
            (serde_json::json!({"action": "power"}), "tasks[0].power"),
            (
                serde_json::json!({"action": "power", "power": "start", "command": "x"}),
                "tasks[0].command",
            ),
            (
                serde_json::json!({"action": "command", "command": ""}),
                "tasks[0].command",
            ),
            (
                serde_json::json!({"action": "command", "command": "a\nb"}),
                "tasks[0].command",
            ),
            (serde_json::json!({"action": "wait_for"}), "tasks[0].state"),
            (
                serde_json::json!({"action": "wait_for", "console": "("}),
                "tasks[0].console",
            ),
            (
                serde_json::json!({"action": "delay", "secs": 0}),
                "tasks[0].secs",
            ),
            (
                serde_json::json!({"action": "delay", "secs": 5, "timeout_secs": 0}),
                "tasks[0].timeout_secs",
            ),
        ];
        for (t, field) in bad {
            match check_tasks(&[task(t.clone())]) {
                Err(ApiError::Invalid { field: f, .. }) => assert_eq!(f, field, "{t}"),
                other => panic!("{t}: {other:?}"),
            }
        }
        assert!(check_tasks(&[]).is_err());
        let many = vec![task(serde_json::json!({"action": "delay", "secs": 1})); 21];
        assert!(check_tasks(&many).is_err());
        assert!(
            serde_json::from_value::<Task>(serde_json::json!({"action": "delay", "sec": 1}))
                .is_err()
        );
    }

    #[test]
    fn every_run_has_a_bounded_budget() {
        let tasks = vec![
            task(serde_json::json!({"action": "command", "command": "x"})),
            task(serde_json::json!({"action": "delay", "secs": 10})),
        ];
        assert_eq!(run_budget_millis(&tasks, 1), (30 + 15 + 60) * 1000);
        assert_eq!(run_budget_millis(&tasks, 3), (45 * 3 + 60) * 1000);
    }
}
