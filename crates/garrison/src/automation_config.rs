//! The `[schedules]` table of `garrison.toml` and its `GARRISON_SCHEDULES_*` variables.

use anyhow::{Context, Result, bail};
use garrison_panel::schedules::ScheduleSettings;
use serde::Deserialize;

/// The `[schedules]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSchedules {
    /// The shortest interval trigger users may set (default 60 s).
    min_interval_secs: Option<u64>,
    /// Days a schedule's runs are kept (default 30).
    history_days: Option<u32>,
}

pub const ENV_KEYS: &[&str] = &[
    "GARRISON_SCHEDULES_MIN_INTERVAL_SECS",
    "GARRISON_SCHEDULES_HISTORY_DAYS",
];

fn min_interval(v: u64) -> Result<u64> {
    if v == 0 {
        bail!("must be at least 1 second");
    }
    Ok(v)
}

fn history_days(v: u32) -> Result<u32> {
    if !(1..=3650).contains(&v) {
        bail!("must be 1 to 3650 days");
    }
    Ok(v)
}

pub fn apply_file(s: &mut ScheduleSettings, f: FileSchedules, src: &str) -> Result<()> {
    if let Some(v) = f.min_interval_secs {
        s.min_interval_secs =
            min_interval(v).with_context(|| format!("{src} `schedules.min_interval_secs`"))?;
    }
    if let Some(v) = f.history_days {
        s.history_days =
            history_days(v).with_context(|| format!("{src} `schedules.history_days`"))?;
    }
    Ok(())
}

pub fn apply_env(s: &mut ScheduleSettings, key: &str, value: &str) -> Result<()> {
    match key {
        "GARRISON_SCHEDULES_MIN_INTERVAL_SECS" => {
            s.min_interval_secs = min_interval(value.parse().context("not a number")?)?;
        }
        "GARRISON_SCHEDULES_HISTORY_DAYS" => {
            s.history_days = history_days(value.parse().context("not a number")?)?;
        }
        _ => bail!("unknown schedules setting {key}"),
    }
    Ok(())
}

/// The `[metrics]` table: history sampling and retention, and the Prometheus endpoint.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileMetrics {
    /// Seconds between two history samples (default 10).
    sample_secs: Option<u64>,
    /// Hours raw samples are kept (default 24).
    raw_hours: Option<u64>,
    /// Days per-minute averages are kept (default 7).
    minute_days: Option<u64>,
    /// Days per-hour averages are kept (default 90).
    hour_days: Option<u64>,
    /// Serve `/metrics` for Prometheus (default true).
    prometheus: Option<bool>,
    /// A bearer token `/metrics` requires; without one only loopback clients may scrape.
    token: Option<String>,
}

pub const METRICS_ENV_KEYS: &[&str] = &[
    "GARRISON_METRICS_SAMPLE_SECS",
    "GARRISON_METRICS_TOKEN",
    "GARRISON_METRICS_PROMETHEUS",
];

/// What `[metrics]` sets.
#[derive(Debug, Clone, Default)]
pub struct MetricsSettings {
    pub history: garrison_panel::history::HistorySettings,
    pub prometheus: garrison_panel::PrometheusSettings,
}

fn secs_between(v: u64, min: u64, max: u64, unit: &str) -> Result<u64> {
    if !(min..=max).contains(&v) {
        bail!("must be {min} to {max} {unit}");
    }
    Ok(v)
}

fn token(v: &str) -> Result<String> {
    if v.len() < 16 || v.chars().any(|c| c.is_control() || c.is_whitespace()) {
        bail!("a token is at least 16 printable characters without spaces");
    }
    Ok(v.to_owned())
}

impl MetricsSettings {
    pub fn apply_file(&mut self, f: FileMetrics, src: &str) -> Result<()> {
        use std::time::Duration;
        let key = |k: &str| format!("{src} `metrics.{k}`");
        let h = &mut self.history;
        if let Some(v) = f.sample_secs {
            h.sample_every = Duration::from_secs(
                secs_between(v, 1, 3600, "seconds").with_context(|| key("sample_secs"))?,
            );
        }
        if let Some(v) = f.raw_hours {
            h.raw_retention = Duration::from_secs(
                3600 * secs_between(v, 1, 24 * 31, "hours").with_context(|| key("raw_hours"))?,
            );
        }
        if let Some(v) = f.minute_days {
            h.minute_retention = Duration::from_secs(
                86_400 * secs_between(v, 1, 366, "days").with_context(|| key("minute_days"))?,
            );
        }
        if let Some(v) = f.hour_days {
            h.hour_retention = Duration::from_secs(
                86_400 * secs_between(v, 1, 3660, "days").with_context(|| key("hour_days"))?,
            );
        }
        if let Some(v) = f.prometheus {
            self.prometheus.enabled = v;
        }
        if let Some(v) = f.token {
            self.prometheus.token = Some(token(&v).with_context(|| key("token"))?);
        }
        Ok(())
    }

