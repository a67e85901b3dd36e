//! Each protocol against a responder on 127.0.0.1 that speaks the documented
//! wire format and checks the bytes the client sends.

use std::net::SocketAddr;
use std::time::Duration;

use garrison_query::{QueryError, QueryKind, QueryReply, query};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

const TIMEOUT: Duration = Duration::from_secs(3);
const SHORT: Duration = Duration::from_millis(300);

/// One request/reply step of a UDP conversation: the exact bytes expected
/// and the datagrams to send back (none: stay silent).
type Step = (Vec<u8>, Vec<Vec<u8>>);

async fn udp_responder(steps: Vec<Step>) -> (SocketAddr, JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        for (i, (expected, replies)) in steps.into_iter().enumerate() {
            let (n, peer) = tokio::time::timeout(TIMEOUT, sock.recv_from(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("step {i}: no request"))
                .unwrap();
            assert_eq!(buf[..n], expected[..], "step {i}: request bytes");
            for r in replies {
                sock.send_to(&r, peer).await.unwrap();
            }
        }
    });
    (addr, task)
}

/// Accepts one connection, checks the request bytes, then runs `reply`.
async fn tcp_responder<F, Fut>(expected: Vec<u8>, reply: F) -> (SocketAddr, JoinHandle<()>)
where
    F: FnOnce(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut got = vec![0u8; expected.len()];
        tokio::time::timeout(TIMEOUT, stream.read_exact(&mut got))
            .await
            .expect("request in time")
            .unwrap();
        assert_eq!(got, expected, "request bytes");
        reply(stream).await;
    });
    (addr, task)
}

