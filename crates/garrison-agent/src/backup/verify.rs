//! Checking a stored backup against its digest and its manifest, and the rules every
//! archive entry must meet (shared with restore: an entry is only ever written when it
//! is exactly what the manifest says).

use super::store::{BackupStore, StoreError, archive_key, manifest_key};
use crate::sandbox::RelPath;
use bytes::Bytes;
use futures_util::StreamExt;
use garrison_proto::{
    BackupDigest, BackupLocation, CompressionKind, Integrity, Manifest, ManifestEntry,
    ManifestKind, ServerId, VerifyReport,
};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::io::{self, Read};

/// A manifest larger than this is not one we wrote.
const MANIFEST_MAX: u64 = 512 * 1024 * 1024;

/// Why a stored backup cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Bad {
    #[error("{0}")]
    Missing(String),
    #[error("{0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(StoreError),
}

impl Bad {
    pub(crate) fn integrity(&self) -> Option<Integrity> {
        match self {
            Bad::Missing(_) => Some(Integrity::Missing),
            Bad::Corrupt(_) => Some(Integrity::Corrupt),
            Bad::Store(_) => None,
        }
    }
}

fn from_store(e: StoreError) -> Bad {
    match e {
        StoreError::NotFound(k) => Bad::Missing(format!("{k} is not in storage")),
        e => Bad::Store(e),
    }
}

/// Read the manifest, check its bytes against the digest, parse it, and check it
/// describes this backup.
pub(crate) async fn read_manifest(
    store: &dyn BackupStore,
    server: &ServerId,
    loc: &BackupLocation,
    digest: &BackupDigest,
) -> Result<Manifest, Bad> {
    let key = manifest_key(server, loc);
    let (size, mut stream) = store.open(&key, 0).await.map_err(from_store)?;
    if size > MANIFEST_MAX {
        return Err(Bad::Corrupt(format!("the manifest is {size} bytes")));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Bad::Store(StoreError::Io(format!("reading {key}: {e}"))))?;
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > MANIFEST_MAX {
            return Err(Bad::Corrupt("the manifest is too large".into()));
        }
    }
    let sha = hex::encode(Sha256::digest(&bytes));
    if !sha.eq_ignore_ascii_case(&digest.manifest_sha256) {
        return Err(Bad::Corrupt(
            "the manifest's SHA-256 differs from the backup's digest".into(),
        ));
    }
    let m: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| Bad::Corrupt(format!("the manifest does not parse: {e}")))?;
    if m.version != 1 {
        return Err(Bad::Corrupt(format!(
            "manifest version {} is not supported",
            m.version
        )));
    }
    if m.server != *server || m.backup != loc.backup || m.compression != loc.compression {
        return Err(Bad::Corrupt("the manifest is for another backup".into()));
    }
    if m.archive_size != digest.size || !m.archive_sha256.eq_ignore_ascii_case(&digest.sha256) {
        return Err(Bad::Corrupt(
            "the manifest's archive digest differs from the backup's".into(),
        ));
    }
    Ok(m)
}

/// The manifest as a lookup table, with its own paths checked.
pub(crate) struct Index<'m> {
    pub by_path: HashMap<&'m str, &'m ManifestEntry>,
}