    pub fn apply_env(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "GARRISON_METRICS_SAMPLE_SECS" => {
                self.history.sample_every = std::time::Duration::from_secs(secs_between(
                    value.parse().context("not a number")?,
                    1,
                    3600,
                    "seconds",
                )?);
            }
            "GARRISON_METRICS_TOKEN" => self.prometheus.token = Some(token(value)?),
            "GARRISON_METRICS_PROMETHEUS" => {
                self.prometheus.enabled = match value {
                    "1" | "true" | "yes" | "on" => true,
                    "0" | "false" | "no" | "off" => false,
                    _ => bail!("expected true or false"),
                }
            }
            _ => bail!("unknown metrics setting {key}"),
        }
        Ok(())
    }
}

/// The `[alerts]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAlerts {
    /// Seconds between two evaluations of the rules (default 5).
    eval_secs: Option<u64>,
    /// Days resolved alerts and delivery logs are kept (default 30).
    history_days: Option<u32>,
}

/// The `[notifications]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileNotifications {
    /// Deliver to private and loopback addresses (a relay on the LAN). Default false.
    allow_private: Option<bool>,
    /// Attempts per delivery (default 5).
    attempts: Option<u32>,
    /// The first retry's delay in milliseconds, doubling after (default 1000).
    first_backoff_ms: Option<u64>,
    /// Seconds one attempt may take (default 10).
    timeout_secs: Option<u64>,
}

pub const ALERT_ENV_KEYS: &[&str] = &[
    "GARRISON_PLAYERS_QUERY_SECS",
    "GARRISON_ALERTS_EVAL_SECS",
    "GARRISON_NOTIFICATIONS_ALLOW_PRIVATE",
    "GARRISON_NOTIFICATIONS_FIRST_BACKOFF_MS",
];

/// What `[alerts]` and `[notifications]` set.
#[derive(Debug, Clone, Default)]
pub struct AlertsConfig {
    pub alerts: garrison_panel::alerts::engine::AlertSettings,
    pub notifications: garrison_panel::notify::NotifySettings,
    /// How often running servers are asked for their players.
    pub players: garrison_panel::players::PlayerSettings,
}

fn flag(v: &str) -> Result<bool> {
    match v {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => bail!("expected true or false"),
    }
}

impl AlertsConfig {
    pub fn apply_alerts(&mut self, f: FileAlerts, src: &str) -> Result<()> {
        if let Some(v) = f.eval_secs {
            self.alerts.eval_every = std::time::Duration::from_secs(
                secs_between(v, 1, 3600, "seconds")
                    .with_context(|| format!("{src} `alerts.eval_secs`"))?,
            );
        }
        if let Some(v) = f.history_days {
            self.alerts.history_days =
                history_days(v).with_context(|| format!("{src} `alerts.history_days`"))?;
        }
        Ok(())
    }

    pub fn apply_notifications(&mut self, f: FileNotifications, src: &str) -> Result<()> {
        let n = &mut self.notifications;
        if let Some(v) = f.allow_private {
            n.allow_private = v;
        }
        if let Some(v) = f.attempts {
            n.attempts = u32::try_from(secs_between(u64::from(v), 1, 20, "attempts")?)
                .with_context(|| format!("{src} `notifications.attempts`"))?;
        }
        if let Some(v) = f.first_backoff_ms {
            n.first_backoff = std::time::Duration::from_millis(
                secs_between(v, 1, 600_000, "milliseconds")
                    .with_context(|| format!("{src} `notifications.first_backoff_ms`"))?,
            );
        }
        if let Some(v) = f.timeout_secs {
            n.timeout = std::time::Duration::from_secs(
                secs_between(v, 1, 300, "seconds")
                    .with_context(|| format!("{src} `notifications.timeout_secs`"))?,
            );
        }
        Ok(())
    }

    pub fn apply_env(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "GARRISON_ALERTS_EVAL_SECS" => {
                self.alerts.eval_every = std::time::Duration::from_secs(secs_between(
                    value.parse().context("not a number")?,
                    1,
                    3600,
                    "seconds",
                )?);
            }
            "GARRISON_PLAYERS_QUERY_SECS" => {
                self.players.query_every = std::time::Duration::from_secs(secs_between(
                    value.parse().context("not a number")?,
                    1,
                    3600,
                    "seconds",
                )?);
            }
            "GARRISON_NOTIFICATIONS_ALLOW_PRIVATE" => {
                self.notifications.allow_private = flag(value)?;
            }
            "GARRISON_NOTIFICATIONS_FIRST_BACKOFF_MS" => {
                self.notifications.first_backoff = std::time::Duration::from_millis(secs_between(
                    value.parse().context("not a number")?,
                    1,
                    600_000,
                    "milliseconds",
                )?);
            }
            _ => bail!("unknown alerts setting {key}"),
        }
        Ok(())
    }
}
