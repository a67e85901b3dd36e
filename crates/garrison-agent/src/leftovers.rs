//! What this agent started and has not yet seen end: `data_dir/run/<server id>` holds
//! the process group leader's pid and start time. A clean stop removes the file; if
//! Garrison itself was killed, the next start finds the file and ends the orphaned
//! group, so no game server keeps running (and holding its port) unsupervised.

use crate::stats::parse_stat;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::io;
use std::path::{Path, PathBuf};

pub(crate) fn run_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("run")
}

fn start_time(pid: i32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text).map(|s| s.start_time)
}

/// Note that `pid` leads the server's process group. Blocking: call off the runtime.
pub(crate) fn record(run_dir: &Path, server: &str, pid: i32) -> io::Result<()> {
    let Some(started) = start_time(pid) else {
        return Ok(()); // already gone: nothing to clean up later
    };
    std::fs::create_dir_all(run_dir)?;
    let tmp = run_dir.join(format!(".{server}.tmp"));
    std::fs::write(&tmp, format!("{pid} {started}\n"))?;
    std::fs::rename(&tmp, run_dir.join(server))
}

/// The group has ended. Blocking: call off the runtime.
pub(crate) fn forget(run_dir: &Path, server: &str) {
    match std::fs::remove_file(run_dir.join(server)) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(server, error = %e, "cannot remove a run record"),
    }
}

/// End every process group a previous run of the agent left behind; returns the
/// server ids whose orphans were killed. A record whose pid now belongs to another
/// process (a different start time) is only removed. Call before starting the agent.
pub fn reap_orphans(data_dir: &Path) -> Vec<String> {
    let dir = run_dir(data_dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut killed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            let _ = std::fs::remove_file(entry.path());
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let mut parts = text.split_whitespace();
        let pid = parts.next().and_then(|p| p.parse::<i32>().ok());
        let started = parts.next().and_then(|p| p.parse::<u64>().ok());
        if let (Some(pid), Some(started)) = (pid, started)
            && pid > 1
            && start_time(pid) == Some(started)
        {
            tracing::warn!(server = %name, pid, "ending a game server left running by a previous Garrison");
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            killed.push(name.clone());
        }
        let _ = std::fs::remove_file(entry.path());
    }
    killed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    fn alive(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                !s.rsplit_once(')')
                    .map(|(_, r)| r.trim_start().starts_with('Z'))
                    .unwrap_or(true)
            })
            .unwrap_or(false)
    }

    #[test]
    fn orphans_are_ended_and_stale_records_dropped() {
        let data = tempfile::tempdir().unwrap();
        let run = run_dir(data.path());
        // A process in its own group, as the agent starts game servers.
        let mut child = std::process::Command::new("sleep")
            .arg("1000")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        record(&run, "orphan", pid).unwrap();
        // A record whose pid is ours but whose start time is not: must not be killed.
        std::fs::write(run.join("reused"), format!("{} 1\n", std::process::id())).unwrap();
        std::fs::write(run.join("garbage"), "not a record").unwrap();

        let killed = reap_orphans(data.path());
        assert_eq!(killed, vec!["orphan".to_owned()]);
        let _ = child.wait();
        assert!(!alive(pid));
        assert!(
            std::fs::read_dir(&run).unwrap().next().is_none(),
            "records left"
        );

        record(&run, "x", std::process::id() as i32).unwrap();
        forget(&run, "x");
        forget(&run, "x");
        assert!(!run.join("x").exists());
    }
}
