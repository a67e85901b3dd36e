//! Restore, the blocking part: check the archive file against the digest, build a
//! staging tree beside the server directory (hard-link clone for a merge, empty for a
//! full restore with `delete_extra`), extract through a sandbox rooted at staging with
//! every entry checked against the manifest, then swap staging and the server directory
//! in one `renameat2(RENAME_EXCHANGE)`. Until that swap nothing in the server directory
//! changes.

use super::verify::{Index, check_entry};
use crate::config::RunAs;
use crate::files::millis_to_time;
use crate::files::tree_remove;
use crate::sandbox::{NoFollowDir, RelPath, Sandbox, SandboxError};
use cap_fs_ext::OsMetadataExt;
use garrison_proto::{CompressionKind, Manifest, ManifestEntry, ManifestKind};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Debug, thiserror::Error)]
pub(crate) enum RestoreError {
    #[error("cancelled")]
    Cancelled,
    /// The archive is not what the digest or manifest says.
    #[error("{0}")]
    Corrupt(String),
    #[error("{0}")]
    Failed(String),
}

pub(crate) struct Job<'a> {
    pub archive: &'a Path,
    /// What the archive's bytes must be (size, SHA-256), checked as it is read.
    pub digest: &'a garrison_proto::BackupDigest,
    pub compression: CompressionKind,
    pub manifest: &'a Manifest,
    pub server_dir: &'a Path,
    pub staging: &'a Path,
    pub delete_extra: bool,
    pub paths: &'a [RelPath],
    pub run_as: Option<RunAs>,
    pub cancel: &'a AtomicBool,
    pub bytes: &'a AtomicU64,
    pub files: &'a AtomicU64,
}

fn failed(what: impl std::fmt::Display, e: impl std::fmt::Display) -> RestoreError {
    RestoreError::Failed(format!("{what}: {e}"))
}

/// Decompressed bytes per buffer handed from the decompressing thread to extraction.
const PIPE_CHUNK: usize = 1024 * 1024;
/// Buffers in flight between the two threads.
const PIPE_DEPTH: usize = 8;

/// Counts and hashes every byte read from the archive file.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
    len: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        self.hash.update(&out[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

type Src = io::BufReader<Hashing<std::fs::File>>;

enum Dec {
    Zstd(zstd::stream::read::Decoder<'static, Src>),
    Gzip(flate2::bufread::GzDecoder<Src>),
}

impl Dec {
    fn new(kind: CompressionKind, src: Src) -> io::Result<Dec> {
        Ok(match kind {
            CompressionKind::Zstd => {
                let mut d = zstd::stream::read::Decoder::with_buffer(src)?;
                // As `verify::decoder`: a window bigger than ours is not our archive.
                d.window_log_max(27)?;
                Dec::Zstd(d)
            }
            CompressionKind::Gzip => Dec::Gzip(flate2::bufread::GzDecoder::new(src)),
        })
    }

    fn into_src(self) -> Src {
        match self {
            Dec::Zstd(d) => d.finish(),
            Dec::Gzip(d) => d.into_inner(),
        }
    }
}

impl Read for Dec {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self {
            Dec::Zstd(d) => d.read(out),
            Dec::Gzip(d) => d.read(out),
        }
    }
}

/// One piece of the decompressed stream, or why it ended early.
type Piece = Result<Vec<u8>, io::Error>;

/// The decompressing half of extraction, in its own thread: reads the archive file
/// once, hashing every byte of it, and sends the decompressed stream in big buffers
/// over a bounded queue (the two halves run on two cores, like `zstd -d | tar -x`).
/// When extraction stops taking buffers (done, or failed) the rest of the file is
/// still read and hashed, so the caller always learns whether the archive is the one
/// the digest names. Returns the archive's size and SHA-256 (hex).
fn decompress(
    archive: &Path,
    kind: CompressionKind,
    tx: std::sync::mpsc::SyncSender<Piece>,
    pool: std::sync::mpsc::Receiver<Vec<u8>>,
    cancel: &AtomicBool,
) -> Result<(u64, String), RestoreError> {
    let file = std::fs::File::open(archive).map_err(|e| failed(archive.display(), e))?;
    let src = io::BufReader::with_capacity(
        super::create::CHUNK,
        Hashing {
            inner: file,
            hash: Sha256::new(),
            len: 0,
        },
    );
    let mut src = match Dec::new(kind, src) {
        Ok(mut dec) => {
            let mut sending = true;
            while sending {
                if cancel.load(Ordering::Relaxed) {
                    return Err(RestoreError::Cancelled);
                }
                let mut buf = pool.try_recv().unwrap_or_else(|_| vec![0u8; PIPE_CHUNK]);
                buf.resize(PIPE_CHUNK, 0);
                let mut n = 0;
                let mut end = false;
                while n < buf.len() {
                    match dec.read(&mut buf[n..]) {
                        Ok(0) => {
                            end = true;
                            break;
                        }
                        Ok(k) => n += k,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            end = true;
                            n = 0;
                            break;
                        }
                    }
                }
                if n > 0 {
                    buf.truncate(n);
                    sending = tx.send(Ok(buf)).is_ok();
                }
                if end {
                    break;
                }
            }
            dec.into_src()
        }
        Err(e) => {
            let _ = tx.send(Err(e));
            return Err(RestoreError::Corrupt(
                "the archive cannot be decompressed".into(),
            ));
        }
    };
    drop(tx);
    // Whatever the decompressor left (it stops at the end of its data): hashed too.
    let mut rest = vec![0u8; 256 * 1024];
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(RestoreError::Cancelled);
        }
        match src.get_mut().read(&mut rest) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(failed(archive.display(), e)),
        }
    }
    // Bytes the BufReader holds were hashed when it read them.
    let h = src.into_inner();
    Ok((h.len, hex::encode(h.hash.finalize())))
}

