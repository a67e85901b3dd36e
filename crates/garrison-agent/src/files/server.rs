//! One server's files: the operations every user-facing path (the file API, SFTP)
//! goes through. Paths are user input; each is checked, then resolved through
//! [`NoFollowDir`] handles, so no symlink anywhere in a path is followed, the deny list
//! (which is lexical) means what it says, and a path swapped mid-operation cannot
//! redirect it. Everything here blocks: call it from `spawn_blocking`.

use super::deny::DenyList;
use super::events::EventSink;
use super::upload::Uploads;
use super::usage::Usage;
use super::{Ctx, entry_of, map_dir_err, map_err};
use crate::lock;
use crate::sandbox::{NoFollowDir, RelPath, Sandbox, SandboxError};
use cap_fs_ext::OsMetadataExt;
use garrison_proto::{
    DiskUsage, FileAction, FileEntry, FileError, FileErrorKind, FileSource, ServerId,
};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How a [`ServerFiles::open_write`] writer treats the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// New content in a hidden temp file beside the target; `commit` renames it over
    /// the target. Dropping an uncommitted writer removes the temp file and releases
    /// its quota, so a failed or aborted upload leaves nothing visible.
    Replace { overwrite: bool },
    /// Write into the existing file (SFTP open without TRUNC); `create` creates it
    /// when missing.
    InPlace { create: bool },
}

/// A server's files. Get one from [`crate::Agent::server_files`].
pub struct ServerFiles {
    pub(crate) id: ServerId,
    /// Swapped by a restore: the handle must be on the directory now at the path.
    pub(crate) sandbox: RwLock<Arc<Sandbox>>,
    /// Set while a restore of this server runs; shared with its writers.
    pub(crate) restoring: Arc<AtomicBool>,
    pub(crate) deny: RwLock<DenyList>,
    pub(crate) usage: Arc<Usage>,
    pub(crate) sink: EventSink,
    pub(crate) ctx: Arc<Ctx>,
    pub(crate) uploads: Uploads,
}

impl std::fmt::Debug for ServerFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerFiles").field("id", &self.id).finish()
    }
}

pub(crate) fn invalid(path: &str, reason: &str) -> FileError {
    FileError::new(
        FileErrorKind::InvalidPath,
        Some(path),
        format!("invalid path {path:?}: {reason}"),
    )
}

