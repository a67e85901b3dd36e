//! The file layer through a real `Agent`: `NodeFiles` (what the panel calls) and
//! `server_files` (what SFTP calls). The attack corpus checks the refusal kind and that
//! a canary directory outside the server root is byte-for-byte unchanged.

use bytes::Bytes;
use futures_util::StreamExt;
use garrison_agent::{Agent, AgentConfig, WriteMode};
use garrison_proto::{
    ArchiveKind, ByteStream, Event, FileErrorKind, FileKind, FileSource, ListRequest, Node,
    NodeError, NodeFiles, PullRequest, RestartPolicy, RunSpec, SearchRequest, ServerId, SortKey,
    StopMethod, StopSignal,
};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

const MIB: u64 = 1024 * 1024;

struct H {
    agent: Arc<Agent>,
    rx: mpsc::Receiver<Event>,
    tmp: tempfile::TempDir,
    id: ServerId,
    canary: BTreeMap<PathBuf, String>,
    passwd: String,
}

fn spec(id: &str, limit: Option<u64>, deny: &[&str]) -> RunSpec {
    RunSpec {
        id: ServerId::from(id),
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
        file_deny: deny.iter().map(|s| s.to_string()).collect(),
        backup_hooks: Default::default(),
    }
}

/// Every entry under `dir` (links not followed) with a hash of its content, its mode,
/// or its link target.
fn hash_tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd {
        let p = e.unwrap().path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        let mode = m.permissions().mode();
        if m.is_symlink() {
            out.insert(
                p.clone(),
                format!("link {:?}", std::fs::read_link(&p).unwrap()),
            );
        } else if m.is_dir() {
            out.insert(p.clone(), format!("dir {mode:o}"));
            out.extend(hash_tree(&p));
        } else {
            let h = hex::encode(Sha256::digest(std::fs::read(&p).unwrap()));
            out.insert(p, format!("file {mode:o} {h}"));
        }
    }
    out
}

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

async fn harness_with(limit: Option<u64>, deny: &[&str], tune: impl FnOnce(&mut AgentConfig)) -> H {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(outside.join("sub")).unwrap();
    std::fs::write(outside.join("canary"), b"canary\n").unwrap();
    std::fs::write(outside.join("sub/secret"), b"outside secret\n").unwrap();
    std::fs::set_permissions(
        outside.join("canary"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let mut c = AgentConfig::new(tmp.path().join("data"));
    tune(&mut c);
    let (tx, rx) = mpsc::channel(10_000);
    let agent = Agent::new(c, tx);
    agent.register(spec("s1", limit, deny)).await.unwrap();
    let canary = hash_tree(&outside);
    let passwd = sha(&std::fs::read("/etc/passwd").unwrap());
    H {
        agent,
        rx,
        tmp,
        id: ServerId::from("s1"),
        canary,
        passwd,
    }
}

async fn harness(limit: Option<u64>, deny: &[&str]) -> H {
    harness_with(limit, deny, |_| {}).await
}

impl H {
    fn root(&self) -> PathBuf {
        self.tmp.path().join("data/servers/s1")
    }

    fn outside(&self) -> PathBuf {
        self.tmp.path().join("outside")
    }

    fn files(&self) -> Arc<garrison_agent::ServerFiles> {
        self.agent.server_files(&self.id).unwrap()
    }

    fn assert_outside_unchanged(&self) {
        assert_eq!(
            hash_tree(&self.outside()),
            self.canary,
            "outside the root changed"
        );
        assert_eq!(sha(&std::fs::read("/etc/passwd").unwrap()), self.passwd);
        let top: Vec<String> = std::fs::read_dir(self.tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(top.iter().all(|n| n == "data" || n == "outside"), "{top:?}");
    }

    /// File events (other events skipped) until `want` says stop or the time is up.
    async fn file_events(
        &mut self,
        within: Duration,
        mut want: impl FnMut(&garrison_proto::FileEvent) -> bool,
    ) -> Vec<garrison_proto::FileEvent> {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            if let Event::File(f) = ev {
                let stop = want(&f);
                got.push(f);
                if stop {
                    break;
                }
            }
        }
        got
    }

    async fn done(self) {
        self.assert_outside_unchanged();
        tokio::time::timeout(Duration::from_secs(20), self.agent.shutdown())
            .await
            .expect("shutdown ends every task");
    }
}

fn kind<T>(r: Result<T, NodeError>) -> FileErrorKind {
    match r {
        Err(NodeError::File(e)) => e.kind,
        Err(other) => panic!("expected a file error, got {other:?}"),
        Ok(_) => panic!("expected a file error, got success"),
    }
}

fn fkind<T: std::fmt::Debug>(r: Result<T, garrison_proto::FileError>) -> FileErrorKind {
    match r {
        Err(e) => e.kind,
        Ok(v) => panic!("expected a file error, got {v:?}"),
    }
}

fn body(chunks: Vec<Vec<u8>>) -> ByteStream {
    Box::pin(futures_util::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, std::io::Error>(Bytes::from(c))),
    ))
}

