//! Evaluating alert rules. Every `eval_every` the loop checks threshold rules against
//! each running server's latest sample (a condition must hold for the rule's duration),
//! state rules (stuck starting, crash loop calming down, node silent, data disk low)
//! and opens or closes maintenance windows (stopping or starting servers if asked).
//! Events from the pump raise and clear the event rules (crashed, backup failed,
//! schedule failed). Open alerts are kept in a set, so a healthy server costs no query.

use super::{AlertKind, maintenance};
use crate::AppState;
use crate::store::{
    AlertRecord, AlertRule, MaintenanceWindow, NewAlert, ServerRecord, StoreError, now_millis,
};
use crate::tls::ChainExpiry;
use garrison_proto::{
    BackupOp, BackupStage, Event, PowerAction, SchedulePhase, ServerId, ServerState,
};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

const MIB: f64 = 1024.0 * 1024.0;
/// Crash times kept per server (for crash-loop rules).
const CRASHES_KEPT: usize = 100;

#[derive(Debug, Clone)]
pub struct AlertSettings {
    pub eval_every: Duration,
    /// Resolved alerts and delivery logs are kept this many days.
    pub history_days: u32,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            eval_every: Duration::from_secs(5),
            history_days: 30,
        }
    }
}

type Key = (String, String);

#[derive(Default)]
struct Eval {
    /// When each (rule, target) condition began to hold.
    since: HashMap<Key, i64>,
    /// (rule, target) pairs with an open alert.
    open: HashSet<Key>,
    crashes: HashMap<ServerId, Vec<i64>>,
    /// Whether each window was open at the last tick.
    windows: HashMap<String, bool>,
    started: i64,
}

#[derive(Default)]
pub struct AlertEngine {
    eval: Mutex<Eval>,
}

impl AlertEngine {
    fn eval(&self) -> std::sync::MutexGuard<'_, Eval> {
        self.eval.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A condition must hold its full duration again after a manual resolve.
    pub fn forget_condition(&self, rule: &str, target: &str) {
        let mut e = self.eval();
        let key = (rule.to_owned(), target.to_owned());
        e.open.remove(&key);
        if e.since.contains_key(&key) {
            e.since.insert(key, now_millis());
        }
    }
}

fn key(rule: &AlertRule, target: &str) -> Key {
    (rule.id.clone(), target.to_owned())
}

fn in_scope(rule: &AlertRule, server: &ServerId) -> bool {
    rule.enabled && !rule.kind.is_node() && rule.server_id.as_ref().is_none_or(|s| s == server)
}

/// Raises an alert (unless one is open) and notifies, unless muted or throttled.
#[allow(clippy::too_many_arguments)]
async fn fire(
    state: &AppState,
    rule: &AlertRule,
    target: &str,
    server: Option<&ServerRecord>,
    title: String,
    message: String,
    value: Option<f64>,
    windows: &[MaintenanceWindow],
) -> Result<(), StoreError> {
    let k = key(rule, target);
    if state.alerts.eval().open.contains(&k) {
        return Ok(());
    }
    let now = now_millis();
    let muted = maintenance::muted(windows, server.map(|r| &r.id), now);
    let last = state.store.last_notified(&rule.id, target).await?;
    let alert = state
        .store
        .fire_alert(&NewAlert {
            rule,
            target,
            server_id: server.map(|r| &r.id),
            title: &title,
            message: &message,
            value,
            muted,
            at: now,
        })
        .await?;
    state.alerts.eval().open.insert(k);
    let Some(alert) = alert else { return Ok(()) };
    crate::prometheus::alert_fired(rule.kind.as_str());
    let throttled = last.is_some_and(|t| {
        now - t < i64::try_from(rule.throttle_secs).unwrap_or(i64::MAX / 1000) * 1000
    });
    if !muted && !throttled {
        notify(state, &alert, server, "alert.firing");
        state.store.mark_notified(&alert.id, now).await?;
    }
    Ok(())
}

fn notify(state: &AppState, a: &AlertRecord, server: Option<&ServerRecord>, event: &str) {
    let resolved = event == "alert.resolved";
    let n = crate::notify::about(
        event,
        if resolved {
            garrison_notify::Severity::Info
        } else {
            a.severity
        },
        if resolved {
            format!("Resolved: {}", a.title)
        } else {
            a.title.clone()
        },
        a.message.clone(),
        server,
        serde_json::json!({"alert": a}),
    );
    state.notifier.publish(&n);
}