pub(crate) fn millis_to_time(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

impl ServerFiles {
    pub fn id(&self) -> &ServerId {
        &self.id
    }

    /// Check a user path: `""`, `"/"` and `"."` are the root, a leading `/` means the
    /// root (SFTP clients send absolute paths), `..` anywhere, NUL, empty components
    /// and overlong names are `InvalidPath`.
    pub(crate) fn parse(&self, path: &str) -> Result<RelPath, FileError> {
        let p = path.trim_start_matches('/');
        RelPath::new(p).map_err(|e| match e {
            SandboxError::InvalidPath { reason, .. } => invalid(path, &reason),
            e => map_err(e),
        })
    }

    /// `Busy` while a restore runs: whatever was written now would be lost (or mixed
    /// into the restored tree) at its swap.
    pub(crate) fn writable(&self) -> Result<(), FileError> {
        busy_if(&self.restoring)
    }

    /// [`Self::parse`] for a path an operation changes (removes, chmods, moves away).
    /// With [`Self::parse_new`] this is the one place writes are refused during a
    /// restore.
    pub(crate) fn parse_mut(&self, path: &str) -> Result<RelPath, FileError> {
        self.writable()?;
        self.parse(path)
    }

    /// The current sandbox (a restore replaces it).
    pub(crate) fn sandbox(&self) -> Arc<Sandbox> {
        self.sandbox
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// [`Self::parse`] for a path that will be created: also no newline or CR in the
    /// new name (they break logs, shells and line-based tools), and not the root.
    pub(crate) fn parse_new(&self, path: &str) -> Result<RelPath, FileError> {
        let rel = self.parse_mut(path)?;
        match rel.file_name() {
            None => Err(invalid(path, "the server directory itself")),
            Some(n) if n.contains(['\n', '\r']) => Err(invalid(path, "newline in the name")),
            Some(_) => Ok(rel),
        }
    }

    /// `Denied` when the deny list (or the sandbox's own temp names) covers `rel`.
    pub(crate) fn allowed(&self, rel: &RelPath) -> Result<(), FileError> {
        let deny = self.deny.read().unwrap_or_else(|e| e.into_inner());
        match deny.denies(rel) {
            None => Ok(()),
            Some(_) => Err(FileError::new(
                FileErrorKind::Denied,
                Some(rel.as_str()),
                format!("{rel} is protected"),
            )),
        }
    }

    pub(crate) fn deny_hides(&self, rel: &RelPath) -> bool {
        self.deny
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .denies(rel)
            .is_some()
    }

    pub(crate) fn deny_hides_leaf(&self, rel: &RelPath) -> bool {
        self.deny
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .denies_leaf(rel)
    }

    pub(crate) fn deny_is_empty(&self) -> bool {
        self.deny
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    pub(crate) fn set_deny(&self, deny: DenyList) {
        *self.deny.write().unwrap_or_else(|e| e.into_inner()) = deny;
    }

    /// The directory `rel`, no symlink followed anywhere.
    pub(crate) fn dir(&self, rel: &RelPath) -> Result<NoFollowDir, FileError> {
        self.sandbox().dir_nofollow(rel).map_err(map_dir_err)
    }

    /// The directory holding `rel` and its name.
    pub(crate) fn parent<'p>(&self, rel: &'p RelPath) -> Result<(NoFollowDir, &'p str), FileError> {
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            return Err(invalid(".", "the server directory itself"));
        };
        Ok((self.dir(&parent)?, name))
    }

    /// The directory holding `rel`, walking from the root without following links.
    /// Missing directories on the way are created when `create` (and reported), else
    /// `Ok(None)`; a file or link on the way is `NotADirectory`.
    pub(crate) fn parent_creating<'p>(
        &self,
        rel: &'p RelPath,
        create: bool,
        source: FileSource,
    ) -> Result<Option<(NoFollowDir, &'p str)>, FileError> {
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            return Err(invalid(".", "the server directory itself"));
        };
        let mut dir = self.dir(&RelPath::root())?;
        let mut at = RelPath::root();
        for part in parent.components() {
            at = at
                .join_str(part)
                .map_err(|e| invalid(rel.as_str(), &e.to_string()))?;
            match dir.lstat_opt(part).map_err(map_err)? {
                Some(m) if m.is_dir() => {}
                Some(m) if m.file_type().is_symlink() => {
                    return Err(FileError::new(
                        FileErrorKind::Escape,
                        Some(at.as_str()),
                        format!("{at} is a symlink, and links are not followed"),
                    ));
                }
                Some(_) => {
                    return Err(FileError::new(
                        FileErrorKind::NotADirectory,
                        Some(at.as_str()),
                        format!("{at} is not a directory"),
                    ));
                }
                None if create => {
                    self.allowed(&at)?;
                    dir.create_dir(part).map_err(map_err)?;
                    self.emit(source, FileAction::Created, &at, None);
                }
                None => return Ok(None),
            }
            dir = dir.open_dir(part).map_err(map_dir_err)?;
        }
        Ok(Some((dir, name)))
    }

    pub(crate) fn emit(
        &self,
        source: FileSource,
        action: FileAction,
        path: &RelPath,
        to: Option<&RelPath>,
    ) {
        self.sink.emit(&self.id, source, action, path, to);
    }

    /// The game changed something: usage is no longer exact.
    pub(crate) fn usage_changed_outside(&self) {
        self.usage.mark_stale();
    }

    /// `lstat` semantics: a symlink is reported as itself.
    pub fn stat(&self, path: &str) -> Result<FileEntry, FileError> {
        let rel = self.parse(path)?;
        self.allowed(&rel)?;
        self.stat_rel(&rel)
    }

    pub(crate) fn stat_rel(&self, rel: &RelPath) -> Result<FileEntry, FileError> {
        if rel.is_root() {
            let dir = self.dir(rel)?;
            let m = dir.metadata().map_err(map_err)?;
            return Ok(entry_of(rel, "", &m, None));
        }
        let (dir, name) = self.parent(rel)?;
        let m = dir.lstat(name).map_err(map_err)?;
        let target = if m.is_symlink() {
            dir.read_link(name).ok()
        } else {
            None
        };
        Ok(entry_of(rel, name, &m, target))
    }

    /// The whole directory, hidden and denied entries removed, in directory order.
    pub fn list_all(&self, path: &str) -> Result<Vec<FileEntry>, FileError> {
        let rel = self.parse(path)?;
        self.allowed(&rel)?;
        let dir = self.dir(&rel)?;
        let entries = dir.entries().map_err(map_err)?;
        let mut out = Vec::with_capacity(entries.len());
        for (name, m) in entries {
            let Ok(child) = rel.join_str(&name) else {
                continue;
            };
            if self.deny_hides_leaf(&child) {
                continue;
            }
            let target = if m.is_symlink() {
                dir.read_link(&name).ok()
            } else {
                None
            };
            out.push(entry_of(&child, &name, &m, target));
        }
        Ok(out)
    }

    /// A regular file for reading. FIFOs, devices and sockets are `NotAFile` (the open
    /// never blocks), symlinks `NotAFile`, hard-linked files `Escape`.
    pub fn open_read(&self, path: &str) -> Result<File, FileError> {
        let rel = self.parse(path)?;
        self.allowed(&rel)?;
        self.open_read_rel(&rel)
    }

    pub(crate) fn open_read_rel(&self, rel: &RelPath) -> Result<File, FileError> {
        if rel.is_root() {
            return Err(FileError::new(
                FileErrorKind::IsADirectory,
                Some(""),
                "the server directory is a directory",
            ));
        }
        let (dir, name) = self.parent(rel)?;
        dir.open_read(name).map_err(map_err)
    }

    pub fn open_write(
        &self,
        path: &str,
        mode: WriteMode,
        source: FileSource,
    ) -> Result<FileWriter, FileError> {
        let rel = self.parse_new(path)?;
        self.allowed(&rel)?;
        let (dir, name) = self.parent(&rel)?;
        let name = name.to_owned();
        let existing = dir.lstat_opt(&name).map_err(map_err)?;
        if let Some(m) = &existing {
            if m.is_dir() {
                return Err(map_err(SandboxError::IsDir {
                    path: rel.to_string(),
                }));
            }
            if !m.is_file() {
                return Err(map_err(SandboxError::NotAFile {
                    path: rel.to_string(),
                }));
            }
        }
        let created = existing.is_none();
        match mode {
            WriteMode::Replace { overwrite } => {
                if existing.is_some() && !overwrite {
                    return Err(map_err(SandboxError::AlreadyExists {
                        path: rel.to_string(),
                    }));
                }
                let file_mode = existing.as_ref().map_or(0o644, |m| m.mode() & 0o777);
                let (file, tmp) = dir.create_temp(0o600).map_err(map_err)?;
                let mut w = FileWriter {
                    file,
                    dir,
                    name,
                    rel,
                    temp: Some(tmp),
                    overwrite,
                    len: 0,
                    charged: 0,
                    usage: self.usage.clone(),
                    restoring: self.restoring.clone(),
                    sink: self.sink.clone(),
                    server: self.id.clone(),
                    source,
                    created,
                    written: false,
                    done: false,
                };
                w.set_mode(file_mode)?;
                Ok(w)
            }
            WriteMode::InPlace { create } => {
                if created && !create {
                    return Err(map_err(SandboxError::NotFound {
                        path: rel.to_string(),
                    }));
                }
                let file = dir.open_write(&name, create).map_err(map_err)?;
                let len = file.metadata().map_err(|e| io_err(&rel, e))?.len();
                if created {
                    self.emit(source, FileAction::Created, &rel, None);
                }
                Ok(FileWriter {
                    file,
                    dir,
                    name,
                    rel,
                    temp: None,
                    overwrite: true,
                    len,
                    charged: 0,
                    usage: self.usage.clone(),
                    restoring: self.restoring.clone(),
                    sink: self.sink.clone(),
                    server: self.id.clone(),
                    source,
                    created,
                    written: false,
                    done: false,
                })
            }
        }
    }

    pub fn create_dir(&self, path: &str, source: FileSource) -> Result<FileEntry, FileError> {
        let rel = self.parse_new(path)?;
        self.allowed(&rel)?;
        let (dir, name) = self.parent(&rel)?;
        dir.create_dir(name).map_err(map_err)?;
        self.emit(source, FileAction::Created, &rel, None);
        self.stat_rel(&rel)
    }

    /// Rename or move; never replaces anything at `to`.
    pub fn rename(&self, from: &str, to: &str, source: FileSource) -> Result<FileEntry, FileError> {
        let from_rel = self.parse_mut(from)?;
        let to_rel = self.parse_new(to)?;
        if from_rel.is_root() {
            return Err(invalid(from, "the server directory itself"));
        }
        self.allowed(&from_rel)?;
        self.allowed(&to_rel)?;
        if to_rel.starts_with(&from_rel) {
            return Err(invalid(to, "cannot move a directory into itself"));
        }
        let (from_dir, from_name) = self.parent(&from_rel)?;
        let (to_dir, to_name) = self.parent(&to_rel)?;
        let m = from_dir.lstat(from_name).map_err(map_err)?;
        if m.is_dir() {
            // Moving a tree moves the protected files in it to paths the patterns may
            // no longer cover.
            self.refuse_denied_inside(&from_dir, from_name, &from_rel, &to_rel)?;
        }
        from_dir
            .rename_noreplace(from_name, &to_dir, to_name)
            .map_err(map_err)?;
        self.emit(source, FileAction::Renamed, &from_rel, Some(&to_rel));
        self.stat_rel(&to_rel)
    }

    /// A file or symlink (the link itself), never a directory.
    pub fn remove_file(&self, path: &str, source: FileSource) -> Result<(), FileError> {
        let rel = self.parse_mut(path)?;
        self.allowed(&rel)?;
        let (dir, name) = self.parent(&rel)?;
        let m = dir.lstat(name).map_err(map_err)?;
        dir.remove_file(name).map_err(map_err)?;
        if m.is_file() && m.nlink() <= 1 {
            self.usage.release(m.len());
        }
        self.emit(source, FileAction::Deleted, &rel, None);
        Ok(())
    }

    /// An empty directory only.
    pub fn remove_dir(&self, path: &str, source: FileSource) -> Result<(), FileError> {
        let rel = self.parse_mut(path)?;
        self.allowed(&rel)?;
        let (dir, name) = self.parent(&rel)?;
        dir.remove_dir(name).map_err(map_err)?;
        self.emit(source, FileAction::Deleted, &rel, None);
        Ok(())
    }

    /// Permission bits (rwx only: setuid, setgid and sticky are never set), never
    /// through a symlink (`NotAFile`).
    pub fn chmod(&self, path: &str, mode: u32, source: FileSource) -> Result<FileEntry, FileError> {
        let rel = self.parse_mut(path)?;
        if rel.is_root() {
            return Err(invalid(path, "the server directory's mode is the node's"));
        }
        self.allowed(&rel)?;
        let (dir, name) = self.parent(&rel)?;
        dir.chmod(name, mode).map_err(map_err)?;
        self.emit(source, FileAction::Modified, &rel, None);
        self.stat_rel(&rel)
    }

    /// Access and modification times, of a symlink itself when `path` is one.
    pub fn set_times(
        &self,
        path: &str,
        atime_ms: i64,
        mtime_ms: i64,
        source: FileSource,
    ) -> Result<(), FileError> {
        let rel = self.parse_mut(path)?;
        if rel.is_root() {
            return Err(invalid(path, "the server directory itself"));
        }
        self.allowed(&rel)?;
        let (dir, name) = self.parent(&rel)?;
        dir.set_times(name, millis_to_time(atime_ms), millis_to_time(mtime_ms))
            .map_err(map_err)?;
        self.emit(source, FileAction::Modified, &rel, None);
        Ok(())
    }

    /// Where a symlink points, as written in it; `NotAFile` for anything else.
    pub fn read_link(&self, path: &str) -> Result<String, FileError> {
        let rel = self.parse(path)?;
        self.allowed(&rel)?;
        let (dir, name) = self.parent(&rel)?;
        let m = dir.lstat(name).map_err(map_err)?;
        if !m.is_symlink() {
            return Err(FileError::new(
                FileErrorKind::NotAFile,
                Some(rel.as_str()),
                format!("{rel} is not a symlink"),
            ));
        }
        dir.read_link(name).map_err(map_err)
    }

    pub fn usage(&self) -> DiskUsage {
        self.usage.get()
    }

    /// `Denied` when anything under the directory `name` is hidden now, or would be
    /// once moved to `to` (the deny list is lexical).
    pub(crate) fn refuse_denied_inside(
        &self,
        parent: &NoFollowDir,
        name: &str,
        from: &RelPath,
        to: &RelPath,
    ) -> Result<(), FileError> {
        if self.deny_is_empty() {
            return Ok(());
        }
        let top = parent.open_dir(name).map_err(map_dir_err)?;
        let mut stack = vec![(top, RelPath::root())];
        while let Some((dir, sub)) = stack.pop() {
            for (n, m) in dir.entries().map_err(map_err)? {
                let Ok(inner) = sub.join_str(&n) else {
                    continue;
                };
                let at_from = from.join(&inner).map_err(map_err)?;
                let at_to = to.join(&inner).map_err(map_err)?;
                if self.deny_hides_leaf(&at_from) || self.deny_hides(&at_to) {
                    return Err(FileError::new(
                        FileErrorKind::Denied,
                        Some(from.as_str()),
                        format!("{from} contains protected files"),
                    ));
                }
                if m.is_dir()
                    && let Ok(d) = dir.open_dir(&n)
                {
                    stack.push((d, inner));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn lock_uploads(&self) -> std::sync::MutexGuard<'_, super::upload::Table> {
        lock(&self.uploads.table)
    }
}

fn busy_if(restoring: &AtomicBool) -> Result<(), FileError> {
    if restoring.load(Ordering::Acquire) {
        return Err(FileError::new(
            FileErrorKind::Busy,
            None,
            "the server's files are being restored",
        ));
    }
    Ok(())
}

pub(crate) fn io_err(rel: &RelPath, e: std::io::Error) -> FileError {
    map_err(SandboxError::Io {
        path: rel.to_string(),
        source: e,
    })
}

/// An open file being written. See [`WriteMode`].
pub struct FileWriter {
    file: File,
    dir: NoFollowDir,
    name: String,
    rel: RelPath,
    /// The temp file's name in `Replace` mode.
    temp: Option<String>,
    overwrite: bool,
    len: u64,
    /// Bytes counted against the quota for the temp file.
    charged: u64,
    usage: Arc<Usage>,
    restoring: Arc<AtomicBool>,
    sink: EventSink,
    server: ServerId,
    source: FileSource,
    created: bool,
    written: bool,
    done: bool,
}

impl std::fmt::Debug for FileWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileWriter")
            .field("path", &self.rel)
            .field("len", &self.len)
            .finish()
    }
}