async fn send_and_hold(mut stream: tokio::net::TcpStream, bytes: Vec<u8>) {
    stream.write_all(&bytes).await.unwrap();
    // Keep the connection open so only the reply's own framing can end it.
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn send_and_close(mut stream: tokio::net::TcpStream, bytes: Vec<u8>) {
    stream.write_all(&bytes).await.unwrap();
}

fn assert_timeout(r: Result<QueryReply, QueryError>) {
    assert!(matches!(r, Err(QueryError::Timeout)), "{r:?}");
}

// ---------------------------------------------------------------- A2S

const A2S_INFO: &[u8] = b"\xFF\xFF\xFF\xFFTSource Engine Query\0";

fn a2s_info_reply(truncate: Option<usize>) -> Vec<u8> {
    let mut r = vec![0xFF, 0xFF, 0xFF, 0xFF, 0x49, 17];
    r.extend_from_slice(b"My TF2 Server\0ctf_2fort\0tf\0Team Fortress\0");
    r.extend_from_slice(&440u16.to_le_bytes());
    r.extend_from_slice(&[3, 24, 0, b'd', b'l', 0, 1]);
    r.extend_from_slice(b"8622567\0");
    r.push(0x80); // EDF: port follows
    r.extend_from_slice(&27015u16.to_le_bytes());
    if let Some(n) = truncate {
        r.truncate(n);
    }
    r
}

fn a2s_challenge(c: [u8; 4]) -> Vec<u8> {
    let mut r = vec![0xFF, 0xFF, 0xFF, 0xFF, 0x41];
    r.extend_from_slice(&c);
    r
}

fn a2s_players_body() -> Vec<u8> {
    let mut r = vec![0xFF, 0xFF, 0xFF, 0xFF, 0x44, 3];
    for (i, name) in ["ann", "", "bob"].iter().enumerate() {
        r.push(i as u8);
        r.extend_from_slice(name.as_bytes());
        r.push(0);
        r.extend_from_slice(&7i32.to_le_bytes());
        r.extend_from_slice(&12.5f32.to_le_bytes());
    }
    r
}

/// Source split layout: FE FF FF FF, id, total, number, max size, payload.
fn split(id: u32, total: u8, number: u8, payload: &[u8]) -> Vec<u8> {
    let mut r = vec![0xFE, 0xFF, 0xFF, 0xFF];
    r.extend_from_slice(&id.to_le_bytes());
    r.extend_from_slice(&[total, number]);
    r.extend_from_slice(&1248u16.to_le_bytes());
    r.extend_from_slice(payload);
    r
}

#[tokio::test]
async fn a2s_challenges_info_and_split_players() {
    let info_with_challenge = [A2S_INFO, &[1, 2, 3, 4]].concat();
    let players = a2s_players_body();
    let (first, second) = players.split_at(10);
    let (addr, task) = udp_responder(vec![
        (A2S_INFO.to_vec(), vec![a2s_challenge([1, 2, 3, 4])]),
        (info_with_challenge, vec![a2s_info_reply(None)]),
        (
            b"\xFF\xFF\xFF\xFF\x55\xFF\xFF\xFF\xFF".to_vec(),
            vec![a2s_challenge([5, 6, 7, 8])],
        ),
        (
            b"\xFF\xFF\xFF\xFF\x55\x05\x06\x07\x08".to_vec(),
            // Out of order, as UDP may deliver them.
            vec![split(77, 2, 1, second), split(77, 2, 0, first)],
        ),
    ])
    .await;
    let reply = query(QueryKind::A2s, addr, TIMEOUT).await.unwrap();
    task.await.unwrap();
    assert_eq!(
        reply,
        QueryReply {
            players: 3,
            max_players: 24,
            names: vec!["ann".into(), "bob".into()],
            server_name: Some("My TF2 Server".into()),
            version: Some("8622567".into()),
            map: Some("ctf_2fort".into()),
        }
    );
}

#[tokio::test]
async fn a2s_keeps_info_when_player_list_is_ignored() {
    let (addr, task) = udp_responder(vec![
        (A2S_INFO.to_vec(), vec![a2s_info_reply(None)]),
        (b"\xFF\xFF\xFF\xFF\x55\xFF\xFF\xFF\xFF".to_vec(), vec![]),
    ])
    .await;
    let reply = query(QueryKind::A2s, addr, Duration::from_millis(500))
        .await
        .unwrap();
    task.await.unwrap();
    assert_eq!((reply.players, reply.max_players), (3, 24));
    assert!(reply.names.is_empty());
}

#[tokio::test]
async fn a2s_bad_replies() {
    let cases: Vec<Vec<Vec<u8>>> = vec![
        vec![b"hello world".to_vec()],
        vec![a2s_info_reply(Some(30))],
        vec![b"\xFF\xFF\xFF\xFF\x6C".to_vec()],
        // Split into more packets than anyone needs.
        vec![split(1, 200, 0, b"\xFF\xFF\xFF\xFF")],
        // Compressed (bzip2) split replies.
        vec![split(0x8000_0001, 2, 0, b"\xFF\xFF\xFF\xFF")],
        vec![split(1, 2, 5, b"\xFF\xFF\xFF\xFF")],
    ];
    for (i, replies) in cases.into_iter().enumerate() {
        let (addr, task) = udp_responder(vec![(A2S_INFO.to_vec(), replies)]).await;
        let r = query(QueryKind::A2s, addr, TIMEOUT).await;
        assert!(matches!(r, Err(QueryError::Protocol(_))), "case {i}: {r:?}");
        task.await.unwrap();
    }
}

#[tokio::test]
async fn a2s_silence_is_a_timeout() {
    let (addr, task) = udp_responder(vec![(A2S_INFO.to_vec(), vec![])]).await;
    assert_timeout(query(QueryKind::A2s, addr, SHORT).await);
    task.await.unwrap();
}

// ---------------------------------------------------------------- Minecraft SLP

fn varint(mut v: u32) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        if v < 0x80 {
            out.push(v as u8);
            return out;
        }
        out.push((v as u8 & 0x7F) | 0x80);
        v >>= 7;
    }
}

fn slp_request(port: u16) -> Vec<u8> {
    let mut hs = vec![0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 9];
    hs.extend_from_slice(b"127.0.0.1");
    hs.extend_from_slice(&port.to_be_bytes());
    hs.push(1);
    let mut out = varint(hs.len() as u32);
    out.extend_from_slice(&hs);
    out.extend_from_slice(&[1, 0]);
    out
}

