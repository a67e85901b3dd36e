//! Resumable uploads. Bytes are staged in `<data>/uploads/<server>/<upload-id>`,
//! outside the server directory (the game cannot see or tamper with a half-received
//! file, and a stalled upload shows nothing to users), with their quota reserved up
//! front; the last chunk moves the file into place in one rename.

use super::server::ServerFiles;
use super::{map_err, sha_id};
use cap_fs_ext::OsMetadataExt;
use garrison_proto::{FileAction, FileError, FileErrorKind, FileSource, UploadState};
use std::collections::HashMap;
use std::fs::File;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Uploads in progress per server at most.
pub(crate) const MAX_OPEN: usize = 16;
/// An upload that received nothing this long is removed.
pub(crate) const IDLE_LIMIT: Duration = Duration::from_secs(24 * 3600);
/// A finished upload's state is kept this long for clients that ask again.
const DONE_KEPT: Duration = Duration::from_secs(3600);

pub(crate) struct Uploads {
    /// The staging directory of this server's uploads (agent-owned, not the server's).
    pub dir: cap_std::fs::Dir,
    pub table: Mutex<Table>,
}

#[derive(Default)]
pub(crate) struct Table {
    map: HashMap<String, Upload>,
}

struct Upload {
    rel: crate::sandbox::RelPath,
    size: u64,
    offset: u64,
    overwrite: bool,
    done: bool,
    /// A chunk is being written: a second one at the same time is refused.
    busy: bool,
    last: Instant,
}

impl Upload {
    fn state(&self, id: &str) -> UploadState {
        UploadState {
            id: id.to_owned(),
            path: self.rel.as_str().to_owned(),
            size: self.size,
            offset: self.offset,
            done: self.done,
        }
    }
}

fn upload_err(id: &str, message: impl Into<String>) -> FileError {
    FileError::new(
        FileErrorKind::Upload,
        None,
        format!("upload {id}: {}", message.into()),
    )
}

fn unknown(id: &str) -> FileError {
    upload_err(id, "no such upload (finished long ago, aborted or expired)")
}

/// An upload id is a single path component in the staging directory.
fn check_id(id: &str) -> Result<(), FileError> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(unknown(id));
    }
    Ok(())
}

impl ServerFiles {
    pub(crate) fn begin_upload(
        &self,
        path: &str,
        size: u64,
        overwrite: bool,
    ) -> Result<UploadState, FileError> {
        let rel = self.parse_new(path)?;
        self.allowed(&rel)?;
        // Missing parent directories are made when the upload completes, so a folder
        // dropped into the file manager keeps its tree.
        let target = self.parent_creating(&rel, false, FileSource::Api)?;
        let existing = match &target {
            Some((dir, name)) => dir.lstat_opt(name).map_err(map_err)?,
            None => None,
        };
        if let Some(m) = existing {
            if m.is_dir() {
                return Err(FileError::new(
                    FileErrorKind::IsADirectory,
                    Some(rel.as_str()),
                    format!("{rel} is a directory"),
                ));
            }
            if !overwrite {
                return Err(FileError::new(
                    FileErrorKind::AlreadyExists,
                    Some(rel.as_str()),
                    format!("{rel} already exists"),
                ));
            }
        }
        let mut table = self.lock_uploads();
        let open = table.map.values().filter(|u| !u.done).count();
        if open >= MAX_OPEN {
            return Err(FileError::new(
                FileErrorKind::Upload,
                Some(rel.as_str()),
                format!("{MAX_OPEN} uploads are already in progress on this server"),
            ));
        }
        self.usage.reserve(size)?;
        let id = sha_id();
        let mut opts = cap_std::fs::OpenOptions::new();
        use cap_std::fs::OpenOptionsExt;
        opts.write(true).create_new(true).mode(0o600);
        if let Err(e) = self.uploads.dir.open_with(&id, &opts) {
            self.usage.unreserve(size);
            return Err(FileError::new(
                FileErrorKind::Io,
                Some(rel.as_str()),
                format!("creating the upload's staging file: {e}"),
            ));
        }
        table.map.insert(
            id.clone(),
            Upload {
                rel,
                size,
                offset: 0,
                overwrite,
                done: false,
                busy: false,
                last: Instant::now(),
            },
        );
        drop(table);
        if size == 0 {
            return self.finish_upload(&id);
        }
        self.upload_state(&id)
    }

    pub(crate) fn upload_state(&self, id: &str) -> Result<UploadState, FileError> {
        check_id(id)?;
        let table = self.lock_uploads();
        table
            .map
            .get(id)
            .map(|u| u.state(id))
            .ok_or_else(|| unknown(id))
    }

