//! The one seam between the panel and a machine that runs game servers. The panel holds
//! `Arc<dyn Node>` and never knows whether it is the in-process agent or a remote one.
//! Events (status, console, stats, install) flow the other way, through the event
//! channel the node was built with.

use crate::ids::ServerId;
use crate::spec::RunSpec;
use crate::state::{PowerAction, ServerState, Stats};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    #[error("no server {0} on this node")]
    UnknownServer(ServerId),
    /// The action is not possible in the server's current state.
    #[error("the server is {state}; {action} is not possible now")]
    Conflict { state: ServerState, action: String },
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    /// A config file could not be patched (it does not parse, or a key cannot be set).
    #[error("{path}: {message}")]
    Config { path: String, message: String },
    #[error("the server's process is not accepting input")]
    NotRunning,
    #[error("node unavailable: {0}")]
    Unavailable(String),
    /// A file operation failed; `kind` says how (not found, escape, quota, …).
    #[error(transparent)]
    File(#[from] crate::files::FileError),
    /// A backup call failed; `kind` says how (missing, corrupt, busy, quota, …).
    #[error(transparent)]
    Backup(#[from] crate::backup::BackupError),
    #[error("{0}")]
    Io(String),
}

/// Recent console lines. `next_seq` is the sequence number the next line will get, so
/// a reader that also subscribes to live events can skip lines it already has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleSnapshot {
    pub lines: Vec<String>,
    pub next_seq: u64,
}

#[async_trait]
pub trait Node:
    crate::files::NodeFiles + crate::backup::NodeBackups + Send + Sync + 'static
{
    /// Create or replace the spec of a server. Creates its directory; never touches a
    /// running process (a changed spec applies at the next start).
    async fn register(&self, spec: RunSpec) -> Result<(), NodeError>;

    /// Run the install step (seed files, then the install command). Returns once the
    /// install has begun; progress arrives as events. Conflict unless offline or crashed.
    async fn install(&self, id: &ServerId) -> Result<(), NodeError>;

    /// Stop a running install (its command's process group is ended); the install
    /// ends `cancelled`. Conflict unless installing.
    async fn cancel_install(&self, id: &ServerId) -> Result<(), NodeError>;

    /// Patch the server's config files from its registered spec now (they are also
    /// patched before every start). `Config` names the file a patch could not be
    /// applied to; files already patched stay patched with the same values.
    async fn apply_config(&self, id: &ServerId) -> Result<(), NodeError>;

    /// Stop and forget a server and delete its directory and logs. Conflict while active.
    async fn remove(&self, id: &ServerId) -> Result<(), NodeError>;

    /// Returns once the action is accepted; the state changes arrive as events.
    async fn power(&self, id: &ServerId, action: PowerAction) -> Result<(), NodeError>;

    /// Write one line to the server's stdin.
    async fn command(&self, id: &ServerId, line: &str) -> Result<(), NodeError>;

    async fn state(&self, id: &ServerId) -> Result<ServerState, NodeError>;

    /// The last `lines` console lines (at most the ring buffer's size).
    async fn console(&self, id: &ServerId, lines: usize) -> Result<ConsoleSnapshot, NodeError>;

    async fn stats(&self, id: &ServerId) -> Result<Stats, NodeError>;

    /// The node's machine: CPU (since the previous call), memory, data disk, load.
    async fn host_stats(&self) -> Result<crate::state::HostStats, NodeError>;

    /// Stop every server (stop method, then SIGKILL to the group after its timeout) and
    /// end all node tasks. Called once when Garrison exits.
    async fn shutdown(&self);
}
