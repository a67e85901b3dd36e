//! Notification channels: which events reach which channel, and the delivery task.
//! Channels are cached in memory (reloaded when one changes) so matching an event costs
//! no query; deliveries go through a bounded queue to one task that runs a few at a
//! time and writes each outcome to the delivery log.

use crate::AppState;
use crate::store::{ChannelRecord, ServerRecord, now_millis};
use garrison_notify::{Delivery, Notification, Sender, SenderOptions, ServerRef, Severity};
use garrison_proto::{BackupOp, BackupStage, Event, InstallPhase, SchedulePhase, ServerState};
use std::sync::RwLock;
use std::time::Duration;
use tokio::sync::mpsc;

/// Deliveries waiting at most; more are dropped (and logged) rather than piling up.
const QUEUE: usize = 1024;
/// Deliveries running at once.
const PARALLEL: usize = 4;

/// The events channels can subscribe to (a channel may also name a prefix: `alert`).
pub const EVENTS: &[&str] = &[
    "alert.firing",
    "alert.resolved",
    "server.started",
    "server.stopped",
    "server.crashed",
    "backup.succeeded",
    "backup.failed",
    "install.succeeded",
    "install.failed",
    "schedule.failed",
];

#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// Deliver to private and loopback addresses (a LAN relay; tests).
    pub allow_private: bool,
    pub attempts: u32,
    pub first_backoff: Duration,
    pub timeout: Duration,
}

impl Default for NotifySettings {
    fn default() -> Self {
        let o = SenderOptions::default();
        NotifySettings {
            allow_private: false,
            attempts: o.attempts,
            first_backoff: o.first_backoff,
            timeout: o.timeout,
        }
    }
}

pub struct Job {
    channel: ChannelRecord,
    n: Notification,
}

pub struct Notifier {
    channels: RwLock<Vec<ChannelRecord>>,
    queue: mpsc::Sender<Job>,
    sender: Option<Sender>,
}

/// The delivery task's end of the queue.
pub struct Jobs(mpsc::Receiver<Job>);

impl Notifier {
    pub fn new(settings: &NotifySettings) -> (Notifier, Jobs) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let sender = Sender::new(SenderOptions {
            allow_private: settings.allow_private,
            attempts: settings.attempts,
            first_backoff: settings.first_backoff,
            timeout: settings.timeout,
        });
        if let Err(e) = &sender {
            tracing::error!(error = %e, "notifications are off: cannot build the HTTP client");
        }
        (
            Notifier {
                channels: RwLock::new(Vec::new()),
                queue: tx,
                sender: sender.ok(),
            },
            Jobs(rx),
        )
    }

    /// Reads the channels again (at start and after a change).
    pub async fn reload(&self, state: &AppState) {
        match state.store.list_channels().await {
            Ok(list) => *self.channels.write().unwrap_or_else(|p| p.into_inner()) = list,
            Err(e) => tracing::error!(error = %e, "cannot load notification channels"),
        }
    }

    /// Queues `n` for every enabled channel that subscribed to it.
    pub fn publish(&self, n: &Notification) {
        let channels = self.channels.read().unwrap_or_else(|p| p.into_inner());
        for c in channels.iter().filter(|c| subscribed(c, n)) {
            let job = Job {
                channel: c.clone(),
                n: Notification {
                    id: uuid::Uuid::now_v7().to_string(),
                    ..n.clone()
                },
            };
            if self.queue.try_send(job).is_err() {
                tracing::warn!(channel = %c.id, event = %n.event, "notification queue full: dropped");
            }
        }
    }

    /// Sends now and waits (the "send test" button); the outcome is logged too.
    pub async fn deliver_now(
        &self,
        state: &AppState,
        c: &ChannelRecord,
        n: &Notification,
    ) -> Delivery {
        deliver(state, self.sender.as_ref(), c, n).await
    }
}

fn subscribed(c: &ChannelRecord, n: &Notification) -> bool {
    c.enabled
        && c.events.iter().any(|e| {
            n.event == *e
                || (n.event.starts_with(e.as_str()) && n.event[e.len()..].starts_with('.'))
        })
        && (c.servers.is_empty()
            || n.server
                .as_ref()
                .is_some_and(|s| c.servers.iter().any(|id| id.as_str() == s.id)))
}

async fn deliver(
    state: &AppState,
    sender: Option<&Sender>,
    c: &ChannelRecord,
    n: &Notification,
) -> Delivery {
    let d = match sender {
        Some(s) => s.deliver(&c.channel, n).await,
        None => Delivery {
            ok: false,
            attempts: vec![garrison_notify::Attempt {
                at: now_millis(),
                duration_ms: 0,
                status: None,
                error: Some("notifications are off: no HTTP client".into()),
            }],
        },
    };
    if let Err(e) = state
        .store
        .record_delivery(&n.id, &c.id, &n.event, &n.title, &d, now_millis())
        .await
    {
        tracing::warn!(channel = %c.id, error = %e, "cannot log a delivery");
    }
    d
}