async fn collect(stream: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut s = stream;
    while let Some(c) = s.next().await {
        out.extend_from_slice(&c.unwrap());
    }
    out
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------

#[test]
fn dot_dot_absolute_and_malformed_paths() {
    rt().block_on(async {
        let h = harness(None, &[]).await;
        let a = &h.agent;
        let id = &h.id;
        std::fs::create_dir(h.root().join("a")).unwrap();
        std::fs::write(h.root().join("a/f.txt"), b"x").unwrap();
        for bad in [
            "..",
            "../x",
            "../../outside/canary",
            "a/..",
            "a/../..",
            "a/../../x",
            "./../x",
            "/../x",
            "a/./../../x",
            "a//b",
            "a/b\0c",
        ] {
            assert_eq!(
                kind(a.stat_file(id, bad).await),
                FileErrorKind::InvalidPath,
                "{bad}"
            );
            assert_eq!(
                kind(a.write_file(id, bad, b"evil".to_vec()).await),
                FileErrorKind::InvalidPath,
                "{bad}"
            );
            assert_eq!(
                kind(a.read_file(id, bad, 100).await),
                FileErrorKind::InvalidPath
            );
            assert_eq!(
                kind(a.create_dir(id, bad).await),
                FileErrorKind::InvalidPath
            );
            assert_eq!(
                kind(a.rename_file(id, "a/f.txt", bad).await),
                FileErrorKind::InvalidPath
            );
            assert_eq!(
                kind(a.copy_file(id, "a/f.txt", bad).await),
                FileErrorKind::InvalidPath
            );
            assert_eq!(
                kind(a.chmod_file(id, bad, 0o777).await),
                FileErrorKind::InvalidPath
            );
            assert_eq!(
                kind(a.delete_files(id, vec![bad.into()]).await),
                FileErrorKind::InvalidPath
            );
            assert_eq!(
                kind(a.begin_upload(id, bad, 4, true).await),
                FileErrorKind::InvalidPath
            );
            assert!(a.download(id, bad, 0).await.is_err());
            assert_eq!(
                kind(a.decompress_file(id, "a/f.txt", bad).await),
                FileErrorKind::InvalidPath
            );
            assert_eq!(
                kind(
                    a.compress_files(id, vec!["a".into()], bad, ArchiveKind::TarGz)
                        .await
                ),
                FileErrorKind::InvalidPath
            );
            let f = h.files();
            assert_eq!(fkind(f.stat(bad)), FileErrorKind::InvalidPath);
            assert_eq!(fkind(f.open_read(bad)), FileErrorKind::InvalidPath);
            assert_eq!(
                fkind(f.open_write(
                    bad,
                    WriteMode::Replace { overwrite: true },
                    FileSource::Sftp
                )),
                FileErrorKind::InvalidPath
            );
            assert_eq!(
                fkind(f.set_times(bad, 0, 0, FileSource::Sftp)),
                FileErrorKind::InvalidPath
            );
        }
        // Absolute paths mean the server root (SFTP clients send them).
        assert_eq!(
            kind(a.read_file(id, "/etc/passwd", 1 << 20).await),
            FileErrorKind::NotFound
        );
        assert_eq!(a.read_file(id, "/a/f.txt", 100).await.unwrap(), b"x");
        assert_eq!(h.files().stat("/").unwrap().kind, FileKind::Dir);
        assert_eq!(h.files().stat(".").unwrap().kind, FileKind::Dir);
        // Encoded dots are just names, and they stay inside.
        for name in [
            "%2e%2e",
            "..%2f..%2fetc",
            "%2E%2E%2F",
            "..%00",
            "...",
            "a..b",
        ] {
            a.create_dir(id, name).await.unwrap();
            a.write_file(id, &format!("{name}/x"), b"inside".to_vec())
                .await
                .unwrap();
            assert_eq!(
                std::fs::read(h.root().join(name).join("x")).unwrap(),
                b"inside"
            );
        }
        // New names: no newline or CR, at most 255 bytes.
        for bad in ["new\nline", "cr\rname", &"n".repeat(256)] {
            assert_eq!(
                kind(a.write_file(id, bad, b"x".to_vec()).await),
                FileErrorKind::InvalidPath
            );
            assert_eq!(
                kind(a.create_dir(id, bad).await),
                FileErrorKind::InvalidPath
            );
            assert_eq!(
                kind(a.rename_file(id, "a/f.txt", bad).await),
                FileErrorKind::InvalidPath
            );
        }
        a.write_file(id, &"n".repeat(255), b"ok".to_vec())
            .await
            .unwrap();
        h.done().await;
    });
}

#[test]
fn symlinks_out_of_the_root_are_never_followed() {
    rt().block_on(async {
        let h = harness(None, &[]).await;
        let (a, id, root) = (&h.agent, &h.id, h.root());
        // Planted by a hostile game process.
        symlink("/etc/passwd", root.join("passwd")).unwrap();
        symlink(h.outside().join("canary"), root.join("canary")).unwrap();
        symlink(h.outside(), root.join("out")).unwrap();
        symlink("..", root.join("up")).unwrap();
        symlink(".", root.join("self")).unwrap();

        let st = a.stat_file(id, "passwd").await.unwrap();
        assert_eq!(st.kind, FileKind::Symlink);
        assert_eq!(st.target.as_deref(), Some("/etc/passwd"));
        assert_eq!(h.files().read_link("passwd").unwrap(), "/etc/passwd");
        for link in ["passwd", "canary"] {
            assert_eq!(
                kind(a.read_file(id, link, 1 << 20).await),
                FileErrorKind::NotAFile
            );
            assert_eq!(fkind(h.files().open_read(link)), FileErrorKind::NotAFile);
            assert_eq!(
                kind(a.write_file(id, link, b"pwned".to_vec()).await),
                FileErrorKind::NotAFile
            );
            assert_eq!(
                fkind(h.files().open_write(
                    link,
                    WriteMode::InPlace { create: false },
                    FileSource::Sftp
                )),
                FileErrorKind::NotAFile
            );
            assert_eq!(
                kind(a.chmod_file(id, link, 0o777).await),
                FileErrorKind::NotAFile
            );
            assert_eq!(
                fkind(h.files().chmod(link, 0o777, FileSource::Sftp)),
                FileErrorKind::NotAFile
            );
            assert_eq!(
                kind(a.copy_file(id, link, "copy").await),
                FileErrorKind::Escape
            );
            assert_eq!(kind(a.download(id, link, 0).await), FileErrorKind::NotAFile);
            assert_eq!(
                kind(a.begin_upload(id, link, 1, false).await),
                FileErrorKind::AlreadyExists
            );
            assert_eq!(
                kind(a.decompress_file(id, link, "x").await),
                FileErrorKind::NotAFile
            );
            // Times of the link itself, never its target.
            h.files().set_times(link, 0, 0, FileSource::Sftp).unwrap();
        }
        // Through a symlinked directory: refused wherever it points.
        for (path, what) in [
            ("out/canary", "read"),
            ("out/sub/secret", "read"),
            ("up/outside/canary", "read"),
            ("self/passwd", "read"),
        ] {
            assert_eq!(
                kind(a.read_file(id, path, 1 << 20).await),
                FileErrorKind::Escape,
                "{what} {path}"
            );
            assert_eq!(
                kind(a.write_file(id, path, b"pwned".to_vec()).await),
                FileErrorKind::Escape
            );
            assert_eq!(
                kind(a.chmod_file(id, path, 0o777).await),
                FileErrorKind::Escape
            );
            assert_eq!(
                kind(a.delete_files(id, vec![path.into()]).await),
                FileErrorKind::Escape
            );
            assert_eq!(
                kind(a.rename_file(id, path, "moved").await),
                FileErrorKind::Escape
            );
            assert_eq!(kind(a.stat_file(id, path).await), FileErrorKind::Escape);
        }
        for dir in ["out", "up", "self"] {
            let req = ListRequest {
                path: dir.into(),
                offset: 0,
                limit: 100,
                sort: SortKey::Name,
                descending: false,
            };
            assert_eq!(kind(a.list_files(id, req).await), FileErrorKind::Escape);
            assert_eq!(
                kind(a.create_dir(id, &format!("{dir}/new")).await),
                FileErrorKind::Escape
            );
            assert_eq!(
                kind(a.begin_upload(id, &format!("{dir}/up.bin"), 3, false).await),
                FileErrorKind::Escape
            );
            assert_eq!(
                kind(a.decompress_file(id, "x.zip", &format!("{dir}/x")).await),
                FileErrorKind::NotFound
            );
            assert_eq!(fkind(h.files().list_all(dir)), FileErrorKind::Escape);
        }
        // A download of the root and archives store links as links.
        let dl = a.download(id, "", 0).await.unwrap();
        let tgz = collect(dl.stream).await;
        let mut names = BTreeMap::new();
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&tgz[..]));
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            names.insert(name, (e.header().entry_type(), data));
        }
        let (t, data) = &names["passwd"];
        assert_eq!(*t, tar::EntryType::Symlink);
        assert!(data.is_empty());
        a.compress_files(id, vec!["".into()], "all.zip", ArchiveKind::Zip)
            .await
            .unwrap();
        let zip = std::fs::read(root.join("all.zip")).unwrap();
        let z = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
        assert!(z.file_names().all(|n| {
            let n = n.unwrap();
            !n.starts_with("passwd") && !n.starts_with("out/")
        }));
        // Deleting a link removes the link only.
        a.delete_files(
            id,
            vec!["out".into(), "canary".into(), "passwd".into(), "up".into()],
        )
        .await
        .unwrap();
        assert!(std::fs::symlink_metadata(root.join("out")).is_err());
        h.done().await;
    });
}

#[test]
fn hard_links_to_outside_files_are_refused() {
    rt().block_on(async {
        let h = harness(None, &[]).await;
        let (a, id, root) = (&h.agent, &h.id, h.root());
        std::fs::hard_link(h.outside().join("canary"), root.join("hard")).unwrap();
        assert_eq!(
            kind(a.read_file(id, "hard", 100).await),
            FileErrorKind::Escape
        );
        assert_eq!(fkind(h.files().open_read("hard")), FileErrorKind::Escape);
        assert_eq!(
            fkind(h.files().open_write(
                "hard",
                WriteMode::InPlace { create: false },
                FileSource::Sftp
            )),
            FileErrorKind::Escape
        );
        assert_eq!(kind(a.download(id, "hard", 0).await), FileErrorKind::Escape);
        assert_eq!(
            kind(a.copy_file(id, "hard", "copy").await),
            FileErrorKind::Escape
        );
        let found = a
            .search_files(
                id,
                SearchRequest {
                    path: "".into(),
                    query: "canary".into(),
                    content: true,
                    limit: 10,
                },
            )
            .await
            .unwrap();
        assert!(
            found.matches.is_empty(),
            "hard-linked content is not searched"
        );
        a.compress_files(id, vec!["hard".into()], "h.tar.gz", ArchiveKind::TarGz)
            .await
            .unwrap();
        let tgz = std::fs::read(root.join("h.tar.gz")).unwrap();
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&tgz[..]));
        assert_eq!(ar.entries().unwrap().count(), 0, "left out of archives");
        // chmod and times would change the shared inode, the outside file's.
        assert_eq!(
            kind(a.chmod_file(id, "hard", 0o777).await),
            FileErrorKind::Escape
        );
        assert_eq!(
            fkind(h.files().set_times("hard", 0, 0, FileSource::Sftp)),
            FileErrorKind::Escape
        );
        // Replacing the name is fine: the outside inode keeps its content.
        a.write_file(id, "hard", b"new".to_vec()).await.unwrap();
        assert_eq!(std::fs::read(root.join("hard")).unwrap(), b"new");
        a.delete_files(id, vec!["hard".into()]).await.unwrap();
        h.done().await;
    });
}

#[test]
fn chmod_never_follows_and_strips_special_bits() {
    rt().block_on(async {
        let h = harness(None, &[]).await;
        let (a, id, root) = (&h.agent, &h.id, h.root());
        std::fs::write(root.join("run.sh"), b"#!/bin/sh\n").unwrap();
        let e = a.chmod_file(id, "run.sh", 0o4755).await.unwrap();
        assert_eq!(e.mode, 0o755);
        symlink(h.outside().join("canary"), root.join("link")).unwrap();
        assert_eq!(
            kind(a.chmod_file(id, "link", 0o777).await),
            FileErrorKind::NotAFile
        );
        assert_eq!(
            kind(a.chmod_file(id, "", 0o777).await),
            FileErrorKind::InvalidPath
        );
        h.done().await;
    });
}