/// The extraction side of the queue: a reader over the buffers, handing each one back
/// to the decompressor once consumed.
struct PipeReader {
    rx: std::sync::mpsc::Receiver<Piece>,
    pool: std::sync::mpsc::SyncSender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(Ok(b)) => {
                    let old = std::mem::replace(&mut self.cur, b);
                    let _ = self.pool.try_send(old);
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Remove whatever is at `path` (a tree included). Missing is fine.
pub(crate) fn remove_all(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
    }
}

/// Everything of the restore up to and including the swap. On an error staging is
/// removed and the server directory is as it was.
pub(crate) fn run(job: &Job<'_>) -> Result<(), RestoreError> {
    let result = build_and_swap(job);
    if result.is_err()
        && let Err(e) = remove_all(job.staging)
    {
        tracing::warn!(path = %job.staging.display(), error = %e, "cannot remove restore staging");
    }
    result
}

fn build_and_swap(job: &Job<'_>) -> Result<(), RestoreError> {
    remove_all(job.staging).map_err(|e| failed(job.staging.display(), e))?;
    if let Some(parent) = job.staging.parent() {
        std::fs::create_dir_all(parent).map_err(|e| failed(parent.display(), e))?;
    }
    std::fs::create_dir(job.staging).map_err(|e| failed(job.staging.display(), e))?;
    let live_meta =
        std::fs::metadata(job.server_dir).map_err(|e| failed(job.server_dir.display(), e))?;
    std::fs::set_permissions(job.staging, live_meta.permissions())
        .map_err(|e| failed(job.staging.display(), e))?;
    let stage = Sandbox::open(job.staging).map_err(|e| failed("opening staging", e))?;
    let full_clean = job.delete_extra && job.paths.is_empty();
    if !full_clean {
        let live = Sandbox::open(job.server_dir).map_err(|e| failed("opening the server", e))?;
        clone_tree(&live, &stage, job.cancel)?;
    }
    extract(job, &stage)?;
    if job.delete_extra && !full_clean {
        delete_extra(job, &stage)?;
    }
    if let Some(r) = job.run_as {
        chown_created(&stage, r)?;
    }
    if job.cancel.load(Ordering::Relaxed) {
        return Err(RestoreError::Cancelled);
    }
    swap(job.staging, job.server_dir)
}

fn swap(staging: &Path, server_dir: &Path) -> Result<(), RestoreError> {
    match rustix::fs::renameat_with(
        rustix::fs::CWD,
        staging,
        rustix::fs::CWD,
        server_dir,
        rustix::fs::RenameFlags::EXCHANGE,
    ) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::XDEV) => Err(RestoreError::Failed(format!(
            "the restore staging directory {} is on another filesystem than {}; both must be in the same data directory filesystem",
            staging.display(),
            server_dir.display()
        ))),
        Err(e) => Err(failed("swapping the restored files in", io::Error::from(e))),
    }
}