/// The delivery task: a few deliveries at a time; ends on shutdown (queued ones are
/// dropped, running ones cut short).
pub async fn run(state: AppState, Jobs(mut rx): Jobs) {
    let mut shutdown = state.shutdown.clone();
    let mut running = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = crate::shutting_down(&mut shutdown) => break,
            Some(_) = running.join_next(), if !running.is_empty() => {}
            job = rx.recv(), if running.len() < PARALLEL => {
                let Some(job) = job else { break };
                let state = state.clone();
                running.spawn(async move {
                    let sender = state.notifier.sender.as_ref();
                    deliver(&state, sender, &job.channel, &job.n).await;
                });
            }
        }
    }
    running.shutdown().await;
}

pub fn server_ref(r: &ServerRecord) -> ServerRef {
    ServerRef {
        id: r.id.0.clone(),
        name: r.name.clone(),
    }
}

/// A notification about `server`.
pub fn about(
    event: &str,
    severity: Severity,
    title: String,
    message: String,
    server: Option<&ServerRecord>,
    data: serde_json::Value,
) -> Notification {
    Notification {
        id: String::new(),
        event: event.to_owned(),
        title,
        message,
        severity,
        server: server.map(server_ref),
        at: now_millis(),
        link: None,
        data,
    }
}

/// Server events channels can subscribe to, from the event stream.
pub async fn on_event(state: &AppState, ev: &Event) {
    let (event, severity, what) = match ev {
        Event::Status(s) => match (s.previous, s.state) {
            (ServerState::Starting, ServerState::Running) => {
                ("server.started", Severity::Info, "started".to_owned())
            }
            (ServerState::Stopping, ServerState::Offline) => {
                ("server.stopped", Severity::Info, "stopped".to_owned())
            }
            (_, ServerState::Crashed) => (
                "server.crashed",
                Severity::Critical,
                format!(
                    "crashed{}",
                    s.reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
            ),
            _ => return,
        },
        Event::Backup(b) if b.op == BackupOp::Create => match &b.stage {
            BackupStage::Finished { .. } => (
                "backup.succeeded",
                Severity::Info,
                "backup finished".to_owned(),
            ),
            BackupStage::Failed { error, .. } => (
                "backup.failed",
                Severity::Warning,
                format!("backup failed: {error}"),
            ),
            _ => return,
        },
        Event::Install(i) => match i.phase {
            InstallPhase::Finished => ("install.succeeded", Severity::Info, "installed".to_owned()),
            InstallPhase::Failed => (
                "install.failed",
                Severity::Warning,
                format!(
                    "install failed{}",
                    i.message
                        .as_ref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                ),
            ),
            _ => return,
        },
        Event::Schedule(s) if s.phase == SchedulePhase::Failed => (
            "schedule.failed",
            Severity::Warning,
            format!(
                "schedule {:?} failed{}",
                s.name,
                s.error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
        ),
        _ => return,
    };
    let server = state.store.get_server(ev.server()).await.ok().flatten();
    let name = server
        .as_ref()
        .map_or_else(|| ev.server().0.clone(), |r| r.name.clone());
    let n = about(
        event,
        severity,
        format!("{name}: {what}"),
        format!("Server {name} {what}."),
        server.as_ref(),
        serde_json::to_value(ev).unwrap_or_default(),
    );
    state.notifier.publish(&n);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(events: &[&str], servers: &[&str]) -> ChannelRecord {
        ChannelRecord {
            id: "c".into(),
            name: "c".into(),
            channel: garrison_notify::Channel::Slack {
                url: "https://hooks.slack.com/x".into(),
            },
            events: events.iter().map(|s| s.to_string()).collect(),
            servers: servers
                .iter()
                .map(|s| garrison_proto::ServerId::from(*s))
                .collect(),
            enabled: true,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn n(event: &str, server: Option<&str>) -> Notification {
        Notification {
            id: String::new(),
            event: event.into(),
            title: String::new(),
            message: String::new(),
            severity: Severity::Info,
            server: server.map(|s| ServerRef {
                id: s.into(),
                name: s.into(),
            }),
            at: 0,
            link: None,
            data: serde_json::Value::Null,
        }
    }

    #[test]
    fn subscriptions_match_names_prefixes_and_servers() {
        let c = channel(&["alert", "server.crashed"], &[]);
        assert!(subscribed(&c, &n("alert.firing", None)));
        assert!(subscribed(&c, &n("server.crashed", Some("a"))));
        assert!(!subscribed(&c, &n("server.started", Some("a"))));
        assert!(!subscribed(&c, &n("alerting", None)));
        let only_a = channel(&["server"], &["a"]);
        assert!(subscribed(&only_a, &n("server.started", Some("a"))));
        assert!(!subscribed(&only_a, &n("server.started", Some("b"))));
        assert!(!subscribed(&only_a, &n("server.started", None)));
        let mut off = channel(&["alert"], &[]);
        off.enabled = false;
        assert!(!subscribed(&off, &n("alert.firing", None)));
    }
}
