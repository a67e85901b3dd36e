//! Minecraft Java Edition Server List Ping (1.7 and later) over TCP.
//!
//! <https://minecraft.wiki/w/Java_Edition_protocol/Server_List_Ping>

use std::net::SocketAddr;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{QueryError, QueryReply, protocol};

/// By convention a client that does not know the server's version sends -1;
/// servers answer the status request whatever the version.
const PROTOCOL_VERSION: i32 = -1;
const NEXT_STATE_STATUS: i32 = 1;
/// A status JSON with a favicon is usually under 20 KiB.
const MAX_JSON: usize = 64 * 1024;
/// Chat components nest; a hostile server could nest them very deeply.
const MAX_DEPTH: usize = 8;

pub async fn query(addr: SocketAddr) -> Result<QueryReply, QueryError> {
    let mut stream = TcpStream::connect(addr).await?;

    let mut handshake = Vec::new();
    write_varint(&mut handshake, 0x00);
    write_varint(&mut handshake, PROTOCOL_VERSION);
    let host = addr.ip().to_string();
    write_varint(&mut handshake, host.len() as i32);
    handshake.extend_from_slice(host.as_bytes());
    handshake.extend_from_slice(&addr.port().to_be_bytes());
    write_varint(&mut handshake, NEXT_STATE_STATUS);

    let mut out = Vec::new();
    write_varint(&mut out, handshake.len() as i32);
    out.extend_from_slice(&handshake);
    // Status request: length 1, packet id 0.
    out.extend_from_slice(&[0x01, 0x00]);
    stream.write_all(&out).await?;

    let length = read_varint(&mut stream).await?;
    let length = usize::try_from(length).map_err(|_| protocol("negative packet length"))?;
    // Room for the packet id and the string's own length prefix.
    if length > MAX_JSON + 10 {
        return Err(protocol(format!(
            "status packet of {length} bytes (limit {MAX_JSON})"
        )));
    }
    let mut packet = vec![0u8; length];
    stream.read_exact(&mut packet).await.map_err(truncated)?;

    let mut cursor = packet.as_slice();
    if read_varint_slice(&mut cursor)? != 0x00 {
        return Err(protocol("not a status response packet"));
    }
    let json_len = usize::try_from(read_varint_slice(&mut cursor)?)
        .map_err(|_| protocol("negative string length"))?;
    if json_len != cursor.len() {
        return Err(protocol("status string length does not match the packet"));
    }
    let status: Value =
        serde_json::from_slice(cursor).map_err(|e| protocol(format!("status JSON: {e}")))?;
    parse_status(&status)
}

fn truncated(e: std::io::Error) -> QueryError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        protocol("status response truncated")
    } else {
        QueryError::Io(e)
    }
}

fn parse_status(status: &Value) -> Result<QueryReply, QueryError> {
    let players = status
        .get("players")
        .ok_or_else(|| protocol("status JSON has no players"))?;
    let count = |key: &str| -> Result<u32, QueryError> {
        players
            .get(key)
            .and_then(Value::as_u64)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .ok_or_else(|| protocol(format!("status JSON has no players.{key}")))
    };
    let names = players
        .get("sample")
        .and_then(Value::as_array)
        .map(|sample| {
            sample
                .iter()
                .filter_map(|p| p.get("name").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut description = String::new();
    if let Some(d) = status.get("description") {
        chat_text(d, 0, &mut description);
    }
    let description = strip_formatting(&description);
    Ok(QueryReply {
        players: count("online")?,
        max_players: count("max")?,
        names,
        server_name: (!description.trim().is_empty()).then(|| description.trim().to_owned()),
        version: status
            .get("version")
            .and_then(|v| v.get("name"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        map: None,
    })
}

/// Flattens a chat component (string, object with `text` and `extra`, or list).
fn chat_text(v: &Value, depth: usize, out: &mut String) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Value::String(s) => out.push_str(s),
        Value::Array(items) => items.iter().for_each(|i| chat_text(i, depth + 1, out)),
        Value::Object(o) => {
            if let Some(t) = o.get("text") {
                chat_text(t, depth + 1, out);
            }
            if let Some(extra) = o.get("extra") {
                chat_text(extra, depth + 1, out);
            }
        }
        _ => {}
    }
}

/// Removes legacy `§x` colour codes, which many servers still put in MOTDs.
fn strip_formatting(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '§' {
            chars.next();
        } else {
            out.push(c);
        }
    }
    out
}

pub(crate) fn write_varint(out: &mut Vec<u8>, value: i32) {
    let mut v = value as u32;
    loop {
        if v & !0x7F == 0 {
            out.push(v as u8);
            return;
        }
        out.push((v as u8 & 0x7F) | 0x80);
        v >>= 7;
    }
}

async fn read_varint(stream: &mut TcpStream) -> Result<i32, QueryError> {
    let mut value: u32 = 0;
    for i in 0..5 {
        let b = stream.read_u8().await.map_err(truncated)?;
        value |= u32::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value as i32);
        }
    }
    Err(protocol("VarInt longer than 5 bytes"))
}

fn read_varint_slice(cursor: &mut &[u8]) -> Result<i32, QueryError> {
    let mut value: u32 = 0;
    for i in 0..5 {
        let (&b, rest) = cursor
            .split_first()
            .ok_or_else(|| protocol("status response truncated in a VarInt"))?;
        *cursor = rest;
        value |= u32::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value as i32);
        }
    }
    Err(protocol("VarInt longer than 5 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_encoding() {
        let mut v = Vec::new();
        write_varint(&mut v, -1);
        assert_eq!(v, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]);
        v.clear();
        write_varint(&mut v, 300);
        assert_eq!(v, [0xAC, 0x02]);
        let mut s: &[u8] = &[0xFF, 0xFF, 0xFF, 0xFF, 0x0F];
        assert_eq!(read_varint_slice(&mut s).ok(), Some(-1));
        let mut s: &[u8] = &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
        assert!(read_varint_slice(&mut s).is_err());
    }

    #[test]
    fn description_as_chat_object() {
        let status = serde_json::json!({
            "version": {"name": "Paper 1.21", "protocol": 767},
            "players": {"online": 2, "max": 20, "sample": [{"name": "a", "id": "x"}, {"id": "no-name"}]},
            "description": {"text": "§aHello", "extra": [{"text": " world"}, " !"]}
        });
        let r = parse_status(&status).ok();
        assert_eq!(
            r,
            Some(QueryReply {
                players: 2,
                max_players: 20,
                names: vec!["a".into()],
                server_name: Some("Hello world !".into()),
                version: Some("Paper 1.21".into()),
                map: None,
            })
        );
    }
}
