//! The local directory driver: each key is a file under the backups directory. A new
//! object is written to `.<name>.partial-<random>` beside its final name and renamed
//! once complete and fsync'd, so a crash never leaves a half object under a real name
//! (and the leftovers are recognisable for [`BackupStore::clean_partial`]).

use super::store::{BackupStore, ObjectWriter, StoreError};
use async_trait::async_trait;
use bytes::Bytes;
use garrison_proto::{ByteStream, StorageKind};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Bytes per chunk of a download stream.
const READ_CHUNK: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
    /// When this driver was made: unfinished objects newer than that are this
    /// process's own (a backup started right after start), not leftovers.
    opened: std::time::SystemTime,
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Io(format!("{what} {}: {e}", path.display()))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Io(format!("storage task failed: {e}")))?
}

impl LocalStore {
    pub fn new(root: impl Into<PathBuf>) -> LocalStore {
        LocalStore {
            root: root.into(),
            opened: std::time::SystemTime::now(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `key` lives. Keys are made by the agent from checked ids; anything else
    /// (empty or dot components, NUL) is refused rather than trusted.
    pub fn path_of(&self, key: &str) -> Result<PathBuf, StoreError> {
        let mut p = self.root.clone();
        for part in key.split('/') {
            if part.is_empty() || part.starts_with('.') || part.contains('\0') {
                return Err(StoreError::Io(format!("invalid storage key {key:?}")));
            }
            p.push(part);
        }
        Ok(p)
    }
}

struct LocalWriter {
    file: Option<std::fs::File>,
    tmp: PathBuf,
    dest: PathBuf,
    len: u64,
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[async_trait]
impl ObjectWriter for LocalWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        let Some(mut file) = self.file.take() else {
            return Err(StoreError::Io("write after the object was closed".into()));
        };
        let tmp = self.tmp.clone();
        let n = chunk.len() as u64;
        let (file, res) = tokio::task::spawn_blocking(move || {
            let r = file.write_all(&chunk);
            (file, r)
        })
        .await
        .map_err(|e| StoreError::Io(format!("storage task failed: {e}")))?;
        self.file = Some(file);
        res.map_err(|e| io_err("writing", &tmp, e))?;
        self.len += n;
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, StoreError> {
        let Some(file) = self.file.take() else {
            return Err(StoreError::Io("finish after the object was closed".into()));
        };
        let (tmp, dest, len) = (self.tmp.clone(), self.dest.clone(), self.len);
        let res = blocking(move || {
            file.sync_all().map_err(|e| io_err("syncing", &tmp, e))?;
            drop(file);
            std::fs::rename(&tmp, &dest).map_err(|e| io_err("renaming", &tmp, e))?;
            if let Some(dir) = dest.parent() {
                std::fs::File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| io_err("syncing", dir, e))?;
            }
            Ok(len)
        })
        .await;
        if res.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        res
    }

    async fn abort(mut self: Box<Self>) {
        if self.file.take().is_some() {
            let tmp = self.tmp.clone();
            let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(tmp)).await;
        }
    }
}

#[async_trait]
impl BackupStore for LocalStore {
    fn kind(&self) -> StorageKind {
        StorageKind::Local
    }

    async fn create(&self, key: &str) -> Result<Box<dyn ObjectWriter>, StoreError> {
        let dest = self.path_of(key)?;
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dest.with_file_name(format!(".{name}.partial-{}", crate::files::sha_id()));
        let (t, d) = (tmp.clone(), dest.clone());
        let file = blocking(move || {
            if let Some(dir) = d.parent() {
                std::fs::create_dir_all(dir).map_err(|e| io_err("creating", dir, e))?;
            }
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&t)
                .map_err(|e| io_err("creating", &t, e))
        })
        .await?;
        Ok(Box::new(LocalWriter {
            file: Some(file),
            tmp,
            dest,
            len: 0,
        }))
    }

    async fn open(&self, key: &str, offset: u64) -> Result<(u64, ByteStream), StoreError> {
        let path = self.path_of(key)?;
        let k = key.to_owned();
        let (size, mut file) = blocking(move || {
            let mut f = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(StoreError::NotFound(k));
                }
                Err(e) => return Err(io_err("opening", &path, e)),
            };
            let size = f.metadata().map_err(|e| io_err("reading", &path, e))?.len();
            f.seek(SeekFrom::Start(offset.min(size)))
                .map_err(|e| io_err("seeking", &path, e))?;
            Ok((size, f))
        })
        .await?;
        // A reader thread feeding a bounded channel: the consumer's pace sets the pace.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        tokio::task::spawn_blocking(move || {
            loop {
                let mut buf = vec![0u8; READ_CHUNK];
                match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        break;
                    }
                }
            }
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Ok((size, Box::pin(stream)))
    }

    async fn size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let path = self.path_of(key)?;
        blocking(move || match std::fs::metadata(&path) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("reading", &path, e)),
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path_of(key)?;
        blocking(move || match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("deleting", &path, e)),
            _ => Ok(()),
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let dir = match prefix.trim_end_matches('/') {
            "" => self.root.clone(),
            p => self.path_of(p)?,
        };
        let prefix = prefix.to_owned();
        blocking(move || {
            let rd = match std::fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(io_err("listing", &dir, e)),
            };
            let mut out = Vec::new();
            for entry in rd {
                let entry = entry.map_err(|e| io_err("listing", &dir, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                // Partial objects are not objects.
                if name.starts_with('.') {
                    continue;
                }
                let m = entry.metadata().map_err(|e| io_err("listing", &dir, e))?;
                if m.is_file() {
                    out.push((format!("{prefix}{name}"), m.len()));
                }
            }
            out.sort();
            Ok(out)
        })
        .await
    }

    async fn clean_partial(&self) -> Result<(), StoreError> {
        let (root, opened) = (self.root.clone(), self.opened);
        blocking(move || {
            let mut stack = vec![(root, 0)];
            while let Some((dir, depth)) = stack.pop() {
                let rd = match std::fs::read_dir(&dir) {
                    Ok(rd) => rd,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err("listing", &dir, e)),
                };
                for entry in rd.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let Ok(ft) = entry.file_type() else { continue };
                    if ft.is_dir() && depth < 2 {
                        stack.push((entry.path(), depth + 1));
                    } else if ft.is_file()
                        && name.starts_with('.')
                        && name.contains(".partial-")
                        && !super::newer_than(&entry.path(), opened)
                    {
                        let p = entry.path();
                        match std::fs::remove_file(&p) {
                            Ok(()) => tracing::info!(path = %p.display(), "removed an unfinished backup object"),
                            Err(e) => tracing::warn!(path = %p.display(), error = %e, "cannot remove an unfinished backup object"),
                        }
                    }
                }
            }
            Ok(())
        })
        .await
    }
}