/// Recreate the live tree in staging: directories with their modes, files as hard
/// links (no bytes copied; a file the archive replaces is renamed over its link, never
/// written through it), symlinks as they are. Other kinds are left out.
fn clone_tree(live: &Sandbox, stage: &Sandbox, cancel: &AtomicBool) -> Result<(), RestoreError> {
    use std::os::fd::AsFd;
    let src = live
        .dir_nofollow(&RelPath::root())
        .map_err(|e| failed("the server directory", e))?;
    let dst = stage
        .dir_nofollow(&RelPath::root())
        .map_err(|e| failed("staging", e))?;
    let mut stack = vec![(src, dst)];
    while let Some((src, dst)) = stack.pop() {
        if cancel.load(Ordering::Relaxed) {
            return Err(RestoreError::Cancelled);
        }
        for (name, m) in src.entries().map_err(|e| failed("listing", e))? {
            let ft = m.file_type();
            let at = || src.child(&name).map(|p| p.to_string()).unwrap_or_default();
            if ft.is_dir() {
                let sub = match src.open_dir(&name) {
                    Ok(s) => s,
                    Err(e) => return Err(failed(at(), e)),
                };
                dst.create_dir(&name).map_err(|e| failed(at(), e))?;
                let made = dst.open_dir(&name).map_err(|e| failed(at(), e))?;
                made.chmod_self(m.mode()).map_err(|e| failed(at(), e))?;
                stack.push((sub, made));
            } else if ft.is_file() {
                rustix::fs::linkat(
                    src.as_dir().as_fd(),
                    name.as_str(),
                    dst.as_dir().as_fd(),
                    name.as_str(),
                    rustix::fs::AtFlags::empty(),
                )
                .map_err(|e| failed(format!("linking {}", at()), io::Error::from(e)))?;
            } else if ft.is_symlink() {
                let target = src.read_link(&name).map_err(|e| failed(at(), e))?;
                // As it was in the live tree (its target was never checked by us and
                // is never followed): recreated raw, not through the sandbox's rules.
                rustix::fs::symlinkat(target.as_str(), dst.as_dir().as_fd(), name.as_str())
                    .map_err(|e| failed(at(), io::Error::from(e)))?;
            } else {
                tracing::warn!(path = %at(), "a FIFO, socket or device is not kept by the restore");
            }
        }
    }
    Ok(())
}

/// Whether `rel` is one of the requested paths or inside one (everything without paths).
fn wanted(paths: &[RelPath], rel: &RelPath) -> bool {
    paths.is_empty() || paths.iter().any(|p| rel.starts_with(p))
}

/// The directories holding the entry being extracted, open from the staging root down,
/// kept between entries: the archive is depth first, so consecutive entries share their
/// parent and a handle is opened once per directory instead of once per component per
/// entry. Handles never follow a symlink; staging is written by the restore alone.
struct DirCache {
    root: NoFollowDir,
    /// (name, handle) per component below the root.
    open: Vec<(String, NoFollowDir)>,
}

