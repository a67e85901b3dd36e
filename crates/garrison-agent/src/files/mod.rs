//! The file layer behind [`garrison_proto::NodeFiles`] and the SFTP server: one
//! [`ServerFiles`] per registered server, all going through the sandbox, with a deny
//! list, a disk quota kept incrementally, debounced change events and uploads staged
//! outside the server directory.

mod archive;
mod deny;
mod events;
mod hub;
mod listing;
mod node;
mod search;
mod server;
mod transfer;
mod tree;
mod upload;
mod usage;

pub(crate) use hub::FilesHub;
pub(crate) use server::millis_to_time;
pub use server::{FileWriter, ServerFiles, WriteMode};
pub(crate) use tree::remove_tree as tree_remove;
pub(crate) use usage::human;

use crate::config::AgentConfig;
use crate::sandbox::{RelPath, SandboxError};
use cap_fs_ext::OsMetadataExt;
use cap_std::fs::Metadata;
use garrison_proto::{FileEntry, FileError, FileErrorKind, FileKind};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// What every server's files share: the agent's settings and its stop flag (long
/// walks and streams look at it so shutdown does not wait for them).
pub(crate) struct Ctx {
    pub config: Arc<AgentConfig>,
    pub stopping: AtomicBool,
}

impl Ctx {
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A sandbox error as the user sees it.
pub(crate) fn map_err(e: SandboxError) -> FileError {
    let message = e.to_string();
    let (kind, path) = match e {
        SandboxError::InvalidPath { path, .. } => (FileErrorKind::InvalidPath, Some(path)),
        SandboxError::Escape { path } => (FileErrorKind::Escape, Some(path)),
        SandboxError::NotFound { path } => (FileErrorKind::NotFound, Some(path)),
        SandboxError::AlreadyExists { path } => (FileErrorKind::AlreadyExists, Some(path)),
        SandboxError::IsSymlink { path } => (FileErrorKind::NotAFile, Some(path)),
        SandboxError::IsDir { path } => (FileErrorKind::IsADirectory, Some(path)),
        SandboxError::NotADir { path } => (FileErrorKind::NotADirectory, Some(path)),
        SandboxError::NotAFile { path } => (FileErrorKind::NotAFile, Some(path)),
        SandboxError::TooLarge { path, .. } => (FileErrorKind::TooLarge, Some(path)),
        SandboxError::Io { path, source } => {
            let kind = match source.raw_os_error() {
                Some(nix::libc::ENOTEMPTY) => FileErrorKind::AlreadyExists,
                Some(nix::libc::ENOTDIR) => FileErrorKind::NotADirectory,
                Some(nix::libc::ENOSPC) | Some(nix::libc::EDQUOT) => FileErrorKind::QuotaExceeded,
                _ => FileErrorKind::Io,
            };
            (kind, Some(path))
        }
    };
    FileError {
        kind,
        path: path.map(|p| if p == "." { String::new() } else { p }),
        message,
    }
}

/// Like [`map_err`] for resolving a directory: a symlink on the way is refused as an
/// escape (links are never followed for users, wherever they point).
pub(crate) fn map_dir_err(e: SandboxError) -> FileError {
    match e {
        SandboxError::IsSymlink { path } => FileError::new(
            FileErrorKind::Escape,
            Some(&path),
            format!("{path:?} is a symlink; symlinks are not followed"),
        ),
        e => map_err(e),
    }
}

pub(crate) fn kind_of(m: &Metadata) -> FileKind {
    let ft = m.file_type();
    if ft.is_symlink() {
        FileKind::Symlink
    } else if ft.is_dir() {
        FileKind::Dir
    } else if ft.is_file() {
        FileKind::File
    } else {
        FileKind::Other
    }
}

pub(crate) fn mtime_millis(m: &Metadata) -> i64 {
    m.mtime()
        .saturating_mul(1000)
        .saturating_add(m.mtime_nsec() / 1_000_000)
}

pub(crate) fn entry_of(
    rel: &RelPath,
    name: &str,
    m: &Metadata,
    target: Option<String>,
) -> FileEntry {
    FileEntry {
        name: name.to_owned(),
        path: rel.as_str().to_owned(),
        kind: kind_of(m),
        size: m.len(),
        mode: m.mode() & 0o7777,
        modified: mtime_millis(m),
        target,
    }
}

/// Check a deny list as a spec carries it.
pub(crate) fn check_deny(lines: &[String]) -> Result<(), String> {
    deny::DenyList::new(lines).map(|_| ())
}

/// An unguessable id (32 hex digits) for uploads.
pub(crate) fn sha_id() -> String {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = Sha256::new();
    let mut seed = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut seed);
    }
    h.update(seed);
    h.update(
        COUNTER
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_le_bytes(),
    );
    h.update(std::process::id().to_le_bytes());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.update(nanos.to_le_bytes());
    hex::encode(&h.finalize()[..16])
}
