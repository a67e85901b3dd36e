//! Whole-tree operations: disk usage walks, recursive delete and copy. All of them
//! descend through directory handles opened with `O_NOFOLLOW`, so a directory swapped
//! for a symlink mid-walk is met as the symlink (removed or copied as a link), never
//! followed.

use super::server::{ServerFiles, invalid};
use super::{map_dir_err, map_err};
use crate::sandbox::{NoFollowDir, RelPath, SandboxError};
use cap_fs_ext::OsMetadataExt;
use garrison_proto::{FileAction, FileEntry, FileError, FileErrorKind, FileSource};
use std::collections::HashSet;
use std::io;

/// Bytes of regular files under the root, each hard-linked inode once. `None` when
/// the agent is stopping or the walk failed.
pub(crate) fn disk_usage(files: &ServerFiles) -> Option<u64> {
    let root = files.sandbox().dir_nofollow(&RelPath::root()).ok()?;
    let mut total: u64 = 0;
    let mut inodes: HashSet<(u64, u64)> = HashSet::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        if files.ctx.stopping() {
            return None;
        }
        let Ok(entries) = dir.entries() else { continue };
        for (name, m) in entries {
            if m.is_dir() {
                if let Ok(sub) = dir.open_dir(&name) {
                    stack.push(sub);
                }
            } else if m.is_file() && (m.nlink() <= 1 || inodes.insert((m.dev(), m.ino()))) {
                total = total.saturating_add(m.len());
            }
        }
    }
    Some(total)
}

/// Remove `name` in `dir`, a whole tree for a directory; returns the bytes freed.
pub(crate) fn remove_tree(dir: &NoFollowDir, name: &str) -> Result<u64, SandboxError> {
    let m = dir.lstat(name)?;
    if !m.is_dir() {
        dir.remove_file(name)?;
        return Ok(if m.is_file() && m.nlink() <= 1 {
            m.len()
        } else {
            0
        });
    }
    let sub = match dir.open_dir(name) {
        Ok(s) => s,
        // Swapped for a symlink or file since the lstat: remove that instead.
        Err(SandboxError::IsSymlink { .. } | SandboxError::NotADir { .. }) => {
            dir.remove_file(name)?;
            return Ok(0);
        }
        Err(e) => return Err(e),
    };
    let mut freed = 0u64;
    for (n, _) in sub.entries()? {
        freed = freed.saturating_add(remove_tree(&sub, &n)?);
    }
    dir.remove_dir(name)?;
    Ok(freed)
}

/// State of one copy: what was charged to the quota so far (released on failure).
struct CopyRun<'a> {
    files: &'a ServerFiles,
    charged: u64,
    /// Skip entries the deny list hides at either end (copying would expose them).
    check_deny: bool,
}

impl CopyRun<'_> {
    fn skip(&self, from: &RelPath, to: &RelPath) -> bool {
        self.check_deny && (self.files.deny_hides_leaf(from) || self.files.deny_hides(to))
    }

    /// Copy `src/name` (at `from`) to `dst/dst_name` (at `to`), which must not exist.
    fn copy(
        &mut self,
        src: &NoFollowDir,
        name: &str,
        from: &RelPath,
        dst: &NoFollowDir,
        dst_name: &str,
        to: &RelPath,
    ) -> Result<(), FileError> {
        if self.files.ctx.stopping() {
            return Err(FileError::new(
                FileErrorKind::Io,
                Some(from.as_str()),
                "the node is shutting down",
            ));
        }
        let m = src.lstat(name).map_err(map_err)?;
        if m.is_symlink() {
            let target = src.read_link(name).map_err(map_err)?;
            return dst.symlink(&target, dst_name).map_err(|e| match e {
                SandboxError::InvalidPath { .. } | SandboxError::Escape { .. } => FileError::new(
                    FileErrorKind::Escape,
                    Some(from.as_str()),
                    format!("{from} is a symlink to {target:?}, outside the server directory"),
                ),
                e => map_err(e),
            });
        }
        if m.is_dir() {
            let sub = src.open_dir(name).map_err(map_dir_err)?;
            dst.create_dir(dst_name).map_err(map_err)?;
            let out = dst.open_dir(dst_name).map_err(map_dir_err)?;
            for (n, _) in sub.entries().map_err(map_err)? {
                let (Ok(f), Ok(t)) = (from.join_str(&n), to.join_str(&n)) else {
                    continue;
                };
                if self.skip(&f, &t) {
                    continue;
                }
                self.copy(&sub, &n, &f, &out, &n, &t)?;
            }
            return out.chmod_self(m.mode()).map_err(map_err);
        }
        if !m.is_file() {
            // FIFOs, sockets and devices are not file content.
            return Ok(());
        }
        let mut input = src.open_read(name).map_err(map_err)?;
        let len = input.metadata().map_err(|e| io_fe(from, e))?.len();
        self.files.usage.charge(len)?;
        self.charged += len;
        let mut output = dst.create_new(dst_name, m.mode()).map_err(map_err)?;
        // Bounded by the size charged: a file the game grows meanwhile is cut there
        // rather than copied past the quota.
        let copied = io::copy(&mut io::Read::take(&mut input, len), &mut output)
            .map_err(|e| io_fe(to, e))?;
        if copied < len {
            self.files.usage.release(len - copied);
            self.charged -= len - copied;
        }
        Ok(())
    }
}