/// Closes the open alert of `rule` on `target` (if any), by `by` (`auto` or a user id).
pub async fn resolve(
    state: &AppState,
    rule_id: &str,
    target: &str,
    by: &str,
) -> Result<Option<AlertRecord>, StoreError> {
    let k = (rule_id.to_owned(), target.to_owned());
    if by == "auto" && !state.alerts.eval().open.contains(&k) {
        return Ok(None);
    }
    state.alerts.eval().open.remove(&k);
    let Some(open) = state.store.open_alert(rule_id, target).await? else {
        return Ok(None);
    };
    resolve_alert(state, &open, by).await
}

/// Resolves one alert and tells the channels that heard it fire.
pub async fn resolve_alert(
    state: &AppState,
    a: &AlertRecord,
    by: &str,
) -> Result<Option<AlertRecord>, StoreError> {
    let Some(done) = state.store.resolve_alert(&a.id, by, now_millis()).await? else {
        return Ok(None);
    };
    state.alerts.forget_condition(&a.rule_id, &a.target);
    if done.notified_at.is_some() {
        let server = match &done.server_id {
            Some(id) => state.store.get_server(id).await?,
            None => None,
        };
        notify(state, &done, server.as_ref(), "alert.resolved");
    }
    Ok(Some(done))
}

/// The loop; ends on shutdown.
pub async fn run(state: AppState) {
    match state.store.firing_alerts().await {
        Ok(list) => {
            let mut e = state.alerts.eval();
            e.open = list.into_iter().map(|a| (a.rule_id, a.target)).collect();
            e.started = now_millis();
        }
        Err(e) => tracing::error!(error = %e, "cannot load open alerts"),
    }
    let every = state
        .config
        .alerts
        .eval_every
        .max(Duration::from_millis(200));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut shutdown = state.shutdown.clone();
    let mut last_prune = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = crate::shutting_down(&mut shutdown) => return,
        }
        if let Err(e) = evaluate(&state).await {
            tracing::warn!(error = %e, "alert evaluation failed");
        }
        let now = now_millis();
        if now - last_prune > 3_600_000 {
            last_prune = now;
            let keep = i64::from(state.config.alerts.history_days) * 86_400_000;
            if let Err(e) = state.store.prune_alert_history(now - keep).await {
                tracing::warn!(error = %e, "cannot prune alert history");
            }
        }
    }
}

const DAY_MS: i64 = 86_400_000;

/// The certificate alert's title and message; its value is the days left (negative
/// once expired).
fn certificate_text(cert: ChainExpiry, left: i64, days: u32) -> (String, String) {
    let when = chrono::DateTime::from_timestamp_millis(cert.not_after)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| cert.not_after.to_string());
    let which = match cert.position {
        0 => "The HTTPS certificate".to_owned(),
        n => format!("Certificate {} of the HTTPS chain", n + 1),
    };
    let title = match left.div_euclid(DAY_MS) {
        _ if left <= 0 => format!("{which} has expired"),
        0 => format!("{which} expires within a day"),
        1 => format!("{which} expires in 1 day"),
        n => format!("{which} expires in {n} days"),
    };
    let message = if left <= 0 {
        format!(
            "{which} Garrison serves expired on {when}: browsers refuse the panel. Renew it and restart Garrison."
        )
    } else {
        format!(
            "{which} Garrison serves expires on {when} (this rule warns {days} days ahead). Renew it and restart Garrison."
        )
    };
    (title, message)
}

/// Percent of a limit in MiB; `None` without a limit.
fn percent_of(bytes: u64, limit_mb: u64) -> Option<f64> {
    (limit_mb > 0).then(|| bytes as f64 / (limit_mb as f64 * MIB) * 100.0)
}

