//! Resource sampling: one task for the whole agent scans `/proc` once per interval and
//! groups processes by session (each server is the leader of its own session).

use crate::agent::Registry;
use crate::lock;
use crate::supervisor::Shared;
use garrison_proto::{Event, ServerId, Stats, StatsEvent};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Disk usage is walked at most this often (cached in between).
const DISK_EVERY: Duration = Duration::from_secs(15);

/// The fields we need from `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    pub session: i32,
    /// utime + stime in clock ticks.
    pub ticks: u64,
    pub rss_pages: u64,
    /// Clock ticks after boot when the process started: with the pid, it names one
    /// process even after pids are reused.
    pub start_time: u64,
}

/// Parse `/proc/<pid>/stat`. The command name (field 2) may contain spaces and
/// parentheses, so fields are counted after the last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // fields[0] is field 3 (state); field N is fields[N - 3].
    let session = fields.get(3)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let start_time: u64 = fields.get(19)?.parse().ok()?;
    let rss: i64 = fields.get(21)?.parse().ok()?;
    Some(ProcStat {
        session,
        ticks: utime + stime,
        rss_pages: u64::try_from(rss).unwrap_or(0),
        start_time,
    })
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SessionUsage {
    pub ticks: u64,
    pub rss_pages: u64,
    pub processes: u32,
}

/// Sum usage per session for the sessions in `wanted`. Blocking.
pub(crate) fn scan_proc(wanted: &HashSet<i32>) -> HashMap<i32, SessionUsage> {
    let mut out: HashMap<i32, SessionUsage> = HashMap::new();
    if wanted.is_empty() {
        return out;
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // The process may be gone by now; that is fine.
        let Ok(text) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(st) = parse_stat(&text) else {
            continue;
        };
        if wanted.contains(&st.session) {
            let u = out.entry(st.session).or_default();
            u.ticks += st.ticks;
            u.rss_pages += st.rss_pages;
            u.processes += 1;
        }
    }
    out
}

/// Bytes used by the files under `path` (symlinks not followed). Blocking.
pub(crate) fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}

fn sysconf_or(var: nix::unistd::SysconfVar, default: u64) -> u64 {
    match nix::unistd::sysconf(var) {
        Ok(Some(v)) if v > 0 => v as u64,
        _ => default,
    }
}

struct Prev {
    pid: i32,
    ticks: u64,
    at: Instant,
}

pub(crate) async fn sampler(
    registry: Weak<Registry>,
    events: mpsc::Sender<Event>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let page = sysconf_or(nix::unistd::SysconfVar::PAGE_SIZE, 4096);
    let clk = sysconf_or(nix::unistd::SysconfVar::CLK_TCK, 100) as f64;
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut prev: HashMap<ServerId, Prev> = HashMap::new();
    let mut last_disk: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            changed = stop.changed() => if changed.is_err() || *stop.borrow() { break },
        }
        if *stop.borrow() {
            break;
        }
        let Some(reg) = registry.upgrade() else { break };
        let servers: Vec<Arc<Shared>> = reg.all_shared();
        drop(reg);

        let disk_due = last_disk.is_none_or(|t| t.elapsed() >= DISK_EVERY);
        if disk_due {
            last_disk = Some(Instant::now());
        }
        let mut wanted = HashSet::new();
        let mut disk_dirs: Vec<(usize, PathBuf)> = Vec::new();
        for (i, s) in servers.iter().enumerate() {
            let live = lock(&s.live);
            if let Some(p) = &live.proc {
                wanted.insert(p.pid);
            }
            if disk_due || !live.disk_known {
                disk_dirs.push((i, s.dir.clone()));
            }
        }
        let scanned = tokio::task::spawn_blocking(move || {
            let usage = scan_proc(&wanted);
            let disks: Vec<(usize, u64)> = disk_dirs
                .into_iter()
                .map(|(i, d)| (i, dir_size(&d)))
                .collect();
            (usage, disks)
        })
        .await;
        let Ok((usage, disks)) = scanned else {
            continue;
        };
        for (i, bytes) in disks {
            if let Some(s) = servers.get(i) {
                let mut live = lock(&s.live);
                live.stats.disk_bytes = bytes;
                live.disk_known = true;
            }
        }
        let now = Instant::now();
        let mut seen = HashSet::new();
        for s in &servers {
            let mut live = lock(&s.live);
            let Some(p) = live.proc.clone() else { continue };
            seen.insert(s.id.clone());
            let u = usage.get(&p.pid).copied().unwrap_or_default();
            let (prev_ticks, since) = match prev.get(&s.id) {
                Some(pr) if pr.pid == p.pid => (pr.ticks, pr.at),
                _ => (0, p.started),
            };
            let secs = now.saturating_duration_since(since).as_secs_f64();
            let cpu = if secs > 0.0 {
                (u.ticks.saturating_sub(prev_ticks) as f64 / clk) / secs * 100.0
            } else {
                0.0
            };
            prev.insert(
                s.id.clone(),
                Prev {
                    pid: p.pid,
                    ticks: u.ticks,
                    at: now,
                },
            );
            let stats = Stats {
                cpu_percent: (cpu * 10.0).round() / 10.0,
                memory_bytes: u.rss_pages * page,
                disk_bytes: live.stats.disk_bytes,
                uptime_secs: p.started.elapsed().as_secs(),
                processes: u.processes,
                sampled_at: crate::now_millis(),
            };
            live.stats = stats.clone();
            // Sent under the lock so a sample never overtakes the supervisor's final
            // zero sample for a process that just ended.
            let _ = events.try_send(Event::Stats(StatsEvent {
                server: s.id.clone(),
                stats,
            }));
        }
        prev.retain(|id, _| seen.contains(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_names() {
        let line = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 1 0 12345 1000000 250 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
        let st = parse_stat(line).unwrap();
        assert_eq!(
            st,
            ProcStat {
                session: 1234,
                ticks: 12,
                rss_pages: 250,
                start_time: 12345,
            }
        );
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 1"), None);
    }

    #[test]
    fn own_process_is_found() {
        let text = std::fs::read_to_string("/proc/self/stat").unwrap();
        let st = parse_stat(&text).unwrap();
        let usage = scan_proc(&HashSet::from([st.session]));
        let u = usage.get(&st.session).unwrap();
        assert!(u.processes >= 1 && u.rss_pages > 0);
    }

    #[test]
    fn dir_size_sums_files() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("a"), [0u8; 100]).unwrap();
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        std::fs::write(tmp.path().join("d/b"), [0u8; 50]).unwrap();
        assert_eq!(dir_size(tmp.path()), 150);
    }
}
