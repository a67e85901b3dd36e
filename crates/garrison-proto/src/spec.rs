//! What a node needs to run one server, fully resolved by the panel from a template and
//! the server's settings. The node never sees templates or variables.

use crate::config::ConfigFile;
use crate::ids::ServerId;
use crate::install::InstallStep;
use crate::template::PromptPattern;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    pub id: ServerId,
    /// argv of the game server; `command[0]` is an absolute path or found on the node's PATH.
    pub command: Vec<String>,
    /// The complete environment of the process: nothing is inherited from Garrison.
    pub env: BTreeMap<String, String>,
    /// The install steps, in order.
    #[serde(default)]
    pub install: Vec<InstallStep>,
    /// Config files patched from the server's settings before every start.
    #[serde(default)]
    pub config_files: Vec<ConfigFile>,
    /// Regex matched against each console line while starting; a match means running.
    /// `None` means running as soon as the process is spawned.
    #[serde(default)]
    pub done_pattern: Option<String>,
    pub stop: StopMethod,
    pub stop_timeout_secs: u64,
    pub restart: RestartPolicy,
    /// Exit codes after which the server is started again at once (not a crash).
    #[serde(default)]
    pub restart_exit_codes: Vec<i32>,
    /// Smallest Java major version: a command (or install command) whose program is
    /// `java` runs the node's oldest Java that is at least this version (the closest match).
    #[serde(default)]
    pub java: Option<u32>,
    /// Console lines that ask the user to act (sign in with a code).
    #[serde(default)]
    pub prompts: Vec<PromptPattern>,
    /// Programs the node must have (absolute, or found on its PATH) before an install
    /// or a start; missing ones fail it with their names.
    #[serde(default)]
    pub requires: Vec<String>,
    /// Disk limit of the server directory; `None` means unlimited. Every write the
    /// node makes for users (API, SFTP, uploads, extracts) is checked against it first.
    #[serde(default)]
    pub disk_limit_bytes: Option<u64>,
    /// Paths hidden from and protected against users (API and SFTP), gitignore syntax,
    /// relative to the server root. The game and the installer are not restricted.
    #[serde(default)]
    pub file_deny: Vec<String>,
    /// Console commands around a backup of the running server.
    #[serde(default, skip_serializing_if = "crate::backup::BackupHooks::is_empty")]
    pub backup_hooks: crate::backup::BackupHooks,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum StopMethod {
    /// Write this line to the server's stdin.
    Command { command: String },
    /// Send this signal to the server's whole process group.
    Signal { signal: StopSignal },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopSignal {
    #[serde(rename = "SIGTERM")]
    Term,
    #[serde(rename = "SIGINT")]
    Int,
    #[serde(rename = "SIGHUP")]
    Hup,
    #[serde(rename = "SIGQUIT")]
    Quit,
}

/// What happens after an unexpected exit. A crash counts against the window; when
/// `max_restarts` restarts already happened inside `window_secs`, the server stays
/// crashed. The n-th restart in a window waits `backoff_secs * 2^(n-1)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicy {
    pub enabled: bool,
    pub max_restarts: u32,
    pub window_secs: u64,
    pub backoff_secs: u64,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            enabled: true,
            max_restarts: 3,
            window_secs: 600,
            backoff_secs: 1,
        }
    }
}
