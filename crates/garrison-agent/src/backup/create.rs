//! The archive writer: walks a server directory through the sandbox's no-follow
//! handles, streams a tar (GNU, long names) through zstd or gzip, hashes every file's
//! bytes for the manifest and the compressed bytes for the digest, and hands ~1 MiB
//! chunks to the async side over a bounded channel. Blocking: run it in
//! `spawn_blocking`.

use super::throttle::Throttle;
use crate::sandbox::{NoFollowDir, RelPath, Sandbox, TMP_PREFIX};
use bytes::{Bytes, BytesMut};
use cap_fs_ext::OsMetadataExt;
use garrison_proto::{CompressionKind, ManifestEntry, ManifestKind};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::sync::mpsc;

/// Bytes per chunk sent to the storage writer, and per read of a file.
pub(crate) const CHUNK: usize = 1024 * 1024;
/// The `.garrisonignore` file is read up to this size.
const IGNORE_FILE_MAX: u64 = 1024 * 1024;
pub(crate) const IGNORE_FILE: &str = ".garrisonignore";

#[derive(Debug, thiserror::Error)]
pub(crate) enum CreateError {
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Failed(String),
}

/// Counters the async side reads for progress events.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub bytes: AtomicU64,
    pub files: AtomicU64,
}

pub(crate) struct Params {
    pub compression: CompressionKind,
    pub level: i32,
    pub ignore: Vec<String>,
    pub rate: Option<u64>,
    pub cancel: Arc<AtomicBool>,
    pub progress: Arc<Progress>,
}

/// What was written.
#[derive(Debug)]
pub(crate) struct Built {
    pub entries: Vec<ManifestEntry>,
    pub archive_size: u64,
    pub archive_sha256: String,
    pub file_bytes: u64,
    /// What the rate limiter counted and made the reader wait.
    pub throttled: (u64, std::time::Duration),
}

/// Counts and chunks the compressed stream onto the queue of the hashing thread
/// (which hashes it and hands it on to the storage writer).
struct Sink {
    tx: std::sync::mpsc::SyncSender<Bytes>,
    buf: BytesMut,
    len: u64,
    cancel: Arc<AtomicBool>,
}

/// Not `Interrupted`: zstd's writer and `write_all` retry on that kind, so a cancel
/// reported with it would spin forever instead of ending the archive.
fn cancelled_io() -> io::Error {
    io::Error::other("cancelled")
}

impl Sink {
    fn ship(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = self.buf.split().freeze();
        self.buf.reserve(CHUNK);
        self.tx
            .send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the storage writer stopped"))
    }
}

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(cancelled_io());
        }
        self.len += data.len() as u64;
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.ship()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Encoder {
    Zstd(zstd::stream::write::Encoder<'static, Sink>),
    Gzip(flate2::write::GzEncoder<Sink>),
}

impl Encoder {
    fn new(kind: CompressionKind, level: i32, sink: Sink) -> io::Result<Encoder> {
        Ok(match kind {
            CompressionKind::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(sink, level.clamp(1, 19))?;
                let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
                e.multithread(u32::try_from(workers).unwrap_or(1))?;
                Encoder::Zstd(e)
            }
            CompressionKind::Gzip => {
                let level = u32::try_from(level.clamp(1, 9)).unwrap_or(6);
                Encoder::Gzip(flate2::write::GzEncoder::new(
                    sink,
                    flate2::Compression::new(level),
                ))
            }
        })
    }

    fn finish(self) -> io::Result<Sink> {
        match self {
            Encoder::Zstd(e) => e.finish(),
            Encoder::Gzip(e) => e.finish(),
        }
    }
}

impl Write for Encoder {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Zstd(e) => e.write(data),
            Encoder::Gzip(e) => e.write(data),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Zstd(e) => e.flush(),
            Encoder::Gzip(e) => e.flush(),
        }
    }
}

