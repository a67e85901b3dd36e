//! Directory handles reached without following any symlink, for operations users ask
//! for (file API, SFTP).
//!
//! The rest of the sandbox follows symlinks that stay inside the root, which is right
//! for the installer and config patcher. User operations are stricter: a deny list is
//! a set of *lexical* paths, so a symlink `a -> secret` would let `a/key` slip past
//! it, and a directory swapped for a symlink mid-operation would move a copy or delete
//! somewhere else. So here every component is opened with `O_NOFOLLOW`, and every
//! operation works on a handle plus one name, never on a path string: once a handle is
//! open, renaming or swapping the path it came from cannot redirect it.

use super::{RelPath, Sandbox, SandboxError, check_symlink_target, clear_nonblock, tmp_name};
use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt, SystemTimeSpec};
use cap_std::fs::{Dir, Metadata, OpenOptions, OpenOptionsExt, Permissions, PermissionsExt};
use std::io;
use std::os::fd::AsFd;

/// A directory inside the sandbox whose location is exactly its lexical path.
#[derive(Debug)]
pub struct NoFollowDir {
    dir: Dir,
    path: RelPath,
}

/// Single path components only: the handle is the whole point.
fn check_name(name: &str) -> Result<(), SandboxError> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains('/')
        || name.contains('\0')
        || name.len() > super::MAX_NAME_BYTES
    {
        return Err(SandboxError::invalid(name, "not a single path component"));
    }
    Ok(())
}

impl Sandbox {
    /// Open the directory `rel` with no symlink in any component (`IsSymlink` names
    /// the first one met, `NotADir` a file in the way).
    pub fn dir_nofollow(&self, rel: &RelPath) -> Result<NoFollowDir, SandboxError> {
        let root = self
            .root
            .try_clone()
            .map_err(|e| SandboxError::from_io(&RelPath::root(), e))?;
        let mut cur = NoFollowDir {
            dir: root,
            path: RelPath::root(),
        };
        for part in rel.components() {
            cur = cur.open_dir(part)?;
        }
        Ok(cur)
    }

    /// The directory holding `rel` (reached as [`Self::dir_nofollow`]) and its name.
    pub fn parent_nofollow<'p>(
        &self,
        rel: &'p RelPath,
    ) -> Result<(NoFollowDir, &'p str), SandboxError> {
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            return Err(SandboxError::invalid(
                ".",
                "the server directory itself has no parent",
            ));
        };
        Ok((self.dir_nofollow(&parent)?, name))
    }
}

impl NoFollowDir {
    /// Where this handle is, relative to the root.
    pub fn path(&self) -> &RelPath {
        &self.path
    }

    /// The path of `name` in this directory.
    pub fn child(&self, name: &str) -> Result<RelPath, SandboxError> {
        check_name(name)?;
        self.path.join_str(name)
    }

    fn err(&self, name: &str, e: io::Error) -> SandboxError {
        let path = self
            .path
            .join_str(name)
            .unwrap_or_else(|_| self.path.clone());
        if e.raw_os_error() == Some(nix::libc::ENOTDIR) {
            return SandboxError::NotADir {
                path: path.to_string(),
            };
        }
        SandboxError::from_io(&path, e)
    }

    /// The directory's own metadata.
    pub fn metadata(&self) -> Result<Metadata, SandboxError> {
        self.dir
            .dir_metadata()
            .map_err(|e| SandboxError::from_io(&self.path, e))
    }

    /// `lstat` of `name`.
    pub fn lstat(&self, name: &str) -> Result<Metadata, SandboxError> {
        check_name(name)?;
        self.dir
            .symlink_metadata(name)
            .map_err(|e| self.err(name, e))
    }

