//! Game server query protocols.
//!
//! Asks a running game server how many players it has, in the server's own
//! protocol: Valve A2S, Minecraft Server List Ping, Minecraft Query
//! (GameSpy4) and OpenTTD's TCP game-info packet. Luanti servers are not
//! asked; they announce themselves to a server list, and
//! [`luanti_announce`] reads such an announcement. For games without any
//! query protocol, [`PlayerTracker`] follows join and leave lines on the
//! console.
//!
//! Every reply is treated as hostile: reads are bounded, malformed replies
//! are [`QueryError::Protocol`], and the whole query runs under one timeout.

mod a2s;
mod console;
mod luanti;
mod mc_query;
mod openttd;
mod slp;
mod wire;

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

pub use console::{
    LUANTI_JOIN, LUANTI_LEAVE, MINECRAFT_JOIN, MINECRAFT_LEAVE, OPENTTD_JOIN, OPENTTD_LEAVE,
    PlayerChange, PlayerTracker,
};
pub use luanti::{LuantiAnnounce, luanti_announce};

/// Which protocol to speak to a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryKind {
    /// Valve A2S_INFO / A2S_PLAYER over UDP (Source, GoldSrc and many others).
    A2s,
    /// Minecraft Java Server List Ping over TCP (1.7+).
    MinecraftSlp,
    /// Minecraft Query (GameSpy4) over UDP; needs `enable-query=true`.
    MinecraftQuery,
    /// OpenTTD game-info request on the game's TCP port.
    #[serde(rename = "openttd")]
    OpenTtd,
}

/// What a server said about itself. Fields a protocol does not carry stay `None` or empty.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct QueryReply {
    pub players: u32,
    pub max_players: u32,
    /// Player names, when the protocol lists them; may be a sample shorter than `players`.
    pub names: Vec<String>,
    pub server_name: Option<String>,
    pub version: Option<String>,
    pub map: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("the server did not answer in time")]
    Timeout,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The reply was malformed, truncated, too large or not what was asked for.
    #[error("protocol error: {0}")]
    Protocol(String),
}

pub(crate) fn protocol(msg: impl Into<String>) -> QueryError {
    QueryError::Protocol(msg.into())
}

/// Asks the server at `addr` for its player count, giving up after `timeout`.
pub async fn query(
    kind: QueryKind,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<QueryReply, QueryError> {
    let deadline = Instant::now() + timeout;
    let work = match kind {
        // A2S keeps its own clock: when the optional player list runs out of
        // time it still returns what A2S_INFO said.
        QueryKind::A2s => return a2s::query(addr, deadline).await,
        QueryKind::MinecraftSlp => tokio::time::timeout_at(deadline, slp::query(addr)).await,
        QueryKind::MinecraftQuery => tokio::time::timeout_at(deadline, mc_query::query(addr)).await,
        QueryKind::OpenTtd => tokio::time::timeout_at(deadline, openttd::query(addr)).await,
    };
    work.unwrap_or(Err(QueryError::Timeout))
}
