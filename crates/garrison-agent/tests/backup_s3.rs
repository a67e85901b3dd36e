//! The S3 driver against a real S3-compatible server: moto's server mode
//! (`pip install 'moto[server]'`, which `.ci/run` does), one instance per test on a free
//! port, killed when the test ends. Failed parts are injected by a small HTTP proxy
//! between the driver and moto. The last test backs a server up to S3 and restores it
//! through a real `Agent`.

use bytes::Bytes;
use futures_util::StreamExt;
use garrison_agent::backup::s3::{MAX_PARTS_IN_FLIGHT, S3Store};
use garrison_agent::backup::store::{BackupStore, StoreError};
use garrison_agent::{Agent, AgentConfig, S3Config};
use garrison_proto::{
    BackupLocation, BackupOp, BackupRequest, BackupStage, Compression, CompressionKind, Event,
    Integrity, Manifest, ManifestKind, Node, NodeBackups, RestartPolicy, RestoreRequest, RunSpec,
    ServerId, StopMethod, StopSignal, StorageKind,
};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const MIB: usize = 1024 * 1024;
const BUCKET: &str = "garrison-test";

/// A `moto_server` child process on a free loopback port.
struct Moto {
    child: Child,
    port: u16,
    _log_dir: tempfile::TempDir,
}

impl Moto {
    async fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log_dir = tempfile::tempdir().unwrap();
        let log_path = log_dir.path().join("moto.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let hint = "moto_server (PyPI `moto[server]`) is needed for the S3 tests: \
                    .ci/run installs it (python3 -m pip install 'moto[server]==5.2.1')";
        // `moto_server`, or the same module through python3 where pip put no script on
        // PATH (a pyenv without a rehash).
        let mut cmd = match which("moto_server") {
            true => Command::new("moto_server"),
            false => {
                let mut cmd = Command::new("python3");
                cmd.args(["-m", "moto.server"]);
                cmd
            }
        };
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        // SAFETY: prctl is async-signal-safe; it only asks for SIGKILL when this
        // (the spawning) thread's process dies, so a crashed test leaves no server.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                    .map_err(std::io::Error::from)
            });
        }
        let child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => panic!("cannot run moto_server ({e}). {hint}"),
        };
        let mut moto = Moto {
            child,
            port,
            _log_dir: log_dir,
        };
        let started = Instant::now();
        loop {
            if let Some(status) = moto.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("moto_server exited ({status}): {log}\n{hint}");
            }
            if let Ok(r) = reqwest::get(format!("{}/moto-api/", moto.url())).await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto_server did not answer within 60 s: {}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        moto
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Make a bucket (moto does not check signatures until told to).
    async fn create_bucket(&self, bucket: &str) {
        let r = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.url()))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "create bucket: {}", r.status());
    }

    /// From now on every request must carry credentials moto knows (none do).
    async fn require_auth(&self) {
        let r = reqwest::Client::new()
            .post(format!("{}/moto-api/reset-auth", self.url()))
            .body("0")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "reset-auth: {}", r.status());
    }

    /// Multipart uploads begun and neither completed nor aborted.
    async fn pending_uploads(&self, bucket: &str) -> usize {
        let body = reqwest::get(format!("{}/{bucket}?uploads", self.url()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        body.matches("<UploadId>").count()
    }
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(endpoint: &str, part_size: usize) -> S3Config {
    S3Config {
        endpoint: Some(endpoint.to_owned()),
        region: "us-east-1".into(),
        bucket: BUCKET.into(),
        prefix: "garrison/".into(),
        path_style: true,
        access_key_id: "garrison-test-key".into(),
        secret_access_key: "garrison-test-secret".into(),
        allow_http: true,
        part_size,
        max_attempts: 5,
    }
}

/// Fast reproducible bytes (xorshift64*), or runs of text when `text` (compressible).
struct Gen(u64);

impl Gen {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    fn below(&mut self, n: usize) -> usize {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        (u64::from_le_bytes(b) % n as u64) as usize
    }
}

/// Write `total` generated bytes in chunks of uneven sizes; returns their SHA-256.
async fn write_generated(
    w: &mut Box<dyn garrison_agent::backup::store::ObjectWriter>,
    total: usize,
    seed: u64,
) -> Result<String, StoreError> {
    let mut data = Gen(seed);
    let mut sizes = Gen(seed ^ 0x9e37_79b9);
    let mut hash = Sha256::new();
    let mut left = total;
    while left > 0 {
        let n = (1 + sizes.below(3 * MIB)).min(left);
        let mut buf = vec![0u8; n];
        data.fill(&mut buf);
        hash.update(&buf);
        w.write(Bytes::from(buf)).await?;
        left -= n;
    }
    Ok(hex::encode(hash.finalize()))
}

async fn read_all(store: &S3Store, key: &str, offset: u64) -> Result<(u64, Vec<u8>), StoreError> {
    let (size, mut stream) = store.open(key, offset).await?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.map_err(|e| StoreError::Io(e.to_string()))?);
    }
    Ok((size, out))
}

