//! Storage drivers: where archive and manifest bytes go. The backup engine only sees
//! [`BackupStore`]; `local.rs` and `s3.rs` implement it.
//!
//! Keys are `/`-separated, made by [`archive_key`] / [`manifest_key`] from ids the agent
//! checked to be path-safe, so a driver never sees user text in a key.

use async_trait::async_trait;
use bytes::Bytes;
use garrison_proto::{BackupLocation, ByteStream, ServerId, StorageKind};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} is not in storage")]
    NotFound(String),
    /// The driver cannot be used (S3 asked for but not configured).
    #[error("{0}")]
    Unavailable(String),
    #[error("storage: {0}")]
    Io(String),
}

/// One object being written. Nothing is visible under its key until [`finish`]
/// returns; [`abort`] (or dropping the writer) leaves nothing behind that `list`,
/// `open` or `size` would show.
///
/// [`finish`]: ObjectWriter::finish
/// [`abort`]: ObjectWriter::abort
#[async_trait]
pub trait ObjectWriter: Send {
    /// Append bytes. Chunks may be of any size; the driver buffers to its part size.
    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError>;
    /// Make the object visible under its key, durable (local: fsync'd file and
    /// directory; S3: completed multipart upload). Returns the object's size.
    async fn finish(self: Box<Self>) -> Result<u64, StoreError>;
    /// Drop what was written so far.
    async fn abort(self: Box<Self>);
}

#[async_trait]
pub trait BackupStore: Send + Sync + 'static {
    fn kind(&self) -> StorageKind;
    /// Begin writing `key` (replacing an existing object only at `finish`).
    async fn create(&self, key: &str) -> Result<Box<dyn ObjectWriter>, StoreError>;
    /// Stream `key` from `offset`; returns the object's whole size and the stream.
    /// `NotFound` when missing. The stream ends with an error if the read fails midway.
    async fn open(&self, key: &str, offset: u64) -> Result<(u64, ByteStream), StoreError>;
    /// The object's size, `None` when missing.
    async fn size(&self, key: &str) -> Result<Option<u64>, StoreError>;
    /// Remove `key`; missing is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Keys under `prefix` (which ends with `/`), with sizes.
    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError>;
    /// Remove what interrupted writes left (local: temp files; S3: nothing, incomplete
    /// multipart uploads are never listed and a bucket lifecycle rule expires them).
    async fn clean_partial(&self) -> Result<(), StoreError>;
}

/// `<server>/<backup>.tar.zst` (or `.tar.gz`).
pub fn archive_key(server: &ServerId, loc: &BackupLocation) -> String {
    format!(
        "{}/{}.{}",
        server.as_str(),
        loc.backup,
        loc.compression.extension()
    )
}

/// `<server>/<backup>.manifest.json`
pub fn manifest_key(server: &ServerId, loc: &BackupLocation) -> String {
    format!("{}/{}.manifest.json", server.as_str(), loc.backup)
}
