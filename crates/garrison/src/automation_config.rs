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
