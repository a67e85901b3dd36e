//! Backups through a real `Agent`: create, verify, restore (full, merge, partial,
//! delete_extra), the refusals around a running restore, cancel, corruption, hand-made
//! hostile archives, quota, crash leftovers and shutdown.

use garrison_agent::{Agent, AgentConfig};
use garrison_proto::{
    BackupDigest, BackupErrorKind, BackupLocation, BackupOp, BackupRequest, BackupStage,
    Compression, CompressionKind, Event, FileErrorKind, Integrity, Manifest, ManifestEntry,
    ManifestKind, Node, NodeBackups, NodeError, NodeFiles, PowerAction, RestartPolicy,
    RestoreRequest, RunSpec, ServerId, StopMethod, StopSignal, StorageKind,
};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const ID: &str = "bk1";

struct H {
    agent: Arc<Agent>,
    rx: mpsc::Receiver<Event>,
    tmp: tempfile::TempDir,
    id: ServerId,
}

fn spec(limit: Option<u64>) -> RunSpec {
    RunSpec {
        id: ServerId::from(ID),
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
        disk_limit_bytes: limit,
        file_deny: vec![],
        backup_hooks: Default::default(),
    }
}

async fn harness_in(tmp: tempfile::TempDir, limit: Option<u64>) -> H {
    let (tx, rx) = mpsc::channel(4096);
    let agent = Agent::new(AgentConfig::new(tmp.path().join("data")), tx);
    agent.register(spec(limit)).await.unwrap();
    // Let the first usage walk finish.
    agent.disk_usage(&ServerId::from(ID)).await.unwrap();
    H {
        agent,
        rx,
        tmp,
        id: ServerId::from(ID),
    }
}

async fn harness() -> H {
    harness_in(tempfile::tempdir().unwrap(), None).await
}

impl H {
    fn root(&self) -> PathBuf {
        self.tmp.path().join("data/servers").join(ID)
    }

    fn backups_dir(&self) -> PathBuf {
        self.tmp.path().join("data/backups")
    }

    /// The end stage of the next job of `op`.
    async fn end(&mut self, op: BackupOp) -> BackupStage {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let ev = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .expect("no end event in time")
                .expect("channel closed");
            if let Event::Backup(b) = ev
                && b.op == op
                && b.stage.is_end()
            {
                return b.stage;
            }
        }
    }

    async fn backup(&mut self, name: &str, kind: CompressionKind, ignore: &[&str]) -> Backup {
        self.agent
            .create_backup(
                &self.id,
                BackupRequest {
                    backup: name.into(),
                    ignore: ignore.iter().map(|s| s.to_string()).collect(),
                    compression: Compression { kind, level: 3 },
                    rate_limit_bytes_per_sec: None,
                    storage: StorageKind::Local,
                },
            )
            .await
            .unwrap();
        match self.end(BackupOp::Create).await {
            BackupStage::Finished { result: Some(r) } => Backup {
                loc: BackupLocation {
                    backup: name.into(),
                    storage: r.storage,
                    compression: r.compression,
                },
                digest: r.digest,
            },
            other => panic!("backup ended {other:?}"),
        }
    }

    async fn restore(&mut self, b: &Backup, delete_extra: bool, paths: &[&str]) -> BackupStage {
        self.agent
            .restore_backup(&self.id, restore_req(b, delete_extra, paths))
            .await
            .unwrap();
        self.end(BackupOp::Restore).await
    }

    async fn manifest(&self, b: &Backup) -> Manifest {
        self.agent
            .backup_manifest(&self.id, &b.loc, &b.digest)
            .await
            .unwrap()
    }

    fn archive_path(&self, b: &Backup) -> PathBuf {
        self.backups_dir().join(ID).join(format!(
            "{}.{}",
            b.loc.backup,
            b.loc.compression.extension()
        ))
    }
}

#[derive(Clone)]
struct Backup {
    loc: BackupLocation,
    digest: BackupDigest,
}