async fn evaluate(state: &AppState) -> Result<(), StoreError> {
    let now = now_millis();
    let rules: Vec<AlertRule> = state
        .store
        .list_rules()
        .await?
        .into_iter()
        .filter(|r| r.enabled)
        .collect();
    let windows = state.store.list_windows().await?;
    let servers = state.store.list_servers().await?;
    maintenance_actions(state, &windows, &servers, now).await;
    let host = state.history.host();
    let started = state.alerts.eval().started;
    for rule in &rules {
        match rule.kind {
            AlertKind::Cpu | AlertKind::Memory | AlertKind::Disk => {
                for r in servers.iter().filter(|r| in_scope(rule, &r.id)) {
                    let latest = state.history.get(&r.id);
                    let value = latest.and_then(|l| match rule.kind {
                        AlertKind::Cpu => Some(l.stats.cpu_percent),
                        AlertKind::Memory => percent_of(l.stats.memory_bytes, r.limits.memory_mb),
                        _ => percent_of(l.stats.disk_bytes, r.limits.disk_mb),
                    });
                    let threshold = rule.params.threshold(rule.kind);
                    let holds = value.is_some_and(|v| v > threshold);
                    let what = match rule.kind {
                        AlertKind::Cpu => "CPU",
                        AlertKind::Memory => "memory",
                        _ => "disk",
                    };
                    let unit = if rule.kind == AlertKind::Cpu {
                        "%"
                    } else {
                        "% of its limit"
                    };
                    step(state, rule, r, holds, value, now, &windows, || {
                        (
                            format!("{}: {what} above {threshold}{unit}", r.name),
                            format!(
                                "{what} of {} is {:.1}{unit} (over {threshold}{unit} for {} s)",
                                r.name,
                                value.unwrap_or(0.0),
                                rule.params.duration_millis(rule.kind) / 1000
                            ),
                        )
                    })
                    .await?;
                }
            }
            AlertKind::StuckStarting => {
                for r in servers.iter().filter(|r| in_scope(rule, &r.id)) {
                    let stuck = r.state == ServerState::Starting
                        && now - r.state_changed_at >= rule.params.duration_millis(rule.kind);
                    if stuck {
                        let secs = (now - r.state_changed_at) / 1000;
                        fire(
                            state,
                            rule,
                            r.id.as_str(),
                            Some(r),
                            format!("{}: stuck starting", r.name),
                            format!("{} has been starting for {secs} s", r.name),
                            Some(secs as f64),
                            &windows,
                        )
                        .await?;
                    } else {
                        resolve(state, &rule.id, r.id.as_str(), "auto").await?;
                    }
                }
            }
            AlertKind::CrashLoop => {
                for r in servers.iter().filter(|r| in_scope(rule, &r.id)) {
                    let recent = recent_crashes(state, &r.id, now, rule.params.window_millis());
                    if recent < rule.params.count() as usize {
                        resolve(state, &rule.id, r.id.as_str(), "auto").await?;
                    }
                }
            }
            AlertKind::NodeOffline => {
                let target = crate::history::node_target(crate::history::LOCAL_NODE);
                let limit = rule.params.duration_millis(rule.kind);
                let silent = match &host {
                    Some(h) => now - h.sampled_at > limit,
                    None => now - started > limit,
                };
                if silent {
                    fire(
                        state,
                        rule,
                        &target,
                        None,
                        "The node is not reporting".into(),
                        format!("No stats from the node for more than {} s", limit / 1000),
                        None,
                        &windows,
                    )
                    .await?;
                } else {
                    resolve(state, &rule.id, &target, "auto").await?;
                }
            }
            AlertKind::DataDiskLow => {
                let target = crate::history::node_target(crate::history::LOCAL_NODE);
                let Some(h) = &host else { continue };
                if h.disk_total_bytes == 0 {
                    continue;
                }
                let free = (h.disk_total_bytes.saturating_sub(h.disk_used_bytes)) as f64
                    / h.disk_total_bytes as f64
                    * 100.0;
                let threshold = rule.params.threshold(rule.kind);
                if free < threshold {
                    fire(
                        state,
                        rule,
                        &target,
                        None,
                        format!("Data disk below {threshold}% free"),
                        format!("The disk holding Garrison's data has {free:.1}% free"),
                        Some(free),
                        &windows,
                    )
                    .await?;
                } else {
                    resolve(state, &rule.id, &target, "auto").await?;
                }
            }
            AlertKind::CertificateExpiry => {
                let Some(cert) = state.config.certificate else {
                    continue;
                };
                let target = crate::history::node_target(crate::history::LOCAL_NODE);
                let left = cert.not_after - now;
                let days = rule.params.days();
                if left < i64::from(days) * DAY_MS {
                    let (title, message) = certificate_text(cert, left, days);
                    fire(
                        state,
                        rule,
                        &target,
                        None,
                        title,
                        message,
                        Some(((left as f64 / DAY_MS as f64) * 10.0).round() / 10.0),
                        &windows,
                    )
                    .await?;
                } else {
                    resolve(state, &rule.id, &target, "auto").await?;
                }
            }
            AlertKind::Crashed | AlertKind::BackupFailed | AlertKind::ScheduleFailed => {}
        }
    }
    // Alerts about servers that are gone resolve themselves.
    let gone: Vec<(String, String)> = {
        let e = state.alerts.eval();
        e.open
            .iter()
            .filter(|(_, t)| !t.starts_with("node:") && !servers.iter().any(|r| r.id.as_str() == t))
            .cloned()
            .collect()
    };
    for (rule, target) in gone {
        resolve(state, &rule, &target, "auto").await?;
    }
    Ok(())
}