impl FileWriter {
    fn set_mode(&mut self, mode: u32) -> Result<(), FileError> {
        use std::os::unix::fs::PermissionsExt;
        self.file
            .set_permissions(std::fs::Permissions::from_mode(mode & 0o777))
            .map_err(|e| io_err(&self.rel, e))
    }

    /// Write `data` at `offset`. `QuotaExceeded` (nothing written) when the growth
    /// would pass the limit.
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), FileError> {
        if data.is_empty() {
            return Ok(());
        }
        busy_if(&self.restoring)?;
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or_else(|| io_err(&self.rel, std::io::Error::other("offset overflow")))?;
        let growth = end.saturating_sub(self.len);
        self.usage.charge(growth)?;
        if let Err(e) = self.file.write_all_at(data, offset) {
            self.usage.release(growth);
            return Err(io_err(&self.rel, e));
        }
        if self.temp.is_some() {
            self.charged += growth;
        }
        self.len = self.len.max(end);
        self.written = true;
        Ok(())
    }

    /// Cut or extend the file to `len` (SFTP `setstat` size); growth counts as usage.
    pub fn set_len(&mut self, len: u64) -> Result<(), FileError> {
        busy_if(&self.restoring)?;
        let growth = len.saturating_sub(self.len);
        self.usage.charge(growth)?;
        if let Err(e) = self.file.set_len(len) {
            self.usage.release(growth);
            return Err(io_err(&self.rel, e));
        }
        let shrink = self.len.saturating_sub(len);
        self.usage.release(shrink);
        if self.temp.is_some() {
            self.charged = self.charged.saturating_add(growth).saturating_sub(shrink);
        }
        self.len = len;
        self.written = true;
        Ok(())
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where the file lands, relative to the root.
    pub fn path(&self) -> &str {
        self.rel.as_str()
    }

    /// Finish: in `Replace` mode the temp file is flushed and renamed over the target
    /// (never over one that appeared meanwhile without `overwrite`).
    pub fn commit(mut self) -> Result<FileEntry, FileError> {
        busy_if(&self.restoring)?;
        if let Some(tmp) = self.temp.clone() {
            self.file.sync_all().map_err(|e| io_err(&self.rel, e))?;
            let old = self.dir.lstat_opt(&self.name).map_err(map_err)?;
            let moved = if self.overwrite {
                self.dir.rename_replace(&tmp, &self.dir, &self.name)
            } else {
                self.dir.rename_noreplace(&tmp, &self.dir, &self.name)
            };
            moved.map_err(map_err)?;
            self.done = true;
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
            self.sink
                .emit(&self.server, self.source, action, &self.rel, None);
        } else {
            self.done = true;
            if self.written && !self.created {
                self.sink.emit(
                    &self.server,
                    self.source,
                    FileAction::Modified,
                    &self.rel,
                    None,
                );
            }
        }
        let m = self.dir.lstat(&self.name).map_err(map_err)?;
        Ok(entry_of(&self.rel, &self.name, &m, None))
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        match &self.temp {
            Some(tmp) => {
                let _ = self.dir.remove_file(tmp);
                self.usage.release(self.charged);
            }
            None => {
                if self.written && !self.created {
                    self.sink.emit(
                        &self.server,
                        self.source,
                        FileAction::Modified,
                        &self.rel,
                        None,
                    );
                }
            }
        }
    }
}
