//! Minecraft Query (the GameSpy4 protocol) over UDP; the server needs
//! `enable-query=true` and listens on `query.port`.
//!
//! <https://minecraft.wiki/w/Query>

use std::collections::HashMap;
use std::net::SocketAddr;

use tokio::net::UdpSocket;

use crate::wire::{Reader, non_empty, recv_datagram};
use crate::{QueryError, QueryReply, protocol};

const MAGIC: [u8; 2] = [0xFE, 0xFD];
const HANDSHAKE: u8 = 9;
const STAT: u8 = 0;
/// The server only keeps the low nibble of each byte of the session id.
const SESSION: [u8; 4] = [0x01, 0x02, 0x03, 0x04];
/// Fixed filler that precedes the key/value section ("splitnum\0\x80\0").
const KV_PADDING: usize = 11;
/// Fixed filler between the key/values and the player list ("\x01player_\0\0").
const PLAYER_PADDING: &[u8] = b"\x01player_\0\0";

pub async fn query(addr: SocketAddr) -> Result<QueryReply, QueryError> {
    let bind: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse().map_err(|_| protocol("bind address"))?
    } else {
        "[::]:0".parse().map_err(|_| protocol("bind address"))?
    };
    let sock = UdpSocket::bind(bind).await?;
    sock.connect(addr).await?;

    let mut handshake = MAGIC.to_vec();
    handshake.push(HANDSHAKE);
    handshake.extend_from_slice(&SESSION);
    sock.send(&handshake).await?;
    let reply = recv_datagram(&sock).await?;
    let token = parse_handshake(&reply)?;

    let mut stat = MAGIC.to_vec();
    stat.push(STAT);
    stat.extend_from_slice(&SESSION);
    stat.extend_from_slice(&token.to_be_bytes());
    // Four padding bytes ask for the full stat rather than the basic one.
    stat.extend_from_slice(&[0, 0, 0, 0]);
    sock.send(&stat).await?;
    let reply = recv_datagram(&sock).await?;
    parse_full_stat(&reply)
}

fn check_header(r: &mut Reader<'_>, kind: u8) -> Result<(), QueryError> {
    if r.u8("query type")? != kind {
        return Err(protocol("unexpected query reply type"));
    }
    if r.bytes(4, "session id")? != SESSION {
        return Err(protocol("query reply for another session"));
    }
    Ok(())
}

/// The challenge token comes as a decimal string and goes back as a
/// big-endian 32-bit integer.
fn parse_handshake(reply: &[u8]) -> Result<i32, QueryError> {
    let mut r = Reader::new(reply);
    check_header(&mut r, HANDSHAKE)?;
    let token = r.cstr("challenge token")?;
    token
        .trim()
        .parse::<i32>()
        .map_err(|_| protocol(format!("challenge token {token:?} is not a number")))
}

fn parse_full_stat(reply: &[u8]) -> Result<QueryReply, QueryError> {
    let mut r = Reader::new(reply);
    check_header(&mut r, STAT)?;
    if !r
        .bytes(KV_PADDING, "stat padding")?
        .starts_with(b"splitnum")
    {
        return Err(protocol("not a full stat reply"));
    }
    let mut kv = HashMap::new();
    loop {
        let key = r.cstr("stat key")?;
        if key.is_empty() {
            break;
        }
        let value = r.cstr("stat value")?;
        kv.insert(key, value);
    }
    if r.bytes(PLAYER_PADDING.len(), "player padding")? != PLAYER_PADDING {
        return Err(protocol("player list section missing"));
    }
    let mut names = Vec::new();
    while r.remaining() > 0 {
        let name = r.cstr("player name")?;
        if name.is_empty() {
            break;
        }
        names.push(name);
    }
    let number = |key: &str| -> Result<u32, QueryError> {
        kv.get(key)
            .ok_or_else(|| protocol(format!("full stat has no {key}")))?
            .trim()
            .parse()
            .map_err(|_| protocol(format!("full stat {key} is not a number")))
    };
    Ok(QueryReply {
        players: number("numplayers")?,
        max_players: number("maxplayers")?,
        names,
        server_name: kv.get("hostname").cloned().and_then(non_empty),
        version: kv.get("version").cloned().and_then(non_empty),
        map: kv.get("map").cloned().and_then(non_empty),
    })
}