#[test]
fn devices_and_fifos_are_not_opened() {
    rt().block_on(async {
        let h = harness(None, &[]).await;
        let (a, id, root) = (&h.agent, &h.id, h.root());
        nix::unistd::mkfifo(
            &root.join("fifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        let r = tokio::time::timeout(Duration::from_secs(5), a.read_file(id, "fifo", 10)).await;
        assert_eq!(
            kind(r.expect("a FIFO never blocks a read")),
            FileErrorKind::NotAFile
        );
        assert_eq!(fkind(h.files().open_read("fifo")), FileErrorKind::NotAFile);
        assert_eq!(
            fkind(h.files().open_write(
                "fifo",
                WriteMode::InPlace { create: false },
                FileSource::Sftp
            )),
            FileErrorKind::NotAFile
        );
        assert_eq!(
            kind(a.download(id, "fifo", 0).await),
            FileErrorKind::NotAFile
        );
        assert_eq!(h.files().stat("fifo").unwrap().kind, FileKind::Other);
        h.done().await;
    });
}

// ---------------------------------------------------------------------------------
// Races: a directory swapped for a symlink while an operation runs
// ---------------------------------------------------------------------------------

fn swapper(dir: PathBuf, target: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let real = dir.with_file_name("real-d");
        while !stop.load(Ordering::Relaxed) {
            // dir -> real-d, then a symlink in its place, then back.
            if std::fs::rename(&dir, &real).is_ok() {
                let _ = symlink(&target, &dir);
                std::thread::yield_now();
                let _ = std::fs::remove_file(&dir);
                let _ = std::fs::rename(&real, &dir);
            }
            std::thread::yield_now();
        }
    })
}

#[test]
fn symlink_swapped_in_during_copy_and_extract() {
    rt().block_on(async {
        let h = harness(None, &[]).await;
        let (a, id, root) = (&h.agent, &h.id, h.root());
        std::fs::create_dir_all(root.join("src/d")).unwrap();
        for i in 0..20 {
            std::fs::write(root.join(format!("src/d/f{i}")), vec![b'x'; 1000]).unwrap();
        }
        // An archive whose entries go into `dest/d/`.
        let mut b = tar::Builder::new(Vec::new());
        for i in 0..20 {
            let mut hd = tar::Header::new_gnu();
            hd.set_size(5);
            hd.set_mode(0o644);
            hd.set_cksum();
            b.append_data(&mut hd, format!("d/evil{i}"), &b"pwned"[..])
                .unwrap();
        }
        std::fs::write(root.join("a.tar"), b.into_inner().unwrap()).unwrap();
        std::fs::create_dir_all(root.join("dest/d")).unwrap();

        let stop = Arc::new(AtomicBool::new(false));
        let t1 = swapper(root.join("src/d"), h.outside(), stop.clone());
        let t2 = swapper(root.join("dest/d"), h.outside(), stop.clone());
        for i in 0..30 {
            let _ = a.copy_file(id, "src", &format!("copy{i}")).await;
            let _ = a.decompress_file(id, "a.tar", "dest").await;
            let _ = a.delete_files(id, vec![format!("copy{i}")]).await;
        }
        stop.store(true, Ordering::Relaxed);
        t1.join().unwrap();
        t2.join().unwrap();
        // Whatever happened, every copy holds real files, never the outside ones.
        for e in walk(&root) {
            if std::fs::symlink_metadata(&e).unwrap().is_file() {
                let data = std::fs::read(&e).unwrap();
                assert_ne!(data, b"canary\n", "{e:?}");
            }
        }
        h.done().await;
    });
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if std::fs::symlink_metadata(&p).unwrap().is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

// ---------------------------------------------------------------------------------
// Archives
// ---------------------------------------------------------------------------------

enum T<'a> {
    File(&'a [u8], &'a [u8]),
    Symlink(&'a [u8], &'a [u8]),
    HardLink(&'a [u8], &'a [u8]),
}

