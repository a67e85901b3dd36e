//! Against the real game servers: Debian's openttd 13 and minetest 5.6.
//! CI installs both; a missing binary fails the test rather than skipping it.

use std::net::{SocketAddr, TcpListener as StdTcpListener, UdpSocket as StdUdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use garrison_query::{QueryKind, luanti_announce, query};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep, timeout};

const OPENTTD: &str = "/usr/games/openttd";
const MINETESTSERVER: &str = "/usr/lib/minetest/minetestserver";

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("garrison-query-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_tcp_port() -> u16 {
    StdTcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_udp_port() -> u16 {
    StdUdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn require(binary: &str) {
    assert!(
        Path::new(binary).exists(),
        "{binary} is missing; install the Debian package (CI does)"
    );
}

async fn wait_exit(child: &mut Child, within: Duration) -> bool {
    match timeout(within, child.wait()).await {
        Ok(status) => {
            status.unwrap();
            true
        }
        Err(_) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            false
        }
    }
}

#[tokio::test]
async fn real_openttd_game_info() {
    require(OPENTTD);
    let dir = scratch_dir("openttd");
    let port = free_tcp_port();
    let cfg = dir.join("openttd.cfg");
    // A small map keeps start-up short; no autosave, no advertising.
    std::fs::write(
        &cfg,
        "[network]\nserver_name = Garrison Query Test\nserver_advertise = false\nmax_clients = 7\n\
         [game_creation]\nmap_x = 6\nmap_y = 6\n[gui]\nautosave = off\n",
    )
    .unwrap();
    let log = dir.join("console.txt");
    let mut child = Command::new(OPENTTD)
        .arg("-D")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-c")
        .arg(&cfg)
        .arg("-x")
        .env("HOME", &dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let reply = loop {
        match query(QueryKind::OpenTtd, addr, Duration::from_secs(2)).await {
            Ok(reply) => break reply,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                sleep(Duration::from_millis(300)).await;
            }
            Err(e) => panic!("no game info from openttd: {e}\n{}", log_tail(&log)),
        }
    };
    eprintln!("openttd reply: {reply:?}");
    assert_eq!(reply.players, 0, "{reply:?}");
    assert_eq!(reply.max_players, 7, "{reply:?}");
    assert_eq!(reply.server_name.as_deref(), Some("Garrison Query Test"));
    assert!(reply.version.as_deref().is_some_and(|v| !v.is_empty()));

    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"quit\n").await.unwrap();
    stdin.flush().await.unwrap();
    let clean = wait_exit(&mut child, Duration::from_secs(20)).await;
    assert!(clean, "openttd did not quit\n{}", log_tail(&log));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Reads one HTTP request (bounded) and answers 200; returns request line,
/// headers and body.
async fn receive_post(stream: &mut TcpStream) -> (String, String, Vec<u8>) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let mut continued = false;
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "connection closed mid-request");
        data.extend_from_slice(&buf[..n]);
        assert!(data.len() < 1024 * 1024, "request too large");
        let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&data[..end]).into_owned();
        let lower = head.to_ascii_lowercase();
        if lower.contains("expect: 100-continue") && !continued {
            continued = true;
            stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .unwrap();
        }
        let length: usize = lower
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0);
        if data.len() >= end + 4 + length {
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            let (request_line, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
            return (
                request_line.to_owned(),
                headers.to_owned(),
                data[end + 4..end + 4 + length].to_vec(),
            );
        }
    }
}

#[tokio::test]
async fn real_luanti_announce() {
    require(MINETESTSERVER);
    let dir = scratch_dir("luanti");
    let world = dir.join("world");
    std::fs::create_dir_all(&world).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let list_port = listener.local_addr().unwrap().port();
    let game_port = free_udp_port();
    let cfg = dir.join("minetest.conf");
    // No scheme: curl defaults to http, which is what 5.6 ships with too.
    std::fs::write(
        &cfg,
        format!(
            "server_announce = true\nserverlist_url = 127.0.0.1:{list_port}\n\
             server_name = Garrison Query Test\nmax_users = 9\nenable_ipv6 = false\n\
             bind_address = 127.0.0.1\n"
        ),
    )
    .unwrap();
    let log = dir.join("debug.txt");
    let mut child = Command::new(MINETESTSERVER)
        .arg("--world")
        .arg(&world)
        .arg("--gameid")
        .arg("minetest")
        .arg("--port")
        .arg(game_port.to_string())
        .arg("--config")
        .arg(&cfg)
        .arg("--logfile")
        .arg(&log)
        .env("HOME", &dir)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pgid = child.id().unwrap();

    let (mut stream, _) = timeout(Duration::from_secs(60), listener.accept())
        .await
        .unwrap_or_else(|_| panic!("no announce from minetestserver\n{}", log_tail(&log)))
        .unwrap();
    let (request_line, headers, body) = timeout(Duration::from_secs(10), receive_post(&mut stream))
        .await
        .unwrap();
    drop(stream);
    assert_eq!(request_line, "POST /announce HTTP/1.1");
    eprintln!(
        "announce headers:\n{headers}\nbody:\n{}",
        String::from_utf8_lossy(&body)
    );
    let start = luanti_announce(&body).unwrap();
    assert_eq!(start.action, "start");
    assert_eq!(start.reply.players, 0);
    assert!(start.reply.names.is_empty());
    assert_eq!(start.reply.max_players, 9);
    assert_eq!(
        start.reply.server_name.as_deref(),
        Some("Garrison Query Test")
    );
    assert_eq!(start.port, Some(game_port));

    let status = std::process::Command::new("kill")
        .arg("-TERM")
        // procps kill reads "-123" as an option unless "--" comes first.
        .arg("--")
        .arg(format!("-{pgid}"))
        .status()
        .unwrap();
    assert!(status.success());

    // A clean shutdown says goodbye to the server list.
    let (mut stream, _) = timeout(Duration::from_secs(20), listener.accept())
        .await
        .unwrap_or_else(|_| panic!("no delete announce\n{}", log_tail(&log)))
        .unwrap();
    let (_, _, body) = timeout(Duration::from_secs(10), receive_post(&mut stream))
        .await
        .unwrap();
    eprintln!("delete body:\n{}", String::from_utf8_lossy(&body));
    let delete = luanti_announce(&body).unwrap();
    assert_eq!(delete.action, "delete");
    assert_eq!(delete.port, Some(game_port));

    let clean = wait_exit(&mut child, Duration::from_secs(20)).await;
    assert!(clean, "minetestserver did not stop\n{}", log_tail(&log));
    let _ = std::fs::remove_dir_all(&dir);
}
