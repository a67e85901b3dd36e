//! What a node needs to run one server, fully resolved by the panel from a template and
//! the server's settings. The node never sees templates or variables.

use crate::ids::ServerId;
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
    /// argv of the install step run in the server directory, if any.
    #[serde(default)]
    pub install: Option<Vec<String>>,
    /// Files written into the server directory at install when they do not exist yet.
    #[serde(default)]
    pub seed_files: Vec<SeedFile>,
    /// Regex matched against each console line while starting; a match means running.
    /// `None` means running as soon as the process is spawned.
    #[serde(default)]
    pub done_pattern: Option<String>,
    pub stop: StopMethod,
    pub stop_timeout_secs: u64,
    pub restart: RestartPolicy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFile {
    /// Relative path inside the server directory, `/`-separated, no `..`.
    pub path: String,
    pub content: String,
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