fn slp_response(json: &str) -> Vec<u8> {
    let mut body = vec![0x00];
    body.extend_from_slice(&varint(json.len() as u32));
    body.extend_from_slice(json.as_bytes());
    let mut out = varint(body.len() as u32);
    out.extend_from_slice(&body);
    out
}

/// The port the client will put in its handshake is the listener's, which
/// is known only after binding; bind first, then check the request.
async fn slp_responder(reply: Vec<u8>, close: bool) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let expected = slp_request(addr.port());
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut got = vec![0u8; expected.len()];
        stream.read_exact(&mut got).await.unwrap();
        assert_eq!(got, expected, "handshake and status request");
        if close {
            send_and_close(stream, reply).await;
        } else {
            send_and_hold(stream, reply).await;
        }
    });
    (addr, task)
}

#[tokio::test]
async fn slp_status() {
    let json = r#"{"version":{"name":"1.21.1","protocol":767},
        "players":{"max":20,"online":2,"sample":[{"name":"Notch","id":"069a79f4-44e9-4726-a5be-fca90e38aaf5"},{"name":"jeb_","id":"x"}]},
        "description":{"text":"A ","extra":[{"text":"§6Minecraft"},{"text":" Server"}]},"enforcesSecureChat":true}"#;
    let (addr, task) = slp_responder(slp_response(json), false).await;
    let reply = query(QueryKind::MinecraftSlp, addr, TIMEOUT).await.unwrap();
    task.await.unwrap();
    assert_eq!(
        reply,
        QueryReply {
            players: 2,
            max_players: 20,
            names: vec!["Notch".into(), "jeb_".into()],
            server_name: Some("A Minecraft Server".into()),
            version: Some("1.21.1".into()),
            map: None,
        }
    );
}

#[tokio::test]
async fn slp_plain_string_description() {
    let json =
        r#"{"version":{"name":"Paper 1.20.4"},"players":{"max":5,"online":0},"description":"Hi"}"#;
    let (addr, task) = slp_responder(slp_response(json), true).await;
    let reply = query(QueryKind::MinecraftSlp, addr, TIMEOUT).await.unwrap();
    task.await.unwrap();
    assert_eq!(reply.server_name.as_deref(), Some("Hi"));
    assert_eq!((reply.players, reply.max_players), (0, 5));
}

