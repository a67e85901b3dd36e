//! A real `garrison serve` on a random port with a temporary data dir, driven only
//! through HTTP and WebSocket, as a user would.
#![allow(dead_code)]

pub mod fixture_http;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// The binary under test. When the tests run as root, game servers run as `nobody`,
/// who cannot reach cargo's target dir under /root: use a copy in a readable place.
pub fn garrison_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let built = PathBuf::from(env!("CARGO_BIN_EXE_garrison"));
        if !nix::unistd::geteuid().is_root() {
            return built;
        }
        // One copy per build (named by the binary's size and mtime), shared by every
        // test process, so repeated runs do not fill the temp dir.
        let dir = std::env::temp_dir().join("garrison-it-bin");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let meta = std::fs::metadata(&built).unwrap();
        let stamp = meta
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let copy = dir.join(format!("garrison-{}-{stamp}", meta.len()));
        if !copy.exists() {
            let tmp = dir.join(format!(".partial-{}", std::process::id()));
            std::fs::copy(&built, &tmp).unwrap();
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::fs::rename(&tmp, &copy).unwrap();
        }
        // Copies of older builds go after an hour (a run in progress uses its own):
        // a day of rebuilds filled the disk.
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(3600));
            if old && e.path() != copy {
                let _ = std::fs::remove_file(e.path());
            }
        }
        copy
    })
    .clone()
}

/// Resident memory of a process, in KiB (0 when it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A new passphrase-less ed25519 key pair at `path` and `path.pub` (OpenSSH's keygen).
pub fn ssh_keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", ""])
        .arg("-f")
        .arg(path)
        .status()
        .expect("run ssh-keygen");
    assert!(ok.success(), "ssh-keygen failed");
}

/// A benchmark's result table; `full` is false for the smoke run under `cargo test`.
pub fn print_table(rows: &[(String, String)], full: bool, bench: &str) {
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    println!("\n| {:w$} | result |", "benchmark");
    println!("|{}|--------|", "-".repeat(w + 2));
    for r in rows {
        println!("| {:w$} | {} |", r.0, r.1);
    }
    if !full {
        println!(
            "(smoke run with small numbers; `cargo bench -p garrison --bench {bench}` for the real figures)"
        );
    }
}

/// A free TCP port on loopback (for game servers).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub struct Garrison {
    pub data: tempfile::TempDir,
    pub child: Option<Child>,
    pub base: String,
    pub http: reqwest::Client,
    pub key: String,
    pub first_stdout: String,
    /// The SFTP server's port (from the line `garrison serve` prints), if it runs.
    pub sftp_port: Option<u16>,
    extra_env: Vec<(String, String)>,
}

impl Garrison {
    pub async fn start() -> Garrison {
        Self::start_with_env(&[]).await
    }

    pub async fn start_with_env(env: &[(&str, &str)]) -> Garrison {
        Self::start_with_config("", env).await
    }

