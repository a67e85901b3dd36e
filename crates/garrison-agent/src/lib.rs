//! The Garrison node: runs game server processes natively, supervises them (one actor per
//! server), splits and batches their console output, keeps console logs with rotation,
//! and samples resource usage from `/proc`. The panel talks to it only through
//! [`garrison_proto::Node`]; the SFTP server reaches a server's files through
//! [`Agent::server_files`] ([`files`]: the same sandbox, deny list, quota and events as
//! the file API).

mod agent;
pub mod backup;
mod config;
mod configs;
mod console;
pub mod files;
mod host;
pub mod install;
mod installer;
mod java;
mod leftovers;
mod lines;
mod logwriter;
mod process;
mod prompts;
pub mod sandbox;
mod stats;
mod supervisor;

pub use agent::Agent;
pub use config::{
    AgentConfig, AgentError, BackupsConfig, FilesConfig, InstallConfig, RunAs, S3Config,
};
pub use files::{FileWriter, ServerFiles, WriteMode};
pub use leftovers::reap_orphans;

/// Milliseconds since the unix epoch, now.
pub(crate) fn now_millis() -> garrison_proto::UnixMillis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Lock a std mutex, ignoring poisoning: every critical section in this crate leaves the
/// data consistent even if a panic interrupted it.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