/// A tar from raw header bytes, so names the `tar` crate would refuse to write end up
/// in the archive as given.
fn raw_tar(entries: &[T<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut hd = tar::Header::new_gnu();
        let (name, data, kind, link): (&[u8], &[u8], _, &[u8]) = match e {
            T::File(n, d) => (n, d, tar::EntryType::Regular, b""),
            T::Symlink(n, t) => (n, b"", tar::EntryType::Symlink, t),
            T::HardLink(n, t) => (n, b"", tar::EntryType::Link, t),
        };
        hd.as_old_mut().name[..name.len()].copy_from_slice(name);
        hd.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        hd.set_entry_type(kind);
        hd.set_mode(0o644);
        hd.set_size(data.len() as u64);
        hd.set_cksum();
        b.append(&hd, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zip_of(entries: &[(&str, &[u8])], links: &[(&str, &str)]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (n, d) in entries {
        w.start_file(*n, opts).unwrap();
        w.write_all(d).unwrap();
    }
    for (n, t) in links {
        w.add_symlink(*n, *t, opts).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn malicious_archives_are_refused_and_write_nothing() {
    rt().block_on(async {
        let h = harness(None, &[]).await;
        let (a, id, root) = (&h.agent, &h.id, h.root());
        let outside = h.outside();
        let abs = format!("{}/evil", outside.display());
        let abs_link = format!("{}", outside.join("canary").display());
        let bomb = {
            // 100 MiB of zeros: far beyond the ratio limit.
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            let mut t = tar::Builder::new(&mut e);
            let mut hd = tar::Header::new_gnu();
            hd.set_size(100 * MIB);
            hd.set_mode(0o644);
            hd.set_cksum();
            t.append_data(&mut hd, "zeros", std::io::repeat(0).take(100 * MIB))
                .unwrap();
            t.into_inner().unwrap();
            e.finish().unwrap()
        };
        let zip_bomb = {
            use zip::write::SimpleFileOptions;
            let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
            let o = SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .large_file(true);
            w.start_file("zeros", o).unwrap();
            std::io::copy(&mut std::io::repeat(0).take(100 * MIB), &mut w).unwrap();
            w.finish().unwrap().into_inner()
        };
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "slip.tar",
                raw_tar(&[
                    T::File(b"ok.txt", b"fine"),
                    T::File(b"../../../evil", b"pwned"),
                ]),
            ),
            (
                "slip2.tar.gz",
                gz(&raw_tar(&[T::File(b"a/../../evil", b"pwned")])),
            ),
            ("abs.tar", raw_tar(&[T::File(abs.as_bytes(), b"pwned")])),
            (
                "link.tar",
                raw_tar(&[
                    T::Symlink(b"l", outside.to_str().unwrap().as_bytes()),
                    T::File(b"l/evil", b"pwned"),
                ]),
            ),
            (
                "rel-link.tar",
                raw_tar(&[
                    T::Symlink(b"l", b"../../../../outside"),
                    T::File(b"l/evil", b"pwned"),
                ]),
            ),
            (
                "hard.tar",
                raw_tar(&[T::HardLink(b"h", abs_link.as_bytes())]),
            ),
            (
                "hard-rel.tar",
                raw_tar(&[T::HardLink(b"h", b"../../../outside/canary")]),
            ),
            (
                "slip.zip",
                zip_of(&[("ok", b"fine"), ("../../evil", b"pwned")], &[]),
            ),
            ("abs.zip", zip_of(&[(abs.as_str(), b"pwned")], &[])),
            ("link.zip", zip_of(&[], &[("l", abs_link.as_str())])),
            ("bomb.tar.gz", bomb),
            ("bomb.zip", zip_bomb),
            ("junk.zip", b"PK\x03\x04 this is not a zip".to_vec()),
            ("notes.txt", b"just text".to_vec()),
        ];
        for (name, bytes) in cases {
            std::fs::write(root.join(name), &bytes).unwrap();
            let before = hash_tree(&root);
            let r = a.decompress_file(id, name, "x").await;
            assert_eq!(kind(r), FileErrorKind::BadArchive, "{name}");
            let mut after = hash_tree(&root);
            after.remove(&root.join("x"));
            assert_eq!(after, before, "{name}: something was written");
            assert!(
                !root.join("x").join("ok.txt").exists() && !root.join("x/ok").exists(),
                "{name}: all or nothing"
            );
            h.assert_outside_unchanged();
            std::fs::remove_file(root.join(name)).unwrap();
        }
        let staging = h.tmp.path().join("data/file-staging/s1");
        assert_eq!(
            std::fs::read_dir(&staging).unwrap().count(),
            0,
            "staging cleaned"
        );
        h.done().await;
    });
}

#[test]
fn compress_and_decompress_round_trip() {
    rt().block_on(async {
        let h = harness(None, &[]).await;
        let (a, id, root) = (&h.agent, &h.id, h.root());
        std::fs::create_dir_all(root.join("world/region")).unwrap();
        std::fs::write(root.join("world/level.dat"), vec![7u8; 300_000]).unwrap();
        std::fs::write(root.join("world/region/r.0.0.mca"), b"region").unwrap();
        std::fs::set_permissions(
            root.join("world/level.dat"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        symlink("level.dat", root.join("world/latest")).unwrap();
        std::fs::write(root.join("server.properties"), b"motd=hi\n").unwrap();
        let formats = [
            (ArchiveKind::TarGz, "b.tar.gz"),
            (ArchiveKind::TarZst, "b.tar.zst"),
            (ArchiveKind::Zip, "b.zip"),
            (ArchiveKind::Tar, "b.tar"),
            (ArchiveKind::TarXz, "b.tar.xz"),
        ];
        // The destination directory has to exist.
        assert_eq!(
            kind(
                a.compress_files(id, vec!["world".into()], "arch/x.zip", ArchiveKind::Zip)
                    .await
            ),
            FileErrorKind::NotFound
        );
        a.create_dir(id, "arch").await.unwrap();
        for (fmt, name) in formats {
            let e = a
                .compress_files(
                    id,
                    vec!["world".into(), "server.properties".into()],
                    &format!("arch/{name}"),
                    fmt,
                )
                .await
                .unwrap();
            assert_eq!(e.kind, FileKind::File);
            assert_eq!(
                kind(
                    a.compress_files(id, vec!["world".into()], &format!("arch/{name}"), fmt)
                        .await
                ),
                FileErrorKind::AlreadyExists
            );
            let out = format!("out-{name}");
            a.decompress_file(id, &format!("arch/{name}"), &out)
                .await
                .unwrap();
            let o = root.join(&out);
            assert_eq!(
                std::fs::read(o.join("world/level.dat")).unwrap(),
                vec![7u8; 300_000],
                "{name}"
            );
            assert_eq!(
                std::fs::read(o.join("world/region/r.0.0.mca")).unwrap(),
                b"region"
            );
            assert_eq!(
                std::fs::read(o.join("server.properties")).unwrap(),
                b"motd=hi\n"
            );
            let mode = std::fs::metadata(o.join("world/level.dat"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
            if fmt == ArchiveKind::Zip {
                assert!(
                    std::fs::symlink_metadata(o.join("world/latest")).is_err(),
                    "zip skips links"
                );
            } else {
                assert_eq!(
                    std::fs::read_link(o.join("world/latest")).unwrap(),
                    Path::new("level.dat")
                );
            }
        }
        // Extracting over an existing tree merges and replaces files.
        std::fs::write(root.join("out-b.zip/server.properties"), b"changed").unwrap();
        std::fs::write(root.join("out-b.zip/mine.txt"), b"kept").unwrap();
        a.decompress_file(id, "arch/b.zip", "out-b.zip")
            .await
            .unwrap();
        assert_eq!(
            std::fs::read(root.join("out-b.zip/server.properties")).unwrap(),
            b"motd=hi\n"
        );
        assert_eq!(
            std::fs::read(root.join("out-b.zip/mine.txt")).unwrap(),
            b"kept"
        );
        // No temp files are left anywhere.
        assert!(
            walk(&root)
                .iter()
                .all(|p| !p.to_string_lossy().contains(".garrison-tmp-"))
        );
        h.done().await;
    });
}

// ---------------------------------------------------------------------------------
// Quota
// ---------------------------------------------------------------------------------

#[test]
fn quota_refuses_writes_uploads_copies_extracts_and_pulls() {
    rt().block_on(async {
        let h = harness(Some(MIB), &[]).await;
        let (a, id, root) = (&h.agent, &h.id, h.root());
        assert_eq!(a.disk_usage(id).await.unwrap().used_bytes, 0);
        a.write_file(id, "a.bin", vec![1u8; 600 * 1024])
            .await
            .unwrap();
        assert_eq!(a.disk_usage(id).await.unwrap().used_bytes, 600 * 1024);
        let before = hash_tree(&root);

        let e = a
            .write_file(id, "b.bin", vec![2u8; 600 * 1024])
            .await
            .unwrap_err();
        let NodeError::File(fe) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(fe.kind, FileErrorKind::QuotaExceeded);
        assert!(
            fe.message
                .starts_with("quota exceeded: 1.0 MiB limit, 600.0 KiB used"),
            "{}",
            fe.message
        );
        assert_eq!(
            kind(a.begin_upload(id, "u.bin", 600 * 1024, false).await),
            FileErrorKind::QuotaExceeded
        );
        assert_eq!(
            kind(a.copy_file(id, "a.bin", "c.bin").await),
            FileErrorKind::QuotaExceeded
        );
        a.create_dir(id, "d").await.unwrap();
        std::fs::write(root.join("d/small"), b"s").unwrap();
        // A tree copy stops at the file that does not fit, and leaves nothing.
        std::fs::write(root.join("d/big"), vec![0u8; 500 * 1024]).unwrap();
        let h2 = hash_tree(&root);
        assert_eq!(
            kind(a.copy_file(id, "d", "d2").await),
            FileErrorKind::QuotaExceeded
        );
        assert_eq!(hash_tree(&root), h2);
        std::fs::remove_file(root.join("d/big")).unwrap();
        std::fs::remove_file(root.join("d/small")).unwrap();
        // Extract: 600 KiB of content cannot fit in the 424 KiB left.
        let arch = {
            let mut b = tar::Builder::new(Vec::new());
            let mut hd = tar::Header::new_gnu();
            hd.set_size(600 * 1024);
            hd.set_mode(0o644);
            hd.set_cksum();
            b.append_data(&mut hd, "big", &vec![9u8; 600 * 1024][..])
                .unwrap();
            b.into_inner().unwrap()
        };
        // Written by the game, so not counted until a rescan: the extract itself fails.
        std::fs::write(root.join("big.tar"), &arch).unwrap();
        assert_eq!(
            kind(a.decompress_file(id, "big.tar", "x").await),
            FileErrorKind::QuotaExceeded
        );
        assert!(!root.join("x/big").exists());
        std::fs::remove_file(root.join("big.tar")).unwrap();
        // SFTP-style writes: refused at the chunk that passes the limit, nothing visible.
        let f = h.files();
        let mut w = f
            .open_write(
                "s.bin",
                WriteMode::Replace { overwrite: false },
                FileSource::Sftp,
            )
            .unwrap();
        w.write_at(0, &vec![3u8; 300 * 1024]).unwrap();
        assert_eq!(
            fkind(w.write_at(300 * 1024, &vec![3u8; 300 * 1024])),
            FileErrorKind::QuotaExceeded
        );
        assert_eq!(w.len(), 300 * 1024);
        drop(w);
        assert!(!root.join("s.bin").exists());
        assert_eq!(
            a.disk_usage(id).await.unwrap().used_bytes,
            600 * 1024,
            "dropped writer released its bytes"
        );
        // Compress stops as the archive grows past the limit.
        std::fs::write(
            root.join("d/noise"),
            (0..450 * 1024u64)
                .map(|i| (i * 7919 % 251) as u8)
                .collect::<Vec<u8>>(),
        )
        .unwrap();
        // (the game's write is not counted yet, but the archive is)
        assert_eq!(
            kind(
                a.compress_files(id, vec!["d".into()], "d.tar", ArchiveKind::Tar)
                    .await
            ),
            FileErrorKind::QuotaExceeded
        );
        assert!(!root.join("d.tar").exists());
        std::fs::remove_file(root.join("d/noise")).unwrap();
        let mut after = hash_tree(&root);
        after.retain(|p, _| !p.starts_with(root.join("d")));
        let mut before = before;
        before.retain(|p, _| !p.starts_with(root.join("d")));
        assert_eq!(after, before, "nothing half-written");

        a.delete_files(id, vec!["a.bin".into(), "d".into()])
            .await
            .unwrap();
        assert_eq!(a.disk_usage(id).await.unwrap().used_bytes, 0);
        a.write_file(id, "b.bin", vec![2u8; 600 * 1024])
            .await
            .unwrap();
        let st = a
            .begin_upload(id, "u.bin", 400 * 1024, false)
            .await
            .unwrap();
        // The reservation holds the space for the upload.
        assert_eq!(
            kind(a.write_file(id, "c.bin", vec![0u8; 100 * 1024]).await),
            FileErrorKind::QuotaExceeded
        );
        a.abort_upload(id, &st.id).await.unwrap();
        a.write_file(id, "c.bin", vec![0u8; 100 * 1024])
            .await
            .unwrap();
        assert_eq!(a.disk_usage(id).await.unwrap().used_bytes, 700 * 1024);
        h.done().await;
    });
}

#[test]
fn usage_is_walked_at_registration_and_quota_notice_goes_to_the_console() {
    rt().block_on(async {
        let tmp_h = harness(None, &[]).await;
        let (a, id) = (&tmp_h.agent, &tmp_h.id);
        std::fs::create_dir_all(tmp_h.root().join("pre/sub")).unwrap();
        std::fs::write(tmp_h.root().join("pre/sub/x"), vec![0u8; 3 * MIB as usize]).unwrap();
        // A second server whose directory already has files: the first walk counts them.
        let dir2 = tmp_h.tmp.path().join("data/servers/s2");
        std::fs::create_dir_all(dir2.join("w")).unwrap();
        std::fs::write(dir2.join("w/a"), vec![0u8; 1234]).unwrap();
        std::fs::write(dir2.join("b"), vec![0u8; 100]).unwrap();
        std::fs::hard_link(dir2.join("b"), dir2.join("b2")).unwrap();
        symlink("/etc", dir2.join("etc")).unwrap();
        a.register(spec("s2", Some(10 * MIB), &[])).await.unwrap();
        let s2 = ServerId::from("s2");
        // Waits for the walk when a limit is set.
        a.write_file(&s2, "c", vec![0u8; 10]).await.unwrap();
        assert_eq!(a.disk_usage(&s2).await.unwrap().used_bytes, 1234 + 100 + 10);

        // s1 has 3 MiB written by the game; a rescan is not due yet, so write through
        // the API and then lower the limit below the usage.
        a.write_file(id, "big", vec![0u8; 3 * MIB as usize])
            .await
            .unwrap();
        let mut s = spec("s1", Some(MIB), &[]);
        a.register(s.clone()).await.unwrap();
        a.register(s.clone()).await.unwrap();
        let lines = a.console(id, 100).await.unwrap().lines;
        let notices: Vec<_> = lines
            .iter()
            .filter(|l| l.contains("over the limit"))
            .collect();
        assert_eq!(notices.len(), 1, "{lines:?}");
        assert!(
            notices[0].starts_with("[Garrison] disk usage "),
            "{}",
            notices[0]
        );
        assert!(
            notices[0].ends_with("is over the limit of 1.0 MiB"),
            "{}",
            notices[0]
        );
        // Back under the limit, then over again: a second notice.
        s.disk_limit_bytes = Some(100 * MIB);
        a.register(s.clone()).await.unwrap();
        s.disk_limit_bytes = Some(MIB);
        a.register(s.clone()).await.unwrap();
        let lines = a.console(id, 100).await.unwrap().lines;
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.contains("over the limit"))
                .count(),
            2
        );
        tmp_h.done().await;
    });
}

#[test]
fn game_writes_are_rescanned_and_crossing_the_limit_is_told_once() {
    rt().block_on(async {
        let h = harness_with(Some(MIB), &[], |c| {
            c.files.usage_rescan_every = Duration::from_millis(500);
        })
        .await;
        let (a, id, root) = (&h.agent, &h.id, h.root());
        a.write_file(id, "small", vec![0u8; 1000]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The game writes past the limit behind the agent's back.
        std::fs::write(root.join("world.dat"), vec![0u8; 2 * MIB as usize]).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while a.disk_usage(id).await.unwrap().used_bytes < 2 * MIB {
            assert!(
                std::time::Instant::now() < deadline,
                "no rescan after a game write"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(a.disk_usage(id).await.unwrap().used_bytes, 2 * MIB + 1000);
        // More game writes while over: still one notice.
        std::fs::write(root.join("world2.dat"), vec![0u8; 1000]).unwrap();
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let lines = a.console(id, 100).await.unwrap().lines;
        let notices: Vec<_> = lines
            .iter()
            .filter(|l| l.contains("over the limit"))
            .collect();
        assert_eq!(notices.len(), 1, "{lines:?}");
        assert_eq!(
            notices[0],
            "[Garrison] disk usage 2.0 MiB is over the limit of 1.0 MiB"
        );
        assert_eq!(
            kind(a.write_file(id, "more", vec![0u8; 10]).await),
            FileErrorKind::QuotaExceeded
        );
        h.done().await;
    });
}

// ---------------------------------------------------------------------------------
// Deny list
// ---------------------------------------------------------------------------------

#[test]
fn deny_list_hides_and_protects() {
    rt().block_on(async {
        let h = harness(None, &["secret/", "*.key", "/config/token.txt"]).await;
        let (a, id, root) = (&h.agent, &h.id, h.root());
        std::fs::create_dir_all(root.join("secret/inner")).unwrap();
        std::fs::write(root.join("secret/inner/a.txt"), b"hidden").unwrap();
        std::fs::write(root.join("b.key"), b"hidden").unwrap();
        std::fs::create_dir_all(root.join("config")).unwrap();
        std::fs::write(root.join("config/token.txt"), b"hidden").unwrap();
        std::fs::write(root.join("config/ok.yml"), b"ok").unwrap();
        std::fs::write(root.join("ok.txt"), b"ok").unwrap();
        std::fs::write(root.join(".garrison-tmp-123"), b"temp").unwrap();
        std::fs::create_dir_all(root.join("mods")).unwrap();
        std::fs::write(root.join("mods/m.key"), b"hidden").unwrap();

        let list = |p: &str| ListRequest {
            path: p.into(),
            offset: 0,
            limit: 100,
            sort: SortKey::Name,
            descending: false,
        };
        let names = |page: garrison_proto::ListPage| {
            page.entries.into_iter().map(|e| e.name).collect::<Vec<_>>()
        };
        assert_eq!(
            names(a.list_files(id, list("")).await.unwrap()),
            ["config", "mods", "ok.txt"]
        );
        assert_eq!(
            names(a.list_files(id, list("config")).await.unwrap()),
            ["ok.yml"]
        );
        assert_eq!(a.list_files(id, list("")).await.unwrap().total, 3);
        let mut all: Vec<String> = h
            .files()
            .list_all("/")
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        all.sort();
        assert_eq!(all, ["config", "mods", "ok.txt"]);

        use FileErrorKind::Denied;
        assert_eq!(kind(a.list_files(id, list("secret")).await), Denied);
        assert_eq!(
            kind(a.read_file(id, "secret/inner/a.txt", 100).await),
            Denied
        );
        assert_eq!(kind(a.read_file(id, "b.key", 100).await), Denied);
        assert_eq!(kind(a.stat_file(id, "config/token.txt").await), Denied);
        assert_eq!(
            kind(a.write_file(id, "new.key", b"x".to_vec()).await),
            Denied
        );
        assert_eq!(
            kind(a.write_file(id, "secret/new", b"x".to_vec()).await),
            Denied
        );
        assert_eq!(kind(a.create_dir(id, "secret/sub").await), Denied);
        assert_eq!(kind(a.rename_file(id, "ok.txt", "ok.key").await), Denied);
        assert_eq!(kind(a.rename_file(id, "b.key", "b.txt").await), Denied);
        assert_eq!(
            kind(a.copy_file(id, "ok.txt", "secret/ok.txt").await),
            Denied
        );
        assert_eq!(kind(a.copy_file(id, "b.key", "b.txt").await), Denied);
        assert_eq!(
            kind(a.delete_files(id, vec!["secret".into()]).await),
            Denied
        );
        assert_eq!(
            kind(a.delete_files(id, vec!["mods".into()]).await),
            Denied,
            "a tree holding protected files"
        );
        assert_eq!(kind(a.rename_file(id, "mods", "mods2").await), Denied);
        assert_eq!(
            kind(a.rename_file(id, "config", "cfg").await),
            Denied,
            "token.txt would lose its protection"
        );
        assert_eq!(kind(a.chmod_file(id, "b.key", 0o600).await), Denied);
        assert_eq!(kind(a.download(id, "b.key", 0).await), Denied);
        assert_eq!(kind(a.begin_upload(id, "u.key", 1, false).await), Denied);
        assert_eq!(
            kind(a.read_file(id, ".garrison-tmp-123", 100).await),
            Denied
        );
        assert_eq!(fkind(h.files().open_read("secret/inner/a.txt")), Denied);
        assert_eq!(
            fkind(h.files().remove_file("b.key", FileSource::Sftp)),
            Denied
        );
        // Copies and archives leave protected files out.
        a.copy_file(id, "mods", "mods-copy").await.unwrap();
        assert!(!root.join("mods-copy/m.key").exists());
        a.compress_files(id, vec!["".into()], "all.tar.gz", ArchiveKind::TarGz)
            .await
            .unwrap();
        let tgz = std::fs::read(root.join("all.tar.gz")).unwrap();
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&tgz[..]));
        let entries: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(
            entries.iter().all(|e| !e.contains("secret")
                && !e.ends_with(".key")
                && !e.contains("token")
                && !e.contains("garrison-tmp")),
            "{entries:?}"
        );
        let dl = collect(a.download(id, "", 0).await.unwrap().stream).await;
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&dl[..]));
        assert!(ar.entries().unwrap().all(|e| {
            !e.unwrap()
                .path()
                .unwrap()
                .to_string_lossy()
                .contains("secret")
        }));
        // Search does not see them.
        let found = a
            .search_files(
                id,
                SearchRequest {
                    path: "".into(),
                    query: "hidden".into(),
                    content: true,
                    limit: 100,
                },
            )
            .await
            .unwrap();
        assert!(found.matches.is_empty(), "{found:?}");
        let found = a
            .search_files(
                id,
                SearchRequest {
                    path: "".into(),
                    query: ".key".into(),
                    content: false,
                    limit: 100,
                },
            )
            .await
            .unwrap();
        assert!(found.matches.is_empty(), "{found:?}");
        // An archive that would write a protected path is refused whole.
        std::fs::write(
            root.join("evil.tar"),
            raw_tar(&[T::File(b"fine.txt", b"x"), T::File(b"secret/planted", b"x")]),
        )
        .unwrap();
        assert_eq!(kind(a.decompress_file(id, "evil.tar", "").await), Denied);
        assert!(!root.join("fine.txt").exists());
        assert_eq!(std::fs::read(root.join("b.key")).unwrap(), b"hidden");
        h.done().await;
    });
}

// ---------------------------------------------------------------------------------
// Listing, read/write/rename/copy/delete
// ---------------------------------------------------------------------------------

#[test]
fn listing_pages_and_sorts_5000_files() {
    rt().block_on(async {
        let h = harness(None, &[]).await;
        let (a, id, root) = (&h.agent, &h.id, h.root());
        std::fs::create_dir(root.join("big")).unwrap();
        for i in 0..5000u32 {
            std::fs::write(
                root.join(format!("big/f{i:05}")),
                vec![0u8; (i % 97) as usize],
            )
            .unwrap();
        }
        for d in ["zdir", "adir"] {
            std::fs::create_dir(root.join("big").join(d)).unwrap();
        }
        let req = |offset, sort, descending| ListRequest {
            path: "big".into(),
            offset,
            limit: 1000,
            sort,
            descending,
        };
        let mut all = Vec::new();
        for page in 0..6 {
            let p = a
                .list_files(id, req(page * 1000, SortKey::Name, false))
                .await
                .unwrap();
            assert_eq!(p.total, 5002);
            all.extend(p.entries);
        }
        assert_eq!(all.len(), 5002);
        assert_eq!(all[0].name, "adir");
        assert_eq!(all[1].name, "zdir");
        assert_eq!(all[2].name, "f00000");
        assert_eq!(all[5001].name, "f04999");
        assert_eq!(all[2].path, "big/f00000");
        let p = a.list_files(id, req(0, SortKey::Name, true)).await.unwrap();
        assert_eq!(
            p.entries[0].name, "zdir",
            "directories first, also descending"
        );
        assert_eq!(p.entries[2].name, "f04999");
        let p = a.list_files(id, req(0, SortKey::Size, true)).await.unwrap();
        assert_eq!(p.entries[2].size, 96);
        let sizes: Vec<u64> = p.entries[2..].iter().map(|e| e.size).collect();
        assert!(sizes.windows(2).all(|w| w[0] >= w[1]));
        let p = a
            .list_files(id, req(0, SortKey::Modified, false))
            .await
            .unwrap();
        let times: Vec<i64> = p.entries[2..].iter().map(|e| e.modified).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        let p = a
            .list_files(id, req(10_000, SortKey::Name, false))
            .await
            .unwrap();
        assert!(p.entries.is_empty());
        for limit in [0, 1001] {
            let r = a
                .list_files(
                    id,
                    ListRequest {
                        limit,
                        ..req(0, SortKey::Name, false)
                    },
                )
                .await;
            assert!(r.is_err());
        }
        assert_eq!(h.files().list_all("big").unwrap().len(), 5002);
        assert_eq!(
            kind(
                a.list_files(
                    id,
                    ListRequest {
                        path: "big/f00001".into(),
                        ..req(0, SortKey::Name, false)
                    }
                )
                .await
            ),
            FileErrorKind::NotADirectory
        );
        h.done().await;
    });
}

#[test]
fn read_write_rename_copy_delete() {
    rt().block_on(async {
        let h = harness(None, &[]).await;
        let (a, id, root) = (&h.agent, &h.id, h.root());
        let e = a
            .write_file(id, "cfg.yml", b"a: 1\n".to_vec())
            .await
            .unwrap();
        assert_eq!(
            (e.kind, e.size, e.path.as_str()),
            (FileKind::File, 5, "cfg.yml")
        );
        std::fs::set_permissions(root.join("cfg.yml"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        a.write_file(id, "cfg.yml", b"a: 2\n".to_vec())
            .await
            .unwrap();
        assert_eq!(a.read_file(id, "cfg.yml", 100).await.unwrap(), b"a: 2\n");
        assert_eq!(
            std::fs::metadata(root.join("cfg.yml"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600,
            "mode kept"
        );
        assert_eq!(
            kind(a.read_file(id, "cfg.yml", 3).await),
            FileErrorKind::TooLarge
        );
        assert_eq!(
            kind(a.read_file(id, "missing", 3).await),
            FileErrorKind::NotFound
        );
        assert_eq!(
            kind(a.write_file(id, "nodir/x", b"".to_vec()).await),
            FileErrorKind::NotFound
        );
        a.create_dir(id, "d").await.unwrap();
        assert_eq!(
            kind(a.create_dir(id, "d").await),
            FileErrorKind::AlreadyExists
        );
        assert_eq!(
            kind(a.read_file(id, "d", 3).await),
            FileErrorKind::IsADirectory
        );
        assert_eq!(
            kind(a.write_file(id, "d", b"x".to_vec()).await),
            FileErrorKind::IsADirectory
        );
        a.write_file(id, "d/inner.txt", b"in".to_vec())
            .await
            .unwrap();
        symlink("inner.txt", root.join("d/link")).unwrap();
        // Rename never replaces.
        a.write_file(id, "other", b"o".to_vec()).await.unwrap();
        assert_eq!(
            kind(a.rename_file(id, "cfg.yml", "other").await),
            FileErrorKind::AlreadyExists
        );
        assert_eq!(
            kind(a.rename_file(id, "d", "d/sub").await),
            FileErrorKind::InvalidPath
        );
        a.rename_file(id, "cfg.yml", "d/cfg.yml").await.unwrap();
        assert!(root.join("d/cfg.yml").exists() && !root.join("cfg.yml").exists());
        // Copy: trees, links as links, never replacing.
        a.copy_file(id, "d", "d2").await.unwrap();
        assert_eq!(std::fs::read(root.join("d2/inner.txt")).unwrap(), b"in");
        assert_eq!(
            std::fs::read_link(root.join("d2/link")).unwrap(),
            Path::new("inner.txt")
        );
        assert_eq!(
            kind(a.copy_file(id, "d", "other").await),
            FileErrorKind::AlreadyExists
        );
        assert_eq!(
            kind(a.copy_file(id, "d", "d/again").await),
            FileErrorKind::InvalidPath
        );
        a.copy_file(id, "d/link", "link2").await.unwrap();
        assert_eq!(
            std::fs::read_link(root.join("link2")).unwrap(),
            Path::new("inner.txt")
        );
        // Delete files and trees.
        a.delete_files(id, vec!["d2".into(), "other".into(), "link2".into()])
            .await
            .unwrap();
        assert!(!root.join("d2").exists() && !root.join("other").exists());
        assert_eq!(
            kind(a.delete_files(id, vec!["".into()]).await),
            FileErrorKind::InvalidPath
        );
        // The SFTP-side primitives.
        let f = h.files();
        assert_eq!(
            fkind(f.remove_dir("d", FileSource::Sftp)),
            FileErrorKind::AlreadyExists
        );
        assert_eq!(
            fkind(f.remove_file("d", FileSource::Sftp)),
            FileErrorKind::IsADirectory
        );
        f.remove_file("d/link", FileSource::Sftp).unwrap();
        let mut w = f
            .open_write(
                "d/inner.txt",
                WriteMode::InPlace { create: false },
                FileSource::Sftp,
            )
            .unwrap();
        assert_eq!(w.len(), 2);
        w.write_at(1, b"XY").unwrap();
        w.commit().unwrap();
        assert_eq!(std::fs::read(root.join("d/inner.txt")).unwrap(), b"iXY");
        assert_eq!(
            fkind(f.open_write(
                "d/none",
                WriteMode::InPlace { create: false },
                FileSource::Sftp
            )),
            FileErrorKind::NotFound
        );
        let mut w = f
            .open_write(
                "d/new",
                WriteMode::InPlace { create: true },
                FileSource::Sftp,
            )
            .unwrap();
        w.write_at(0, b"n").unwrap();
        drop(w);
        assert_eq!(std::fs::read(root.join("d/new")).unwrap(), b"n");
        assert_eq!(
            fkind(f.open_write(
                "d/new",
                WriteMode::Replace { overwrite: false },
                FileSource::Sftp
            )),
            FileErrorKind::AlreadyExists
        );
        let mut w = f
            .open_write(
                "d/new",
                WriteMode::Replace { overwrite: true },
                FileSource::Sftp,
            )
            .unwrap();
        w.write_at(0, b"replaced").unwrap();
        assert_eq!(
            std::fs::read(root.join("d/new")).unwrap(),
            b"n",
            "not visible before commit"
        );
        let e = w.commit().unwrap();
        assert_eq!(e.size, 8);
        assert_eq!(std::fs::read(root.join("d/new")).unwrap(), b"replaced");
        f.set_times("d/new", 1_000_000, 2_000_000, FileSource::Sftp)
            .unwrap();
        assert_eq!(f.stat("d/new").unwrap().modified, 2_000_000);
        f.rename("d/new", "d/renamed", FileSource::Sftp).unwrap();
        f.remove_file("d/renamed", FileSource::Sftp).unwrap();
        f.create_dir("empty", FileSource::Sftp).unwrap();
        f.remove_dir("empty", FileSource::Sftp).unwrap();
        let found = a
            .search_files(
                id,
                SearchRequest {
                    path: "".into(),
                    query: "INNER".into(),
                    content: false,
                    limit: 10,
                },
            )
            .await
            .unwrap();
        assert_eq!(found.matches.len(), 1);
        a.write_file(id, "d/log.txt", b"one\nTwo Needle here\nthree\n".to_vec())
            .await
            .unwrap();
        a.write_file(id, "d/bin.dat", b"needle\0binary".to_vec())
            .await
            .unwrap();
        let found = a
            .search_files(
                id,
                SearchRequest {
                    path: "d".into(),
                    query: "needle".into(),
                    content: true,
                    limit: 10,
                },
            )
            .await
            .unwrap();
        assert_eq!(found.matches.len(), 1, "{found:?}");
        assert_eq!(found.matches[0].line, Some(2));
        assert_eq!(found.matches[0].text.as_deref(), Some("Two Needle here"));
        assert!(!found.truncated);
        h.done().await;
    });
}

// ---------------------------------------------------------------------------------
// Uploads and downloads
// ---------------------------------------------------------------------------------

#[test]
fn uploads_resume_refuse_bad_offsets_and_abort_cleanly() {
    rt().block_on(async {
        let h = harness(Some(10 * MIB), &[]).await;
        let (a, id, root) = (&h.agent, &h.id, h.root());
        let staging = h.tmp.path().join("data/uploads/s1");
        let data: Vec<u8> = (0..300 * 1024u32).map(|i| (i % 251) as u8).collect();
        let st = a
            .begin_upload(id, "up.bin", data.len() as u64, false)
            .await
            .unwrap();
        assert_eq!((st.offset, st.done), (0, false));
        assert_eq!(a.disk_usage(id).await.unwrap().used_bytes, 0);
        let st2 = a
            .upload_chunk(id, &st.id, 0, body(vec![data[..100_000].to_vec()]))
            .await
            .unwrap();
        assert_eq!(st2.offset, 100_000);
        assert!(
            !root.join("up.bin").exists(),
            "nothing visible before the last chunk"
        );
        assert_eq!(
            std::fs::read_dir(&root).unwrap().count(),
            0,
            "not staged in the server dir"
        );
        assert_eq!(
            kind(
                a.upload_chunk(id, &st.id, 0, body(vec![b"x".to_vec()]))
                    .await
            ),
            FileErrorKind::Upload
        );
        assert_eq!(
            kind(
                a.upload_chunk(id, &st.id, 100_001, body(vec![b"x".to_vec()]))
                    .await
            ),
            FileErrorKind::Upload
        );
        // Past the declared size: refused.
        assert_eq!(
            kind(
                a.upload_chunk(id, &st.id, 100_000, body(vec![vec![0u8; 300 * 1024]]))
                    .await
            ),
            FileErrorKind::Upload
        );
        assert_eq!(a.upload_state(id, &st.id).await.unwrap().offset, 100_000);
        // A body that breaks off: the bytes before the break count, the client resumes.
        let broken: ByteStream = Box::pin(futures_util::stream::iter(vec![
            Ok(Bytes::from(data[100_000..150_000].to_vec())),
            Err(std::io::Error::other("connection reset")),
        ]));
        assert_eq!(
            kind(a.upload_chunk(id, &st.id, 100_000, broken).await),
            FileErrorKind::Upload
        );
        let off = a.upload_state(id, &st.id).await.unwrap().offset;
        assert_eq!(off, 150_000);
        let rest: Vec<Vec<u8>> = data[150_000..].chunks(7000).map(|c| c.to_vec()).collect();
        let done = a.upload_chunk(id, &st.id, off, body(rest)).await.unwrap();
        assert!(done.done);
        assert_eq!(
            sha(&std::fs::read(root.join("up.bin")).unwrap()),
            sha(&data)
        );
        assert_eq!(
            a.disk_usage(id).await.unwrap().used_bytes,
            data.len() as u64
        );
        assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0);
        assert!(a.upload_state(id, &st.id).await.unwrap().done);
        assert_eq!(
            kind(
                a.upload_chunk(id, &st.id, off, body(vec![b"x".to_vec()]))
                    .await
            ),
            FileErrorKind::Upload
        );
        // Existing target: refused without overwrite, replaced with it.
        assert_eq!(
            kind(a.begin_upload(id, "up.bin", 3, false).await),
            FileErrorKind::AlreadyExists
        );
        let st = a.begin_upload(id, "up.bin", 3, true).await.unwrap();
        a.upload_chunk(id, &st.id, 0, body(vec![b"abc".to_vec()]))
            .await
            .unwrap();
        assert_eq!(std::fs::read(root.join("up.bin")).unwrap(), b"abc");
        assert_eq!(a.disk_usage(id).await.unwrap().used_bytes, 3);
        // Empty uploads finish at once.
        let st = a.begin_upload(id, "empty", 0, false).await.unwrap();
        assert!(st.done);
        assert_eq!(std::fs::read(root.join("empty")).unwrap(), b"");
        // Abort: nothing left, quota released.
        let st = a.begin_upload(id, "ab.bin", 5 * MIB, false).await.unwrap();
        a.upload_chunk(id, &st.id, 0, body(vec![vec![1u8; 1000]]))
            .await
            .unwrap();
        a.abort_upload(id, &st.id).await.unwrap();
        assert!(!root.join("ab.bin").exists());
        assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0);
        assert_eq!(
            kind(a.upload_state(id, &st.id).await),
            FileErrorKind::Upload
        );
        assert_eq!(
            kind(a.upload_state(id, "../../etc").await),
            FileErrorKind::Upload
        );
        // A caller that goes away mid-chunk: the chunk still ends, the upload resumes.
        let st = a.begin_upload(id, "gone.bin", 10, false).await.unwrap();
        let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        let stream: ByteStream = Box::pin(futures_util::stream::unfold(rx, |mut rx| async {
            rx.recv().await.map(|item| (item, rx))
        }));
        tx.send(Ok(Bytes::from_static(b"12345"))).await.unwrap();
        let r = tokio::time::timeout(
            Duration::from_millis(300),
            a.upload_chunk(id, &st.id, 0, stream),
        )
        .await;
        assert!(r.is_err(), "still waiting for more body");
        drop(tx);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let r = a
                .upload_chunk(id, &st.id, 5, body(vec![b"67890".to_vec()]))
                .await;
            match r {
                Ok(done) => {
                    assert!(done.done);
                    break;
                }
                Err(_) => {
                    assert!(std::time::Instant::now() < deadline, "upload stuck busy");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        assert_eq!(std::fs::read(root.join("gone.bin")).unwrap(), b"1234567890");
        // At most 16 open at once.
        let mut ids = Vec::new();
        for i in 0..16 {
            ids.push(
                a.begin_upload(id, &format!("m{i}"), 10, false)
                    .await
                    .unwrap()
                    .id,
            );
        }
        assert_eq!(
            kind(a.begin_upload(id, "m16", 10, false).await),
            FileErrorKind::Upload
        );
        for u in ids {
            a.abort_upload(id, &u).await.unwrap();
        }
        a.begin_upload(id, "m16", 10, false).await.unwrap();
        h.done().await;
    });
}

#[test]
fn downloads_of_files_and_directories() {
    rt().block_on(async {
        let h = harness(None, &[]).await;
        let (a, id, root) = (&h.agent, &h.id, h.root());
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 31 % 256) as u8).collect();
        std::fs::create_dir_all(root.join("w/deep/er")).unwrap();
        std::fs::write(root.join("w/big.bin"), &data).unwrap();
        std::fs::write(root.join("w/deep/er/x.txt"), b"x").unwrap();
        std::fs::write(root.join("w/deep/empty"), b"").unwrap();
        symlink("big.bin", root.join("w/link")).unwrap();
        let long = "l".repeat(200);
        std::fs::create_dir_all(root.join("w").join(&long)).unwrap();
        std::fs::write(root.join("w").join(&long).join(&long), b"long").unwrap();

        let d = a.download(id, "w/big.bin", 0).await.unwrap();
        assert_eq!(
            (d.size, d.archive, d.name.as_str()),
            (Some(1_000_000), false, "big.bin")
        );
        assert_eq!(collect(d.stream).await, data);
        let d = a.download(id, "w/big.bin", 999_000).await.unwrap();
        assert_eq!(collect(d.stream).await, &data[999_000..]);
        assert!(a.download(id, "w/big.bin", 1_000_001).await.is_err());
        assert!(a.download(id, "w", 5).await.is_err());

        let d = a.download(id, "w", 0).await.unwrap();
        assert!(d.archive);
        assert_eq!(d.name, "w.tar.gz");
        let tgz = collect(d.stream).await;
        let out = h.tmp.path().join("unpacked");
        std::fs::create_dir(&out).unwrap();
        tar::Archive::new(flate2::read::GzDecoder::new(&tgz[..]))
            .unpack(&out)
            .unwrap();
        assert_eq!(std::fs::read(out.join("w/big.bin")).unwrap(), data);
        assert_eq!(std::fs::read(out.join("w/deep/er/x.txt")).unwrap(), b"x");
        assert_eq!(std::fs::read(out.join("w/deep/empty")).unwrap(), b"");
        assert_eq!(
            std::fs::read_link(out.join("w/link")).unwrap(),
            Path::new("big.bin")
        );
        assert_eq!(
            std::fs::read(out.join("w").join(&long).join(&long)).unwrap(),
            b"long"
        );
        std::fs::remove_dir_all(&out).unwrap();
        // A consumer that walks away ends the producer (no leak, no hang at shutdown).
        let d = a.download(id, "w/big.bin", 0).await.unwrap();
        drop(d);
        h.done().await;
    });
}

// ---------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------

#[test]
fn file_events_from_the_api_and_the_game() {
    rt().block_on(async {
        let mut h = harness(None, &[]).await;
        let id = h.id.clone();
        let root = h.root();
        // Let the watcher settle on the new directory.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for i in 0..5 {
            h.agent
                .write_file(&id, &format!("api{i}.txt"), b"x".to_vec())
                .await
                .unwrap();
        }
        let evs = h
            .file_events(Duration::from_secs(5), |e| e.source == FileSource::Api)
            .await;
        let api: Vec<_> = evs.iter().filter(|e| e.source == FileSource::Api).collect();
        assert_eq!(api.len(), 1, "one event per burst: {evs:?}");
        assert_eq!(api[0].server, id);
        assert_eq!(api[0].changes.len(), 5);
        assert!(
            api[0]
                .changes
                .iter()
                .all(|c| c.action == garrison_proto::FileAction::Created)
        );
        // The watcher saw the agent's own writes: no Game echo of them.
        let echo = h.file_events(Duration::from_millis(1500), |_| false).await;
        assert!(
            echo.iter().all(|e| e.source != FileSource::Game
                || e.changes.iter().all(|c| !c.path.starts_with("api"))),
            "{echo:?}"
        );
        // SFTP source through ServerFiles.
        let f = h.files();
        tokio::task::spawn_blocking(move || f.create_dir("sftp-dir", FileSource::Sftp).map(|_| ()))
            .await
            .unwrap()
            .unwrap();
        let evs = h
            .file_events(Duration::from_secs(5), |e| e.source == FileSource::Sftp)
            .await;
        assert!(
            evs.iter()
                .any(|e| e.source == FileSource::Sftp && e.changes[0].path == "sftp-dir")
        );
        // Written by the game, directly on disk.
        std::fs::write(root.join("game.log"), b"hello").unwrap();
        let evs = h
            .file_events(Duration::from_secs(5), |e| e.source == FileSource::Game)
            .await;
        let game: Vec<_> = evs
            .iter()
            .filter(|e| e.source == FileSource::Game)
            .collect();
        assert!(!game.is_empty(), "{evs:?}");
        assert!(
            game[0].changes.iter().any(|c| c.path == "game.log"),
            "{game:?}"
        );
        // A big burst is summarised.
        std::fs::create_dir(root.join("many")).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        for i in 0..300 {
            std::fs::write(root.join(format!("many/f{i}")), b"x").unwrap();
        }
        let evs = h
            .file_events(Duration::from_secs(5), |e| {
                e.source == FileSource::Game && e.changes.iter().any(|c| c.path == "many")
            })
            .await;
        assert!(evs.iter().all(|e| e.changes.len() <= 100), "{evs:?}");
        h.done().await;
    });
}

#[test]
fn removing_a_server_drops_its_files_and_watch() {
    rt().block_on(async {
        let h = harness(None, &[]).await;
        let (a, id) = (&h.agent, &h.id);
        let st = a.begin_upload(id, "x", 10, false).await.unwrap();
        a.remove(id).await.unwrap();
        assert!(matches!(
            a.server_files(id),
            Err(NodeError::UnknownServer(_))
        ));
        assert!(matches!(
            a.upload_state(id, &st.id).await,
            Err(NodeError::UnknownServer(_))
        ));
        assert!(!h.tmp.path().join("data/uploads/s1").exists());
        h.done().await;
    });
}

// ---------------------------------------------------------------------------------
// Pull
// ---------------------------------------------------------------------------------

/// A one-shot plain HTTP server on loopback that answers every request with `body`.
fn http_server(body: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/files/mod.jar", l.local_addr().unwrap());
    let t = std::thread::spawn(move || {
        l.set_nonblocking(false).unwrap();
        for _ in 0..3 {
            let Ok((mut s, _)) = l.accept() else { return };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(&body);
        }
    });
    (url, t)
}

#[test]
fn pull_refuses_insecure_and_private_urls_and_checks_quota() {
    rt().block_on(async {
        let h = harness(Some(MIB), &[]).await;
        let (a, id) = (&h.agent, &h.id);
        let pull = |url: &str| PullRequest {
            url: url.into(),
            destination: "".into(),
            overwrite: false,
        };
        assert_eq!(
            kind(a.pull_file(id, pull("http://example.com/x.jar")).await),
            FileErrorKind::Pull
        );
        assert_eq!(
            kind(a.pull_file(id, pull("https://127.0.0.1/x.jar")).await),
            FileErrorKind::Pull
        );
        assert_eq!(
            kind(a.pull_file(id, pull("https://[::1]/x.jar")).await),
            FileErrorKind::Pull
        );
        assert_eq!(
            kind(a.pull_file(id, pull("https://10.0.0.1/x.jar")).await),
            FileErrorKind::Pull
        );
        assert_eq!(
            kind(a.pull_file(id, pull("file:///etc/passwd")).await),
            FileErrorKind::Pull
        );
        assert_eq!(
            kind(a.pull_file(id, pull("not a url")).await),
            FileErrorKind::Pull
        );
        h.done().await;

        // With http and private addresses allowed (a LAN mirror), against loopback.
        let h = harness_with(Some(MIB), &[], |c| {
            c.install.allow_http = true;
            c.install.allow_private = true;
            c.install.download_attempts = 1;
        })
        .await;
        let (a, id, root) = (&h.agent, &h.id, h.root());
        let (url, t) = http_server(b"jar bytes".to_vec());
        a.create_dir(id, "mods").await.unwrap();
        let e = a
            .pull_file(
                id,
                PullRequest {
                    url: url.clone(),
                    destination: "mods".into(),
                    overwrite: false,
                },
            )
            .await
            .unwrap();
        assert_eq!(e.path, "mods/mod.jar");
        assert_eq!(
            std::fs::read(root.join("mods/mod.jar")).unwrap(),
            b"jar bytes"
        );
        assert_eq!(
            kind(
                a.pull_file(
                    id,
                    PullRequest {
                        url: url.clone(),
                        destination: "mods/mod.jar".into(),
                        overwrite: false
                    }
                )
                .await
            ),
            FileErrorKind::AlreadyExists
        );
        drop(t);
        let (url, _t) = http_server(vec![0u8; 2 * MIB as usize]);
        assert_eq!(
            kind(
                a.pull_file(
                    id,
                    PullRequest {
                        url,
                        destination: "big.bin".into(),
                        overwrite: false
                    }
                )
                .await
            ),
            FileErrorKind::QuotaExceeded
        );
        assert!(!root.join("big.bin").exists());
        assert_eq!(a.disk_usage(id).await.unwrap().used_bytes, 9);
        h.done().await;
    });
}