/// Exactly `size` bytes of a file, read in big pieces, hashed as they pass: zeros
/// after an early end (the file shrank), nothing past `size` (it grew).
struct FileReader<'a> {
    file: &'a mut std::fs::File,
    left: u64,
    buf: &'a mut [u8],
    start: usize,
    end: usize,
    hash: Sha256,
    eof: bool,
    throttle: &'a mut Throttle,
    cancel: &'a AtomicBool,
    progress: &'a Progress,
}

impl FileReader<'_> {
    /// Read the next piece of the file into the buffer (hashed, counted, throttled);
    /// `false` once `size` bytes have passed.
    fn fill(&mut self) -> io::Result<bool> {
        if self.left == 0 {
            return Ok(false);
        }
        if self.cancel.load(Ordering::Relaxed) {
            return Err(cancelled_io());
        }
        let want = usize::try_from(self.left.min(self.buf.len() as u64)).unwrap_or(CHUNK);
        let mut n = 0;
        if !self.eof {
            loop {
                match self.file.read(&mut self.buf[..want]) {
                    Ok(0) => {
                        self.eof = true;
                        break;
                    }
                    Ok(k) => {
                        n = k;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if self.eof {
            self.buf[..want].fill(0);
            n = want;
        }
        self.hash.update(&self.buf[..n]);
        self.left -= n as u64;
        self.start = 0;
        self.end = n;
        self.throttle.take(n as u64, self.cancel);
        self.progress.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(true)
    }

    /// Copy the file's bytes straight into `w` in big pieces (the tar crate copies
    /// through an 8 KiB buffer).
    fn copy_to(&mut self, w: &mut impl Write) -> io::Result<()> {
        while self.fill()? {
            w.write_all(&self.buf[..self.end])?;
            self.start = self.end;
        }
        Ok(())
    }
}

impl Read for FileReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.start == self.end && !self.fill()? {
            return Ok(0);
        }
        let k = out.len().min(self.end - self.start);
        out[..k].copy_from_slice(&self.buf[self.start..self.start + k]);
        self.start += k;
        Ok(k)
    }
}

/// The server's `.garrisonignore` plus the request's lines.
fn ignore_matcher(root: &NoFollowDir, extra: &[String]) -> Result<Option<Gitignore>, String> {
    let mut lines: Vec<String> = Vec::new();
    match root.open_read(IGNORE_FILE) {
        Ok(f) => {
            let mut s = String::new();
            f.take(IGNORE_FILE_MAX)
                .read_to_string(&mut s)
                .map_err(|e| format!("reading {IGNORE_FILE}: {e}"))?;
            lines.extend(s.lines().map(str::to_owned));
        }
        Err(crate::sandbox::SandboxError::NotFound { .. }) => {}
        Err(e) => tracing::warn!(error = %e, "{IGNORE_FILE} cannot be read; ignoring it"),
    }
    lines.extend(extra.iter().cloned());
    if lines.iter().all(|l| l.trim().is_empty()) {
        return Ok(None);
    }
    let mut b = GitignoreBuilder::new(".");
    for line in &lines {
        b.add_line(None, line)
            .map_err(|e| format!("ignore pattern {line:?}: {e}"))?;
    }
    b.build().map(Some).map_err(|e| format!("ignore list: {e}"))
}

pub(crate) fn mtime_millis(m: &cap_std::fs::Metadata) -> i64 {
    crate::files::mtime_millis(m)
}

fn header(kind: tar::EntryType, size: u64, mode: u32, mtime_ms: i64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode & 0o7777);
    h.set_mtime(u64::try_from(mtime_ms.div_euclid(1000)).unwrap_or(0));
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// Archive the sandbox's whole tree onto `tx`.
pub(crate) fn build(
    sandbox: &Sandbox,
    p: &Params,
    tx: mpsc::Sender<Bytes>,
) -> Result<Built, CreateError> {
    let failed =
        |what: &str, e: &dyn std::fmt::Display| CreateError::Failed(format!("{what}: {e}"));
    let root = sandbox
        .dir_nofollow(&RelPath::root())
        .map_err(|e| failed("opening the server directory", &e))?;
    let ignore = ignore_matcher(&root, &p.ignore).map_err(CreateError::Failed)?;
    // The compressed bytes are hashed in their own thread, off the archive thread
    // (which reads, hashes files and feeds the compressor). It ends when the sink is
    // dropped, or when the storage writer stops taking chunks.
    let (stx, srx) = std::sync::mpsc::sync_channel::<Bytes>(4);
    let hasher = std::thread::Builder::new()
        .name("backup-hash".into())
        .spawn(move || {
            let mut h = Sha256::new();
            for chunk in srx {
                h.update(&chunk);
                if tx.blocking_send(chunk).is_err() {
                    return None;
                }
            }
            Some(hex::encode(h.finalize()))
        })
        .map_err(|e| failed("starting the archive hasher", &e))?;
    let sink = Sink {
        tx: stx,
        buf: BytesMut::with_capacity(CHUNK),
        len: 0,
        cancel: p.cancel.clone(),
    };
    let enc = Encoder::new(p.compression, p.level, sink).map_err(|e| failed("compressor", &e))?;
    // Big writes into the compressor: tar copies through small buffers.
    let mut tar = tar::Builder::new(io::BufWriter::with_capacity(CHUNK, enc));
    tar.mode(tar::HeaderMode::Complete);
    let mut throttle = Throttle::new(p.rate);
    let mut buf = vec![0u8; CHUNK];
    let mut entries = Vec::new();
    let mut file_bytes = 0u64;
    let io_fail = |e: io::Error| {
        if p.cancel.load(Ordering::Relaxed) {
            CreateError::Cancelled
        } else {
            CreateError::Failed(format!("writing the archive: {e}"))
        }
    };

    // Depth first, names sorted: the same tree gives the same archive.
    let mut stack: Vec<(
        NoFollowDir,
        std::vec::IntoIter<(String, cap_std::fs::Metadata)>,
    )> = Vec::new();
    let top = sorted(&root).map_err(|e| failed("listing the server directory", &e))?;
    stack.push((root, top));
    while let Some((dir, iter)) = stack.last_mut() {
        let Some((name, m)) = iter.next() else {
            stack.pop();
            continue;
        };
        if p.cancel.load(Ordering::Relaxed) {
            return Err(CreateError::Cancelled);
        }
        if name.starts_with(TMP_PREFIX) {
            continue;
        }
        let Ok(rel) = dir.child(&name) else {
            tracing::warn!(name, "skipping an entry whose name cannot be archived");
            continue;
        };
        let ft = m.file_type();
        if let Some(ig) = &ignore
            && ig.matched(rel.as_str(), ft.is_dir()).is_ignore()
        {
            continue;
        }
        let mode = m.mode() & 0o7777;
        let mtime = mtime_millis(&m);
        if ft.is_dir() {
            let sub = match dir.open_dir(&name) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(path = %rel, error = %e, "skipping a directory that changed while archiving");
                    continue;
                }
            };
            let children = sorted(&sub).map_err(|e| failed("listing", &e))?;
            let mut h = header(tar::EntryType::Directory, 0, mode, mtime);
            tar.append_data(&mut h, format!("{}/", rel.as_str()), io::empty())
                .map_err(io_fail)?;
            entries.push(ManifestEntry {
                path: rel.as_str().to_owned(),
                kind: ManifestKind::Dir,
                size: 0,
                mode,
                mtime,
                sha256: None,
                target: None,
            });
            p.progress.files.fetch_add(1, Ordering::Relaxed);
            stack.push((sub, children));
        } else if ft.is_symlink() {
            let target = match dir.read_link(&name) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(path = %rel, error = %e, "skipping a symlink that changed while archiving");
                    continue;
                }
            };
            // Restore recreates only links that stay inside the root (lexically, from
            // the link's directory); anything else would make the whole backup
            // unrestorable, so it is left out here, like a FIFO.
            if let Err(e) = crate::sandbox::check_symlink_target(&target, &rel) {
                tracing::warn!(path = %rel, target, reason = %e, "skipping a symlink that is absolute or leads outside the server directory");
                continue;
            }
            let mut h = header(tar::EntryType::Symlink, 0, mode, mtime);
            tar.append_link(&mut h, rel.as_str(), &target)
                .map_err(io_fail)?;
            entries.push(ManifestEntry {
                path: rel.as_str().to_owned(),
                kind: ManifestKind::Symlink,
                size: target.len() as u64,
                mode,
                mtime,
                sha256: None,
                target: Some(target),
            });
            p.progress.files.fetch_add(1, Ordering::Relaxed);
        } else if ft.is_file() {
            if m.nlink() > 1 {
                tracing::warn!(path = %rel, "skipping a hard-linked file (its other names may be outside the server)");
                continue;
            }
            let mut file = match dir.open_read(&name) {
                Ok(f) => f,
                Err(e) => {
                    tracing::warn!(path = %rel, error = %e, "skipping a file that cannot be opened safely");
                    continue;
                }
            };
            let meta = file.metadata().map_err(|e| failed(rel.as_str(), &e))?;
            let size = meta.len();
            let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777;
            let mtime = {
                use std::os::unix::fs::MetadataExt;
                meta.mtime()
                    .saturating_mul(1000)
                    .saturating_add(meta.mtime_nsec() / 1_000_000)
            };
            let mut h = header(tar::EntryType::Regular, size, mode, mtime);
            let mut reader = FileReader {
                file: &mut file,
                left: size,
                buf: &mut buf,
                start: 0,
                end: 0,
                hash: Sha256::new(),
                eof: false,
                throttle: &mut throttle,
                cancel: &p.cancel,
                progress: &p.progress,
            };
            // A name that fits the header: header, data and padding written here,
            // as `append_data` would. Longer names take the tar crate's GNU long-name
            // path.
            if h.set_path(rel.as_str()).is_ok() {
                h.set_cksum();
                let w = tar.get_mut();
                w.write_all(h.as_bytes()).map_err(io_fail)?;
                reader.copy_to(w).map_err(io_fail)?;
                let pad = (512 - size % 512) % 512;
                w.write_all(&[0u8; 512][..pad as usize]).map_err(io_fail)?;
            } else {
                tar.append_data(&mut h, rel.as_str(), &mut reader)
                    .map_err(io_fail)?;
            }
            let sha = hex::encode(reader.hash.finalize());
            file_bytes += size;
            entries.push(ManifestEntry {
                path: rel.as_str().to_owned(),
                kind: ManifestKind::File,
                size,
                mode,
                mtime,
                sha256: Some(sha),
                target: None,
            });
            p.progress.files.fetch_add(1, Ordering::Relaxed);
        } else {
            tracing::warn!(path = %rel, "skipping a FIFO, socket or device");
        }
    }
    let buffered = tar.into_inner().map_err(io_fail)?;
    let enc = buffered
        .into_inner()
        .map_err(|e| io_fail(io::Error::other(e.to_string())))?;
    let mut sink = enc.finish().map_err(io_fail)?;
    sink.ship().map_err(io_fail)?;
    let archive_size = sink.len;
    drop(sink);
    let archive_sha256 = match hasher.join() {
        Ok(Some(sha)) => sha,
        Ok(None) => {
            return Err(io_fail(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the storage writer stopped",
            )));
        }
        Err(_) => return Err(CreateError::Failed("the archive hasher panicked".into())),
    };
    Ok(Built {
        entries,
        archive_size,
        archive_sha256,
        file_bytes,
        throttled: (throttle.consumed, throttle.waited),
    })
}

fn sorted(
    dir: &NoFollowDir,
) -> Result<std::vec::IntoIter<(String, cap_std::fs::Metadata)>, crate::sandbox::SandboxError> {
    let mut v = dir.entries()?;
    v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(v.into_iter())
}