impl DirCache {
    /// The directory holding `rel`, made of real directories: missing ones are created,
    /// a file or link in the way (a clone of the live tree) is removed, unless the
    /// manifest itself says that component is not a directory.
    fn parent(&mut self, index: &Index<'_>, rel: &RelPath) -> Result<&NoFollowDir, RestoreError> {
        let path = rel.as_str();
        let parent = path.rfind('/').map_or("", |i| &path[..i]);
        let parts: Vec<&str> = if parent.is_empty() {
            Vec::new()
        } else {
            parent.split('/').collect()
        };
        let keep = self
            .open
            .iter()
            .zip(&parts)
            .take_while(|((have, _), want)| have == *want)
            .count();
        self.open.truncate(keep);
        let mut end = parts[..keep].iter().map(|p| p.len() + 1).sum::<usize>();
        for part in &parts[keep..] {
            end += part.len();
            let at = &path[..end];
            end += 1;
            if let Some(m) = index.by_path.get(at)
                && m.kind != ManifestKind::Dir
            {
                return Err(RestoreError::Corrupt(format!(
                    "the archive has an entry {rel:?} that is not allowed (below a non-directory)",
                )));
            }
            let dir = self.open.last().map_or(&self.root, |(_, d)| d);
            match dir.lstat_opt(part).map_err(|e| failed(at, e))? {
                Some(m) if m.is_dir() => {}
                Some(_) => {
                    dir.remove_file(part).map_err(|e| failed(at, e))?;
                    dir.create_dir(part).map_err(|e| failed(at, e))?;
                }
                None => dir.create_dir(part).map_err(|e| failed(at, e))?,
            }
            let sub = dir.open_dir(part).map_err(|e| failed(at, e))?;
            self.open.push(((*part).to_owned(), sub));
        }
        Ok(self.open.last().map_or(&self.root, |(_, d)| d))
    }
}

/// Make room for a new entry `name`: whatever the clone put there goes (names only:
/// the live tree keeps its files).
fn clear(dir: &NoFollowDir, name: &str, keep_dir: bool) -> Result<(), RestoreError> {
    match dir.lstat_opt(name).map_err(|e| failed(name, e))? {
        None => Ok(()),
        Some(m) if m.is_dir() && keep_dir => Ok(()),
        Some(m) if m.is_dir() => tree_remove(dir, name)
            .map(|_| ())
            .map_err(|e| failed(name, e)),
        Some(_) => dir.remove_file(name).map_err(|e| failed(name, e)),
    }
}

/// File contents on their way to the hasher thread, in archive order.
enum HashMsg<'m> {
    Data(Vec<u8>),
    /// The end of a file's bytes: its SHA-256 must be `sha256` (the manifest's).
    End {
        rel: RelPath,
        sha256: &'m str,
    },
}

/// The extraction side of the hasher's queue.
struct FileHashes<'a, 'm> {
    tx: std::sync::mpsc::SyncSender<HashMsg<'m>>,
    pool: std::sync::mpsc::Receiver<Vec<u8>>,
    /// Set by the hasher at the first file that differs: extraction stops.
    bad: &'a AtomicBool,
}

