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
