//! OpenTTD's game-info request on the game's TCP port (OpenTTD 12 and later).
//!
//! The client sends PACKET_CLIENT_GAME_INFO and the server answers with
//! PACKET_SERVER_GAME_INFO carrying a serialized NetworkGameInfo
//! (`src/network/core/network_game_info.cpp`). Packets are a little-endian
//! u16 size that includes the 3-byte header, a u8 type and the payload.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::wire::{Reader, non_empty};
use crate::{QueryError, QueryReply, protocol};

const PACKET_SERVER_FULL: u8 = 0;
const PACKET_SERVER_BANNED: u8 = 1;
const PACKET_SERVER_ERROR: u8 = 3;
const PACKET_SERVER_GAME_INFO: u8 = 6;
const PACKET_CLIENT_GAME_INFO: u8 = 7;
/// OpenTTD's TCP_MTU; the game never sends a larger packet.
const MAX_PACKET: usize = 32767;
/// Versions of the NetworkGameInfo layout this parser knows (13.x sends 6, 14+ sends 7).
const MAX_GAME_INFO_VERSION: u8 = 7;
const GRF_MD5_LEN: usize = 16;

pub async fn query(addr: SocketAddr) -> Result<QueryReply, QueryError> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(&[3, 0, PACKET_CLIENT_GAME_INFO]).await?;

    let mut header = [0u8; 3];
    stream.read_exact(&mut header).await.map_err(truncated)?;
    let size = usize::from(u16::from_le_bytes([header[0], header[1]]));
    if size < header.len() {
        return Err(protocol(format!(
            "packet size {size} is below the header size"
        )));
    }
    if size > MAX_PACKET {
        return Err(protocol(format!("packet size {size} (limit {MAX_PACKET})")));
    }
    let mut payload = vec![0u8; size - header.len()];
    stream.read_exact(&mut payload).await.map_err(truncated)?;

    match header[2] {
        PACKET_SERVER_GAME_INFO => parse_game_info(&payload),
        PACKET_SERVER_FULL => Err(protocol("server is full")),
        PACKET_SERVER_BANNED => Err(protocol("server has banned this address")),
        PACKET_SERVER_ERROR => Err(protocol("server answered with an error")),
        other => Err(protocol(format!("unexpected OpenTTD packet type {other}"))),
    }
}

fn truncated(e: std::io::Error) -> QueryError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        protocol("game info packet truncated")
    } else {
        QueryError::Io(e)
    }
}

/// Mirrors DeserializeNetworkGameInfo: newer versions prepend fields, so
/// each version's fields are read and then fall through to the older ones.
fn parse_game_info(payload: &[u8]) -> Result<QueryReply, QueryError> {
    let mut r = Reader::new(payload);
    let version = r.u8("game info version")?;
    if version == 0 || version > MAX_GAME_INFO_VERSION {
        return Err(protocol(format!("unknown game info version {version}")));
    }
    let mut grf_names = false;
    if version >= 7 {
        r.bytes(8, "ticks playing")?;
    }
    if version >= 6 {
        match r.u8("NewGRF serialisation")? {
            0 => {}
            1 => grf_names = true,
            // Lookup ids are only used towards the game coordinator.
            other => {
                return Err(protocol(format!(
                    "unsupported NewGRF serialisation {other}"
                )));
            }
        }
    }
    if version >= 5 {
        r.u32_le("game script version")?;
        r.cstr("game script name")?;
    }
    if version >= 4 {
        let grfs = r.u8("NewGRF count")?;
        for _ in 0..grfs {
            r.bytes(4 + GRF_MD5_LEN, "NewGRF identifier")?;
            if grf_names {
                r.cstr("NewGRF name")?;
            }
        }
    }
    if version >= 3 {
        r.bytes(8, "dates")?;
    }
    if version >= 2 {
        r.bytes(3, "company counts")?;
    }
    let server_name = r.cstr("server name")?;
    let revision = r.cstr("server revision")?;
    if version < 6 {
        r.u8("server language")?;
    }
    let _use_password = r.u8("password flag")?;
    let clients_max = r.u8("clients max")?;
    let clients_on = r.u8("clients on")?;
    let _spectators_on = r.u8("spectators on")?;
    if version < 3 {
        r.bytes(4, "old dates")?;
    }
    let map = if version < 6 {
        non_empty(r.cstr("map name")?)
    } else {
        None
    };
    r.bytes(6, "map size, landscape and dedicated flag")?;
    Ok(QueryReply {
        players: clients_on.into(),
        max_players: clients_max.into(),
        names: Vec::new(),
        server_name: non_empty(server_name),
        version: non_empty(revision),
        map,
    })
}
