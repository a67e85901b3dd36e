//! The node's machine: CPU from `/proc/stat` (busy share of the jiffies since the
//! previous sample), memory from `/proc/meminfo`, load from `/proc/loadavg`, and the
//! disk holding the data directory from `statvfs`.

use garrison_proto::HostStats;
use std::path::Path;
use std::sync::Mutex;

/// The CPU counters of the previous sample: (total jiffies, idle jiffies).
#[derive(Default)]
pub(crate) struct HostSampler {
    prev: Mutex<Option<(u64, u64)>>,
}

/// (total, idle) jiffies from the `cpu` line of `/proc/stat`.
fn parse_cpu(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is counted in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied()? + v.get(4).copied().unwrap_or(0);
    Some((total, idle))
}

/// (used, total) bytes: total minus what is available.
fn parse_meminfo(text: &str) -> Option<(u64, u64)> {
    let kib = |key: &str| -> Option<u64> {
        text.lines()
            .find(|l| l.starts_with(key))?
            .split_ascii_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let total = kib("MemTotal:")?;
    let available = kib("MemAvailable:").or_else(|| kib("MemFree:"))?;
    Some((total.saturating_sub(available) * 1024, total * 1024))
}

fn parse_load(text: &str) -> [f64; 3] {
    let mut out = [0.0; 3];
    for (slot, f) in out.iter_mut().zip(text.split_ascii_whitespace()) {
        *slot = f.parse().unwrap_or(0.0);
    }
    out
}

impl HostSampler {
    /// One sample. Blocking (reads /proc and calls statvfs): run it off the runtime.
    pub(crate) fn sample(&self, data_dir: &Path) -> std::io::Result<HostStats> {
        let stat = std::fs::read_to_string("/proc/stat")?;
        let cpu_percent = match parse_cpu(&stat) {
            Some((total, idle)) => {
                let mut prev = self.prev.lock().unwrap_or_else(|p| p.into_inner());
                let pct = match *prev {
                    Some((pt, pi)) if total > pt => {
                        let dt = (total - pt) as f64;
                        let busy = dt - idle.saturating_sub(pi) as f64;
                        (busy / dt * 1000.0).round() / 10.0
                    }
                    _ => 0.0,
                };
                *prev = Some((total, idle));
                pct
            }
            None => 0.0,
        };
        let (memory_used_bytes, memory_total_bytes) =
            parse_meminfo(&std::fs::read_to_string("/proc/meminfo")?).unwrap_or((0, 0));
        let load = parse_load(&std::fs::read_to_string("/proc/loadavg")?);
        let vfs = rustix::fs::statvfs(data_dir).map_err(std::io::Error::from)?;
        let block = vfs.f_frsize.max(1);
        let disk_total_bytes = vfs.f_blocks.saturating_mul(block);
        let disk_used_bytes = disk_total_bytes.saturating_sub(vfs.f_bfree.saturating_mul(block));
        Ok(HostStats {
            cpu_percent,
            memory_used_bytes,
            memory_total_bytes,
            disk_used_bytes,
            disk_total_bytes,
            load,
            sampled_at: crate::now_millis(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let stat = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(parse_cpu(stat), Some((1000, 850)));
        let mem = "MemTotal:       16000000 kB\nMemFree:  1000 kB\nMemAvailable:   4000000 kB\n";
        assert_eq!(
            parse_meminfo(mem),
            Some((12_000_000 * 1024, 16_000_000 * 1024))
        );
        assert_eq!(parse_load("0.50 1.25 2.00 1/300 4242"), [0.5, 1.25, 2.0]);
        assert_eq!(parse_cpu("intr 1 2"), None);
    }

    #[test]
    fn samples_this_machine() {
        let s = HostSampler::default();
        let dir = std::env::temp_dir();
        let first = s.sample(&dir).unwrap();
        assert_eq!(first.cpu_percent, 0.0, "no previous sample");
        assert!(first.memory_total_bytes > 0);
        assert!(first.memory_used_bytes <= first.memory_total_bytes);
        assert!(first.disk_total_bytes >= first.disk_used_bytes);
        let second = s.sample(&dir).unwrap();
        assert!((0.0..=100.0).contains(&second.cpu_percent));
    }
}