/// Hashes each extracted file's bytes (sent by extraction after writing them) and
/// compares them with the manifest, in its own thread: a file that differs fails the
/// restore before the swap, like every other check. Buffers go back for reuse.
fn hash_files(
    rx: std::sync::mpsc::Receiver<HashMsg<'_>>,
    pool: std::sync::mpsc::SyncSender<Vec<u8>>,
    bad: &AtomicBool,
) -> Result<(), RestoreError> {
    let mut h = Sha256::new();
    for msg in rx {
        match msg {
            HashMsg::Data(buf) => {
                h.update(&buf);
                let _ = pool.try_send(buf);
            }
            HashMsg::End { rel, sha256 } => {
                let got = hex::encode(std::mem::take(&mut h).finalize());
                if !got.eq_ignore_ascii_case(sha256) {
                    bad.store(true, Ordering::Relaxed);
                    return Err(RestoreError::Corrupt(format!(
                        "{rel} in the archive differs from the manifest"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Extract the archive into staging in one pass over its bytes: a second thread reads,
/// hashes and decompresses, this one checks and writes the entries. Ends with the
/// archive's size and SHA-256 compared with the digest: a difference is `Corrupt`
/// (whatever extraction made of the bytes), and nothing outside staging was touched.
fn extract(job: &Job<'_>, stage: &Sandbox) -> Result<(), RestoreError> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Piece>(PIPE_DEPTH);
    let (pool_tx, pool_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(PIPE_DEPTH + 2);
    let bad = AtomicBool::new(false);
    let (hashed, extracted) = std::thread::scope(|s| {
        let reader = std::thread::Builder::new()
            .name("restore-decompress".into())
            .spawn_scoped(s, || {
                decompress(job.archive, job.compression, tx, pool_rx, job.cancel)
            });
        let reader = match reader {
            Ok(r) => r,
            Err(e) => return (Err(failed("starting the decompressor", e)), Ok(())),
        };
        let pipe = PipeReader {
            rx,
            pool: pool_tx,
            cur: Vec::new(),
            pos: 0,
        };
        let (htx, hrx) = std::sync::mpsc::sync_channel::<HashMsg<'_>>(PIPE_DEPTH * 2);
        let (hpool_tx, hpool_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(PIPE_DEPTH * 2 + 2);
        let hasher = std::thread::Builder::new()
            .name("restore-hash".into())
            .spawn_scoped(s, || hash_files(hrx, hpool_tx, &bad));
        let hasher = match hasher {
            Ok(h) => h,
            Err(e) => {
                drop(pipe);
                let _ = reader.join();
                return (Err(failed("starting the file hasher", e)), Ok(()));
            }
        };
        let files = FileHashes {
            tx: htx,
            pool: hpool_rx,
            bad: &bad,
        };
        // `extract_entries` consumes the pipe and the hasher's queue: when it returns,
        // the decompressor sees its queue closed and only hashes what is left, and
        // the hasher finishes the files it was sent.
        let extracted = extract_entries(job, stage, pipe, files);
        let hashed = reader
            .join()
            .unwrap_or_else(|_| Err(RestoreError::Failed("the decompressor panicked".into())));
        let files_ok = hasher
            .join()
            .unwrap_or_else(|_| Err(RestoreError::Failed("the file hasher panicked".into())));
        // A file the hasher refused explains whatever extraction then ran into.
        (hashed, files_ok.and(extracted))
    });
    match hashed {
        Err(RestoreError::Cancelled) => Err(RestoreError::Cancelled),
        Ok((len, sha))
            if len != job.digest.size || !sha.eq_ignore_ascii_case(&job.digest.sha256) =>
        {
            Err(RestoreError::Corrupt(
                "the archive differs from the backup's digest; nothing was changed".into(),
            ))
        }
        Ok(_) => extracted,
        // A read error of the archive file: extraction's own error says more when it
        // has one (it saw the same failure).
        Err(e) => extracted.and(Err(e)),
    }
}

fn extract_entries<'m>(
    job: &Job<'m>,
    stage: &Sandbox,
    pipe: PipeReader,
    hashes: FileHashes<'_, 'm>,
) -> Result<(), RestoreError> {
    let index = Index::new(job.manifest).map_err(RestoreError::Corrupt)?;
    let mut seen: HashSet<&str> = HashSet::with_capacity(job.manifest.entries.len());
    let mut ar = tar::Archive::new(pipe);
    let mut dirs: Vec<(RelPath, &ManifestEntry)> = Vec::new();
    let mut cache = DirCache {
        root: stage
            .dir_nofollow(&RelPath::root())
            .map_err(|e| failed("staging", e))?,
        open: Vec::new(),
    };
    // A full restore with delete_extra stages into an empty tree: nothing can be in
    // an entry's way (the manifest's paths are unique), so files are created at their
    // names directly instead of through a temp file and a rename.
    let fresh = job.delete_extra && job.paths.is_empty();
    let corrupt = |e: io::Error| RestoreError::Corrupt(format!("the archive cannot be read: {e}"));
    let hash_gone = || RestoreError::Failed("the file hasher stopped".into());
    for entry in ar.entries().map_err(corrupt)? {
        if job.cancel.load(Ordering::Relaxed) {
            return Err(RestoreError::Cancelled);
        }
        if hashes.bad.load(Ordering::Relaxed) {
            // The hasher's own error says which file.
            return Ok(());
        }
        let mut entry = entry.map_err(corrupt)?;
        let (rel, m) = check_entry(&index, &mut seen, &entry).map_err(RestoreError::Corrupt)?;
        if !wanted(job.paths, &rel) {
            continue;
        }
        let dir = cache.parent(&index, &rel)?;
        let Some(name) = rel.file_name() else {
            continue;
        };
        match m.kind {
            ManifestKind::Dir => {
                clear(dir, name, true)?;
                if dir.lstat_opt(name).map_err(|e| failed(&rel, e))?.is_none() {
                    dir.create_dir(name).map_err(|e| failed(&rel, e))?;
                }
                dirs.push((rel, m));
            }
            ManifestKind::Symlink => {
                let target = m.target.as_deref().unwrap_or_default();
                if !fresh {
                    clear(dir, name, false)?;
                }
                dir.symlink(target, name).map_err(|e| {
                    RestoreError::Corrupt(format!(
                        "the archive has an entry {:?} that is not allowed ({e})",
                        rel.as_str()
                    ))
                })?;
                let t = millis_to_time(m.mtime);
                dir.set_times(name, t, t).map_err(|e| failed(&rel, e))?;
            }
            ManifestKind::File => {
                let (mut out, tmp) = if fresh {
                    let f = dir.create_new(name, m.mode).map_err(|e| failed(&rel, e))?;
                    (f, None)
                } else {
                    let (f, t) = dir.create_temp(0o600).map_err(|e| failed(&rel, e))?;
                    (f, Some(t))
                };
                let written = (|| {
                    let mut left = m.size;
                    while left > 0 {
                        if job.cancel.load(Ordering::Relaxed) {
                            return Err(RestoreError::Cancelled);
                        }
                        let want = usize::try_from(left.min(super::create::CHUNK as u64))
                            .unwrap_or(super::create::CHUNK);
                        let mut buf = hashes.pool.try_recv().unwrap_or_default();
                        buf.resize(want, 0);
                        let mut n = 0;
                        while n < want {
                            let k = entry.read(&mut buf[n..]).map_err(corrupt)?;
                            if k == 0 {
                                return Err(RestoreError::Corrupt(format!(
                                    "{rel} is cut short in the archive"
                                )));
                            }
                            n += k;
                        }
                        out.write_all(&buf).map_err(|e| failed(&rel, e))?;
                        left -= want as u64;
                        job.bytes.fetch_add(want as u64, Ordering::Relaxed);
                        hashes
                            .tx
                            .send(HashMsg::Data(buf))
                            .map_err(|_| hash_gone())?;
                    }
                    let sha256 = m.sha256.as_deref().unwrap_or_default();
                    hashes
                        .tx
                        .send(HashMsg::End {
                            rel: rel.clone(),
                            sha256,
                        })
                        .map_err(|_| hash_gone())?;
                    out.set_modified(millis_to_time(m.mtime))
                        .map_err(|e| failed(&rel, e))?;
                    let Some(tmp) = &tmp else {
                        return Ok(());
                    };
                    use std::os::unix::fs::PermissionsExt;
                    out.set_permissions(std::fs::Permissions::from_mode(m.mode & 0o777))
                        .map_err(|e| failed(&rel, e))?;
                    clear(dir, name, false)?;
                    dir.rename_noreplace(tmp, dir, name)
                        .map_err(|e| failed(&rel, e))
                })();
                if written.is_err()
                    && let Some(tmp) = &tmp
                {
                    let _ = dir.remove_file(tmp);
                }
                written?;
            }
        }
        job.files.fetch_add(1, Ordering::Relaxed);
    }
    // Every wanted entry of the manifest must have come.
    let missing = job
        .manifest
        .entries
        .iter()
        .filter(|e| !seen.contains(e.path.as_str()))
        .count();
    if missing > 0 {
        return Err(RestoreError::Corrupt(format!(
            "the archive lacks {missing} of the manifest's entries"
        )));
    }
    drop(cache);
    // Deepest first: writing inside a directory changes its mtime.
    dirs.sort_by_key(|(r, _)| std::cmp::Reverse(r.depth()));
    for (rel, m) in dirs {
        let d = stage.dir_nofollow(&rel).map_err(|e| failed(&rel, e))?;
        d.chmod_self(m.mode).map_err(|e| failed(&rel, e))?;
        let (parent, name) = stage.parent_nofollow(&rel).map_err(|e| failed(&rel, e))?;
        let t = millis_to_time(m.mtime);
        parent.set_times(name, t, t).map_err(|e| failed(&rel, e))?;
    }
    Ok(())
}

/// Remove staged entries (under the paths, when given) that the manifest does not list.
fn delete_extra(job: &Job<'_>, stage: &Sandbox) -> Result<(), RestoreError> {
    let listed: HashMap<&str, ManifestKind> = job
        .manifest
        .entries
        .iter()
        .map(|e| (e.path.as_str(), e.kind))
        .collect();
    let root = stage
        .dir_nofollow(&RelPath::root())
        .map_err(|e| failed("staging", e))?;
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for (name, m) in dir.entries().map_err(|e| failed("listing staging", e))? {
            let rel = dir.child(&name).map_err(|e| failed(&name, e))?;
            let inside = wanted(job.paths, &rel);
            let above = job.paths.iter().any(|p| p.starts_with(&rel) && *p != rel);
            if inside && !listed.contains_key(rel.as_str()) {
                clear(&dir, &name, false)?;
            } else if m.is_dir() && (inside || above) {
                stack.push(dir.open_dir(&name).map_err(|e| failed(&rel, e))?);
            }
        }
    }
    Ok(())
}

/// Give what the restore created to the run-as user. Hard-linked files keep their
/// owner: they are the live tree's files, and a link count above one may mean another
/// name outside the server.
fn chown_created(stage: &Sandbox, r: RunAs) -> Result<(), RestoreError> {
    stage
        .chown_nofollow(&RelPath::root(), r.uid, r.gid)
        .map_err(|e| failed("chown staging", e))?;
    let root = stage
        .dir_nofollow(&RelPath::root())
        .map_err(|e| failed("staging", e))?;
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for (name, m) in dir.entries().map_err(|e| failed("listing staging", e))? {
            if m.is_file() && m.nlink() > 1 {
                continue;
            }
            let rel = dir.child(&name).map_err(|e| failed(&name, e))?;
            stage
                .chown_nofollow(&rel, r.uid, r.gid)
                .map_err(|e| failed(&rel, e))?;
            if m.is_dir() {
                stack.push(
                    dir.open_dir(&name)
                        .map_err(|e: SandboxError| failed(&rel, e))?,
                );
            }
        }
    }
    Ok(())
}

/// Bytes a merge restore adds: what it writes minus the live files it replaces.
pub(crate) fn replaced_bytes(
    server_dir: &Path,
    manifest: &Manifest,
    paths: &[RelPath],
) -> Result<u64, String> {
    let live = Sandbox::open(server_dir).map_err(|e| e.to_string())?;
    let mut replaced = 0u64;
    for e in &manifest.entries {
        if e.kind != ManifestKind::File {
            continue;
        }
        let Ok(rel) = RelPath::new(&e.path) else {
            continue;
        };
        if !wanted(paths, &rel) {
            continue;
        }
        if let Ok((dir, name)) = live.parent_nofollow(&rel)
            && let Ok(Some(m)) = dir.lstat_opt(name)
            && m.is_file()
        {
            replaced += m.len();
        }
    }
    Ok(replaced)
}

/// A unique name beside `staging` for a replaced tree waiting to be removed (in the
/// staging root, so `clean_leftovers` clears it after a crash).
pub(crate) fn aside_path(staging: &Path) -> PathBuf {
    let name = staging
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    staging.with_file_name(format!(".old-{name}-{}", crate::files::sha_id()))
}

/// Where restores stage, beside `data/servers`.
pub(crate) fn staging_root(data_dir: &Path) -> PathBuf {
    data_dir.join("restore-staging")
}

pub(crate) fn download_root(data_dir: &Path) -> PathBuf {
    data_dir.join("backup-staging")
}
