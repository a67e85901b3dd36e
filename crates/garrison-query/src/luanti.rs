//! Server-list announcements sent by Luanti (Minetest) servers.
//!
//! A server with `server_announce = true` POSTs to `<serverlist_url>/announce`
//! once at start, every 300 s while running (`update`) and once when it shuts
//! down (`delete`). Minetest 5.6 sends the JSON as a `json` field of a
//! multipart/form-data body; other versions and proxies use
//! application/x-www-form-urlencoded, so both are read, as is bare JSON.

use serde::Deserialize;

use crate::{QueryError, QueryReply, protocol};

/// The real announce of a server with many mods is a few KiB.
const MAX_BODY: usize = 256 * 1024;

/// One announcement: what happened and what the server reported.
#[derive(Clone, Debug, PartialEq)]
pub struct LuantiAnnounce {
    /// `start`, `update` or `delete`.
    pub action: String,
    pub reply: QueryReply,
    pub port: Option<u16>,
}

#[derive(Deserialize)]
struct Announce {
    action: String,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    clients: Option<u32>,
    #[serde(default)]
    clients_max: Option<u32>,
    #[serde(default)]
    clients_list: Vec<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
}

/// Decodes the body of an announce POST.
pub fn luanti_announce(body: &[u8]) -> Result<LuantiAnnounce, QueryError> {
    if body.len() > MAX_BODY {
        return Err(protocol(format!(
            "announce body of {} bytes (limit {MAX_BODY})",
            body.len()
        )));
    }
    let json = extract_json(body)?;
    let a: Announce =
        serde_json::from_slice(&json).map_err(|e| protocol(format!("announce JSON: {e}")))?;
    let players = a.clients.unwrap_or(a.clients_list.len() as u32);
    Ok(LuantiAnnounce {
        action: a.action,
        reply: QueryReply {
            players,
            max_players: a.clients_max.unwrap_or(0),
            names: a.clients_list,
            server_name: a.name.filter(|n| !n.is_empty()),
            version: a.version.filter(|v| !v.is_empty()),
            map: None,
        },
        port: a.port,
    })
}

fn extract_json(body: &[u8]) -> Result<Vec<u8>, QueryError> {
    let trimmed = body.trim_ascii_start();
    if trimmed.starts_with(b"{") {
        return Ok(trimmed.to_vec());
    }
    if trimmed.starts_with(b"--") {
        return multipart_field(trimmed, "json")
            .map(<[u8]>::to_vec)
            .ok_or_else(|| protocol("multipart announce has no json field"));
    }
    for pair in trimmed.split(|&b| b == b'&') {
        let (key, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        if percent_decode(key)? == b"json" {
            return percent_decode(value);
        }
    }
    Err(protocol("announce body has no json field"))
}

/// Finds a field of a multipart/form-data body. The boundary is taken from
/// the body's first line, so the Content-Type header is not needed.
fn multipart_field<'a>(body: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let line_end = find(body, b"\r\n")?;
    let delimiter = &body[..line_end];
    let mut rest = &body[line_end + 2..];
    let wanted = format!("name=\"{name}\"");
    loop {
        let headers_end = find(rest, b"\r\n\r\n")?;
        let headers = &rest[..headers_end];
        let content = &rest[headers_end + 4..];
        let mut next = Vec::with_capacity(delimiter.len() + 2);
        next.extend_from_slice(b"\r\n");
        next.extend_from_slice(delimiter);
        let content_end = find(content, &next)?;
        let is_wanted = headers.split(|&b| b == b'\n').any(|h| {
            h.to_ascii_lowercase().starts_with(b"content-disposition:")
                && find(h, wanted.as_bytes()).is_some()
        });
        if is_wanted {
            return Some(&content[..content_end]);
        }
        rest = content.get(content_end + next.len()..)?;
        rest = rest.strip_prefix(b"\r\n")?;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Form decoding: `+` is a space and `%XX` a byte.
fn percent_decode(input: &[u8]) -> Result<Vec<u8>, QueryError> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = input
                    .get(i + 1..i + 3)
                    .ok_or_else(|| protocol("truncated %-escape in announce body"))?;
                let value = std::str::from_utf8(hex)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| protocol("bad %-escape in announce body"))?;
                out.push(value);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{"action":"update","port":30000,"clients":2,"clients_max":15,"clients_list":["ann","bob"],"name":"A & B","version":"5.6.1","gameid":"minetest"}"#;

    fn expected() -> LuantiAnnounce {
        LuantiAnnounce {
            action: "update".into(),
            reply: QueryReply {
                players: 2,
                max_players: 15,
                names: vec!["ann".into(), "bob".into()],
                server_name: Some("A & B".into()),
                version: Some("5.6.1".into()),
                map: None,
            },
            port: Some(30000),
        }
    }

    fn form_encode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    #[test]
    fn urlencoded_body() {
        let body = format!("json={}", form_encode(JSON));
        assert!(body.contains('+') && body.contains("%26"));
        assert_eq!(luanti_announce(body.as_bytes()).ok(), Some(expected()));
        let body = format!("other=1&json={}", form_encode(JSON));
        assert_eq!(luanti_announce(body.as_bytes()).ok(), Some(expected()));
    }

    #[test]
    fn multipart_body() {
        let body = format!(
            "--xyz\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nno\r\n--xyz\r\nContent-Disposition: form-data; name=\"json\"\r\n\r\n{JSON}\r\n--xyz--\r\n"
        );
        assert_eq!(luanti_announce(body.as_bytes()).ok(), Some(expected()));
    }

    #[test]
    fn delete_has_only_action_and_port() {
        let r = luanti_announce(br#"{"action":"delete","port":30000}"#).ok();
        assert_eq!(
            r.map(|a| (a.action, a.reply.players)),
            Some(("delete".into(), 0))
        );
    }

    #[test]
    fn garbage_is_refused() {
        for body in [
            &b"json=%zz"[..],
            b"json=%4",
            b"nothing=here",
            b"json=not+json",
            b"--b\r\nContent-Disposition: form-data; name=\"json\"\r\n\r\n{\"action\"",
            b"{\"clients\":3}",
        ] {
            assert!(
                matches!(luanti_announce(body), Err(QueryError::Protocol(_))),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(luanti_announce(&vec![b'{'; MAX_BODY + 1]).is_err());
    }
}