/// One threshold rule on one server: the condition must hold `duration` before firing.
#[allow(clippy::too_many_arguments)]
async fn step(
    state: &AppState,
    rule: &AlertRule,
    r: &ServerRecord,
    holds: bool,
    value: Option<f64>,
    now: i64,
    windows: &[MaintenanceWindow],
    text: impl FnOnce() -> (String, String),
) -> Result<(), StoreError> {
    let k = key(rule, r.id.as_str());
    if !holds {
        state.alerts.eval().since.remove(&k);
        resolve(state, &rule.id, r.id.as_str(), "auto").await?;
        return Ok(());
    }
    let since = *state.alerts.eval().since.entry(k).or_insert(now);
    if now - since >= rule.params.duration_millis(rule.kind) {
        let (title, message) = text();
        fire(
            state,
            rule,
            r.id.as_str(),
            Some(r),
            title,
            message,
            value,
            windows,
        )
        .await?;
    }
    Ok(())
}

fn recent_crashes(state: &AppState, server: &ServerId, now: i64, window: i64) -> usize {
    state
        .alerts
        .eval()
        .crashes
        .get(server)
        .map_or(0, |v| v.iter().filter(|&&t| now - t <= window).count())
}

/// Opens and closes maintenance windows; stops or starts their servers if asked. The
/// first tick only learns which windows are open (nothing is stopped on a restart).
async fn maintenance_actions(
    state: &AppState,
    windows: &[MaintenanceWindow],
    servers: &[ServerRecord],
    now: i64,
) {
    for w in windows {
        let open = maintenance::is_open(w, now);
        let was = state.alerts.eval().windows.insert(w.id.clone(), open);
        let (action, wanted) = match (was, open) {
            (Some(false), true) if w.stop_at_start => (PowerAction::Stop, ServerState::Running),
            (Some(true), false) if w.start_at_end => (PowerAction::Start, ServerState::Offline),
            _ => continue,
        };
        for r in servers
            .iter()
            .filter(|r| maintenance::covers(w, Some(&r.id)))
        {
            if state.node.state(&r.id).await.ok() != Some(wanted) {
                continue;
            }
            if let Err(e) = state.node.power(&r.id, action).await {
                tracing::warn!(server = %r.id, window = %w.id, error = %e, "maintenance window action failed");
                continue;
            }
            let detail = serde_json::json!({"window": w.id, "window_name": w.name});
            let entry = crate::store::NewAudit {
                user_id: None,
                via: Some(crate::audit::VIA_MAINTENANCE),
                ip: None,
                server_id: Some(r.id.as_str()),
                action: &format!("server.power.{}", action.as_str()),
                target: Some(r.id.as_str()),
                detail: &detail,
            };
            if let Err(e) = state.store.audit_entry(&entry).await {
                tracing::warn!(error = %e, "cannot audit a maintenance action");
            }
        }
    }
}

/// Event rules, from the pump (and schedule runs).
pub async fn on_event(state: &AppState, ev: &Event) {
    if let Err(e) = handle_event(state, ev).await {
        tracing::warn!(error = %e, "alert rules could not handle an event");
    }
}