fn io_fe(rel: &RelPath, e: io::Error) -> FileError {
    map_err(SandboxError::Io {
        path: rel.to_string(),
        source: e,
    })
}

impl ServerFiles {
    /// Copy a file, symlink (as a link) or tree; never replaces `to`. The copy is built
    /// under a hidden temp name and renamed into place, so it appears whole or not at
    /// all (a quota stop leaves nothing).
    pub(crate) fn copy(
        &self,
        from: &str,
        to: &str,
        source: FileSource,
    ) -> Result<FileEntry, FileError> {
        let from_rel = self.parse(from)?;
        let to_rel = self.parse_new(to)?;
        if from_rel.is_root() {
            return Err(invalid(from, "the server directory itself"));
        }
        self.allowed(&from_rel)?;
        self.allowed(&to_rel)?;
        if to_rel.starts_with(&from_rel) {
            return Err(invalid(to, "cannot copy a directory into itself"));
        }
        let (src, name) = self.parent(&from_rel)?;
        let (dst, dst_name) = self.parent(&to_rel)?;
        if dst.lstat_opt(dst_name).map_err(map_err)?.is_some() {
            return Err(FileError::new(
                FileErrorKind::AlreadyExists,
                Some(to_rel.as_str()),
                format!("{to_rel} already exists"),
            ));
        }
        let m = src.lstat(name).map_err(map_err)?;
        let mut run = CopyRun {
            files: self,
            charged: 0,
            check_deny: !self.deny_is_empty(),
        };
        if m.is_symlink() {
            run.copy(&src, name, &from_rel, &dst, dst_name, &to_rel)?;
        } else {
            let tmp = crate::sandbox::tmp_name();
            let result = run
                .copy(&src, name, &from_rel, &dst, &tmp, &to_rel)
                .and_then(|()| dst.rename_noreplace(&tmp, &dst, dst_name).map_err(map_err));
            if let Err(e) = result {
                let _ = remove_tree(&dst, &tmp);
                self.usage.release(run.charged);
                return Err(e);
            }
        }
        self.emit(source, FileAction::Created, &to_rel, None);
        self.stat_rel(&to_rel)
    }

    /// Delete files and whole trees (symlinks themselves, never their targets).
    pub(crate) fn delete(&self, path: &str, source: FileSource) -> Result<(), FileError> {
        let rel = self.parse_mut(path)?;
        if rel.is_root() {
            return Err(invalid(path, "the server directory itself"));
        }
        self.allowed(&rel)?;
        let (dir, name) = self.parent(&rel)?;
        let m = dir.lstat(name).map_err(map_err)?;
        if m.is_dir() {
            // Protected files inside would go with the tree.
            self.refuse_denied_inside(&dir, name, &rel, &rel)?;
        }
        let result = remove_tree(&dir, name);
        // Whatever went before a failure is gone; count it either way.
        let freed = match result {
            Ok(freed) => freed,
            Err(e) => {
                self.usage.mark_stale();
                return Err(map_err(e));
            }
        };
        self.usage.release(freed);
        self.emit(source, FileAction::Deleted, &rel, None);
        Ok(())
    }
}