    /// Claim the upload for one chunk at `offset`: the staging file positioned there,
    /// and how many bytes may still come.
    pub(crate) fn chunk_start(&self, id: &str, offset: u64) -> Result<(File, u64), FileError> {
        check_id(id)?;
        // Refused before the chunk, so the client can resume once the restore ended.
        self.writable()?;
        let mut table = self.lock_uploads();
        let u = table.map.get_mut(id).ok_or_else(|| unknown(id))?;
        if u.done {
            return Err(upload_err(id, "already complete"));
        }
        if u.busy {
            return Err(upload_err(id, "another chunk is being received"));
        }
        if offset != u.offset {
            return Err(upload_err(
                id,
                format!("chunk at offset {offset}, expected {}", u.offset),
            ));
        }
        let mut opts = cap_std::fs::OpenOptions::new();
        opts.write(true);
        let file = self
            .uploads
            .dir
            .open_with(id, &opts)
            .map_err(|e| upload_err(id, format!("staging file: {e}")))?
            .into_std();
        // A failed earlier chunk may have left bytes past the acknowledged offset.
        let mut file = file;
        file.set_len(u.offset)
            .and_then(|()| std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(u.offset)))
            .map_err(|e| upload_err(id, format!("staging file: {e}")))?;
        u.busy = true;
        u.last = Instant::now();
        Ok((file, u.size - u.offset))
    }

    /// A chunk ended having written `written` bytes (also after a failure: those bytes
    /// are kept, the client resumes after them). Completes the upload at its size.
    pub(crate) fn chunk_end(&self, id: &str, written: u64) -> Result<UploadState, FileError> {
        let complete = {
            let mut table = self.lock_uploads();
            let u = table.map.get_mut(id).ok_or_else(|| unknown(id))?;
            u.busy = false;
            u.offset = u.offset.saturating_add(written).min(u.size);
            u.last = Instant::now();
            u.offset == u.size
        };
        if complete {
            return self.finish_upload(id);
        }
        self.upload_state(id)
    }

    fn finish_upload(&self, id: &str) -> Result<UploadState, FileError> {
        let (rel, size, overwrite) = {
            let table = self.lock_uploads();
            let u = table.map.get(id).ok_or_else(|| unknown(id))?;
            (u.rel.clone(), u.size, u.overwrite)
        };
        let result = (|| {
            self.writable()?;
            // The deny list may have changed since the upload began.
            self.allowed(&rel)?;
            let (dir, name) = self
                .parent_creating(&rel, true, FileSource::Api)?
                .ok_or_else(|| upload_err(id, "the target directory could not be made"))?;
            let old = dir.lstat_opt(name).map_err(map_err)?;
            let staged = self
                .uploads
                .dir
                .open(id)
                .and_then(|f| f.into_std().sync_all())
                .map_err(|e| upload_err(id, format!("staging file: {e}")));
            staged?;
            dir.adopt(&self.uploads.dir, id, name, overwrite)
                .map_err(map_err)?;
            Ok::<_, FileError>(old)
        })();
        match result {
            Ok(old) => {
                self.usage.settle(size, size);
                if let Some(m) = &old
                    && m.is_file()
                    && m.nlink() <= 1
                {
                    self.usage.release(m.len());
                }
                let action = if old.is_some() {
                    FileAction::Modified
                } else {
                    FileAction::Created
                };
                self.emit(FileSource::Api, action, &rel, None);
                let mut table = self.lock_uploads();
                let u = table.map.get_mut(id).ok_or_else(|| unknown(id))?;
                u.done = true;
                u.offset = u.size;
                Ok(u.state(id))
            }
            Err(e) => {
                // Nothing landed; the upload cannot complete, so free it entirely.
                self.remove_upload(id);
                Err(e)
            }
        }
    }

    pub(crate) fn abort_upload(&self, id: &str) -> Result<(), FileError> {
        check_id(id)?;
        if !self.lock_uploads().map.contains_key(id) {
            return Err(unknown(id));
        }
        self.remove_upload(id);
        Ok(())
    }

    fn remove_upload(&self, id: &str) {
        let removed = self.lock_uploads().map.remove(id);
        if let Some(u) = removed
            && !u.done
        {
            let _ = self.uploads.dir.remove_file(id);
            self.usage.unreserve(u.size);
        }
    }

    /// Drop idle and long-finished uploads.
    pub(crate) fn expire_uploads(&self) {
        let expired: Vec<String> = self
            .lock_uploads()
            .map
            .iter()
            .filter(|(_, u)| {
                !u.busy
                    && ((u.done && u.last.elapsed() > DONE_KEPT)
                        || (!u.done && u.last.elapsed() > IDLE_LIMIT))
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.remove_upload(&id);
        }
    }

    /// Every upload of a server being removed.
    pub(crate) fn abort_all_uploads(&self) {
        let ids: Vec<String> = self.lock_uploads().map.keys().cloned().collect();
        for id in ids {
            self.remove_upload(&id);
        }
    }
}