#[tokio::test]
async fn slp_bad_replies() {
    let mut truncated = slp_response(r#"{"players":{"max":1,"online":0}}"#);
    truncated.truncate(12);
    let mut oversized = varint(10 * 1024 * 1024);
    oversized.extend_from_slice(&[0; 64]);
    let cases = vec![
        b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec(),
        truncated,
        oversized,
        slp_response("not json at all"),
        slp_response(r#"{"version":{"name":"x"}}"#),
        vec![0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
    ];
    for (i, reply) in cases.into_iter().enumerate() {
        let (addr, task) = slp_responder(reply, true).await;
        let r = query(QueryKind::MinecraftSlp, addr, TIMEOUT).await;
        assert!(matches!(r, Err(QueryError::Protocol(_))), "case {i}: {r:?}");
        task.await.unwrap();
    }
}

#[tokio::test]
async fn slp_silence_is_a_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (_stream, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
    });
    assert_timeout(query(QueryKind::MinecraftSlp, addr, SHORT).await);
    task.abort();
}

// ---------------------------------------------------------------- Minecraft Query

fn gs4_handshake_request() -> Vec<u8> {
    vec![0xFE, 0xFD, 0x09, 0x01, 0x02, 0x03, 0x04]
}

fn gs4_token_reply(token: &str) -> Vec<u8> {
    let mut r = vec![0x09, 0x01, 0x02, 0x03, 0x04];
    r.extend_from_slice(token.as_bytes());
    r.push(0);
    r
}

fn gs4_stat_request(token: i32) -> Vec<u8> {
    let mut r = vec![0xFE, 0xFD, 0x00, 0x01, 0x02, 0x03, 0x04];
    r.extend_from_slice(&token.to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r
}

fn gs4_full_stat() -> Vec<u8> {
    let mut r = vec![0x00, 0x01, 0x02, 0x03, 0x04];
    r.extend_from_slice(b"splitnum\0\x80\0");
    for (k, v) in [
        ("hostname", "A Minecraft Server"),
        ("gametype", "SMP"),
        ("game_id", "MINECRAFT"),
        ("version", "1.21.1"),
        ("plugins", ""),
        ("map", "world"),
        ("numplayers", "2"),
        ("maxplayers", "20"),
        ("hostport", "25565"),
        ("hostip", "127.0.0.1"),
    ] {
        r.extend_from_slice(k.as_bytes());
        r.push(0);
        r.extend_from_slice(v.as_bytes());
        r.push(0);
    }
    r.push(0);
    r.extend_from_slice(b"\x01player_\0\0");
    r.extend_from_slice(b"Notch\0jeb_\0\0");
    r
}

#[tokio::test]
async fn mc_query_full_stat() {
    let (addr, task) = udp_responder(vec![
        (gs4_handshake_request(), vec![gs4_token_reply("-9513307")]),
        (gs4_stat_request(-9513307), vec![gs4_full_stat()]),
    ])
    .await;
    let reply = query(QueryKind::MinecraftQuery, addr, TIMEOUT)
        .await
        .unwrap();
    task.await.unwrap();
    assert_eq!(
        reply,
        QueryReply {
            players: 2,
            max_players: 20,
            names: vec!["Notch".into(), "jeb_".into()],
            server_name: Some("A Minecraft Server".into()),
            version: Some("1.21.1".into()),
            map: Some("world".into()),
        }
    );
}

#[tokio::test]
async fn mc_query_bad_replies() {
    let handshake_cases = vec![
        b"garbage".to_vec(),
        gs4_token_reply("abc"),
        gs4_token_reply("99999999999"),
        vec![0x09, 0x04, 0x03, 0x02, 0x01, b'1', 0],
        vec![0x09, 0x01, 0x02],
    ];
    for (i, reply) in handshake_cases.into_iter().enumerate() {
        let (addr, task) = udp_responder(vec![(gs4_handshake_request(), vec![reply])]).await;
        let r = query(QueryKind::MinecraftQuery, addr, TIMEOUT).await;
        assert!(
            matches!(r, Err(QueryError::Protocol(_))),
            "handshake case {i}: {r:?}"
        );
        task.await.unwrap();
    }
    let full = gs4_full_stat();
    let mut bad_count = full.clone();
    let at = bad_count.windows(3).position(|w| w == b"20\0").unwrap();
    bad_count[at] = b'x';
    let stat_cases = vec![
        full[..40].to_vec(),
        full[..full.len() - 16].to_vec(),
        bad_count,
        vec![0u8; 40_000],
    ];
    for (i, reply) in stat_cases.into_iter().enumerate() {
        let (addr, task) = udp_responder(vec![
            (gs4_handshake_request(), vec![gs4_token_reply("42")]),
            (gs4_stat_request(42), vec![reply]),
        ])
        .await;
        let r = query(QueryKind::MinecraftQuery, addr, TIMEOUT).await;
        assert!(
            matches!(r, Err(QueryError::Protocol(_))),
            "stat case {i}: {r:?}"
        );
        task.await.unwrap();
    }
}

#[tokio::test]
async fn mc_query_silence_is_a_timeout() {
    let (addr, task) = udp_responder(vec![
        (gs4_handshake_request(), vec![gs4_token_reply("42")]),
        (gs4_stat_request(42), vec![]),
    ])
    .await;
    assert_timeout(query(QueryKind::MinecraftQuery, addr, SHORT).await);
    task.await.unwrap();
}

// ---------------------------------------------------------------- OpenTTD

const OPENTTD_REQUEST: [u8; 3] = [3, 0, 7];

fn cstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

/// Builds PACKET_SERVER_GAME_INFO the way SerializeNetworkGameInfo does.
fn openttd_game_info(version: u8) -> Vec<u8> {
    let mut p = vec![version];
    if version >= 7 {
        p.extend_from_slice(&123_456u64.to_le_bytes());
    }
    if version >= 6 {
        p.push(1); // NST_GRFID_MD5_NAME
    }
    if version >= 5 {
        p.extend_from_slice(&u32::MAX.to_le_bytes());
        cstr(&mut p, "");
    }
    if version >= 4 {
        p.push(1);
        p.extend_from_slice(&0x4453_4F47u32.to_le_bytes());
        p.extend_from_slice(&[0xAB; 16]);
        if version >= 6 {
            cstr(&mut p, "Some NewGRF");
        }
    }
    if version >= 3 {
        p.extend_from_slice(&730_000u32.to_le_bytes());
        p.extend_from_slice(&729_000u32.to_le_bytes());
    }
    if version >= 2 {
        p.extend_from_slice(&[15, 1, 25]);
    }
    cstr(&mut p, "Garrison OpenTTD");
    cstr(&mut p, "13.0");
    if version < 6 {
        p.push(0);
    }
    p.extend_from_slice(&[0, 25, 2, 1]);
    if version < 3 {
        p.extend_from_slice(&[0; 4]);
    }
    if version < 6 {
        cstr(&mut p, "Old Map");
    }
    p.extend_from_slice(&256u16.to_le_bytes());
    p.extend_from_slice(&512u16.to_le_bytes());
    p.extend_from_slice(&[0, 1]);
    packet(6, &p)
}

fn packet(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = ((payload.len() + 3) as u16).to_le_bytes().to_vec();
    out.push(kind);
    out.extend_from_slice(payload);
    out
}

#[tokio::test]
async fn openttd_game_info_versions() {
    for version in [6u8, 7, 5, 4, 1] {
        let (addr, task) = tcp_responder(OPENTTD_REQUEST.to_vec(), move |s| {
            send_and_hold(s, openttd_game_info(version))
        })
        .await;
        let reply = query(QueryKind::OpenTtd, addr, TIMEOUT).await.unwrap();
        task.await.unwrap();
        assert_eq!(
            reply,
            QueryReply {
                players: 2,
                max_players: 25,
                names: vec![],
                server_name: Some("Garrison OpenTTD".into()),
                version: Some("13.0".into()),
                map: (version < 6).then(|| "Old Map".to_owned()),
            },
            "version {version}"
        );
    }
}

#[tokio::test]
async fn openttd_bad_replies() {
    let good = openttd_game_info(6);
    let mut short_payload = good.clone();
    short_payload.truncate(good.len() - 8);
    let len = (short_payload.len() as u16).to_le_bytes();
    short_payload[..2].copy_from_slice(&len);
    let cases = vec![
        b"SSH-2.0-OpenSSH_9.6\r\n".to_vec(),
        good[..good.len() - 5].to_vec(),
        short_payload,
        vec![0xFF, 0xFF, 6, 0, 0],
        vec![2, 0, 6],
        packet(0, &[]),
        packet(6, &[99]),
        packet(6, &[6, 2]),
    ];
    for (i, reply) in cases.into_iter().enumerate() {
        let (addr, task) =
            tcp_responder(OPENTTD_REQUEST.to_vec(), move |s| send_and_close(s, reply)).await;
        let r = query(QueryKind::OpenTtd, addr, TIMEOUT).await;
        assert!(matches!(r, Err(QueryError::Protocol(_))), "case {i}: {r:?}");
        task.await.unwrap();
    }
}

#[tokio::test]
async fn openttd_silence_is_a_timeout() {
    let (addr, task) = tcp_responder(OPENTTD_REQUEST.to_vec(), |s| async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(s);
    })
    .await;
    assert_timeout(query(QueryKind::OpenTtd, addr, SHORT).await);
    task.abort();
}

#[test]
fn kind_names() {
    for (kind, name) in [
        (QueryKind::A2s, "\"a2s\""),
        (QueryKind::MinecraftSlp, "\"minecraft_slp\""),
        (QueryKind::MinecraftQuery, "\"minecraft_query\""),
        (QueryKind::OpenTtd, "\"openttd\""),
    ] {
        assert_eq!(serde_json::to_string(&kind).unwrap(), name);
        assert_eq!(serde_json::from_str::<QueryKind>(name).unwrap(), kind);
    }
}
