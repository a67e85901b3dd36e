//! Disk usage of one server directory, kept incrementally.
//!
//! A full walk per write would make quota checks cost O(files); instead one walk runs
//! when a server is registered, and every change the agent makes adds or removes its
//! bytes. Changes the game makes are only seen as inotify events, so they mark the
//! figure stale and a background walk refreshes it (at most every
//! `files.usage_rescan_every`, 30 s by default).

use crate::console::Console;
use crate::lock;
use garrison_proto::{DiskUsage, FileError, FileErrorKind};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long a write waits for the first walk before checking against what is known.
const FIRST_SCAN_WAIT: Duration = Duration::from_secs(60);

pub(crate) struct Usage {
    state: Mutex<State>,
    scanned: Condvar,
    console: Arc<Console>,
}

struct State {
    used: u64,
    /// Held for uploads in progress (their bytes are not in the server dir yet).
    reserved: u64,
    limit: Option<u64>,
    /// The first walk has finished.
    known: bool,
    /// Game changes since the last walk started.
    stale: bool,
    scanning: bool,
    last_scan: Option<Instant>,
    /// Bytes added (or removed) by the agent while a walk runs: the walk may or may not
    /// have seen them, so they are added on top (erring towards more usage).
    delta_during_scan: i128,
    /// Over the limit and already told in the console.
    over: bool,
}

/// `1.5 MiB`: the units users see in messages and the console.
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

impl Usage {
    pub(crate) fn new(limit: Option<u64>, console: Arc<Console>) -> Usage {
        Usage {
            state: Mutex::new(State {
                used: 0,
                reserved: 0,
                limit,
                known: false,
                stale: false,
                scanning: false,
                last_scan: None,
                delta_during_scan: 0,
                over: false,
            }),
            scanned: Condvar::new(),
            console,
        }
    }

    pub(crate) fn get(&self) -> DiskUsage {
        let s = lock(&self.state);
        DiskUsage {
            used_bytes: s.used,
            limit_bytes: s.limit,
        }
    }

    pub(crate) fn set_limit(&self, limit: Option<u64>) {
        let mut s = lock(&self.state);
        s.limit = limit;
        self.notice(&mut s);
    }

    fn wait_known<'a>(
        &'a self,
        s: std::sync::MutexGuard<'a, State>,
    ) -> std::sync::MutexGuard<'a, State> {
        if s.known || s.limit.is_none() {
            return s;
        }
        let deadline = Instant::now() + FIRST_SCAN_WAIT;
        let mut s = s;
        while !s.known {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            s = match self.scanned.wait_timeout(s, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        s
    }

    fn exceeded(s: &State, limit: u64) -> FileError {
        FileError::new(
            FileErrorKind::QuotaExceeded,
            None,
            format!(
                "quota exceeded: {} limit, {} used",
                human(limit),
                human(s.used.saturating_add(s.reserved))
            ),
        )
    }

    /// Count `bytes` more as used, or refuse (changing nothing) when that would pass the
    /// limit.
    pub(crate) fn charge(&self, bytes: u64) -> Result<(), FileError> {
        if bytes == 0 {
            return Ok(());
        }
        let mut s = self.wait_known(lock(&self.state));
        if let Some(limit) = s.limit
            && s.used.saturating_add(s.reserved).saturating_add(bytes) > limit
        {
            return Err(Usage::exceeded(&s, limit));
        }
        s.used = s.used.saturating_add(bytes);
        if s.scanning {
            s.delta_during_scan += i128::from(bytes);
        }
        Ok(())
    }

    /// Bytes that still fit (`u64::MAX` without a limit).
    pub(crate) fn remaining(&self) -> u64 {
        let s = self.wait_known(lock(&self.state));
        match s.limit {
            None => u64::MAX,
            Some(l) => l.saturating_sub(s.used.saturating_add(s.reserved)),
        }
    }

    pub(crate) fn release(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let mut s = lock(&self.state);
        s.used = s.used.saturating_sub(bytes);
        if s.scanning {
            s.delta_during_scan -= i128::from(bytes);
        }
        self.notice(&mut s);
    }

    /// Hold `bytes` for an upload.
    pub(crate) fn reserve(&self, bytes: u64) -> Result<(), FileError> {
        let mut s = self.wait_known(lock(&self.state));
        if let Some(limit) = s.limit
            && s.used.saturating_add(s.reserved).saturating_add(bytes) > limit
        {
            return Err(Usage::exceeded(&s, limit));
        }
        s.reserved = s.reserved.saturating_add(bytes);
        Ok(())
    }

    pub(crate) fn unreserve(&self, bytes: u64) {
        let mut s = lock(&self.state);
        s.reserved = s.reserved.saturating_sub(bytes);
    }

    /// Turn a reservation into usage (an upload moved into place).
    pub(crate) fn settle(&self, reserved: u64, used: u64) {
        let mut s = lock(&self.state);
        s.reserved = s.reserved.saturating_sub(reserved);
        s.used = s.used.saturating_add(used);
        if s.scanning {
            s.delta_during_scan += i128::from(used);
        }
        self.notice(&mut s);
    }

    pub(crate) fn mark_stale(&self) {
        lock(&self.state).stale = true;
    }

    /// Whether a rescan should start now; marks it started.
    pub(crate) fn begin_scan_if_due(&self, every: Duration) -> bool {
        let mut s = lock(&self.state);
        let due =
            !s.scanning && s.known && s.stale && s.last_scan.is_none_or(|t| t.elapsed() >= every);
        if due {
            s.scanning = true;
            s.stale = false;
            s.delta_during_scan = 0;
            s.last_scan = Some(Instant::now());
        }
        due
    }

    /// Mark the first walk started.
    pub(crate) fn begin_first_scan(&self) {
        let mut s = lock(&self.state);
        s.scanning = true;
        s.delta_during_scan = 0;
        s.last_scan = Some(Instant::now());
    }

    /// A walk finished with `bytes` (or failed: `None` keeps the old figure).
    pub(crate) fn finish_scan(&self, bytes: Option<u64>) {
        let mut s = lock(&self.state);
        if let Some(b) = bytes {
            let total = i128::from(b) + s.delta_during_scan;
            s.used = u64::try_from(total.max(0)).unwrap_or(u64::MAX);
        }
        s.scanning = false;
        s.known = true;
        s.delta_during_scan = 0;
        self.notice(&mut s);
        drop(s);
        self.scanned.notify_all();
    }

    /// One console line per crossing of the limit.
    fn notice(&self, s: &mut State) {
        let Some(limit) = s.limit else {
            s.over = false;
            return;
        };
        let over = s.used > limit;
        if over && !s.over && s.known {
            self.console.push(vec![format!(
                "[Garrison] disk usage {} is over the limit of {}",
                human(s.used),
                human(limit)
            )]);
        }
        if s.known {
            s.over = over;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn human_sizes() {
        assert_eq!(human(12), "12 B");
        assert_eq!(human(10 * 1024 * 1024), "10.0 MiB");
        assert_eq!(human(10_695_475), "10.2 MiB");
    }
}
