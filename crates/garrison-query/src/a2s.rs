//! Valve A2S_INFO and A2S_PLAYER over UDP.
//!
//! <https://developer.valvesoftware.com/wiki/Server_queries>

use std::net::SocketAddr;

use tokio::net::UdpSocket;
use tokio::time::{Instant, timeout_at};

use crate::wire::{Reader, non_empty, recv_datagram};
use crate::{QueryError, QueryReply, protocol};

const SINGLE: [u8; 4] = [0xFF; 4];
const SPLIT: [u8; 4] = [0xFE, 0xFF, 0xFF, 0xFF];
const INFO_REQUEST: &[u8] = b"\xFF\xFF\xFF\xFFTSource Engine Query\0";
const PLAYER_REQUEST: u8 = 0x55;
const CHALLENGE: u8 = 0x41;
const INFO_SOURCE: u8 = 0x49;
const INFO_GOLDSRC: u8 = 0x6D;
const PLAYERS: u8 = 0x44;
/// A player list for a full 64-slot server fits in two or three packets;
/// more than this is refused instead of buffered.
const MAX_SPLIT_PACKETS: usize = 8;
/// Servers may answer a challenge with a fresh challenge; do not loop forever.
const MAX_CHALLENGES: usize = 3;
const THE_SHIP_APPID: i16 = 2400;

pub async fn query(addr: SocketAddr, deadline: Instant) -> Result<QueryReply, QueryError> {
    let bind: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse().map_err(|_| protocol("bind address"))?
    } else {
        "[::]:0".parse().map_err(|_| protocol("bind address"))?
    };
    let info = timeout_at(deadline, async {
        let sock = UdpSocket::bind(bind).await?;
        // Connected, so datagrams from anyone else are dropped by the kernel.
        sock.connect(addr).await?;
        let info = exchange(&sock, INFO_REQUEST, None).await?;
        Ok::<_, QueryError>((sock, parse_info(&info)?))
    })
    .await;
    let (sock, mut reply) = info.map_err(|_| QueryError::Timeout)??;

    // The player list is a nicety: a server that refuses or ignores it
    // (many do, to avoid reflection abuse) still gave us the count.
    let players = timeout_at(deadline, async {
        let request = [
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            PLAYER_REQUEST,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
        ];
        let body = exchange(&sock, &request, Some(PLAYERS)).await?;
        parse_players(&body)
    })
    .await;
    if let Ok(Ok(names)) = players {
        reply.names = names;
    }
    Ok(reply)
}

/// Sends `request`, answering challenges by resending it with the challenge
/// in place of (or appended after) the request's own challenge field.
async fn exchange(
    sock: &UdpSocket,
    request: &[u8],
    expect: Option<u8>,
) -> Result<Vec<u8>, QueryError> {
    let mut current = request.to_vec();
    for _ in 0..=MAX_CHALLENGES {
        sock.send(&current).await?;
        let body = recv_message(sock).await?;
        let Some(&kind) = body.first() else {
            return Err(protocol("empty A2S reply"));
        };
        if kind == CHALLENGE {
            let challenge = Reader::new(&body[1..]).bytes(4, "A2S challenge")?.to_vec();
            current = if expect.is_some() {
                // A2S_PLAYER carries its challenge in a fixed field.
                let mut r = request[..5].to_vec();
                r.extend_from_slice(&challenge);
                r
            } else {
                let mut r = request.to_vec();
                r.extend_from_slice(&challenge);
                r
            };
            continue;
        }
        let wanted = match expect {
            Some(k) => kind == k,
            None => kind == INFO_SOURCE || kind == INFO_GOLDSRC,
        };
        if !wanted {
            return Err(protocol(format!("unexpected A2S reply type 0x{kind:02X}")));
        }
        return Ok(body);
    }
    Err(protocol("server kept sending new A2S challenges"))
}

