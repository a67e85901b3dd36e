//! The one event schema: agent → panel, panel → WebSocket clients, and later SSE and
//! webhooks all carry `Event` serialized as `{"event": "server.status", "data": {...}}`.

use crate::UnixMillis;
use crate::ids::ServerId;
use crate::state::{ServerState, Stats};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data")]
pub enum Event {
    #[serde(rename = "server.status")]
    Status(StatusEvent),
    #[serde(rename = "server.console")]
    Console(ConsoleEvent),
    #[serde(rename = "server.stats")]
    Stats(StatsEvent),
    #[serde(rename = "server.install")]
    Install(InstallEvent),
    /// A running server asks the user to act (sign in on a web page with a code).
    #[serde(rename = "server.prompt")]
    Prompt(PromptEvent),
    /// Files changed under the server's directory (API, SFTP or the game itself).
    #[serde(rename = "server.file")]
    File(crate::files::FileEvent),
    /// A backup or restore started, progressed or ended.
    #[serde(rename = "server.backup")]
    Backup(crate::backup::BackupEvent),
    /// A schedule's run on this server started or ended (the panel emits these).
    #[serde(rename = "schedule.run")]
    Schedule(ScheduleEvent),
}

impl Event {
    /// The event's name on the wire (`server.status`, …), as in its `event` field.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Status(_) => "server.status",
            Event::Console(_) => "server.console",
            Event::Stats(_) => "server.stats",
            Event::Install(_) => "server.install",
            Event::Prompt(_) => "server.prompt",
            Event::File(_) => "server.file",
            Event::Backup(_) => "server.backup",
            Event::Schedule(_) => "schedule.run",
        }
    }

    pub fn server(&self) -> &ServerId {
        match self {
            Event::Status(e) => &e.server,
            Event::Console(e) => &e.server,
            Event::Stats(e) => &e.server,
            Event::Install(e) => &e.server,
            Event::Prompt(e) => &e.server,
            Event::File(e) => &e.server,
            Event::Backup(e) => &e.server,
            Event::Schedule(e) => &e.server,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusEvent {
    pub server: ServerId,
    pub state: ServerState,
    pub previous: ServerState,
    pub at: UnixMillis,
    /// Why the transition happened, in words ("stop requested", "exited with code 1").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Set when the process ended (crashed or offline after an exit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// The last console lines before the exit, oldest first.
    pub last_lines: Vec<String>,
}

/// A batch of console lines. `seq` is the sequence number of `lines[0]`; the following
/// lines have consecutive numbers. A reader that sees a gap lost those lines.
/// `dropped` counts lines the node itself had to drop before this batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsoleEvent {
    pub server: ServerId,
    pub seq: u64,
    pub lines: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsEvent {
    pub server: ServerId,
    pub stats: Stats,
}

/// Install progress. `phase` says what happened; `step` (0-based) and `steps` locate it
/// in the template's install steps; `bytes`/`total_bytes`/`percent` come with
/// downloads and extracts; `prompt` asks the user to act (sign in with a code).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstallEvent {
    pub server: ServerId,
    pub phase: InstallPhase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
    /// The step's kind ("download", "extract", "command", ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<Prompt>,
}

impl InstallEvent {
    pub fn new(server: ServerId, phase: InstallPhase) -> InstallEvent {
        InstallEvent {
            server,
            phase,
            message: None,
            step: None,
            steps: None,
            kind: None,
            bytes: None,
            total_bytes: None,
            percent: None,
            prompt: None,
        }
    }
}

/// Something the user must do outside Garrison, seen in the console: open `url` and
/// (when given) enter `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptEvent {
    pub server: ServerId,
    pub prompt: Prompt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallPhase {
    Started,
    /// A step began.
    Step,
    /// Bytes moved within the current step.
    Progress,
    /// The install asks the user to act (`prompt`).
    Prompt,
    Finished,
    Failed,
    Cancelled,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape() {
        let e = Event::Console(ConsoleEvent {
            server: ServerId::from("s1"),
            seq: 7,
            lines: vec!["hello".into()],
            dropped: 0,
        });
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"event": "server.console", "data": {"server": "s1", "seq": 7, "lines": ["hello"]}})
        );
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, e);
    }
}

/// One server's part of a schedule run. An admin-wide schedule emits one per server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleEvent {
    pub server: ServerId,
    pub schedule: String,
    pub run: String,
    pub name: String,
    pub phase: SchedulePhase,
    /// Why it failed or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub at: UnixMillis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchedulePhase {
    Started,
    Succeeded,
    Failed,
    /// Not run: the server was offline (only-when-online), or the previous run was
    /// still going, or the run was missed while Garrison was down.
    Skipped,
}

#[cfg(test)]
mod kind_tests {
    use super::*;

    #[test]
    fn kind_is_the_wire_name() {
        let ev = Event::Schedule(ScheduleEvent {
            server: ServerId::from("s"),
            schedule: "a".into(),
            run: "r".into(),
            name: "n".into(),
            phase: SchedulePhase::Started,
            error: None,
            at: 0,
        });
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["event"], ev.kind());
        let ev = Event::Console(ConsoleEvent {
            server: ServerId::from("s"),
            seq: 1,
            lines: vec![],
            dropped: 0,
        });
        assert_eq!(serde_json::to_value(&ev).unwrap()["event"], ev.kind());
    }
}
