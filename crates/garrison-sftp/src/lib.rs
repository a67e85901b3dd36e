//! Garrison's SFTP server: panel users sign in as `<panel-username>.<server-short-id>`
//! with a password or an SSH key (checked by the panel through [`SftpGate`]) and reach
//! that server's files through the agent's one sandbox, with the same permissions as
//! the HTTP API, checked on every operation.
//!
//! ```text
//! TCP accept ─ per-IP limit ─ connection task ─ russh session (SshHandler: auth, channels)
//!                                         └─ recheck task (gate.recheck every recheck_secs)
//!                                         └─ channel task ─ sftp::serve (ServerFiles)
//! ```
//!
//! Only the `sftp` subsystem is served: shell, exec, pty, env, X11, port and agent
//! forwarding are refused.
//!
//! [`SftpGate`]: garrison_proto::SftpGate

mod backend;
mod config;
mod error;
mod hostkey;
mod limits;
mod listing;
mod paths;
mod server;
mod sftp;
mod ssh;
mod stream;

pub use config::SftpConfig;
pub use error::SftpError;
pub use server::{SftpServer, start};
