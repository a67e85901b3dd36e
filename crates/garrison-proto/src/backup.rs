//! Backups as the panel asks a node for them (`NodeBackups`), where their archives live,
//! their manifest, and the `server.backup` progress event.
//!
//! The panel owns the list of backups (names, locks, limits, who made them); the node
//! owns the bytes: it writes the archive and its manifest to a storage driver, reads them
//! back to verify, download and restore, and deletes them. A backup is identified on
//! this seam by its [`BackupLocation`]; the panel keeps the [`BackupDigest`] the node
//! reported when the backup finished and hands it back for every check.

use crate::UnixMillis;
use crate::files::Download;
use crate::ids::ServerId;
use crate::node::NodeError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupErrorKind {
    /// The archive or manifest is not in storage.
    Missing,
    /// The archive or manifest differs from its digest, or is not an archive we wrote.
    Corrupt,
    /// Another backup or restore of this server is running.
    Busy,
    /// No backup or restore with that id is running.
    NotRunning,
    /// A restore would take the server over its disk limit.
    QuotaExceeded,
    /// A path asked for in a partial restore is not in the backup, or is invalid.
    InvalidPath,
    /// The storage driver failed (S3 unreachable, local disk error, not configured).
    Storage,
}

/// Why a backup call was refused. Travels as `NodeError::Backup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct BackupError {
    pub kind: BackupErrorKind,
    pub message: String,
}

impl BackupError {
    pub fn new(kind: BackupErrorKind, message: impl Into<String>) -> BackupError {
        BackupError {
            kind,
            message: message.into(),
        }
    }
}

/// Where archives are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageKind {
    /// A directory on the node (`data/backups` by default).
    #[default]
    Local,
    /// An S3-compatible bucket.
    S3,
}

impl StorageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageKind::Local => "local",
            StorageKind::S3 => "s3",
        }
    }

    pub fn parse(s: &str) -> Option<StorageKind> {
        match s {
            "local" => Some(StorageKind::Local),
            "s3" => Some(StorageKind::S3),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompressionKind {
    #[default]
    Zstd,
    Gzip,
}

impl CompressionKind {
    /// File name ending of the archive: `tar.zst` or `tar.gz`.
    pub fn extension(self) -> &'static str {
        match self {
            CompressionKind::Zstd => "tar.zst",
            CompressionKind::Gzip => "tar.gz",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CompressionKind::Zstd => "zstd",
            CompressionKind::Gzip => "gzip",
        }
    }

    pub fn parse(s: &str) -> Option<CompressionKind> {
        match s {
            "zstd" => Some(CompressionKind::Zstd),
            "gzip" => Some(CompressionKind::Gzip),
            _ => None,
        }
    }
}

/// Compression of a new archive. Levels: zstd 1..=19, gzip 1..=9; out-of-range levels
/// are clamped by the node. The default, zstd level 1, is the fastest: game worlds are
/// mostly already compressed, so higher levels cost much time for little space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compression {
    pub kind: CompressionKind,
    pub level: i32,
}

impl Default for Compression {
    fn default() -> Self {
        Compression {
            kind: CompressionKind::Zstd,
            level: 1,
        }
    }
}

/// Which backup, where: enough for the node to find its archive and manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupLocation {
    /// The panel's id of the backup (unique across servers).
    pub backup: String,
    pub storage: StorageKind,
    pub compression: CompressionKind,
}

/// What a finished backup is, as the node measured it while writing. The panel stores
/// it and hands it back so the node can tell a complete archive from a damaged one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupDigest {
    /// Bytes of the archive.
    pub size: u64,
    /// Lower-case hex SHA-256 of the archive's bytes.
    pub sha256: String,
    /// Lower-case hex SHA-256 of the stored manifest's bytes.
    pub manifest_sha256: String,
}

/// A request to back a server up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRequest {
    pub backup: String,
    /// gitignore-syntax lines, on top of the server's own `.garrisonignore`.
    #[serde(default)]
    pub ignore: Vec<String>,
    #[serde(default)]
    pub compression: Compression,
    /// Read at most this many bytes per second of the server's files (`None`: no limit).
    #[serde(default)]
    pub rate_limit_bytes_per_sec: Option<u64>,
    /// The panel's driver; a node configured with its own driver uses that instead (the
    /// `started` event says which one was used).
    #[serde(default)]
    pub storage: StorageKind,
}

/// A request to put a backup's files back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreRequest {
    pub location: BackupLocation,
    pub digest: BackupDigest,
    /// Remove files that are not in the backup (within `paths` when some are given).
    #[serde(default)]
    pub delete_extra: bool,
    /// Restore only these paths (files or directories, relative to the server root);
    /// empty restores everything.
    #[serde(default)]
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManifestKind {
    File,
    Dir,
    Symlink,
}

/// One entry of a backup, as it was when it was archived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Relative to the server root, `/`-separated.
    pub path: String,
    pub kind: ManifestKind,
    /// Bytes (0 for directories; the target's length for links).
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Modification time, milliseconds since the epoch.
    pub mtime: UnixMillis,
    /// Lower-case hex SHA-256 of a file's contents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Where a symlink points, as written in the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// The list of everything in an archive, stored beside it as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version: 1.
    pub version: u32,
    pub backup: String,
    pub server: ServerId,
    pub created_at: UnixMillis,
    pub compression: CompressionKind,
    /// The archive's digest (size and SHA-256).
    pub archive_size: u64,
    pub archive_sha256: String,
    pub entries: Vec<ManifestEntry>,
}