impl<'m> Index<'m> {
    pub(crate) fn new(m: &'m Manifest) -> Result<Index<'m>, String> {
        let mut by_path = HashMap::with_capacity(m.entries.len());
        for e in &m.entries {
            let rel = RelPath::new(&e.path)
                .map_err(|err| format!("the manifest has an invalid path: {err}"))?;
            if rel.is_root() || rel.as_str() != e.path {
                return Err(format!(
                    "the manifest has a path that is not normal: {:?}",
                    e.path
                ));
            }
            if by_path.insert(e.path.as_str(), e).is_some() {
                return Err(format!("the manifest lists {:?} twice", e.path));
            }
        }
        Ok(Index { by_path })
    }
}

/// One tar entry, checked against the manifest: its path, kind, size and (links) target.
/// Contents are checked by the caller as they stream.
pub(crate) fn check_entry<'m, R: Read>(
    index: &Index<'m>,
    seen: &mut HashSet<&'m str>,
    entry: &tar::Entry<'_, R>,
) -> Result<(RelPath, &'m ManifestEntry), String> {
    let raw = entry.path_bytes();
    let shown = String::from_utf8_lossy(&raw).into_owned();
    let not_allowed =
        |why: &str| format!("the archive has an entry {shown:?} that is not allowed ({why})");
    let text = std::str::from_utf8(&raw).map_err(|_| not_allowed("not UTF-8"))?;
    let rel = RelPath::new(text).map_err(|e| not_allowed(&e.to_string()))?;
    if rel.is_root() {
        return Err(not_allowed("the root itself"));
    }
    let kind = match entry.header().entry_type() {
        tar::EntryType::Regular | tar::EntryType::Continuous => ManifestKind::File,
        tar::EntryType::Directory => ManifestKind::Dir,
        tar::EntryType::Symlink => ManifestKind::Symlink,
        tar::EntryType::Link => return Err(not_allowed("a hard link")),
        tar::EntryType::Fifo => return Err(not_allowed("a FIFO")),
        tar::EntryType::Char | tar::EntryType::Block => return Err(not_allowed("a device")),
        other => return Err(not_allowed(&format!("entry type {other:?}"))),
    };
    let Some((path, m)) = index.by_path.get_key_value(rel.as_str()) else {
        return Err(not_allowed("not in the manifest"));
    };
    if !seen.insert(path) {
        return Err(not_allowed("it appears twice"));
    }
    if m.kind != kind {
        return Err(not_allowed("its kind differs from the manifest"));
    }
    match kind {
        ManifestKind::File => {
            let size = entry
                .header()
                .size()
                .map_err(|e| not_allowed(&e.to_string()))?;
            if size != m.size || m.sha256.is_none() {
                return Err(not_allowed("its size differs from the manifest"));
            }
        }
        ManifestKind::Symlink => {
            let target = entry
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned());
            if target.is_none() || target != m.target {
                return Err(not_allowed("its target differs from the manifest"));
            }
        }
        ManifestKind::Dir => {}
    }
    Ok((rel, *m))
}

/// A tar reader over the decompressed archive.
pub(crate) fn decoder<'r>(
    kind: CompressionKind,
    r: impl Read + 'r,
) -> io::Result<Box<dyn Read + 'r>> {
    Ok(match kind {
        CompressionKind::Zstd => {
            let mut d = zstd::stream::read::Decoder::new(r)?;
            // Our archives are one frame; a window bigger than the encoder's maximum
            // is not ours and would only make us allocate.
            d.window_log_max(27)?;
            Box::new(d)
        }
        CompressionKind::Gzip => Box::new(flate2::read::GzDecoder::new(r)),
    })
}

/// Hash a file's contents while reading them; `Err` on a read failure.
pub(crate) fn hash_exact(r: &mut impl Read, size: u64, buf: &mut [u8]) -> io::Result<String> {
    let mut h = Sha256::new();
    let mut left = size;
    while left > 0 {
        let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        let n = r.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short entry"));
        }
        h.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(hex::encode(h.finalize()))
}

/// Walk an archive's entries against the manifest without writing anything. Returns
/// the entries checked, or what was wrong.
fn walk_archive(r: impl Read, kind: CompressionKind, manifest: &Manifest) -> Result<u64, String> {
    let index = Index::new(manifest)?;
    let mut seen = HashSet::new();
    let dec = decoder(kind, r).map_err(|e| format!("the archive cannot be decompressed: {e}"))?;
    let mut ar = tar::Archive::new(dec);
    let mut buf = vec![0u8; super::create::CHUNK];
    let entries = ar
        .entries()
        .map_err(|e| format!("the archive cannot be read: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("the archive cannot be read: {e}"))?;
        let (rel, m) = check_entry(&index, &mut seen, &entry)?;
        if m.kind == ManifestKind::File {
            let sha = hash_exact(&mut entry, m.size, &mut buf)
                .map_err(|e| format!("reading {rel} from the archive: {e}"))?;
            if Some(&sha) != m.sha256.as_ref() {
                return Err(format!("{rel} in the archive differs from the manifest"));
            }
        }
    }
    if seen.len() != manifest.entries.len() {
        return Err(format!(
            "the archive holds {} of the manifest's {} entries",
            seen.len(),
            manifest.entries.len()
        ));
    }
    Ok(seen.len() as u64)
}

/// Reads an async byte stream from a blocking thread, hashing and counting it.
pub(crate) struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    cur: Bytes,
    pub hash: Sha256,
    pub len: u64,
}

