//! A local HTTP/1.1 server for install tests: it serves fixture artifacts by path (the
//! real download hosts are mapped onto it with Garrison's `install.mirrors`), honours
//! `Range`, can cut a response short once to test resuming, and records what it saw.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    /// Path → bytes to send before dropping the connection, once.
    cut_once: HashMap<String, usize>,
    seen: Vec<Seen>,
}

#[derive(Clone)]
pub struct FixtureHttp {
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl FixtureHttp {
    pub async fn start() -> FixtureHttp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve_one(sock, st.clone()));
            }
        });
        FixtureHttp { base, state }
    }

    pub fn put(&self, path: &str, body: impl Into<Vec<u8>>) {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(path.to_owned(), body.into());
    }

    /// The next response for `path` stops after `bytes` and the connection drops.
    pub fn cut_once(&self, path: &str, bytes: usize) {
        self.state
            .lock()
            .unwrap()
            .cut_once
            .insert(path.to_owned(), bytes);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

async fn serve_one(mut sock: tokio::net::TcpStream, state: Arc<Mutex<State>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 64 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = text.split("\r\n");
    let path = lines
        .next()
        .unwrap_or_default()
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let headers: Vec<(String, String)> = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let range = header("range");
    let (body, cut) = {
        let mut st = state.lock().unwrap();
        st.seen.push(Seen {
            path: path.clone(),
            range: range.clone(),
            user_agent: header("user-agent"),
        });
        let cut = st.cut_once.remove(&path);
        (st.files.get(&path).cloned(), cut)
    };
    let Some(body) = body else {
        let _ = sock
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found")
            .await;
        return;
    };
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| *n <= body.len());
    let (status, part) = match start {
        Some(s) => ("206 Partial Content", &body[s..]),
        None => ("200 OK", &body[..]),
    };
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n",
        part.len()
    );
    if let Some(s) = start {
        head.push_str(&format!(
            "Content-Range: bytes {s}-{}/{}\r\n",
            body.len().saturating_sub(1),
            body.len()
        ));
    }
    head.push_str("\r\n");
    if sock.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let send = match cut {
        Some(n) => &part[..n.min(part.len())],
        None => part,
    };
    let _ = sock.write_all(send).await;
    let _ = sock.flush().await;
    if cut.is_some() {
        // Drop without finishing the announced body.
        let _ = sock.shutdown().await;
    }
}