async fn handle_event(state: &AppState, ev: &Event) -> Result<(), StoreError> {
    let (raise, clear, text): (Option<AlertKind>, Option<AlertKind>, String) = match ev {
        Event::Status(s) if s.state == ServerState::Crashed => {
            let now = now_millis();
            {
                let mut e = state.alerts.eval();
                let v = e.crashes.entry(s.server.clone()).or_default();
                v.push(now);
                if v.len() > CRASHES_KEPT {
                    v.remove(0);
                }
            }
            (
                Some(AlertKind::Crashed),
                None,
                s.reason.clone().unwrap_or_else(|| "it exited".into()),
            )
        }
        Event::Status(s) if s.state == ServerState::Running => {
            (None, Some(AlertKind::Crashed), String::new())
        }
        Event::Backup(b) if b.op == BackupOp::Create => match &b.stage {
            BackupStage::Failed { error, .. } => {
                (Some(AlertKind::BackupFailed), None, error.clone())
            }
            BackupStage::Finished { .. } => (None, Some(AlertKind::BackupFailed), String::new()),
            _ => return Ok(()),
        },
        Event::Schedule(s) => match s.phase {
            SchedulePhase::Failed => (
                Some(AlertKind::ScheduleFailed),
                None,
                format!(
                    "schedule {:?}: {}",
                    s.name,
                    s.error.clone().unwrap_or_default()
                ),
            ),
            SchedulePhase::Succeeded => (None, Some(AlertKind::ScheduleFailed), String::new()),
            _ => return Ok(()),
        },
        _ => return Ok(()),
    };
    let server = ev.server();
    let rules: Vec<AlertRule> = state
        .store
        .list_rules()
        .await?
        .into_iter()
        .filter(|r| in_scope(r, server))
        .collect();
    if rules.is_empty() {
        return Ok(());
    }
    let record = state.store.get_server(server).await?;
    let name = record
        .as_ref()
        .map_or_else(|| server.0.clone(), |r| r.name.clone());
    let windows = state.store.list_windows().await?;
    let now = now_millis();
    for rule in &rules {
        if Some(rule.kind) == clear {
            resolve(state, &rule.id, server.as_str(), "auto").await?;
        }
        let fires = match (raise, rule.kind) {
            (Some(k), kind) if k == kind => true,
            (Some(AlertKind::Crashed), AlertKind::CrashLoop) => {
                recent_crashes(state, server, now, rule.params.window_millis())
                    >= rule.params.count() as usize
            }
            _ => false,
        };
        if !fires {
            continue;
        }
        let (title, message) = match rule.kind {
            AlertKind::Crashed => (format!("{name} crashed"), format!("{name} crashed: {text}")),
            AlertKind::CrashLoop => (
                format!("{name} is crash-looping"),
                format!(
                    "{name} crashed {} times in {} s",
                    recent_crashes(state, server, now, rule.params.window_millis()),
                    rule.params.window_millis() / 1000
                ),
            ),
            AlertKind::BackupFailed => (
                format!("{name}: backup failed"),
                format!("A backup of {name} failed: {text}"),
            ),
            _ => (
                format!("{name}: schedule failed"),
                format!("On {name}, {text}"),
            ),
        };
        fire(
            state,
            rule,
            server.as_str(),
            record.as_ref(),
            title,
            message,
            None,
            &windows,
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_words_name_the_certificate_and_the_days_left() {
        let leaf = ChainExpiry {
            not_after: 1_800_000_000_000,
            position: 0,
        };
        let (title, message) = certificate_text(leaf, 10 * DAY_MS - 1, 14);
        assert_eq!(title, "The HTTPS certificate expires in 9 days");
        assert!(message.contains("2027-01-15 08:00 UTC"), "{message}");
        assert!(message.contains("warns 14 days ahead"), "{message}");
        assert_eq!(
            certificate_text(leaf, DAY_MS, 14).0,
            "The HTTPS certificate expires in 1 day"
        );
        assert_eq!(
            certificate_text(leaf, 60_000, 14).0,
            "The HTTPS certificate expires within a day"
        );
        let issuer = ChainExpiry {
            position: 1,
            ..leaf
        };
        let (title, message) = certificate_text(issuer, -5, 14);
        assert_eq!(title, "Certificate 2 of the HTTPS chain has expired");
        assert!(message.contains("expired on"), "{message}");
    }
}