async fn sha_of(store: &S3Store, key: &str) -> (u64, u64, String) {
    let (size, mut stream) = store.open(key, 0).await.unwrap();
    let mut hash = Sha256::new();
    let mut read = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        read += chunk.len() as u64;
        hash.update(&chunk);
    }
    (size, read, hex::encode(hash.finalize()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_object_round_trip() {
    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;
    let store = S3Store::new(&config(&moto.url(), 5 * MIB)).unwrap();
    let key = "srv1/b1.tar.zst";

    let mut content = Vec::new();
    let mut w = store.create(key).await.unwrap();
    for (i, n) in [1usize, 7, 1000, 4093, 65_537, 3, 12_345]
        .iter()
        .enumerate()
    {
        let chunk: Vec<u8> = (0..*n).map(|j| (i * 31 + j * 7) as u8).collect();
        content.extend_from_slice(&chunk);
        w.write(Bytes::from(chunk)).await.unwrap();
    }
    assert!(store.list("srv1/").await.unwrap().is_empty());
    assert_eq!(store.size(key).await.unwrap(), None);
    let size = w.finish().await.unwrap();
    assert_eq!(size, content.len() as u64);

    assert_eq!(store.size(key).await.unwrap(), Some(size));
    let (whole, bytes) = read_all(&store, key, 0).await.unwrap();
    assert_eq!((whole, bytes.as_slice()), (size, content.as_slice()));
    let (whole, tail) = read_all(&store, key, 4321).await.unwrap();
    assert_eq!((whole, tail.as_slice()), (size, &content[4321..]));
    let (whole, empty) = read_all(&store, key, size).await.unwrap();
    assert_eq!((whole, empty.len()), (size, 0));

    let mut other = store.create("srv2/b2.manifest.json").await.unwrap();
    other.write(Bytes::from_static(b"{}")).await.unwrap();
    other.finish().await.unwrap();
    assert_eq!(
        store.list("srv1/").await.unwrap(),
        vec![(key.to_owned(), size)]
    );
    // The prefix is part of every key in the bucket, and not of the listed keys.
    let raw = reqwest::get(format!("{}/{BUCKET}?list-type=2", moto.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(raw.contains("<Key>garrison/srv1/b1.tar.zst</Key>"), "{raw}");

    store.delete(key).await.unwrap();
    assert_eq!(store.size(key).await.unwrap(), None);
    assert!(matches!(
        store.open(key, 0).await.err(),
        Some(StoreError::NotFound(_))
    ));
    assert!(store.list("srv1/").await.unwrap().is_empty());
    store.delete(key).await.unwrap();
    store.clean_partial().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_writes_leave_nothing() {
    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;
    let store = S3Store::new(&config(&moto.url(), 5 * MIB)).unwrap();
    let key = "srv1/b1.tar.zst";

    // Aborted after two parts were uploaded: not listed, and the upload is gone.
    let mut w = store.create(key).await.unwrap();
    write_generated(&mut w, 12 * MIB, 1).await.unwrap();
    assert!(store.list("srv1/").await.unwrap().is_empty());
    assert_eq!(store.size(key).await.unwrap(), None);
    assert_eq!(moto.pending_uploads(BUCKET).await, 1);
    w.abort().await;
    assert!(store.list("srv1/").await.unwrap().is_empty());
    assert_eq!(store.size(key).await.unwrap(), None);
    assert_eq!(moto.pending_uploads(BUCKET).await, 0);

    // A replacement shows the old object until it finishes, and an aborted one never.
    let mut w = store.create(key).await.unwrap();
    w.write(Bytes::from_static(b"first")).await.unwrap();
    w.finish().await.unwrap();
    let mut w = store.create(key).await.unwrap();
    write_generated(&mut w, 11 * MIB, 2).await.unwrap();
    assert_eq!(read_all(&store, key, 0).await.unwrap().1, b"first");
    w.abort().await;
    assert_eq!(read_all(&store, key, 0).await.unwrap().1, b"first");

    // Dropped mid-upload: the abort is sent in the background.
    let mut w = store.create("srv1/b2.tar.zst").await.unwrap();
    write_generated(&mut w, 6 * MIB, 3).await.unwrap();
    assert_eq!(moto.pending_uploads(BUCKET).await, 1);
    drop(w);
    let started = Instant::now();
    while moto.pending_uploads(BUCKET).await != 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the dropped writer's upload was never aborted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        store.list("srv1/").await.unwrap(),
        vec![("srv1/b1.tar.zst".to_owned(), 5)]
    );
    assert_eq!(store.size("srv1/b2.tar.zst").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_object_in_bounded_parts() {
    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;
    let part = 8 * MIB;
    let store = S3Store::new(&config(&moto.url(), part)).unwrap();
    let key = "srv1/big.tar.zst";
    let total = 105 * MIB + 12_345;

    let mut w = store.create(key).await.unwrap();
    let written = write_generated(&mut w, total, 42).await.unwrap();
    assert_eq!(w.finish().await.unwrap(), total as u64);

    let stats = store.stats();
    assert_eq!(
        stats.parts_uploaded,
        total.div_ceil(part) as u64,
        "{stats:?}"
    );
    assert!(
        stats.peak_parts_in_flight <= MAX_PARTS_IN_FLIGHT,
        "{stats:?}"
    );
    // What the writer held never grew with the object: at most the parts in flight
    // and the one being filled.
    assert!(
        stats.peak_buffered_bytes <= ((MAX_PARTS_IN_FLIGHT + 1) * part) as u64,
        "{stats:?}"
    );
    assert!(stats.peak_buffered_bytes < total as u64 / 3, "{stats:?}");

    let (size, read, digest) = sha_of(&store, key).await;
    assert_eq!((size, read), (total as u64, total as u64));
    assert_eq!(digest, written);
    assert_eq!(moto.pending_uploads(BUCKET).await, 0);
}

/// Sits between the driver and moto, one request per connection, and answers the
/// `fail_part`-th `UploadPart` request (counting from 1) with a 500 once.
struct FlakyProxy {
    port: u16,
    upload_parts: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FlakyProxy {
    async fn start(upstream: u16, fail_part: usize) -> FlakyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let upload_parts = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let (parts, fails) = (upload_parts.clone(), failed.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let (parts, fails) = (parts.clone(), fails.clone());
                tokio::spawn(async move {
                    let _ = proxy_one(client, upstream, fail_part, &parts, &fails).await;
                });
            }
        });
        FlakyProxy {
            port,
            upload_parts,
            failed,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn proxy_one(
    mut client: TcpStream,
    upstream: u16,
    fail_part: usize,
    parts: &AtomicUsize,
    failed: &AtomicUsize,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 8192];
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    let mut length = 0usize;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().unwrap_or(0);
        }
        if !name.eq_ignore_ascii_case("connection") {
            headers.push(line.to_owned());
        }
    }
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let mut chunk = vec![0u8; 64 * 1024];
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        body.extend_from_slice(&chunk[..n]);
    }

    let mut words = request_line.split(' ');
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    if method == "PUT" && target.contains("partNumber=") {
        let n = parts.fetch_add(1, Ordering::SeqCst) + 1;
        if n == fail_part && failed.fetch_add(1, Ordering::SeqCst) == 0 {
            let error = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code>\
                         <Message>injected by the test proxy</Message></Error>";
            let response = format!(
                "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/xml\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{error}",
                error.len()
            );
            client.write_all(response.as_bytes()).await?;
            return client.shutdown().await;
        }
    }

    let mut server = TcpStream::connect(("127.0.0.1", upstream)).await?;
    let mut out = format!("{request_line}\r\n");
    for h in headers {
        out.push_str(&h);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    server.write_all(out.as_bytes()).await?;
    server.write_all(&body).await?;
    tokio::io::copy(&mut server, &mut client).await?;
    client.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_part_is_retried() {
    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;
    let part = 5 * MIB;
    let total = 3 * part + 777;
    let parts = total.div_ceil(part);

    let proxy = FlakyProxy::start(moto.port, 2).await;
    let store = S3Store::new(&config(&proxy.url(), part)).unwrap();
    let key = "srv1/retried.tar.zst";
    let mut w = store.create(key).await.unwrap();
    let written = write_generated(&mut w, total, 7).await.unwrap();
    assert_eq!(w.finish().await.unwrap(), total as u64);
    assert_eq!(proxy.failed.load(Ordering::SeqCst), 1, "no part was failed");
    assert_eq!(proxy.upload_parts.load(Ordering::SeqCst), parts + 1);
    assert_eq!(store.stats().parts_uploaded, parts as u64);
    let (size, _, digest) = sha_of(&store, key).await;
    assert_eq!((size, digest), (total as u64, written));

    // Without retries the same failure fails the upload, which leaves nothing.
    let proxy = FlakyProxy::start(moto.port, 2).await;
    let mut once = config(&proxy.url(), part);
    once.max_attempts = 1;
    let store = S3Store::new(&once).unwrap();
    let key = "srv1/not-retried.tar.zst";
    let mut w = store.create(key).await.unwrap();
    let outcome = match write_generated(&mut w, total, 7).await {
        Ok(_) => w.finish().await.map(|_| ()),
        Err(e) => {
            w.abort().await;
            Err(e)
        }
    };
    let e = outcome.unwrap_err().to_string();
    assert!(
        e.contains("part 2 failed") && e.contains("InternalError"),
        "{e}"
    );
    assert_eq!(proxy.failed.load(Ordering::SeqCst), 1);
    assert_eq!(store.size(key).await.unwrap(), None);
    assert_eq!(moto.pending_uploads(BUCKET).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_bucket_and_wrong_credentials_are_clear() {
    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;

    let mut missing = config(&moto.url(), 5 * MIB);
    missing.bucket = "no-such-bucket".into();
    let store = S3Store::new(&missing).unwrap();
    let does_not_exist = |e: StoreError| {
        let text = e.to_string();
        assert!(
            matches!(e, StoreError::Unavailable(_))
                && text.contains("no-such-bucket")
                && text.contains("does not exist"),
            "{text}"
        );
    };
    let mut w = store.create("srv1/b.tar.zst").await.unwrap();
    w.write(Bytes::from_static(b"data")).await.unwrap();
    does_not_exist(w.finish().await.unwrap_err());
    let mut w = store.create("srv1/b.tar.zst").await.unwrap();
    does_not_exist(write_generated(&mut w, 6 * MIB, 1).await.unwrap_err());
    w.abort().await;
    does_not_exist(store.list("srv1/").await.unwrap_err());
    does_not_exist(store.size("srv1/b.tar.zst").await.unwrap_err());
    does_not_exist(store.open("srv1/b.tar.zst", 0).await.err().unwrap());

    moto.require_auth().await;
    let store = S3Store::new(&config(&moto.url(), 5 * MIB)).unwrap();
    // A HEAD answer has no body, so only the others name S3's reason.
    let refused = |e: StoreError, code: bool| {
        let text = e.to_string();
        assert!(
            matches!(e, StoreError::Unavailable(_))
                && text.contains("refused the credentials")
                && (!code || text.contains("InvalidAccessKeyId")),
            "{text}"
        );
    };
    let mut w = store.create("srv1/b.tar.zst").await.unwrap();
    w.write(Bytes::from_static(b"data")).await.unwrap();
    refused(w.finish().await.unwrap_err(), true);
    refused(store.list("srv1/").await.unwrap_err(), true);
    refused(store.open("srv1/b.tar.zst", 0).await.err().unwrap(), true);
    refused(store.size("srv1/b.tar.zst").await.unwrap_err(), false);
}

/// Every entry under `dir`: kind, permission bits and content hash or link target.
fn walk(dir: &std::path::Path) -> BTreeMap<String, String> {
    fn go(dir: &std::path::Path, root: &std::path::Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_owned();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let mode = m.permissions().mode() & 0o7777;
            if m.is_symlink() {
                let target = std::fs::read_link(&p).unwrap();
                out.insert(rel, format!("link {}", target.display()));
            } else if m.is_dir() {
                out.insert(rel, format!("dir {mode:o}"));
                go(&p, root, out);
            } else {
                let hash = hex::encode(Sha256::digest(std::fs::read(&p).unwrap()));
                out.insert(rel, format!("file {mode:o} {} {hash}", m.len()));
            }
        }
    }
    let mut out = BTreeMap::new();
    go(dir, dir, &mut out);
    out
}

/// The manifest's entries in the same words as [`walk`].
fn manifest_words(manifest: &Manifest) -> BTreeMap<String, String> {
    manifest
        .entries
        .iter()
        .map(|e| {
            let mode = e.mode & 0o7777;
            let words = match e.kind {
                ManifestKind::Symlink => format!("link {}", e.target.clone().unwrap_or_default()),
                ManifestKind::Dir => format!("dir {mode:o}"),
                ManifestKind::File => format!(
                    "file {mode:o} {} {}",
                    e.size,
                    e.sha256.clone().unwrap_or_default()
                ),
            };
            (e.path.trim_end_matches('/').to_owned(), words)
        })
        .collect()
}

fn run_spec(id: &ServerId) -> RunSpec {
    RunSpec {
        id: id.clone(),
        command: vec!["/bin/sh".into(), "-c".into(), "sleep 60".into()],
        env: BTreeMap::new(),
        install: vec![],
        config_files: vec![],
        done_pattern: None,
        stop: StopMethod::Signal {
            signal: StopSignal::Term,
        },
        stop_timeout_secs: 5,
        restart: RestartPolicy {
            enabled: false,
            ..RestartPolicy::default()
        },
        restart_exit_codes: vec![],
        java: None,
        prompts: vec![],
        requires: vec![],
        disk_limit_bytes: None,
        file_deny: vec![],
        backup_hooks: Default::default(),
    }
}

/// The stage `backup`'s `op` ended with.
async fn backup_end(rx: &mut mpsc::Receiver<Event>, backup: &str, op: BackupOp) -> BackupStage {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    loop {
        let ev = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("no end of the backup within 10 minutes")
            .expect("event channel closed");
        if let Event::Backup(ev) = ev
            && ev.backup == backup
            && ev.op == op
            && ev.stage.is_end()
        {
            return ev.stage;
        }
    }
}

/// A server directory of `big_mib` MiB in two large files (random, text) plus small
/// files, nested directories, an empty one, an executable and a link.
fn make_server_files(dir: &std::path::Path, big_mib: usize) {
    let mut g = Gen(99);
    for i in 0..300 {
        let sub = dir.join(format!("world/region-{}", i % 12));
        std::fs::create_dir_all(&sub).unwrap();
        let mut buf = vec![0u8; 1 + g.below(64 * 1024)];
        if i % 3 == 0 {
            g.fill(&mut buf);
        } else {
            for (j, b) in buf.iter_mut().enumerate() {
                *b = b"chunk data, player entity block "[(j + i) % 32];
            }
        }
        std::fs::write(sub.join(format!("c{i}.mca")), &buf).unwrap();
    }
    let mut random = vec![0u8; big_mib / 2 * MIB];
    g.fill(&mut random);
    std::fs::write(dir.join("world/big-random.dat"), &random).unwrap();
    let text: Vec<u8> = (0..(big_mib - big_mib / 2) * MIB)
        .map(|i| b"[12:00:00 INFO]: Saved the game\n"[i % 32].wrapping_add((i / 4096 % 3) as u8))
        .collect();
    std::fs::write(dir.join("logs.txt"), &text).unwrap();
    std::fs::create_dir_all(dir.join("plugins/empty")).unwrap();
    std::fs::write(dir.join("start.sh"), b"#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(dir.join("start.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("logs.txt", dir.join("latest.log")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_through_the_agent() {
    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;
    let tmp = tempfile::tempdir().unwrap();
    let s3 = config(&moto.url(), 8 * MIB);
    let mut c = AgentConfig::new(tmp.path().join("data"));
    c.backups.s3 = Some(s3.clone());
    let (tx, mut rx) = mpsc::channel(10_000);
    let agent = Agent::new(c, tx);
    let id = ServerId::from("s1");
    agent.register(run_spec(&id)).await.unwrap();
    let root = tmp.path().join("data/servers/s1");
    std::fs::create_dir_all(&root).unwrap();
    make_server_files(&root, 104);
    let before = walk(&root);

    agent
        .create_backup(
            &id,
            BackupRequest {
                backup: "b1".into(),
                ignore: vec![],
                compression: Compression {
                    kind: CompressionKind::Zstd,
                    level: 1,
                },
                rate_limit_bytes_per_sec: None,
                storage: StorageKind::S3,
            },
        )
        .await
        .unwrap();
    let BackupStage::Finished {
        result: Some(result),
    } = backup_end(&mut rx, "b1", BackupOp::Create).await
    else {
        panic!("the backup did not finish");
    };
    assert_eq!(result.storage, StorageKind::S3);
    let digest = result.digest.clone();
    assert!(digest.size > 50 * MIB as u64, "{digest:?}");

    // In the bucket under the prefix, in more than one part.
    let store = S3Store::new(&s3).unwrap();
    let listed = store.list("s1/").await.unwrap();
    let names: Vec<&str> = listed.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["s1/b1.manifest.json", "s1/b1.tar.zst"],
        "{listed:?}"
    );
    assert_eq!(listed[1].1, digest.size);
    let (_, _, sha) = sha_of(&store, "s1/b1.tar.zst").await;
    assert_eq!(sha, digest.sha256);
    assert_eq!(moto.pending_uploads(BUCKET).await, 0);

    let location = BackupLocation {
        backup: "b1".into(),
        storage: StorageKind::S3,
        compression: CompressionKind::Zstd,
    };
    let report = agent.verify_backup(&id, &location, &digest).await.unwrap();
    assert_eq!(report.integrity, Integrity::Ok, "{report:?}");
    let manifest = agent
        .backup_manifest(&id, &location, &digest)
        .await
        .unwrap();
    assert_eq!(manifest_words(&manifest), before);

    // A download from an offset is the archive's tail.
    let offset = digest.size - 1000;
    let mut download = agent.download_backup(&id, &location, offset).await.unwrap();
    assert_eq!(download.size, Some(digest.size));
    let mut tail = Vec::new();
    while let Some(chunk) = download.stream.next().await {
        tail.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(tail.len(), 1000);

    // Change, delete and add files, then restore everything.
    std::fs::write(root.join("logs.txt"), b"overwritten").unwrap();
    std::fs::remove_file(root.join("world/region-3/c3.mca")).unwrap();
    std::fs::remove_dir_all(root.join("plugins")).unwrap();
    std::fs::write(root.join("world/new.dat"), b"not in the backup").unwrap();
    std::fs::set_permissions(
        root.join("start.sh"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    assert_ne!(walk(&root), before);
    agent
        .restore_backup(
            &id,
            RestoreRequest {
                location: location.clone(),
                digest: digest.clone(),
                delete_extra: true,
                paths: vec![],
            },
        )
        .await
        .unwrap();
    let end = backup_end(&mut rx, "b1", BackupOp::Restore).await;
    assert!(matches!(end, BackupStage::Finished { .. }), "{end:?}");
    assert_eq!(
        walk(&root),
        before,
        "the restored files differ from the backup"
    );

    agent.delete_backup(&id, &location).await.unwrap();
    assert!(store.list("s1/").await.unwrap().is_empty());
    agent.shutdown().await;
}