impl ChannelReader {
    pub(crate) fn new(rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>) -> ChannelReader {
        ChannelReader {
            rx,
            cur: Bytes::new(),
            hash: Sha256::new(),
            len: 0,
        }
    }

    /// Read (and hash) whatever the archive reader left unread.
    pub(crate) fn drain(&mut self) -> io::Result<()> {
        let mut sink = [0u8; 64 * 1024];
        while self.read(&mut sink)? > 0 {}
        Ok(())
    }
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(b)) => {
                    self.hash.update(&b);
                    self.len += b.len() as u64;
                    self.cur = b;
                }
                Some(Err(e)) => return Err(e),
            }
        }
        let n = out.len().min(self.cur.len());
        out[..n].copy_from_slice(&self.cur[..n]);
        let _ = self.cur.split_to(n);
        Ok(n)
    }
}

/// Check a stored backup: the manifest against the digest, the archive's size and
/// SHA-256 against the digest, and every archive entry against the manifest. A bad
/// backup is a report, not an error; errors are storage failures. Usable without a
/// running agent (the CLI's `garrison backup verify`).
pub async fn verify_stored(
    store: &dyn BackupStore,
    server: &ServerId,
    loc: &BackupLocation,
    digest: &BackupDigest,
) -> Result<VerifyReport, StoreError> {
    let report = |integrity, problem: Option<String>, entries| VerifyReport {
        integrity,
        problem,
        entries,
    };
    let manifest = match read_manifest(store, server, loc, digest).await {
        Ok(m) => m,
        Err(Bad::Store(e)) => return Err(e),
        Err(bad) => {
            let integrity = bad.integrity().unwrap_or(Integrity::Corrupt);
            return Ok(report(integrity, Some(bad.to_string()), 0));
        }
    };
    let key = archive_key(server, loc);
    let (size, mut stream) = match store.open(&key, 0).await {
        Ok(x) => x,
        Err(StoreError::NotFound(k)) => {
            return Ok(report(
                Integrity::Missing,
                Some(format!("{k} is not in storage")),
                0,
            ));
        }
        Err(e) => return Err(e),
    };
    if size != digest.size {
        return Ok(report(
            Integrity::Corrupt,
            Some(format!(
                "the archive is {size} bytes, the digest says {}",
                digest.size
            )),
            0,
        ));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(8);
    let compression = loc.compression;
    let walker = tokio::task::spawn_blocking(move || {
        let mut reader = ChannelReader::new(rx);
        let walked = walk_archive(&mut reader, compression, &manifest);
        // Hash the rest too (trailing bytes past the tar end), unless reading failed.
        let drained = reader.drain();
        (
            walked,
            drained,
            reader.len,
            hex::encode(reader.hash.finalize()),
        )
    });
    let mut store_err = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(b) => {
                if tx.send(Ok(b)).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                store_err = Some(StoreError::Io(format!("reading {key}: {e}")));
                let _ = tx.send(Err(io::Error::other("storage read failed"))).await;
                break;
            }
        }
    }
    drop(tx);
    let (walked, drained, len, sha) = walker
        .await
        .map_err(|e| StoreError::Io(format!("verify task failed: {e}")))?;
    if let Some(e) = store_err {
        return Err(e);
    }
    if let Err(e) = drained {
        return Err(StoreError::Io(format!("reading {key}: {e}")));
    }
    if len != digest.size || !sha.eq_ignore_ascii_case(&digest.sha256) {
        return Ok(report(
            Integrity::Corrupt,
            Some("the archive's SHA-256 differs from the backup's digest".into()),
            0,
        ));
    }
    Ok(match walked {
        Ok(n) => report(Integrity::Ok, None, n),
        Err(problem) => report(Integrity::Corrupt, Some(problem), 0),
    })
}
