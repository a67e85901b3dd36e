//! A server's files as the panel asks a node for them (`NodeFiles`), the errors a file
//! operation can end with, and the `server.file` change event.
//!
//! Paths on this seam are always relative to the server's root, `/`-separated, without
//! a leading slash (`""` or `"/"` is the root itself). The node checks them; the panel
//! passes what the user sent.

use crate::UnixMillis;
use crate::ids::ServerId;
use crate::install::ArchiveKind;
use crate::node::NodeError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::pin::Pin;

/// Bulk bytes: a download or the body of an upload chunk. Backpressure is the
/// consumer's pace (TCP on the far end).
pub type ByteStream =
    Pin<Box<dyn futures_core::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    /// A FIFO, socket or device: listed, never opened.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    /// Relative to the server root.
    pub path: String,
    pub kind: FileKind,
    /// Bytes (of the link itself for a symlink).
    pub size: u64,
    /// Permission bits (`0o7777` at most).
    pub mode: u32,
    pub modified: UnixMillis,
    /// Where a symlink points, as written in the link (never followed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    #[default]
    Name,
    Size,
    Modified,
}

/// One page of a directory. Directories always come before files; within each group
/// entries are ordered by `sort` (`descending` reverses it). No cap on `total`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRequest {
    pub path: String,
    #[serde(default)]
    pub offset: u64,
    /// 1..=1000
    pub limit: u32,
    #[serde(default)]
    pub sort: SortKey,
    #[serde(default)]
    pub descending: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListPage {
    pub path: String,
    pub offset: u64,
    /// Entries in the whole directory (hidden ones excluded).
    pub total: u64,
    pub entries: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchRequest {
    /// Directory to search under.
    pub path: String,
    /// Case-insensitive substring of the file name, or of the content with `content`.
    pub query: String,
    #[serde(default)]
    pub content: bool,
    /// 1..=1000 matches.
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchMatch {
    pub entry: FileEntry,
    /// For content searches: the first matching line (1-based) and its text, trimmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResult {
    pub matches: Vec<SearchMatch>,
    /// True when the search stopped at `limit` (or the node's file/byte budget).
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    pub url: String,
    /// Where the file lands (a file path; an existing directory gets the URL's name).
    pub destination: String,
    #[serde(default)]
    pub overwrite: bool,
}

/// A resumable upload: bytes arrive in chunks at `offset` (the bytes received so far)
/// into a staging file outside the server directory; when `offset == size` the file is
/// moved into place atomically and `done` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadState {
    pub id: String,
    pub path: String,
    pub size: u64,
    pub offset: u64,
    pub done: bool,
}

/// A download: a file's bytes from an offset, or a directory as a tar.gz made on the fly
/// (`size` unknown then).
pub struct Download {
    /// File name to offer (`world.tar.gz` for a directory).
    pub name: String,
    /// Total length of the file (not of the remaining bytes); `None` for an archive.
    pub size: Option<u64>,
    pub archive: bool,
    pub stream: ByteStream,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskUsage {
    pub used_bytes: u64,
    /// `None`: no limit.
    pub limit_bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileErrorKind {
    NotFound,
    AlreadyExists,
    /// Malformed path: `..`, absolute, NUL, newline, overlong name.
    InvalidPath,
    /// The path leads outside the server directory (a symlink, a hard link, `..`).
    Escape,
    /// Hidden or protected by the template's deny list.
    Denied,
    NotADirectory,
    IsADirectory,
    /// A FIFO, socket or device, or a symlink where a file is needed.
    NotAFile,
    /// Not UTF-8 text (for the editor).
    NotText,
    /// Larger than the limit of the operation (editor read, pull, archive entry).
    TooLarge,
    QuotaExceeded,
    /// An archive that is corrupt, malicious (zip slip, bomb) or of an unknown kind.
    BadArchive,
    /// A URL pull refused (scheme, private address) or failed.
    Pull,
    /// An upload chunk at the wrong offset, or an unknown upload.
    Upload,
    /// The server's files are being restored from a backup; writes wait until it ends.
    Busy,
    Io,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct FileError {
    pub kind: FileErrorKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub message: String,
}

impl FileError {
    pub fn new(kind: FileErrorKind, path: Option<&str>, message: impl Into<String>) -> FileError {
        FileError {
            kind,
            path: path.map(str::to_owned),
            message: message.into(),
        }
    }
}

/// Who changed files: the API (panel users), SFTP, or the game itself (seen by inotify).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileSource {
    Api,
    Sftp,
    Game,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileAction {
    Created,
    Modified,
    Deleted,
    Renamed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    pub action: FileAction,
    pub path: String,
    /// The new path of a rename.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// `server.file`: changes under one server's directory, debounced (one event per burst).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEvent {
    pub server: ServerId,
    pub source: FileSource,
    pub changes: Vec<FileChange>,
}

/// File operations on a node. Every path resolves inside the server's directory through
/// the node's one sandbox; writes are checked against the server's disk limit first.
#[async_trait]
pub trait NodeFiles: Send + Sync + 'static {
    async fn list_files(&self, id: &ServerId, req: ListRequest) -> Result<ListPage, NodeError>;
    async fn stat_file(&self, id: &ServerId, path: &str) -> Result<FileEntry, NodeError>;
    /// The whole content of a regular file; `TooLarge` beyond `max_bytes`.
    async fn read_file(
        &self,
        id: &ServerId,
        path: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, NodeError>;
    /// Replace or create a file atomically (temp file + rename).
    async fn write_file(
        &self,
        id: &ServerId,
        path: &str,
        content: Vec<u8>,
    ) -> Result<FileEntry, NodeError>;
    async fn create_dir(&self, id: &ServerId, path: &str) -> Result<FileEntry, NodeError>;
    /// Rename or move; never replaces an existing target.
    async fn rename_file(
        &self,
        id: &ServerId,
        from: &str,
        to: &str,
    ) -> Result<FileEntry, NodeError>;
    /// Copy a file or a tree; never replaces an existing target; symlinks are copied as
    /// links, never followed.
    async fn copy_file(&self, id: &ServerId, from: &str, to: &str) -> Result<FileEntry, NodeError>;
    /// Permission bits only, never through a symlink.
    async fn chmod_file(
        &self,
        id: &ServerId,
        path: &str,
        mode: u32,
    ) -> Result<FileEntry, NodeError>;
    /// Files and whole trees; a symlink is removed, never its target.
    async fn delete_files(&self, id: &ServerId, paths: Vec<String>) -> Result<(), NodeError>;
    async fn compress_files(
        &self,
        id: &ServerId,
        paths: Vec<String>,
        destination: &str,
        format: ArchiveKind,
    ) -> Result<FileEntry, NodeError>;
    /// Unpack into `destination` (a directory, created when missing).
    async fn decompress_file(
        &self,
        id: &ServerId,
        archive: &str,
        destination: &str,
    ) -> Result<(), NodeError>;
    async fn search_files(
        &self,
        id: &ServerId,
        req: SearchRequest,
    ) -> Result<SearchResult, NodeError>;
    async fn pull_file(&self, id: &ServerId, req: PullRequest) -> Result<FileEntry, NodeError>;
    /// A file from `offset`, or a directory as a tar.gz (offset must be 0).
    async fn download(&self, id: &ServerId, path: &str, offset: u64)
    -> Result<Download, NodeError>;
    /// Reserve quota for `size` bytes and open a staging file. Without `overwrite`, an
    /// existing `path` is `AlreadyExists`.
    async fn begin_upload(
        &self,
        id: &ServerId,
        path: &str,
        size: u64,
        overwrite: bool,
    ) -> Result<UploadState, NodeError>;
    /// Append `body` at `offset` (which must equal the bytes received so far). Bytes
    /// beyond the declared size are refused. The last chunk moves the file into place.
    async fn upload_chunk(
        &self,
        id: &ServerId,
        upload: &str,
        offset: u64,
        body: ByteStream,
    ) -> Result<UploadState, NodeError>;
    async fn upload_state(&self, id: &ServerId, upload: &str) -> Result<UploadState, NodeError>;
    async fn abort_upload(&self, id: &ServerId, upload: &str) -> Result<(), NodeError>;
    async fn disk_usage(&self, id: &ServerId) -> Result<DiskUsage, NodeError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_event_wire_shape() {
        let e = crate::Event::File(FileEvent {
            server: ServerId::from("s1"),
            source: FileSource::Sftp,
            changes: vec![FileChange {
                action: FileAction::Renamed,
                path: "a.txt".into(),
                to: Some("b.txt".into()),
            }],
        });
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"event": "server.file", "data": {"server": "s1", "source": "sftp",
                "changes": [{"action": "renamed", "path": "a.txt", "to": "b.txt"}]}})
        );
    }
}