    /// Starts with `garrison.toml` in the data dir holding `config` (empty: no file).
    pub async fn start_with_config(config: &str, env: &[(&str, &str)]) -> Garrison {
        let data = tempfile::Builder::new()
            .prefix("garrison-it-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        if !config.is_empty() {
            std::fs::write(data.path().join("garrison.toml"), config).unwrap();
        }
        let mut g = Garrison {
            data,
            child: None,
            base: String::new(),
            http: reqwest::Client::new(),
            key: String::new(),
            first_stdout: String::new(),
            sftp_port: None,
            extra_env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        g.first_stdout = g.launch();
        g.key = g.make_api_key().await;
        g
    }

    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// Start the process and wait for its "listening" line. Returns what it printed.
    fn launch(&mut self) -> String {
        let mut cmd = Command::new(garrison_bin());
        // Hermetic: only the settings this harness chooses (CI exports others).
        for (k, _) in std::env::vars() {
            if k.starts_with("GARRISON_") {
                cmd.env_remove(k);
            }
        }
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(self.data.path())
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env("GARRISON_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("GARRISON_LOG", "info")
            .env("GARRISON_SFTP_LISTEN", "127.0.0.1:0")
            // Tests make backups back to back; the rate limit has its own test.
            .env("GARRISON_BACKUPS_MIN_INTERVAL_SECS", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn garrison");
        let stdout = child.stdout.take().unwrap();
        let mut reader = BufReader::new(stdout);
        let mut printed = String::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut line = String::new();
            let n = reader.read_line(&mut line).unwrap();
            assert!(
                n > 0,
                "garrison exited before listening; printed:\n{printed}"
            );
            printed.push_str(&line);
            if let Some(rest) = line.split("SFTP server at ").nth(1) {
                let addr = rest.split_whitespace().next().unwrap();
                self.sftp_port = addr.rsplit(':').next().and_then(|p| p.parse().ok());
            }
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr = rest.split_whitespace().next().unwrap();
                self.base = format!("http://{addr}");
                break;
            }
            assert!(Instant::now() < deadline, "no listening line");
        }
        // Keep draining stdout so the process never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                sink.clear();
            }
        });
        self.child = Some(child);
        printed
    }

    async fn make_api_key(&self) -> String {
        let cookie = self
            .login("admin", ADMIN_PASSWORD)
            .await
            .expect("admin login");
        let r = self
            .http
            .post(self.url("/api/account/api-keys"))
            .session(&cookie)
            .json(&json!({"name": "tests"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.unwrap();
        v["key"].as_str().unwrap().to_owned()
    }

    /// Log in; returns the `name=value` session cookie.
    pub async fn login(&self, user: &str, password: &str) -> Result<String, (StatusCode, Value)> {
        let r = self
            .http
            .post(self.url("/api/auth/login"))
            .json(&json!({"username": user, "password": password}))
            .send()
            .await
            .unwrap();
        let status = r.status();
        if status != StatusCode::OK {
            return Err((status, r.json().await.unwrap_or(Value::Null)));
        }
        // The session cookie and the CSRF cookie, as a browser would send them back.
        let cookies: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .collect();
        Ok(cookies.join("; "))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Send an authenticated request with a JSON body (or none) and return status + JSON.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(m, self.url(path)).bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }

    /// Send a raw body with a JSON content type.
    pub async fn call_raw(&self, method: &str, path: &str, body: &str) -> (StatusCode, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = self
            .http
            .request(m, self.url(path))
            .bearer_auth(&self.key)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn create(&self, body: Value) -> Value {
        let (s, v) = self.call("POST", "/api/servers", Some(body)).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v
    }

    /// A demo server on a free port, installed and offline.
    pub async fn create_demo(&self, name: &str, extra: Value) -> String {
        let mut body = json!({"name": name, "template": "demo", "port": free_port()});
        if let Value::Object(m) = extra {
            for (k, v) in m {
                body[k] = v;
            }
        }
        let v = self.create(body).await;
        let id = v["id"].as_str().unwrap().to_owned();
        self.wait_state(&id, "offline", Duration::from_secs(30))
            .await;
        id
    }

    pub async fn state(&self, id: &str) -> String {
        let (s, v) = self
            .call("GET", &format!("/api/servers/{id}/stats"), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["state"].as_str().unwrap().to_owned()
    }

    /// Wait until both the node's live state and the stored state (persisted by the
    /// event pump a moment later) are `want`.
    pub async fn wait_state(&self, id: &str, want: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let st = self.state(id).await;
            let stored = self.stored_state(id).await;
            if st == want && stored == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server {id} is {st} (stored: {stored}), waited for {want}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The stored state (what the API lists), as opposed to the node's live state.
    pub async fn stored_state(&self, id: &str) -> String {
        let (_, v) = self.call("GET", &format!("/api/servers/{id}"), None).await;
        v["state"].as_str().unwrap_or_default().to_owned()
    }

    pub async fn power(&self, id: &str, action: &str) -> (StatusCode, Value) {
        self.call(
            "POST",
            &format!("/api/servers/{id}/power"),
            Some(json!({"action": action})),
        )
        .await
    }

    pub async fn command(&self, id: &str, command: &str) -> (StatusCode, Value) {
        self.call(
            "POST",
            &format!("/api/servers/{id}/command"),
            Some(json!({"command": command})),
        )
        .await
    }

    pub async fn logs(&self, id: &str, lines: usize) -> Vec<String> {
        let (s, v) = self
            .call(
                "GET",
                &format!("/api/servers/{id}/logs?lines={lines}"),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_owned())
            .collect()
    }

    pub async fn wait_log(&self, id: &str, needle: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let lines = self.logs(id, 1000).await;
            if lines.iter().any(|l| l.contains(needle)) {
                return lines;
            }
            assert!(
                Instant::now() < deadline,
                "no console line containing {needle:?}; last lines: {:?}",
                &lines[lines.len().saturating_sub(20)..]
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn ws(&self, id: &str) -> Ws {
        let url = format!(
            "{}/api/servers/{id}/ws",
            self.base.replace("http://", "ws://")
        );
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {}", self.key).parse().unwrap(),
        );
        let (stream, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("ws connect");
        Ws { stream }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("garrison did not exit within 60 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL Garrison (no chance to stop its game servers), then start it again on the
    /// same data dir.
    pub async fn crash_and_restart(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().unwrap();
        child.wait().unwrap();
        self.launch();
    }

    /// Start again on the same data dir after `stop()` (a new port).
    pub fn relaunch(&mut self) {
        assert!(self.child.is_none(), "still running");
        self.launch();
    }

    /// Stop and start again on the same data dir (a new port).
    pub async fn restart(&mut self) {
        let st = self.stop();
        assert!(st.success(), "garrison exited with {st}");
        let printed = self.launch();
        assert!(
            !printed.contains("password:"),
            "admin created twice:\n{printed}"
        );
    }
}

impl Drop for Garrison {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.stop()));
        }
    }
}

pub struct Ws {
    pub stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Ws {
    pub async fn next_json(&mut self, timeout: Duration) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(timeout, self.stream.next())
                .await
                .ok()??
                .ok()?;
            if let Message::Text(t) = msg {
                return Some(serde_json::from_str(&t).unwrap());
            }
        }
    }

    /// Read frames until one satisfies `pred`; panics after `timeout`.
    pub async fn until(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .next_json(left)
                .await
                .expect("websocket frame before timeout");
            if pred(&v) {
                return v;
            }
        }
    }

    pub async fn send(&mut self, v: Value) {
        self.stream
            .send(Message::Text(v.to_string().into()))
            .await
            .unwrap();
    }
}

/// Processes (not zombies) whose working directory is inside `dir`.
pub fn processes_in(dir: &Path) -> Vec<i32> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cwd) = std::fs::read_link(format!("/proc/{pid}/cwd")) else {
            continue;
        };
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit_once(')')
                    .map(|(_, r)| r.trim_start().starts_with('Z'))
                    .unwrap_or(false)
            })
            .unwrap_or(true);
        if cwd.starts_with(&dir) && !zombie {
            out.push(pid);
        }
    }
    out
}