/// One logical reply, with the FF FF FF FF header removed, reassembled from
/// split packets if needed.
async fn recv_message(sock: &UdpSocket) -> Result<Vec<u8>, QueryError> {
    let first = recv_datagram(sock).await?;
    let mut r = Reader::new(&first);
    let header = r.bytes(4, "A2S header")?;
    if header == SINGLE {
        return Ok(r.rest().to_vec());
    }
    if header != SPLIT {
        return Err(protocol("not an A2S reply (bad header)"));
    }

    let mut parts: Vec<Option<Vec<u8>>> = Vec::new();
    let mut id = None;
    let mut datagram = first;
    loop {
        let (pid, total, number, payload) = parse_split(&datagram)?;
        if *id.get_or_insert(pid) != pid {
            return Err(protocol("A2S split packets from two different replies"));
        }
        if parts.is_empty() {
            parts = vec![None; total];
        } else if parts.len() != total {
            return Err(protocol("A2S split packets disagree on their count"));
        }
        let slot = parts
            .get_mut(number)
            .ok_or_else(|| protocol("A2S split packet number out of range"))?;
        *slot = Some(payload);
        if parts.iter().all(Option::is_some) {
            break;
        }
        datagram = recv_datagram(sock).await?;
    }
    let whole: Vec<u8> = parts.into_iter().flatten().flatten().collect();
    let mut r = Reader::new(&whole);
    if r.bytes(4, "A2S header")? != SINGLE {
        return Err(protocol("reassembled A2S reply has a bad header"));
    }
    Ok(r.rest().to_vec())
}

/// Source-engine split header: id, total, number, max packet size.
/// The GoldSrc layout (total and number packed in one byte) is not supported.
fn parse_split(datagram: &[u8]) -> Result<(u32, usize, usize, Vec<u8>), QueryError> {
    let mut r = Reader::new(datagram);
    if r.bytes(4, "A2S header")? != SPLIT {
        return Err(protocol("expected an A2S split packet"));
    }
    let id = r.u32_le("split id")?;
    if id & 0x8000_0000 != 0 {
        return Err(protocol("compressed A2S split replies are not supported"));
    }
    let total = usize::from(r.u8("split total")?);
    let number = usize::from(r.u8("split number")?);
    let _max_size = r.u16_le("split size")?;
    if total == 0 || total > MAX_SPLIT_PACKETS {
        return Err(protocol(format!(
            "A2S reply split into {total} packets (limit {MAX_SPLIT_PACKETS})"
        )));
    }
    Ok((id, total, number, r.rest().to_vec()))
}

fn parse_info(body: &[u8]) -> Result<QueryReply, QueryError> {
    let mut r = Reader::new(body);
    match r.u8("A2S type")? {
        INFO_SOURCE => {
            let _protocol = r.u8("protocol")?;
            let name = r.cstr("server name")?;
            let map = r.cstr("map")?;
            let _folder = r.cstr("folder")?;
            let _game = r.cstr("game")?;
            let app_id = r.u16_le("app id")? as i16;
            let players = r.u8("players")?;
            let max_players = r.u8("max players")?;
            let _bots = r.u8("bots")?;
            let _server_type = r.u8("server type")?;
            let _environment = r.u8("environment")?;
            let _visibility = r.u8("visibility")?;
            let _vac = r.u8("vac")?;
            if app_id == THE_SHIP_APPID {
                r.bytes(3, "The Ship fields")?;
            }
            let version = r.cstr("version")?;
            Ok(QueryReply {
                players: players.into(),
                max_players: max_players.into(),
                names: Vec::new(),
                server_name: non_empty(name),
                version: non_empty(version),
                map: non_empty(map),
            })
        }
        INFO_GOLDSRC => {
            let _address = r.cstr("address")?;
            let name = r.cstr("server name")?;
            let map = r.cstr("map")?;
            let _folder = r.cstr("folder")?;
            let _game = r.cstr("game")?;
            let players = r.u8("players")?;
            let max_players = r.u8("max players")?;
            Ok(QueryReply {
                players: players.into(),
                max_players: max_players.into(),
                server_name: non_empty(name),
                map: non_empty(map),
                ..QueryReply::default()
            })
        }
        other => Err(protocol(format!("unexpected A2S reply type 0x{other:02X}"))),
    }
}

fn parse_players(body: &[u8]) -> Result<Vec<String>, QueryError> {
    let mut r = Reader::new(body);
    if r.u8("A2S type")? != PLAYERS {
        return Err(protocol("not an A2S_PLAYER reply"));
    }
    let count = r.u8("player count")?;
    let mut names = Vec::with_capacity(count.into());
    for _ in 0..count {
        let _index = r.u8("player index")?;
        let name = r.cstr("player name")?;
        let _score = r.bytes(4, "player score")?;
        let _duration = r.bytes(4, "player duration")?;
        // Players still connecting have no name yet.
        if !name.is_empty() {
            names.push(name);
        }
    }
    Ok(names)
}
