//! Spawning native processes in their own session and process group, and signalling
//! whole groups.

use crate::config::RunAs;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Gid, Pid, Uid, setgid, setgroups, setsid, setuid};
use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tokio::process::{Child, Command};

/// Spawn `argv` with only `env`, in `cwd`, with piped stdio, as the leader of a new
/// session (so its pid is also its process group id), as `run_as` when set.
/// Blocking (PATH lookup, fork): call from `spawn_blocking`.
pub(crate) fn spawn(
    argv: &[String],
    env: &BTreeMap<String, String>,
    cwd: &Path,
    run_as: Option<RunAs>,
) -> io::Result<Child> {
    let Some(name) = argv.first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    };
    let program = resolve_program(name, cwd)?;
    let mut cmd = Command::new(program);
    cmd.args(&argv[1..])
        .env_clear()
        .envs(env)
        .current_dir(cwd)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(false);
    let ids = run_as.map(|r| (Uid::from_raw(r.uid), Gid::from_raw(r.gid)));
    // SAFETY: the closure runs in the forked child before exec. It only calls setsid,
    // setgroups, setgid and setuid, which are plain system calls and async-signal-safe
    // (POSIX lists setsid, setgid, setuid; setgroups is a direct syscall on Linux). It
    // does not allocate (the group list is a one-element array on the stack, errors
    // are converted with `io::Error::from(Errno)`, which stores the raw code), takes no
    // locks and touches no state shared with other threads; it only reads the captured
    // `Copy` ids.
    unsafe {
        cmd.pre_exec(move || {
            setsid().map_err(io::Error::from)?;
            if let Some((uid, gid)) = ids {
                setgroups(&[gid]).map_err(io::Error::from)?;
                setgid(gid).map_err(io::Error::from)?;
                setuid(uid).map_err(io::Error::from)?;
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// `command[0]`: a bare name is looked up on the node's PATH (the game's environment is
/// not inherited, so its PATH is not used); a relative path is relative to the server
/// directory.
fn resolve_program(name: &str, cwd: &Path) -> io::Result<PathBuf> {
    if name.contains('/') {
        return Ok(cwd.join(name));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if let Ok(meta) = std::fs::metadata(&candidate)
            && meta.is_file()
            && meta.permissions().mode() & 0o111 != 0
        {
            return Ok(candidate);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("{name}: command not found on PATH"),
    ))
}

/// The programs in `names` this node does not have (absolute paths that are not an
/// executable file, bare names not found on the node's PATH). Blocking.
pub(crate) fn missing_programs(names: &[String]) -> Vec<String> {
    names
        .iter()
        .filter(|n| {
            if n.starts_with('/') {
                !std::fs::metadata(n.as_str())
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            } else {
                resolve_program(n, Path::new("/")).is_err()
            }
        })
        .cloned()
        .collect()
}

/// Send `signal` to the process group `pgid`. False when no such group exists.
pub(crate) fn signal_group(pgid: i32, signal: Signal) -> bool {
    if pgid <= 1 {
        return false;
    }
    killpg(Pid::from_raw(pgid), signal).is_ok()
}

pub(crate) fn stop_signal(s: garrison_proto::StopSignal) -> Signal {
    use garrison_proto::StopSignal::*;
    match s {
        Term => Signal::SIGTERM,
        Int => Signal::SIGINT,
        Hup => Signal::SIGHUP,
        Quit => Signal::SIGQUIT,
    }
}

/// "exited with code 3" / "killed by signal 9 (SIGKILL)".
pub(crate) fn describe_exit(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(c), _) => format!("exited with code {c}"),
        (None, Some(s)) => match Signal::try_from(s) {
            Ok(sig) => format!("killed by signal {s} ({})", sig.as_str()),
            Err(_) => format!("killed by signal {s}"),
        },
        (None, None) => "exited".to_owned(),
    }
}