    /// `lstat`, with a missing entry as `None`.
    pub fn lstat_opt(&self, name: &str) -> Result<Option<Metadata>, SandboxError> {
        match self.lstat(name) {
            Ok(m) => Ok(Some(m)),
            Err(SandboxError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Open the subdirectory `name`; a symlink there is `IsSymlink`, never followed.
    pub fn open_dir(&self, name: &str) -> Result<NoFollowDir, SandboxError> {
        let path = self.child(name)?;
        match self.dir.open_dir_nofollow(name) {
            Ok(dir) => Ok(NoFollowDir { dir, path }),
            Err(e) => {
                // ELOOP vs ENOTDIR for a symlink differs between kernels and cap-std's
                // fallbacks; ask the entry itself what it is.
                match self.dir.symlink_metadata(name) {
                    Ok(m) if m.is_symlink() => Err(SandboxError::IsSymlink {
                        path: path.to_string(),
                    }),
                    Ok(m) if !m.is_dir() => Err(SandboxError::NotADir {
                        path: path.to_string(),
                    }),
                    _ => Err(self.err(name, e)),
                }
            }
        }
    }

    /// Every entry (name and `lstat`), in directory order. Names that are not UTF-8
    /// are reported lossily (they cannot be addressed through the API afterwards).
    pub fn entries(&self) -> Result<Vec<(String, Metadata)>, SandboxError> {
        let mut out = Vec::new();
        let rd = self
            .dir
            .entries()
            .map_err(|e| SandboxError::from_io(&self.path, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| SandboxError::from_io(&self.path, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // Gone between readdir and lstat: the game deleted it; leave it out.
            match entry.metadata() {
                Ok(m) => out.push((name, m)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.err(&name, e)),
            }
        }
        Ok(out)
    }

    /// Entry names only (no `lstat`), in directory order.
    pub fn names(&self) -> Result<Vec<String>, SandboxError> {
        let rd = self
            .dir
            .entries()
            .map_err(|e| SandboxError::from_io(&self.path, e))?;
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| SandboxError::from_io(&self.path, e))?;
            out.push(entry.file_name().to_string_lossy().into_owned());
        }
        Ok(out)
    }

    /// Open a regular file for reading: a symlink is `IsSymlink`, a FIFO or device
    /// `NotAFile` (without blocking on the open), and a file with more than one hard
    /// link `Escape`, since its other name may be outside the root.
    pub fn open_read(&self, name: &str) -> Result<std::fs::File, SandboxError> {
        let mut opts = OpenOptions::new();
        opts.read(true)
            .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
            .follow(FollowSymlinks::No);
        self.open_checked(name, &opts)
    }

    /// Open an existing regular file for writing without truncating it, creating it
    /// (mode 0644) when `create`. The same refusals as [`Self::open_read`].
    pub fn open_write(&self, name: &str, create: bool) -> Result<std::fs::File, SandboxError> {
        let mut opts = OpenOptions::new();
        opts.write(true)
            .create(create)
            .mode(0o644)
            .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
            .follow(FollowSymlinks::No);
        self.open_checked(name, &opts)
    }

    fn open_checked(&self, name: &str, opts: &OpenOptions) -> Result<std::fs::File, SandboxError> {
        let path = self.child(name)?;
        let file = match self.dir.open_with(name, opts) {
            Ok(f) => f.into_std(),
            Err(e) => {
                return Err(match self.dir.symlink_metadata(name) {
                    Ok(m) if m.is_symlink() => SandboxError::IsSymlink {
                        path: path.to_string(),
                    },
                    Ok(m) if m.is_dir() => SandboxError::IsDir {
                        path: path.to_string(),
                    },
                    _ => self.err(name, e),
                });
            }
        };
        let meta = file.metadata().map_err(|e| self.err(name, e))?;
        if meta.is_dir() {
            return Err(SandboxError::IsDir {
                path: path.to_string(),
            });
        }
        if !meta.is_file() {
            return Err(SandboxError::NotAFile {
                path: path.to_string(),
            });
        }
        if std::os::unix::fs::MetadataExt::nlink(&meta) > 1 {
            return Err(SandboxError::Escape {
                path: path.to_string(),
            });
        }
        clear_nonblock(&file).map_err(|e| self.err(name, e))?;
        Ok(file)
    }

    /// A new hidden temp file (`.garrison-tmp-*`) in this directory, with `mode`.
    pub fn create_temp(&self, mode: u32) -> Result<(std::fs::File, String), SandboxError> {
        let name = tmp_name();
        let mut opts = OpenOptions::new();
        opts.write(true)
            .read(true)
            .create_new(true)
            .mode(mode & 0o777)
            .follow(FollowSymlinks::No);
        let file = self
            .dir
            .open_with(&name, &opts)
            .map_err(|e| self.err(&name, e))?
            .into_std();
        Ok((file, name))
    }

    /// A new hidden temp directory (`.garrison-tmp-*`) in this directory.
    pub fn create_temp_dir(&self) -> Result<String, SandboxError> {
        let name = tmp_name();
        self.dir.create_dir(&name).map_err(|e| self.err(&name, e))?;
        Ok(name)
    }

    pub fn create_dir(&self, name: &str) -> Result<(), SandboxError> {
        check_name(name)?;
        self.dir.create_dir(name).map_err(|e| self.err(name, e))
    }

    /// Rename `name` to `to_name` in `to`, failing with `AlreadyExists` when anything
    /// is there (`RENAME_NOREPLACE`: no check-then-rename race).
    pub fn rename_noreplace(
        &self,
        name: &str,
        to: &NoFollowDir,
        to_name: &str,
    ) -> Result<(), SandboxError> {
        check_name(name)?;
        check_name(to_name)?;
        rustix::fs::renameat_with(
            self.dir.as_fd(),
            name,
            to.dir.as_fd(),
            to_name,
            rustix::fs::RenameFlags::NOREPLACE,
        )
        .map_err(|e| {
            let e = io::Error::from(e);
            if e.kind() == io::ErrorKind::AlreadyExists {
                to.err(to_name, e)
            } else {
                self.err(name, e)
            }
        })
    }

    /// Rename, replacing a file or symlink (never a directory) at `to_name`.
    pub fn rename_replace(
        &self,
        name: &str,
        to: &NoFollowDir,
        to_name: &str,
    ) -> Result<(), SandboxError> {
        check_name(name)?;
        check_name(to_name)?;
        if let Some(m) = to.lstat_opt(to_name)?
            && m.is_dir()
        {
            return Err(SandboxError::IsDir {
                path: to.child(to_name)?.to_string(),
            });
        }
        self.dir
            .rename(name, &to.dir, to_name)
            .map_err(|e| to.err(to_name, e))
    }

    /// Remove a file or symlink (the link itself); a directory is `IsDir`.
    pub fn remove_file(&self, name: &str) -> Result<(), SandboxError> {
        check_name(name)?;
        // unlinkat without AT_REMOVEDIR refuses a directory itself (EISDIR), so a
        // directory swapped in after a check is still never removed here.
        self.dir.remove_file(name).map_err(|e| {
            if e.raw_os_error() == Some(nix::libc::EISDIR)
                || e.raw_os_error() == Some(nix::libc::EPERM)
                    && self.dir.symlink_metadata(name).is_ok_and(|m| m.is_dir())
            {
                return SandboxError::IsDir {
                    path: self
                        .path
                        .join_str(name)
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                };
            }
            self.err(name, e)
        })
    }

    /// Remove an empty directory (`NotADir` for anything else, a symlink included).
    pub fn remove_dir(&self, name: &str) -> Result<(), SandboxError> {
        check_name(name)?;
        self.dir.remove_dir(name).map_err(|e| self.err(name, e))
    }

    /// chmod `name` itself (rwx bits only, as [`Sandbox::set_permissions`]); a symlink
    /// is `IsSymlink`. A regular file is changed through a descriptor whose inode was
    /// checked to have one link: a hard link's inode is shared with its other names,
    /// which may be outside the root (`Escape`).
    pub fn chmod(&self, name: &str, mode: u32) -> Result<(), SandboxError> {
        use nix::sys::stat::{FchmodatFlags, Mode, fchmodat};
        check_name(name)?;
        let bits = Mode::from_bits_truncate((mode & 0o777) as nix::libc::mode_t);
        let m = self.lstat(name)?;
        if m.is_dir() {
            return self.open_dir(name)?.chmod_self(mode);
        }
        if m.is_file() {
            match self.open_read(name) {
                Ok(f) => {
                    use std::os::unix::fs::PermissionsExt as _;
                    return f
                        .set_permissions(std::fs::Permissions::from_mode(mode & 0o777))
                        .map_err(|e| self.err(name, e));
                }
                // Unreadable to the agent (not running as root): by name, after the
                // link count check.
                Err(SandboxError::Io { source, .. })
                    if source.kind() == io::ErrorKind::PermissionDenied =>
                {
                    if cap_fs_ext::OsMetadataExt::nlink(&m) > 1 {
                        return Err(SandboxError::Escape {
                            path: self.child(name)?.to_string(),
                        });
                    }
                }
                Err(e) => return Err(e),
            }
        }
        fchmodat(self.dir.as_fd(), name, bits, FchmodatFlags::NoFollowSymlink).map_err(|errno| {
            match errno {
                nix::errno::Errno::EOPNOTSUPP => SandboxError::IsSymlink {
                    path: self
                        .path
                        .join_str(name)
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                },
                e => self.err(name, e.into()),
            }
        })
    }

    /// chmod of this directory itself (through its handle).
    pub fn chmod_self(&self, mode: u32) -> Result<(), SandboxError> {
        self.dir
            .set_permissions(".", Permissions::from_mode(mode & 0o777))
            .map_err(|e| SandboxError::from_io(&self.path, e))
    }

    /// Set access and modification times of `name` itself, never through a symlink.
    pub fn set_times(
        &self,
        name: &str,
        atime: std::time::SystemTime,
        mtime: std::time::SystemTime,
    ) -> Result<(), SandboxError> {
        check_name(name)?;
        // Times of a hard-linked file are its other names' times too.
        let m = self.lstat(name)?;
        if m.is_file() && cap_fs_ext::OsMetadataExt::nlink(&m) > 1 {
            return Err(SandboxError::Escape {
                path: self.child(name)?.to_string(),
            });
        }
        let spec = |t| SystemTimeSpec::Absolute(cap_std::time::SystemTime::from_std(t));
        self.dir
            .set_symlink_times(name, Some(spec(atime)), Some(spec(mtime)))
            .map_err(|e| self.err(name, e))
    }

    /// Where the symlink `name` points, as written (never followed).
    pub fn read_link(&self, name: &str) -> Result<String, SandboxError> {
        check_name(name)?;
        let target = self
            .dir
            .read_link_contents(name)
            .map_err(|e| self.err(name, e))?;
        Ok(target.to_string_lossy().into_owned())
    }

    /// Create the symlink `name -> target`. The target must stay inside the root,
    /// checked lexically as [`Sandbox::symlink`] does; this handle's location is its
    /// lexical path, which is what makes that check sound.
    pub fn symlink(&self, target: &str, name: &str) -> Result<(), SandboxError> {
        let link = self.child(name)?;
        check_symlink_target(target, &link)?;
        self.dir
            .symlink(target, name)
            .map_err(|e| self.err(name, e))
    }

    /// The underlying handle, for readers that need `Dir` (archive extraction).
    pub fn as_dir(&self) -> &Dir {
        &self.dir
    }
}

impl NoFollowDir {
    /// Create the file `name` (`O_EXCL`: nothing, not even a dangling symlink, may be
    /// there) with `mode` applied exactly (not cut by the umask).
    pub fn create_new(&self, name: &str, mode: u32) -> Result<std::fs::File, SandboxError> {
        check_name(name)?;
        let mut opts = OpenOptions::new();
        opts.write(true)
            .read(true)
            .create_new(true)
            .mode(0o600)
            .follow(FollowSymlinks::No);
        let file = self
            .dir
            .open_with(name, &opts)
            .map_err(|e| self.err(name, e))?
            .into_std();
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(mode & 0o777))
            .map_err(|e| self.err(name, e))?;
        Ok(file)
    }

    /// Move `from_name` out of another directory (a staging area outside the server
    /// directory) to `to_name` here; with `replace` a file or symlink there is replaced,
    /// otherwise anything there is `AlreadyExists`. Across filesystems a regular file is
    /// copied to a temp file here and renamed into place, so it still appears at once;
    /// other kinds are refused then (`Io` with `EXDEV`) for the caller to copy.
    pub fn adopt(
        &self,
        from: &Dir,
        from_name: &str,
        to_name: &str,
        replace: bool,
    ) -> Result<(), SandboxError> {
        check_name(from_name)?;
        check_name(to_name)?;
        let flags = if replace {
            rustix::fs::RenameFlags::empty()
        } else {
            rustix::fs::RenameFlags::NOREPLACE
        };
        if replace
            && let Some(m) = self.lstat_opt(to_name)?
            && m.is_dir()
        {
            return Err(SandboxError::IsDir {
                path: self.child(to_name)?.to_string(),
            });
        }
        match rustix::fs::renameat_with(from.as_fd(), from_name, self.dir.as_fd(), to_name, flags) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::XDEV) => {
                let mut src_opts = OpenOptions::new();
                src_opts.read(true).follow(FollowSymlinks::No);
                let mut src = from
                    .open_with(from_name, &src_opts)
                    .map_err(|e| self.err(to_name, e))?;
                let meta = src.metadata().map_err(|e| self.err(to_name, e))?;
                if !meta.is_file() {
                    return Err(self.err(to_name, io::Error::from_raw_os_error(nix::libc::EXDEV)));
                }
                let (mut dst, tmp) = self.create_temp(meta.permissions().mode())?;
                let result = (|| -> Result<(), SandboxError> {
                    io::copy(&mut src, &mut dst).map_err(|e| self.err(to_name, e))?;
                    dst.sync_all().map_err(|e| self.err(to_name, e))?;
                    if replace {
                        self.rename_replace(&tmp, self, to_name)
                    } else {
                        self.rename_noreplace(&tmp, self, to_name)
                    }
                })();
                if result.is_err() {
                    let _ = self.dir.remove_file(&tmp);
                    return result;
                }
                let _ = from.remove_file(from_name);
                Ok(())
            }
            Err(e) => Err(self.err(to_name, e.into())),
        }
    }
}