fn restore_req(b: &Backup, delete_extra: bool, paths: &[&str]) -> RestoreRequest {
    RestoreRequest {
        location: b.loc.clone(),
        digest: b.digest.clone(),
        delete_extra,
        paths: paths.iter().map(|s| s.to_string()).collect(),
    }
}

fn backup_kind(e: NodeError) -> BackupErrorKind {
    match e {
        NodeError::Backup(b) => b.kind,
        other => panic!("not a backup error: {other:?}"),
    }
}

fn write(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

fn random(n: usize, seed: u64) -> Vec<u8> {
    // xorshift: incompressible enough, no extra dependency.
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

fn set_mtime(p: &Path, secs: i64) {
    let t = std::time::UNIX_EPOCH + Duration::from_secs(secs as u64);
    let f = std::fs::File::options().write(true).open(p).unwrap();
    f.set_modified(t).unwrap();
}

fn make_tree(root: &Path) {
    write(root, "world/region/r.0.0.mca", &random(20 * 1024 * 1024, 7));
    write(root, "world/level.dat", b"level data");
    write(root, "config/server.properties", b"motd=hello\n");
    write(root, "empty.txt", b"");
    std::fs::create_dir_all(root.join("empty-dir")).unwrap();
    symlink("config/server.properties", root.join("props-link")).unwrap();
    std::fs::set_permissions(
        root.join("config/server.properties"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    set_mtime(&root.join("world/level.dat"), 1_600_000_000);
    let deep = format!("{}/deep.txt", "long-directory-name".repeat(8));
    write(root, &deep, b"deep");
}

/// Path → kind, size, mode, hash or link target, file mtime.
type Tree = BTreeMap<String, (ManifestKind, u64, u32, Option<String>, Option<i64>)>;

/// What a fresh walk finds, in the manifest's terms (mtimes of directories aside:
/// writing inside one moves it).
fn walk(root: &Path) -> Tree {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let mode = m.mode() & 0o7777;
            let mtime = m.mtime() * 1000 + m.mtime_nsec() / 1_000_000;
            if m.is_symlink() {
                let t = std::fs::read_link(&p)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(
                    rel,
                    (ManifestKind::Symlink, t.len() as u64, mode, Some(t), None),
                );
            } else if m.is_dir() {
                out.insert(rel, (ManifestKind::Dir, 0, mode, None, None));
                stack.push(p);
            } else {
                let h = hex::encode(Sha256::digest(std::fs::read(&p).unwrap()));
                out.insert(
                    rel,
                    (ManifestKind::File, m.len(), mode, Some(h), Some(mtime)),
                );
            }
        }
    }
    out
}

fn manifest_view(m: &Manifest) -> Tree {
    m.entries
        .iter()
        .map(|e| {
            let extra = match e.kind {
                ManifestKind::Symlink => e.target.clone(),
                _ => e.sha256.clone(),
            };
            let mtime = (e.kind == ManifestKind::File).then_some(e.mtime);
            (e.path.clone(), (e.kind, e.size, e.mode, extra, mtime))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_zstd_and_gzip() {
    let mut h = harness().await;
    make_tree(&h.root());
    let before = walk(&h.root());
    for (name, kind) in [("z1", CompressionKind::Zstd), ("g1", CompressionKind::Gzip)] {
        let b = h.backup(name, kind, &[]).await;
        let m = h.manifest(&b).await;
        assert_eq!(
            manifest_view(&m),
            before,
            "{name}: manifest equals the tree"
        );
        let report = h
            .agent
            .verify_backup(&h.id, &b.loc, &b.digest)
            .await
            .unwrap();
        assert_eq!(report.integrity, Integrity::Ok, "{report:?}");
        assert_eq!(report.entries, m.entries.len() as u64);

        // Change, add and delete; then restore everything.
        write(&h.root(), "world/level.dat", b"changed");
        write(&h.root(), "new-file", b"new");
        std::fs::remove_file(h.root().join("empty.txt")).unwrap();
        std::fs::remove_dir(h.root().join("empty-dir")).unwrap();
        let end = h.restore(&b, true, &[]).await;
        assert_eq!(end, BackupStage::Finished { result: None });
        assert_eq!(
            walk(&h.root()),
            before,
            "{name}: restored tree equals the manifest"
        );
        // The file layer sees the new tree.
        let st = h.agent.stat_file(&h.id, "world/level.dat").await.unwrap();
        assert_eq!(st.size, 10);
        assert!(!h.tmp.path().join("data/restore-staging").join(ID).exists());
    }
    // Only finished objects are listed.
    let names: Vec<String> = std::fs::read_dir(h.backups_dir().join(ID))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    h.agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_lines_and_garrisonignore() {
    let mut h = harness().await;
    write(&h.root(), "keep.txt", b"k");
    write(&h.root(), "logs/a.log", b"log");
    write(&h.root(), "cache/x", b"x");
    write(&h.root(), ".garrisonignore", b"logs/\n");
    let b = h.backup("ig", CompressionKind::Zstd, &["cache"]).await;
    let m = h.manifest(&b).await;
    let paths: Vec<&str> = m.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, vec![".garrisonignore", "keep.txt"]);
    h.agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_delete_extra_and_partial() {
    let mut h = harness().await;
    write(&h.root(), "a/one", b"one");
    write(&h.root(), "b/two", b"two");
    let b = h.backup("m1", CompressionKind::Zstd, &[]).await;
    write(&h.root(), "a/one", b"ONE");
    write(&h.root(), "b/two", b"TWO");
    write(&h.root(), "a/extra", b"extra");
    write(&h.root(), "later", b"later");

    // Partial: only `a`, nothing else touched; a merge keeps `a/extra`.
    assert_eq!(
        h.restore(&b, false, &["a"]).await,
        BackupStage::Finished { result: None }
    );
    assert_eq!(std::fs::read(h.root().join("a/one")).unwrap(), b"one");
    assert_eq!(std::fs::read(h.root().join("b/two")).unwrap(), b"TWO");
    assert_eq!(std::fs::read(h.root().join("a/extra")).unwrap(), b"extra");
    assert!(h.root().join("later").exists());
    // Files restored in a merge are not hard links to anything.
    assert_eq!(
        std::fs::metadata(h.root().join("a/one")).unwrap().nlink(),
        1
    );
    assert_eq!(
        std::fs::metadata(h.root().join("later")).unwrap().nlink(),
        1
    );

    // delete_extra within `a` only.
    assert_eq!(
        h.restore(&b, true, &["a"]).await,
        BackupStage::Finished { result: None }
    );
    assert!(!h.root().join("a/extra").exists());
    assert!(h.root().join("later").exists());

    // Full merge keeps `later`; full delete_extra removes it.
    assert_eq!(
        h.restore(&b, false, &[]).await,
        BackupStage::Finished { result: None }
    );
    assert_eq!(std::fs::read(h.root().join("b/two")).unwrap(), b"two");
    assert!(h.root().join("later").exists());
    assert_eq!(
        h.restore(&b, true, &[]).await,
        BackupStage::Finished { result: None }
    );
    assert!(!h.root().join("later").exists());

    // A path not in the backup.
    let e = h
        .agent
        .restore_backup(&h.id, restore_req(&b, false, &["nope"]))
        .await
        .unwrap_err();
    assert_eq!(backup_kind(e), BackupErrorKind::InvalidPath);
    let e = h
        .agent
        .restore_backup(&h.id, restore_req(&b, false, &["../x"]))
        .await
        .unwrap_err();
    assert_eq!(backup_kind(e), BackupErrorKind::InvalidPath);
    h.agent.shutdown().await;
}

fn slow_request(name: &str) -> BackupRequest {
    BackupRequest {
        backup: name.into(),
        ignore: vec![],
        compression: Compression::default(),
        // 1 MiB/s over 8 MiB: seconds, so the test can act meanwhile.
        rate_limit_bytes_per_sec: Some(1024 * 1024),
        storage: StorageKind::Local,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_cancel_and_nothing_left() {
    let mut h = harness().await;
    write(&h.root(), "big", &random(8 * 1024 * 1024, 3));
    h.agent
        .create_backup(&h.id, slow_request("c1"))
        .await
        .unwrap();
    let e = h
        .agent
        .create_backup(&h.id, slow_request("c2"))
        .await
        .unwrap_err();
    assert_eq!(backup_kind(e), BackupErrorKind::Busy);
    let e = h.agent.cancel_backup(&h.id, "other").await.unwrap_err();
    assert_eq!(backup_kind(e), BackupErrorKind::NotRunning);
    h.agent.cancel_backup(&h.id, "c1").await.unwrap();
    assert_eq!(h.end(BackupOp::Create).await, BackupStage::Cancelled);
    let left: Vec<_> = std::fs::read_dir(h.backups_dir().join(ID))
        .map(|rd| rd.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    // The slot is free again.
    let b = h.backup("c3", CompressionKind::Zstd, &[]).await;
    assert_eq!(b.loc.backup, "c3");
    h.agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refusals_and_cancel() {
    let mut h = harness().await;
    write(&h.root(), "big", &random(64 * 1024 * 1024, 5));
    write(&h.root(), "canary", b"canary");
    let b = h.backup("r1", CompressionKind::Zstd, &[]).await;
    write(&h.root(), "canary", b"changed");
    let before = walk(&h.root());

    // Running: Conflict.
    h.agent.power(&h.id, PowerAction::Start).await.unwrap();
    let e = h
        .agent
        .restore_backup(&h.id, restore_req(&b, false, &[]))
        .await
        .unwrap_err();
    assert!(matches!(e, NodeError::Conflict { .. }), "{e:?}");
    h.agent.power(&h.id, PowerAction::Kill).await.unwrap();
    for _ in 0..100 {
        if h.agent.state(&h.id).await.unwrap() == garrison_proto::ServerState::Offline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // During a restore: start, install and remove refused, writes Busy; then cancel.
    h.agent
        .restore_backup(&h.id, restore_req(&b, false, &[]))
        .await
        .unwrap();
    let e = h.agent.power(&h.id, PowerAction::Start).await.unwrap_err();
    assert!(
        matches!(e, NodeError::Conflict { ref action, .. } if action.contains("restore")),
        "{e:?}"
    );
    assert!(matches!(
        h.agent.install(&h.id).await,
        Err(NodeError::Conflict { .. })
    ));
    assert!(matches!(
        h.agent.remove(&h.id).await,
        Err(NodeError::Conflict { .. })
    ));
    let e = h
        .agent
        .write_file(&h.id, "x.txt", b"x".to_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(e, NodeError::File(ref f) if f.kind == FileErrorKind::Busy),
        "{e:?}"
    );
    let files = h.agent.server_files(&h.id).unwrap();
    let e = tokio::task::spawn_blocking(move || {
        files.remove_file("canary", garrison_proto::FileSource::Sftp)
    })
    .await
    .unwrap()
    .unwrap_err();
    assert_eq!(e.kind, FileErrorKind::Busy);
    let e = h
        .agent
        .create_backup(&h.id, slow_request("r2"))
        .await
        .unwrap_err();
    assert_eq!(backup_kind(e), BackupErrorKind::Busy);
    h.agent.cancel_backup(&h.id, "r1").await.unwrap();
    let end = h.end(BackupOp::Restore).await;
    // A restore this small may win the race against the cancel.
    if end == BackupStage::Cancelled {
        assert_eq!(
            walk(&h.root()),
            before,
            "a cancelled restore changes nothing"
        );
    } else {
        assert_eq!(end, BackupStage::Finished { result: None });
    }
    // Writable and startable again.
    h.agent
        .write_file(&h.id, "x.txt", b"x".to_vec())
        .await
        .unwrap();
    h.agent.power(&h.id, PowerAction::Start).await.unwrap();
    h.agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_and_missing_archives() {
    let mut h = harness().await;
    write(&h.root(), "data", &random(1024 * 1024, 9));
    write(&h.root(), "canary", b"canary");
    let b = h.backup("x1", CompressionKind::Zstd, &[]).await;
    write(&h.root(), "canary", b"now");
    let before = walk(&h.root());

    let p = h.archive_path(&b);
    let mut bytes = std::fs::read(&p).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&p, &bytes).unwrap();
    let r = h
        .agent
        .verify_backup(&h.id, &b.loc, &b.digest)
        .await
        .unwrap();
    assert_eq!(r.integrity, Integrity::Corrupt);
    match h.restore(&b, true, &[]).await {
        BackupStage::Failed { integrity, .. } => assert_eq!(integrity, Some(Integrity::Corrupt)),
        other => panic!("{other:?}"),
    }
    assert_eq!(walk(&h.root()), before);

    std::fs::remove_file(&p).unwrap();
    let r = h
        .agent
        .verify_backup(&h.id, &b.loc, &b.digest)
        .await
        .unwrap();
    assert_eq!(r.integrity, Integrity::Missing);
    match h.restore(&b, true, &[]).await {
        BackupStage::Failed { integrity, .. } => assert_eq!(integrity, Some(Integrity::Missing)),
        other => panic!("{other:?}"),
    }
    let e = h
        .agent
        .download_backup(&h.id, &b.loc, 0)
        .await
        .err()
        .unwrap();
    assert_eq!(backup_kind(e), BackupErrorKind::Missing);
    // A missing manifest is refused up front.
    h.agent.delete_backup(&h.id, &b.loc).await.unwrap();
    h.agent.delete_backup(&h.id, &b.loc).await.unwrap();
    let e = h
        .agent
        .restore_backup(&h.id, restore_req(&b, false, &[]))
        .await
        .unwrap_err();
    assert_eq!(backup_kind(e), BackupErrorKind::Missing);
    assert_eq!(walk(&h.root()), before);
    h.agent.shutdown().await;
}

/// A tar.zst built by hand, stored with a manifest that lists `entries`, and the
/// digest that makes both pass the checksum.
fn plant(h: &H, name: &str, tar_bytes: Vec<u8>, entries: Vec<ManifestEntry>) -> Backup {
    let archive = zstd::encode_all(&tar_bytes[..], 1).unwrap();
    let sha = hex::encode(Sha256::digest(&archive));
    let manifest = Manifest {
        version: 1,
        backup: name.into(),
        server: h.id.clone(),
        created_at: 0,
        compression: CompressionKind::Zstd,
        archive_size: archive.len() as u64,
        archive_sha256: sha.clone(),
        entries,
    };
    let json = serde_json::to_vec(&manifest).unwrap();
    let dir = h.backups_dir().join(ID);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.tar.zst")), &archive).unwrap();
    std::fs::write(dir.join(format!("{name}.manifest.json")), &json).unwrap();
    Backup {
        loc: BackupLocation {
            backup: name.into(),
            storage: StorageKind::Local,
            compression: CompressionKind::Zstd,
        },
        digest: BackupDigest {
            size: archive.len() as u64,
            sha256: sha,
            manifest_sha256: hex::encode(Sha256::digest(&json)),
        },
    }
}

/// A raw tar header block with any path (the tar crate refuses `..` on its own).
fn raw_entry(out: &mut Vec<u8>, path: &str, kind: u8, data: &[u8], link: &str) {
    let mut h = [0u8; 512];
    h[..path.len()].copy_from_slice(path.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    let size = format!("{:011o}\0", data.len());
    h[124..136].copy_from_slice(size.as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    let pad = (512 - data.len() % 512) % 512;
    out.extend(std::iter::repeat_n(0u8, pad));
}

fn file_entry(path: &str, data: &[u8]) -> ManifestEntry {
    ManifestEntry {
        path: path.into(),
        kind: ManifestKind::File,
        size: data.len() as u64,
        mode: 0o644,
        mtime: 0,
        sha256: Some(hex::encode(Sha256::digest(data))),
        target: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_archives_are_refused() {
    let mut h = harness().await;
    write(&h.root(), "canary", b"inside");
    let outside = h.tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("canary"), b"outside").unwrap();
    let before = walk(&h.root());
    let outside_before = walk(&outside);

    let evil = b"evil";
    let link_entry = ManifestEntry {
        path: "l".into(),
        kind: ManifestKind::Symlink,
        size: 13,
        mode: 0o777,
        mtime: 0,
        sha256: None,
        target: Some("../../outside".into()),
    };
    let cases: Vec<(&str, Vec<u8>, Vec<ManifestEntry>)> = vec![
        {
            let mut t = Vec::new();
            raw_entry(&mut t, "../escape", b'0', evil, "");
            ("dotdot", t, vec![file_entry("escape", evil)])
        },
        {
            let mut t = Vec::new();
            raw_entry(&mut t, "/abs", b'0', evil, "");
            ("abs", t, vec![file_entry("abs", evil)])
        },
        {
            let mut t = Vec::new();
            raw_entry(&mut t, "l", b'2', b"", "../../outside");
            raw_entry(&mut t, "l/canary", b'0', evil, "");
            ("symlink", t, vec![link_entry, file_entry("l/canary", evil)])
        },
        {
            let mut t = Vec::new();
            raw_entry(&mut t, "hard", b'1', b"", "canary");
            ("hardlink", t, vec![file_entry("hard", b"")])
        },
        {
            let mut t = Vec::new();
            raw_entry(&mut t, "fifo", b'6', b"", "");
            ("fifo", t, vec![file_entry("fifo", b"")])
        },
        {
            let mut t = Vec::new();
            raw_entry(&mut t, "listed", b'0', evil, "");
            raw_entry(&mut t, "unlisted", b'0', evil, "");
            ("unlisted", t, vec![file_entry("listed", evil)])
        },
    ];
    for (name, mut t, entries) in cases {
        t.extend(std::iter::repeat_n(0u8, 1024));
        let b = plant(&h, name, t, entries);
        match h.restore(&b, false, &[]).await {
            BackupStage::Failed { error, .. } => {
                assert!(
                    error.contains("not allowed") || error.contains("lacks"),
                    "{name}: {error}"
                )
            }
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(walk(&h.root()), before, "{name}: server files unchanged");
        assert_eq!(
            walk(&outside),
            outside_before,
            "{name}: nothing outside written"
        );
        assert!(!h.tmp.path().join("escape").exists());
        // An escaping link that its manifest lists is consistent (verify checks
        // consistency); restore still refuses to write it.
        if name != "symlink" {
            let r = h
                .agent
                .verify_backup(&h.id, &b.loc, &b.digest)
                .await
                .unwrap();
            assert_eq!(r.integrity, Integrity::Corrupt, "{name}: {r:?}");
        }
    }
    h.agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_is_checked_up_front() {
    const MIB: usize = 1024 * 1024;
    let tmp = tempfile::tempdir().unwrap();
    let mut h = harness_in(tmp, Some(5 * MIB as u64)).await;
    // Through the API, so the usage figure counts every byte.
    h.agent
        .write_file(&h.id, "a", random(2 * MIB, 1))
        .await
        .unwrap();
    let b = h.backup("q1", CompressionKind::Zstd, &[]).await;
    h.agent.delete_files(&h.id, vec!["a".into()]).await.unwrap();
    h.agent
        .write_file(&h.id, "b", random(2 * MIB, 2))
        .await
        .unwrap();
    h.agent
        .write_file(&h.id, "c", random(2 * MIB, 3))
        .await
        .unwrap();
    // A merge keeps b and c (4 MiB) and adds a (2 MiB): over 5 MiB.
    let e = h
        .agent
        .restore_backup(&h.id, restore_req(&b, false, &[]))
        .await
        .unwrap_err();
    match e {
        NodeError::Backup(b) => {
            assert_eq!(b.kind, BackupErrorKind::QuotaExceeded);
            assert!(b.message.contains("MiB"), "{}", b.message);
        }
        other => panic!("{other:?}"),
    }
    assert!(h.root().join("b").exists() && !h.root().join("a").exists());
    // A full restore with delete_extra needs only the backup's size.
    assert_eq!(
        h.restore(&b, true, &[]).await,
        BackupStage::Finished { result: None }
    );
    assert!(h.root().join("a").exists() && !h.root().join("b").exists());
    h.agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_leftovers_go_on_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let partial = data
        .join("backups")
        .join(ID)
        .join(".b1.tar.zst.partial-abc");
    std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
    std::fs::write(&partial, b"half").unwrap();
    let staged = data.join("restore-staging").join(ID).join("world");
    std::fs::create_dir_all(&staged).unwrap();
    let dl = data.join("backup-staging").join(ID).join("x.tar.zst");
    std::fs::create_dir_all(dl.parent().unwrap()).unwrap();
    std::fs::write(&dl, b"x").unwrap();
    let h = harness_in(tmp, None).await;
    for _ in 0..100 {
        if !partial.exists() && !staged.exists() && !dl.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!partial.exists());
    assert!(!data.join("restore-staging").join(ID).exists());
    assert!(!dl.exists());
    h.agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_a_backup_leaves_nothing() {
    let mut h = harness().await;
    write(&h.root(), "big", &random(8 * 1024 * 1024, 4));
    h.agent
        .create_backup(&h.id, slow_request("s1"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::time::timeout(Duration::from_secs(30), h.agent.shutdown())
        .await
        .expect("shutdown ends");
    assert_eq!(h.end(BackupOp::Create).await, BackupStage::Cancelled);
    let left: Vec<_> = std::fs::read_dir(h.backups_dir().join(ID))
        .map(|rd| rd.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_without_config_is_a_storage_error() {
    let h = harness().await;
    let mut req = slow_request("s3");
    req.storage = StorageKind::S3;
    let e = h.agent.create_backup(&h.id, req).await.unwrap_err();
    match e {
        NodeError::Backup(b) => {
            assert_eq!(b.kind, BackupErrorKind::Storage);
            assert_eq!(b.message, "S3 storage is not configured on this node");
        }
        other => panic!("{other:?}"),
    }
    h.agent.shutdown().await;
}

/// Links the restore would refuse (absolute, or leaving the root from the link's own
/// directory) are left out of the backup, so a server with them can still be backed
/// up and restored; links that stay inside are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaping_symlinks_are_left_out_of_backups() {
    let mut h = harness().await;
    let root = h.root();
    write(&root, "world/level.dat", b"level");
    write(&root, "config/a.txt", b"a");
    symlink("/etc/passwd", root.join("abs-link")).unwrap();
    symlink("../../outside", root.join("world/up-link")).unwrap();
    symlink("..", root.join("root-up")).unwrap();
    symlink("../config/a.txt", root.join("world/inside-link")).unwrap();
    symlink("config/a.txt", root.join("plain-link")).unwrap();
    let b = h.backup("links", CompressionKind::Zstd, &[]).await;
    let m = h.manifest(&b).await;
    let links: Vec<&str> = m
        .entries
        .iter()
        .filter(|e| e.kind == ManifestKind::Symlink)
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(links, vec!["plain-link", "world/inside-link"]);

    // The backup restores, kept links included (the skipped ones are extra files
    // for delete_extra: gone after a full restore).
    std::fs::remove_file(root.join("plain-link")).unwrap();
    write(&root, "world/level.dat", b"changed");
    assert_eq!(
        h.restore(&b, true, &[]).await,
        BackupStage::Finished { result: None }
    );
    assert_eq!(walk(&root), manifest_view(&m));
    assert_eq!(
        std::fs::read(root.join("world/level.dat")).unwrap(),
        b"level"
    );
    assert_eq!(
        std::fs::read_link(root.join("world/inside-link")).unwrap(),
        PathBuf::from("../config/a.txt")
    );
    h.agent.shutdown().await;
}

/// Bad S3 settings fail S3 use only, with the S3 error: local backups and restores
/// keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_s3_settings_leave_local_backups_working() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = AgentConfig::new(tmp.path().join("data"));
    c.backups.s3 = Some(garrison_agent::S3Config {
        endpoint: Some("http://127.0.0.1:9".into()),
        region: "us-east-1".into(),
        bucket: String::new(),
        prefix: String::new(),
        path_style: true,
        access_key_id: "k".into(),
        secret_access_key: "s".into(),
        allow_http: true,
        part_size: 8 * 1024 * 1024,
        max_attempts: 1,
    });
    let (tx, rx) = mpsc::channel(4096);
    let agent = Agent::new(c, tx);
    agent.register(spec(None)).await.unwrap();
    agent.disk_usage(&ServerId::from(ID)).await.unwrap();
    let mut h = H {
        agent,
        rx,
        tmp,
        id: ServerId::from(ID),
    };
    write(&h.root(), "world/level.dat", b"level");
    let b = h.backup("local-ok", CompressionKind::Zstd, &[]).await;
    write(&h.root(), "world/level.dat", b"changed");
    assert_eq!(
        h.restore(&b, false, &[]).await,
        BackupStage::Finished { result: None }
    );
    assert_eq!(
        std::fs::read(h.root().join("world/level.dat")).unwrap(),
        b"level"
    );
    let r = h
        .agent
        .verify_backup(&h.id, &b.loc, &b.digest)
        .await
        .unwrap();
    assert_eq!(r.integrity, Integrity::Ok);

    let mut req = slow_request("s3");
    req.storage = StorageKind::S3;
    match h.agent.create_backup(&h.id, req).await.unwrap_err() {
        NodeError::Backup(e) => {
            assert_eq!(e.kind, BackupErrorKind::Storage);
            assert!(e.message.contains("bucket is empty"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
    h.agent.shutdown().await;
}

/// A file whose bytes differ from its manifest hash (an archive that matches its
/// digest but not its manifest) fails the restore as corrupt, before the swap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_differing_from_its_manifest_hash_is_refused() {
    let mut h = harness().await;
    write(&h.root(), "canary", b"inside");
    let before = walk(&h.root());
    for fresh in [true, false] {
        let mut t = Vec::new();
        raw_entry(&mut t, "a.txt", b'0', b"fine", "");
        raw_entry(&mut t, "b.txt", b'0', b"evil", "");
        raw_entry(&mut t, "c.txt", b'0', b"last", "");
        t.extend(std::iter::repeat_n(0u8, 1024));
        let entries = vec![
            file_entry("a.txt", b"fine"),
            file_entry("b.txt", b"good"),
            file_entry("c.txt", b"last"),
        ];
        let b = plant(&h, &format!("hash-{fresh}"), t, entries);
        match h.restore(&b, fresh, &[]).await {
            BackupStage::Failed { error, integrity } => {
                assert_eq!(integrity, Some(Integrity::Corrupt), "{error}");
                assert!(
                    error.contains("b.txt") && error.contains("differs"),
                    "{error}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(walk(&h.root()), before);
    }
    h.agent.shutdown().await;
}
