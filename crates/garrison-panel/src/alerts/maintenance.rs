//! Maintenance windows: a cron expression (in a time zone) says when each window opens,
//! `duration_secs` how long it stays open. While open, alerts about its server (or any
//! server, for a node-wide window) are recorded muted and not notified; a window may
//! stop its servers when it opens and start them when it closes.

use crate::schedules::timing::{parse_cron, parse_zone};
use crate::store::MaintenanceWindow;
use chrono::{DateTime, Utc};
use garrison_proto::ServerId;

/// The longest window: a week.
pub const MAX_DURATION_SECS: u64 = 7 * 86_400;

/// When the window last opened at or before `now`, if it is still open (unix millis).
pub fn open_since(w: &MaintenanceWindow, now: i64) -> Option<i64> {
    if !w.enabled {
        return None;
    }
    let cron = parse_cron(&w.cron).ok()?;
    let tz = parse_zone(&w.timezone).ok()?;
    let at = DateTime::<Utc>::from_timestamp_millis(now)?.with_timezone(&tz);
    let start = cron
        .find_previous_occurrence(&at, true)
        .ok()?
        .timestamp_millis();
    let len = i64::try_from(w.duration_secs).ok()?.checked_mul(1000)?;
    (now < start.checked_add(len)?).then_some(start)
}

pub fn is_open(w: &MaintenanceWindow, now: i64) -> bool {
    open_since(w, now).is_some()
}

/// When the window opens next after `now`.
pub fn next_start(w: &MaintenanceWindow, now: i64) -> Option<i64> {
    let cron = parse_cron(&w.cron).ok()?;
    let tz = parse_zone(&w.timezone).ok()?;
    let at = DateTime::<Utc>::from_timestamp_millis(now)?.with_timezone(&tz);
    cron.find_next_occurrence(&at, false)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Whether `w` covers `server` (`None`: a node alert, covered by node-wide windows).
pub fn covers(w: &MaintenanceWindow, server: Option<&ServerId>) -> bool {
    match (&w.server_id, server) {
        (None, _) => true,
        (Some(ws), Some(s)) => ws == s,
        (Some(_), None) => false,
    }
}

/// True when an open window covers `server` at `now`.
pub fn muted(windows: &[MaintenanceWindow], server: Option<&ServerId>, now: i64) -> bool {
    windows.iter().any(|w| covers(w, server) && is_open(w, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(cron: &str, tz: &str, secs: u64, server: Option<&str>) -> MaintenanceWindow {
        MaintenanceWindow {
            id: "w".into(),
            server_id: server.map(ServerId::from),
            name: "nightly".into(),
            cron: cron.into(),
            timezone: tz.into(),
            duration_secs: secs,
            stop_at_start: false,
            start_at_end: false,
            enabled: true,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn at(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn open_between_start_and_end() {
        // 04:00 to 05:00 Berlin = 03:00 to 04:00 UTC in winter.
        let w = window("0 4 * * *", "Europe/Berlin", 3600, Some("s1"));
        assert!(!is_open(&w, at("2026-12-02T02:59:59Z")));
        assert_eq!(
            open_since(&w, at("2026-12-02T03:00:00Z")),
            Some(at("2026-12-02T03:00:00Z"))
        );
        assert!(is_open(&w, at("2026-12-02T03:59:59Z")));
        assert!(!is_open(&w, at("2026-12-02T04:00:00Z")));
        assert_eq!(
            next_start(&w, at("2026-12-02T03:30:00Z")),
            Some(at("2026-12-03T03:00:00Z"))
        );
        let s1 = ServerId::from("s1");
        let s2 = ServerId::from("s2");
        let now = at("2026-12-02T03:30:00Z");
        assert!(muted(std::slice::from_ref(&w), Some(&s1), now));
        assert!(!muted(std::slice::from_ref(&w), Some(&s2), now));
        assert!(!muted(std::slice::from_ref(&w), None, now));
        let node = window("* * * * *", "UTC", 60, None);
        assert!(muted(std::slice::from_ref(&node), Some(&s2), now));
        assert!(muted(&[node], None, now));
        let mut off = w.clone();
        off.enabled = false;
        assert!(!is_open(&off, now));
    }
}
