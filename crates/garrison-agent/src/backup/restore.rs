//! Restore, the blocking part: check the archive file against the digest, build a
//! staging tree beside the server directory (hard-link clone for a merge, empty for a
//! full restore with `delete_extra`), extract through a sandbox rooted at staging with
//! every entry checked against the manifest, then swap staging and the server directory
//! in one `renameat2(RENAME_EXCHANGE)`. Until that swap nothing in the server directory
//! changes.

use super::verify::{Index, check_entry, decoder};
use crate::config::RunAs;
use crate::files::tree_remove;
use crate::sandbox::{NoFollowDir, RelPath, Sandbox, SandboxError};
use cap_fs_ext::OsMetadataExt;
use garrison_proto::{CompressionKind, Manifest, ManifestEntry, ManifestKind};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// Size and SHA-256 of a file, read in big pieces.
pub(crate) fn hash_file(path: &Path, cancel: &AtomicBool) -> Result<(u64, String), RestoreError> {
    let mut f = std::fs::File::open(path).map_err(|e| failed(path.display(), e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; super::create::CHUNK];
    let mut len = 0u64;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(RestoreError::Cancelled);
        }
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(failed(path.display(), e)),
        };
        h.update(&buf[..n]);
        len += n as u64;
    }
    Ok((len, hex::encode(h.finalize())))
}

fn millis_to_time(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
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

/// The directory holding `rel` in staging, made of real directories: missing ones are
/// created, a file or link in the way (a clone of the live tree) is removed, unless
/// the manifest itself says that component is not a directory.
fn parent_dir(
    stage: &Sandbox,
    index: &Index<'_>,
    rel: &RelPath,
) -> Result<NoFollowDir, RestoreError> {
    let mut dir = stage
        .dir_nofollow(&RelPath::root())
        .map_err(|e| failed("staging", e))?;
    let Some(parent) = rel.parent() else {
        return Ok(dir);
    };
    let mut at = RelPath::root();
    for part in parent.components() {
        at = at.join_str(part).map_err(|e| failed(rel, e))?;
        if let Some(m) = index.by_path.get(at.as_str())
            && m.kind != ManifestKind::Dir
        {
            return Err(RestoreError::Corrupt(format!(
                "the archive has an entry {rel:?} that is not allowed (below a non-directory)",
            )));
        }
        match dir.lstat_opt(part).map_err(|e| failed(&at, e))? {
            Some(m) if m.is_dir() => {}
            Some(_) => {
                dir.remove_file(part).map_err(|e| failed(&at, e))?;
                dir.create_dir(part).map_err(|e| failed(&at, e))?;
            }
            None => dir.create_dir(part).map_err(|e| failed(&at, e))?,
        }
        dir = dir.open_dir(part).map_err(|e| failed(&at, e))?;
    }
    Ok(dir)
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

fn extract(job: &Job<'_>, stage: &Sandbox) -> Result<(), RestoreError> {
    let index = Index::new(job.manifest).map_err(RestoreError::Corrupt)?;
    let mut seen: HashSet<&str> = HashSet::new();
    let file = std::fs::File::open(job.archive).map_err(|e| failed(job.archive.display(), e))?;
    let reader = io::BufReader::with_capacity(super::create::CHUNK, file);
    let dec = decoder(job.compression, reader).map_err(|e| RestoreError::Corrupt(e.to_string()))?;
    let mut ar = tar::Archive::new(dec);
    let mut buf = vec![0u8; super::create::CHUNK];
    let mut dirs: Vec<(RelPath, &ManifestEntry)> = Vec::new();
    let corrupt = |e: io::Error| RestoreError::Corrupt(format!("the archive cannot be read: {e}"));
    for entry in ar.entries().map_err(corrupt)? {
        if job.cancel.load(Ordering::Relaxed) {
            return Err(RestoreError::Cancelled);
        }
        let mut entry = entry.map_err(corrupt)?;
        let (rel, m) = check_entry(&index, &mut seen, &entry).map_err(RestoreError::Corrupt)?;
        if !wanted(job.paths, &rel) {
            continue;
        }
        let dir = parent_dir(stage, &index, &rel)?;
        let Some(name) = rel.file_name() else {
            continue;
        };
        match m.kind {
            ManifestKind::Dir => {
                clear(&dir, name, true)?;
                if dir.lstat_opt(name).map_err(|e| failed(&rel, e))?.is_none() {
                    dir.create_dir(name).map_err(|e| failed(&rel, e))?;
                }
                dirs.push((rel, m));
            }
            ManifestKind::Symlink => {
                let target = m.target.as_deref().unwrap_or_default();
                clear(&dir, name, false)?;
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
                let (mut out, tmp) = dir.create_temp(0o600).map_err(|e| failed(&rel, e))?;
                let written = (|| {
                    let mut h = Sha256::new();
                    let mut left = m.size;
                    while left > 0 {
                        if job.cancel.load(Ordering::Relaxed) {
                            return Err(RestoreError::Cancelled);
                        }
                        let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
                        let n = entry.read(&mut buf[..want]).map_err(corrupt)?;
                        if n == 0 {
                            return Err(RestoreError::Corrupt(format!(
                                "{rel} is cut short in the archive"
                            )));
                        }
                        h.update(&buf[..n]);
                        out.write_all(&buf[..n]).map_err(|e| failed(&rel, e))?;
                        left -= n as u64;
                        job.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    if Some(hex::encode(h.finalize())) != m.sha256 {
                        return Err(RestoreError::Corrupt(format!(
                            "{rel} in the archive differs from the manifest"
                        )));
                    }
                    use std::os::unix::fs::PermissionsExt;
                    out.set_permissions(std::fs::Permissions::from_mode(m.mode & 0o777))
                        .map_err(|e| failed(&rel, e))?;
                    out.set_modified(millis_to_time(m.mtime))
                        .map_err(|e| failed(&rel, e))?;
                    clear(&dir, name, false)?;
                    dir.rename_noreplace(&tmp, &dir, name)
                        .map_err(|e| failed(&rel, e))
                })();
                if written.is_err() {
                    let _ = dir.remove_file(&tmp);
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

/// Where restores stage, beside `data/servers`.
pub(crate) fn staging_root(data_dir: &Path) -> PathBuf {
    data_dir.join("restore-staging")
}

pub(crate) fn download_root(data_dir: &Path) -> PathBuf {
    data_dir.join("backup-staging")
}
