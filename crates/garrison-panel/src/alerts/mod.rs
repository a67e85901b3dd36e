//! Alerts: rules (thresholds held for a while, or events), the alerts they raise
//! (firing → resolved, one open per rule and target, resolved automatically when the
//! condition clears or by hand), muted during maintenance windows, and notified through
//! the channels (`notify.rs`) at most once per throttle period.
//!
//! `engine.rs` evaluates threshold and state rules every few seconds and reacts to
//! events from the pump; `maintenance.rs` holds the windows.

pub mod engine;
pub mod maintenance;

use crate::error::ApiError;
use garrison_notify::Severity;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// CPU above `threshold` percent (of one core) for `duration_secs`.
    Cpu,
    /// Memory above `threshold` percent of the server's memory limit for `duration_secs`.
    Memory,
    /// Disk above `threshold` percent of the server's disk limit for `duration_secs`.
    Disk,
    /// The server crashed (resolves when it runs again).
    Crashed,
    /// `count` crashes within `window_secs`.
    CrashLoop,
    /// Starting for longer than `duration_secs`.
    StuckStarting,
    /// A backup failed (resolves with the next good one).
    BackupFailed,
    /// A schedule run failed (resolves with its next good run).
    ScheduleFailed,
    /// The node has not reported its machine's stats for `duration_secs`.
    NodeOffline,
    /// The disk holding the data directory has less than `threshold` percent free.
    DataDiskLow,
    /// The HTTPS certificate chain Garrison serves expires within `days` days.
    CertificateExpiry,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Cpu => "cpu",
            AlertKind::Memory => "memory",
            AlertKind::Disk => "disk",
            AlertKind::Crashed => "crashed",
            AlertKind::CrashLoop => "crash_loop",
            AlertKind::StuckStarting => "stuck_starting",
            AlertKind::BackupFailed => "backup_failed",
            AlertKind::ScheduleFailed => "schedule_failed",
            AlertKind::NodeOffline => "node_offline",
            AlertKind::DataDiskLow => "data_disk_low",
            AlertKind::CertificateExpiry => "certificate_expiry",
        }
    }

    pub fn parse(s: &str) -> Option<AlertKind> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }

    /// Rules about the node's machine, not a server.
    pub fn is_node(self) -> bool {
        matches!(
            self,
            AlertKind::NodeOffline | AlertKind::DataDiskLow | AlertKind::CertificateExpiry
        )
    }

    /// The parameters a kind takes.
    fn takes(self) -> &'static [&'static str] {
        match self {
            AlertKind::Cpu | AlertKind::Memory | AlertKind::Disk => &["threshold", "duration_secs"],
            AlertKind::CrashLoop => &["count", "window_secs"],
            AlertKind::StuckStarting | AlertKind::NodeOffline => &["duration_secs"],
            AlertKind::DataDiskLow => &["threshold"],
            AlertKind::CertificateExpiry => &["days"],
            AlertKind::Crashed | AlertKind::BackupFailed | AlertKind::ScheduleFailed => &[],
        }
    }
}

/// A rule's parameters (only those its kind takes; see [`AlertKind`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
}

impl RuleParams {
    pub fn threshold(&self, kind: AlertKind) -> f64 {
        self.threshold.unwrap_or(match kind {
            AlertKind::DataDiskLow => 10.0,
            _ => 90.0,
        })
    }

    pub fn duration_millis(&self, kind: AlertKind) -> i64 {
        let secs = self.duration_secs.unwrap_or(match kind {
            AlertKind::Disk => 0,
            AlertKind::NodeOffline => 60,
            _ => 300,
        });
        i64::try_from(secs).unwrap_or(i64::MAX / 1000) * 1000
    }

    pub fn count(&self) -> u32 {
        self.count.unwrap_or(3)
    }

    /// How many days before the certificate's end the expiry alert fires (default 14).
    pub fn days(&self) -> u32 {
        self.days.unwrap_or(14)
    }

    pub fn window_millis(&self) -> i64 {
        i64::try_from(self.window_secs.unwrap_or(600)).unwrap_or(i64::MAX / 1000) * 1000
    }
}

/// Checks a rule's parameters against its kind; errors name `params.<field>`.
pub fn check_params(kind: AlertKind, p: &RuleParams) -> Result<(), ApiError> {
    let set = [
        ("threshold", p.threshold.is_some()),
        ("duration_secs", p.duration_secs.is_some()),
        ("count", p.count.is_some()),
        ("window_secs", p.window_secs.is_some()),
        ("days", p.days.is_some()),
    ];
    if let Some((f, _)) = set.iter().find(|(f, s)| *s && !kind.takes().contains(f)) {
        return Err(ApiError::invalid(
            format!("params.{f}"),
            format!("a {} rule does not take {f}", kind.as_str()),
        ));
    }
    if let Some(t) = p.threshold
        && !(t.is_finite() && (0.0..=10_000.0).contains(&t))
    {
        return Err(ApiError::invalid(
            "params.threshold",
            "a threshold is a percentage from 0 to 10000",
        ));
    }
    if p.duration_secs.is_some_and(|d| d > 7 * 86_400) {
        return Err(ApiError::invalid(
            "params.duration_secs",
            "a duration is at most 7 days",
        ));
    }
    if p.count.is_some_and(|c| !(2..=100).contains(&c)) {
        return Err(ApiError::invalid("params.count", "a count is 2 to 100"));
    }
    if p.window_secs
        .is_some_and(|w| !(60..=7 * 86_400).contains(&w))
    {
        return Err(ApiError::invalid(
            "params.window_secs",
            "a window is 60 seconds to 7 days",
        ));
    }
    if p.days.is_some_and(|d| !(1..=365).contains(&d)) {
        return Err(ApiError::invalid("params.days", "days are 1 to 365"));
    }
    Ok(())
}

pub fn severity_str(s: Severity) -> &'static str {
    s.as_str()
}

pub fn parse_severity(s: &str) -> Option<Severity> {
    match s {
        "info" => Some(Severity::Info),
        "warning" => Some(Severity::Warning),
        "critical" => Some(Severity::Critical),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_fit_their_kind() {
        let ok = RuleParams {
            threshold: Some(90.0),
            duration_secs: Some(300),
            ..Default::default()
        };
        check_params(AlertKind::Cpu, &ok).unwrap();
        match check_params(AlertKind::Crashed, &ok) {
            Err(ApiError::Invalid { field, .. }) => assert_eq!(field, "params.threshold"),
            other => panic!("{other:?}"),
        }
        let bad = RuleParams {
            threshold: Some(f64::NAN),
            ..Default::default()
        };
        assert!(check_params(AlertKind::Cpu, &bad).is_err());
        let loop_ok = RuleParams {
            count: Some(3),
            window_secs: Some(600),
            ..Default::default()
        };
        check_params(AlertKind::CrashLoop, &loop_ok).unwrap();
        assert_eq!(AlertKind::parse("crash_loop"), Some(AlertKind::CrashLoop));
        assert_eq!(AlertKind::CrashLoop.as_str(), "crash_loop");
        assert_eq!(AlertKind::parse("nope"), None);
        let days = RuleParams {
            days: Some(30),
            ..Default::default()
        };
        check_params(AlertKind::CertificateExpiry, &days).unwrap();
        assert!(check_params(AlertKind::Cpu, &days).is_err());
        for bad in [0, 366] {
            let p = RuleParams {
                days: Some(bad),
                ..Default::default()
            };
            match check_params(AlertKind::CertificateExpiry, &p) {
                Err(ApiError::Invalid { field, .. }) => assert_eq!(field, "params.days"),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(RuleParams::default().days(), 14);
    }
}