impl Manifest {
    /// Bytes of file contents (what a full restore writes).
    pub fn total_bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }
}

/// The outcome of checking a stored backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Integrity {
    /// Archive and manifest match the digest, and every entry the manifest.
    Ok,
    /// The archive or the manifest is not in storage.
    Missing,
    /// Present but different from what was written.
    Corrupt,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub integrity: Integrity,
    /// What was wrong, in words (`None` when ok).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Entries checked against the manifest.
    pub entries: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupOp {
    Create,
    Restore,
}

/// What a finished backup holds, sent with the `finished` stage of a create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupResult {
    pub storage: StorageKind,
    pub compression: CompressionKind,
    pub digest: BackupDigest,
    /// Entries in the manifest (files, directories and links).
    pub files: u64,
    /// Bytes of file contents archived.
    pub bytes: u64,
}

/// The stages of a backup or restore, in order: `started`, any number of `progress`,
/// then exactly one of `finished`, `failed` or `cancelled`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum BackupStage {
    Started {
        storage: StorageKind,
    },
    /// Throttled (a few per second at most). `total_bytes` is known for a restore and
    /// for a backup once the server's files were counted.
    Progress {
        bytes: u64,
        files: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total_bytes: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        percent: Option<f32>,
    },
    Finished {
        /// Set for a create.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<BackupResult>,
    },
    Failed {
        error: String,
        /// Set when the failure was the archive itself (missing or corrupt), so the
        /// panel can mark the backup.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        integrity: Option<Integrity>,
    },
    Cancelled,
}

impl BackupStage {
    /// `finished`, `failed` or `cancelled`.
    pub fn is_end(&self) -> bool {
        matches!(
            self,
            BackupStage::Finished { .. } | BackupStage::Failed { .. } | BackupStage::Cancelled
        )
    }
}

/// `server.backup`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupEvent {
    pub server: ServerId,
    pub backup: String,
    pub op: BackupOp,
    #[serde(flatten)]
    pub stage: BackupStage,
}

/// Commands a template sends to a running server around a backup, so the archive holds
/// a consistent world (Minecraft: `save-off`, `save-all flush`, then `save-on`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupHooks {
    /// Console lines sent before archiving, in order.
    #[serde(default)]
    pub before: Vec<String>,
    /// After `before`, wait until a console line matches this regex (at most
    /// `wait_secs`), e.g. `Saved the game`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_for: Option<String>,
    /// How long to wait for `wait_for` (or, without it, a fixed pause) in seconds.
    #[serde(default)]
    pub wait_secs: u64,
    /// Console lines sent when the archive is done, whether it succeeded or not.
    #[serde(default)]
    pub after: Vec<String>,
}

impl BackupHooks {
    pub fn is_empty(&self) -> bool {
        self.before.is_empty() && self.after.is_empty() && self.wait_for.is_none()
    }
}

/// A server's backups on a node. One backup or restore runs per server at a time.
#[async_trait]
pub trait NodeBackups: Send + Sync {
    /// Begin a backup; returns once it has started. Progress and the outcome arrive as
    /// `server.backup` events (the `finished` one carries the digest). `Backup(Busy)`
    /// while another backup or a restore of the server runs. Works whether the server runs or
    /// not; a running server gets the spec's backup hooks.
    async fn create_backup(&self, id: &ServerId, req: BackupRequest) -> Result<(), NodeError>;

    /// Stop a running backup or restore; it ends `cancelled` and leaves nothing behind
    /// (a restore leaves the server's files as they were). `Backup(NotRunning)` when
    /// none with that id runs.
    async fn cancel_backup(&self, id: &ServerId, backup: &str) -> Result<(), NodeError>;

    /// Begin a restore; returns once it has started. `Conflict` unless the server is
    /// offline or crashed (it cannot be started, installed or removed until the restore
    /// ends). Before returning, the manifest is read and checked (`Missing`, `Corrupt`),
    /// partial paths are looked up in it (`InvalidPath`) and the disk limit is checked
    /// (`QuotaExceeded`). Then the archive is checked against the digest before any
    /// file is touched, and files are swapped in only when all are extracted; a failure
    /// arrives as the `failed` event and leaves the files as they were.
    async fn restore_backup(&self, id: &ServerId, req: RestoreRequest) -> Result<(), NodeError>;

    /// Remove the archive and manifest from storage (missing ones are not an error).
    async fn delete_backup(
        &self,
        id: &ServerId,
        location: &BackupLocation,
    ) -> Result<(), NodeError>;

    /// Stream the archive from `offset`; `size` is the whole archive's length.
    async fn download_backup(
        &self,
        id: &ServerId,
        location: &BackupLocation,
        offset: u64,
    ) -> Result<Download, NodeError>;

    /// Re-read the archive and manifest and compare them with the digest and each other.
    async fn verify_backup(
        &self,
        id: &ServerId,
        location: &BackupLocation,
        digest: &BackupDigest,
    ) -> Result<VerifyReport, NodeError>;

    /// The stored manifest (checked against the digest).
    async fn backup_manifest(
        &self,
        id: &ServerId,
        location: &BackupLocation,
        digest: &BackupDigest,
    ) -> Result<Manifest, NodeError>;
}