/// Wait until no process runs inside `dir`; panics with the survivors otherwise.
pub async fn wait_no_processes(dir: &Path, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let left = processes_in(dir);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes survive in {}: {left:?}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Garrison {
    /// Poll `/stats` until a sample with memory in use arrives (they come every 2 s).
    pub async fn wait_stats(&self, id: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let (s, v) = self
                .call("GET", &format!("/api/servers/{id}/stats"), None)
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
            if v["memory_bytes"].as_u64().unwrap_or(0) > 0 {
                return v;
            }
            assert!(Instant::now() < deadline, "no stats sample: {v}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// What an HTTP call answered: status, JSON body (or `Null`) and the `name=value` of a
/// `Set-Cookie` header, if any.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub cookie: Option<String>,
}

impl Garrison {
    /// A request with a session cookie (or none) instead of the API key, and an optional
    /// raw JSON body.
    pub async fn send_with_cookie(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        body: Option<String>,
    ) -> Answer {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(m, self.url(path));
        if let Some(c) = cookie {
            req = req.session(c);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        // Every cookie set (session and CSRF), as a browser would send them back.
        let cookies: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().to_owned())
            .collect();
        let cookie = (!cookies.is_empty()).then(|| cookies.join("; "));
        let text = r.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer {
            status,
            body,
            cookie,
        }
    }

    /// `send_with_cookie` with a JSON value as the body.
    pub async fn json_with_cookie(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        body: Value,
    ) -> Answer {
        self.send_with_cookie(method, path, cookie, Some(body.to_string()))
            .await
    }
}

/// Send a request as the browser session `cookie` (from `Garrison::login`): the cookies
/// plus the CSRF header the web UI sends with every request.
pub trait AsSession {
    fn session(self, cookie: &str) -> Self;
}

impl AsSession for reqwest::RequestBuilder {
    fn session(self, cookie: &str) -> Self {
        self.header("cookie", cookie)
            .header("x-csrf-token", csrf_of(cookie))
    }
}

/// The CSRF token inside a cookie string from `Garrison::login`.
pub fn csrf_of(cookie: &str) -> String {
    cookie
        .split("; ")
        .find_map(|kv| kv.strip_prefix("garrison_csrf="))
        .unwrap_or_default()
        .to_owned()
}
