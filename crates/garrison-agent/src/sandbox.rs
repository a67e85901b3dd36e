//! The one way into a server's directory.
//!
//! A server directory is writable by the game process, which runs as another (possibly
//! hostile) user and can plant symlinks, hard links and FIFOs at any time. The agent runs
//! with more privileges than that user, so any path it resolves with plain `std::fs`
//! could be steered to `/etc/shadow`. String prefix checks cannot help: the kernel
//! resolves symlinks after the check. Instead every operation here starts from a
//! directory handle of the root and resolves paths with `openat2(RESOLVE_BENEATH)`
//! through `cap-std`, so the kernel itself refuses to leave the root. On top of that the
//! *last* component is never followed for metadata, remove, chmod, chown, symlink, link
//! and rename, so those act on the link itself, the way `lstat`/`unlink` do.
//!
//! Paths come in as [`RelPath`], a checked relative path, so malformed input (`..`,
//! absolute paths, NUL) is refused before any system call.
//!
//! Everything here blocks: call it from `spawn_blocking`.

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt};
use cap_std::fs::{Dir, Metadata, OpenOptions, OpenOptionsExt};
use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

mod nofollow;
pub use nofollow::NoFollowDir;

/// Longest accepted path, in bytes (Linux `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;
/// Longest accepted path component, in bytes (Linux `NAME_MAX`).
pub const MAX_NAME_BYTES: usize = 255;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },
    #[error("{path:?} leads outside the server directory")]
    Escape { path: String },
    #[error("{path:?} does not exist")]
    NotFound { path: String },
    #[error("{path:?} already exists")]
    AlreadyExists { path: String },
    #[error("{path:?} is a symlink")]
    IsSymlink { path: String },
    #[error("{path:?} is a directory")]
    IsDir { path: String },
    #[error("{path:?} is not a directory")]
    NotADir { path: String },
    #[error("{path:?} is not a regular file")]
    NotAFile { path: String },
    #[error("{path:?} is larger than {limit} bytes")]
    TooLarge { path: String, limit: u64 },
    #[error("{path:?}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

impl SandboxError {
    fn invalid(path: &str, reason: impl Into<String>) -> SandboxError {
        SandboxError::InvalidPath {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }

    /// Translate an I/O error on `path` into the variant a caller can act on.
    fn from_io(path: &RelPath, e: io::Error) -> SandboxError {
        let path = path.to_string();
        if is_escape(&e) {
            return SandboxError::Escape { path };
        }
        match e.kind() {
            io::ErrorKind::NotFound => SandboxError::NotFound { path },
            io::ErrorKind::AlreadyExists => SandboxError::AlreadyExists { path },
            io::ErrorKind::IsADirectory => SandboxError::IsDir { path },
            _ if e.raw_os_error() == Some(nix::libc::ELOOP) => SandboxError::IsSymlink { path },
            _ => SandboxError::Io { path, source: e },
        }
    }
}

/// cap-std reports a resolution that would leave the root as a synthetic
/// `PermissionDenied` without an errno (the kernel's `EXDEV` from `RESOLVE_BENEATH` is
/// translated), which is how it is told apart from a real `EACCES`.
fn is_escape(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::PermissionDenied
        && (e.raw_os_error().is_none() || e.raw_os_error() == Some(nix::libc::EXDEV))
}

/// A checked path relative to a sandbox root: `/`-separated, no `..`, no leading `/`,
/// no NUL, no empty components, each component at most 255 bytes and the whole at most
/// 4096. `.` components are dropped and one trailing `/` is accepted. A backslash is an
/// ordinary character (this is Linux). The empty path is the root itself.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelPath(String);

impl RelPath {
    /// The root of the sandbox.
    pub fn root() -> RelPath {
        RelPath(String::new())
    }

    /// Check `path`; the same as [`Sandbox::rel`].
    pub fn new(path: &str) -> Result<RelPath, SandboxError> {
        if path.contains('\0') {
            return Err(SandboxError::invalid(path, "contains a NUL byte"));
        }
        if path.len() > MAX_PATH_BYTES {
            return Err(SandboxError::invalid(
                path,
                format!("longer than {MAX_PATH_BYTES} bytes"),
            ));
        }
        if path.starts_with('/') {
            return Err(SandboxError::invalid(path, "absolute path"));
        }
        let body = path.strip_suffix('/').unwrap_or(path);
        let mut out = String::with_capacity(body.len());
        if !body.is_empty() {
            for part in body.split('/') {
                match part {
                    "" => return Err(SandboxError::invalid(path, "empty path component")),
                    "." => continue,
                    ".." => return Err(SandboxError::invalid(path, "`..` component")),
                    _ if part.len() > MAX_NAME_BYTES => {
                        return Err(SandboxError::invalid(
                            path,
                            format!("a component is longer than {MAX_NAME_BYTES} bytes"),
                        ));
                    }
                    _ => {
                        if !out.is_empty() {
                            out.push('/');
                        }
                        out.push_str(part);
                    }
                }
            }
        }
        Ok(RelPath(out))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The components, outermost first (none for the root).
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// Number of components (0 for the root).
    pub fn depth(&self) -> usize {
        self.components().count()
    }

    /// The containing directory; `None` for the root.
    pub fn parent(&self) -> Option<RelPath> {
        if self.is_root() {
            return None;
        }
        Some(match self.0.rfind('/') {
            Some(i) => RelPath(self.0[..i].to_owned()),
            None => RelPath::root(),
        })
    }

    /// The last component; `None` for the root.
    pub fn file_name(&self) -> Option<&str> {
        if self.is_root() {
            return None;
        }
        Some(match self.0.rfind('/') {
            Some(i) => &self.0[i + 1..],
            None => &self.0,
        })
    }

    /// `self/other`, refused when the result is longer than the limit.
    pub fn join(&self, other: &RelPath) -> Result<RelPath, SandboxError> {
        if self.is_root() {
            return Ok(other.clone());
        }
        if other.is_root() {
            return Ok(self.clone());
        }
        let joined = format!("{}/{}", self.0, other.0);
        if joined.len() > MAX_PATH_BYTES {
            return Err(SandboxError::invalid(
                &joined,
                format!("longer than {MAX_PATH_BYTES} bytes"),
            ));
        }
        Ok(RelPath(joined))
    }

    /// Check `path` and append it.
    pub fn join_str(&self, path: &str) -> Result<RelPath, SandboxError> {
        self.join(&RelPath::new(path)?)
    }

    /// Whether `self` is `other` or inside it, component-wise.
    pub fn starts_with(&self, other: &RelPath) -> bool {
        other.is_root()
            || self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }

    /// The path as cap-std wants it; the root is `.`.
    fn as_path(&self) -> &Path {
        if self.is_root() {
            Path::new(".")
        } else {
            Path::new(&self.0)
        }
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            f.write_str(".")
        } else {
            f.write_str(&self.0)
        }
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelPath({:?})", self.to_string())
    }
}

/// A directory handle that is either the root (borrowed) or a subdirectory (owned).
enum DirRef<'a> {
    Root(&'a Dir),
    Owned(Dir),
}

impl std::ops::Deref for DirRef<'_> {
    type Target = Dir;
    fn deref(&self) -> &Dir {
        match self {
            DirRef::Root(d) => d,
            DirRef::Owned(d) => d,
        }
    }
}

/// Uniquifies temp file names within this process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Names of the sandbox's own temp files and directories start with this; they are
/// hidden from users' listings.
pub const TMP_PREFIX: &str = ".garrison-tmp-";

pub(crate) fn tmp_name() -> String {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(".garrison-tmp-{}-{n}-{nanos}", std::process::id())
}

/// A server directory, held open by handle. See the module docs for the guarantees.
#[derive(Debug)]
pub struct Sandbox {
    root: Dir,
    root_path: PathBuf,
}

impl Sandbox {
    /// Open `root` (which must exist and be a directory). The root path itself is
    /// trusted configuration, so it may be reached through symlinks; nothing below it is.
    pub fn open(root: &Path) -> Result<Sandbox, SandboxError> {
        let dir = Dir::open_ambient_dir(root, cap_std::ambient_authority()).map_err(|e| {
            let path = root.display().to_string();
            if e.kind() == io::ErrorKind::NotFound {
                SandboxError::NotFound { path }
            } else {
                SandboxError::Io { path, source: e }
            }
        })?;
        Ok(Sandbox {
            root: dir,
            root_path: root.to_path_buf(),
        })
    }

    /// Check a relative path; see [`RelPath`] for the rules.
    pub fn rel(path: &str) -> Result<RelPath, SandboxError> {
        RelPath::new(path)
    }

    /// Where the root was opened from, for messages and for the working directory of
    /// processes. Never build file paths from it: use the methods here.
    pub fn root_path(&self) -> &Path {
        &self.root_path
    }

    /// The root handle, for operations this type does not offer yet. cap-std still keeps
    /// everything beneath the root, but the last-component-nofollow rule is the caller's.
    pub fn dir(&self) -> &Dir {
        &self.root
    }

    /// The directory containing `rel` (following in-root symlinks on the way) and the
    /// last component. Refuses the root, which has no name in its parent.
    fn parent_of<'a, 'p>(
        &'a self,
        rel: &'p RelPath,
        what: &str,
    ) -> Result<(DirRef<'a>, &'p str), SandboxError> {
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            return Err(SandboxError::invalid(
                ".",
                format!("cannot {what} the server directory itself"),
            ));
        };
        let dir = if parent.is_root() {
            DirRef::Root(&self.root)
        } else {
            DirRef::Owned(
                self.root
                    .open_dir(parent.as_path())
                    .map_err(|e| SandboxError::from_io(&parent, e))?,
            )
        };
        Ok((dir, name))
    }

    /// Like [`Self::parent_of`] but no component of the parent may be a symlink, so the
    /// returned handle's real location is the lexical parent. Symlink creation needs this
    /// for its lexical containment check to mean anything.
    fn parent_of_nofollow<'a, 'p>(
        &'a self,
        rel: &'p RelPath,
        what: &str,
    ) -> Result<(DirRef<'a>, &'p str), SandboxError> {
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            return Err(SandboxError::invalid(
                ".",
                format!("cannot {what} the server directory itself"),
            ));
        };
        let mut dir = DirRef::Root(&self.root);
        let mut walked = RelPath::root();
        for part in parent.components() {
            walked = walked.join_str(part)?;
            let next = dir
                .open_dir_nofollow(part)
                .map_err(|e| SandboxError::from_io(&walked, e))?;
            dir = DirRef::Owned(next);
        }
        Ok((dir, name))
    }

    /// Create `rel` and its missing parents (like `mkdir -p`). Existing in-root symlinks
    /// to directories are followed; a symlink leading out is refused.
    pub fn create_dir_all(&self, rel: &RelPath) -> Result<(), SandboxError> {
        if rel.is_root() {
            return Ok(());
        }
        self.root
            .create_dir_all(rel.as_path())
            .map_err(|e| match e.kind() {
                // cap-std reports a component it cannot use as "already exists"; say
                // which one and why, since "a symlink leads out" is the case to flag.
                io::ErrorKind::AlreadyExists => self.explain_blocked(rel, e),
                _ => SandboxError::from_io(rel, e),
            })
    }

    fn explain_blocked(&self, rel: &RelPath, e: io::Error) -> SandboxError {
        let mut prefix = RelPath::root();
        for part in rel.components() {
            prefix = RelPath(if prefix.is_root() {
                part.to_owned()
            } else {
                format!("{}/{part}", prefix.0)
            });
            match self.root.metadata(prefix.as_path()) {
                Ok(m) if m.is_dir() => continue,
                Ok(_) => {
                    return SandboxError::AlreadyExists {
                        path: prefix.to_string(),
                    };
                }
                Err(e) if is_escape(&e) => {
                    return SandboxError::Escape {
                        path: prefix.to_string(),
                    };
                }
                Err(e) => return SandboxError::from_io(&prefix, e),
            }
        }
        SandboxError::from_io(rel, e)
    }

    /// Create one directory; its parent must exist.
    pub fn create_dir(&self, rel: &RelPath) -> Result<(), SandboxError> {
        let (dir, name) = self.parent_of(rel, "create")?;
        dir.create_dir(name)
            .map_err(|e| SandboxError::from_io(rel, e))
    }

    /// Replace (or create) the file `rel` with `bytes` so that readers see either the
    /// old or the new content, never a torn write. The temp file lives in the same
    /// directory (rename is only atomic within a filesystem). An existing file's mode is
    /// kept. Refused when `rel` is a symlink or a directory: replacing a planted link
    /// would be harmless (rename does not follow it) but is almost certainly not what
    /// the caller meant.
    pub fn write_atomic(&self, rel: &RelPath, bytes: &[u8]) -> Result<(), SandboxError> {
        let (dir, name) = self.parent_of(rel, "write")?;
        let mut mode = None;
        match dir.symlink_metadata(name) {
            Ok(m) if m.is_symlink() => {
                return Err(SandboxError::IsSymlink {
                    path: rel.to_string(),
                });
            }
            Ok(m) if m.is_dir() => {
                return Err(SandboxError::IsDir {
                    path: rel.to_string(),
                });
            }
            Ok(m) => {
                use cap_std::fs::PermissionsExt;
                mode = Some(m.permissions().mode() & 0o777);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(SandboxError::from_io(rel, e)),
        }
        let tmp = tmp_name();
        let result = (|| -> io::Result<()> {
            let mut opts = OpenOptions::new();
            opts.write(true)
                .create_new(true)
                .mode(mode.unwrap_or(0o644));
            let mut file = dir.open_with(&tmp, &opts)?;
            if let Some(m) = mode {
                // The umask may have cut bits from the requested mode.
                use cap_std::fs::PermissionsExt;
                file.set_permissions(cap_std::fs::Permissions::from_mode(m))?;
            }
            file.write_all(bytes)?;
            file.sync_all()?;
            dir.rename(&tmp, &dir, name)
        })();
        if let Err(e) = result {
            let _ = dir.remove_file(&tmp);
            return Err(SandboxError::from_io(rel, e));
        }
        Ok(())
    }

    /// Open `rel` for writing, truncating it or creating it (mode 0644 before umask).
    /// A symlink as the last component is refused rather than followed, and a FIFO is
    /// refused without blocking.
    pub fn create_file(&self, rel: &RelPath) -> Result<std::fs::File, SandboxError> {
        let mut opts = OpenOptions::new();
        opts.write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .custom_flags(nix::libc::O_NONBLOCK)
            .follow(FollowSymlinks::No);
        self.open_file(rel, &opts)
    }

    /// Create `rel`, failing with [`SandboxError::AlreadyExists`] if anything (even a
    /// dangling symlink) is there; `O_EXCL` never follows links.
    pub fn create_new_file(&self, rel: &RelPath) -> Result<std::fs::File, SandboxError> {
        let mut opts = OpenOptions::new();
        opts.write(true)
            .create_new(true)
            .mode(0o644)
            .follow(FollowSymlinks::No);
        self.open_file(rel, &opts)
    }

    /// Open a regular file for reading. In-root symlinks are followed (they cannot lead
    /// out); FIFOs and devices are refused without blocking.
    pub fn open_read(&self, rel: &RelPath) -> Result<std::fs::File, SandboxError> {
        let mut opts = OpenOptions::new();
        opts.read(true).custom_flags(nix::libc::O_NONBLOCK);
        self.open_file(rel, &opts)
    }

    fn open_file(&self, rel: &RelPath, opts: &OpenOptions) -> Result<std::fs::File, SandboxError> {
        if rel.is_root() {
            return Err(SandboxError::IsDir {
                path: rel.to_string(),
            });
        }
        let file = self
            .root
            .open_with(rel.as_path(), opts)
            .map_err(|e| SandboxError::from_io(rel, e))?
            .into_std();
        let meta = file.metadata().map_err(|e| SandboxError::from_io(rel, e))?;
        if meta.is_dir() {
            return Err(SandboxError::IsDir {
                path: rel.to_string(),
            });
        }
        if !meta.is_file() {
            return Err(SandboxError::NotAFile {
                path: rel.to_string(),
            });
        }
        clear_nonblock(&file).map_err(|e| SandboxError::from_io(rel, e))?;
        Ok(file)
    }

    /// Read a whole regular file, refusing one larger than `max` bytes (without reading
    /// more than `max + 1`).
    pub fn read(&self, rel: &RelPath, max: u64) -> Result<Vec<u8>, SandboxError> {
        let file = self.open_read(rel)?;
        let mut out = Vec::new();
        file.take(max.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| SandboxError::from_io(rel, e))?;
        if out.len() as u64 > max {
            return Err(SandboxError::TooLarge {
                path: rel.to_string(),
                limit: max,
            });
        }
        Ok(out)
    }

    /// [`Self::read`], as UTF-8.
    pub fn read_to_string(&self, rel: &RelPath, max: u64) -> Result<String, SandboxError> {
        let bytes = self.read(rel, max)?;
        String::from_utf8(bytes).map_err(|e| SandboxError::Io {
            path: rel.to_string(),
            source: io::Error::new(io::ErrorKind::InvalidData, e),
        })
    }

    /// Metadata of `rel` itself (a symlink is reported as a symlink).
    pub fn symlink_metadata(&self, rel: &RelPath) -> Result<Metadata, SandboxError> {
        let result = if rel.is_root() {
            self.root.dir_metadata()
        } else {
            self.root.symlink_metadata(rel.as_path())
        };
        result.map_err(|e| SandboxError::from_io(rel, e))
    }

    /// Whether anything is at `rel`; a dangling symlink counts.
    pub fn exists(&self, rel: &RelPath) -> Result<bool, SandboxError> {
        match self.symlink_metadata(rel) {
            Ok(_) => Ok(true),
            Err(SandboxError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Remove a file or a symlink (the link, not its target). Directories are refused.
    pub fn remove_file(&self, rel: &RelPath) -> Result<(), SandboxError> {
        let (dir, name) = self.parent_of(rel, "remove")?;
        match dir.symlink_metadata(name) {
            Ok(m) if m.is_dir() => {
                return Err(SandboxError::IsDir {
                    path: rel.to_string(),
                });
            }
            Ok(_) => {}
            Err(e) => return Err(SandboxError::from_io(rel, e)),
        }
        dir.remove_file(name)
            .map_err(|e| SandboxError::from_io(rel, e))
    }

    /// Remove a directory tree without following any symlink in it; a symlink at `rel`
    /// is removed itself (like `std::fs::remove_dir_all`). The root cannot be removed.
    pub fn remove_dir_all(&self, rel: &RelPath) -> Result<(), SandboxError> {
        let (dir, name) = self.parent_of(rel, "remove")?;
        let meta = dir
            .symlink_metadata(name)
            .map_err(|e| SandboxError::from_io(rel, e))?;
        let result = if meta.is_dir() {
            dir.remove_dir_all(name)
        } else {
            dir.remove_file(name)
        };
        result.map_err(|e| SandboxError::from_io(rel, e))
    }

    /// Rename within the sandbox, replacing a file (or symlink) at `to`. Neither last
    /// component is followed.
    pub fn rename(&self, from: &RelPath, to: &RelPath) -> Result<(), SandboxError> {
        if to.starts_with(from) {
            return Err(SandboxError::invalid(
                to.as_str(),
                format!("cannot move {from} into itself"),
            ));
        }
        let (from_dir, from_name) = self.parent_of(from, "rename")?;
        let (to_dir, to_name) = self.parent_of(to, "replace")?;
        from_dir
            .rename(from_name, &to_dir, to_name)
            .map_err(|e| SandboxError::from_io(from, e))
    }

    /// Move `from_name` out of a staging directory (a download or an extraction done
    /// outside the server directory) to `to`. When the staging directory is on another
    /// filesystem a regular file is copied to a temp file beside `to` and renamed into
    /// place, so `to` still appears atomically.
    pub fn rename_in(
        &self,
        from_dir: &Dir,
        from_name: &str,
        to: &RelPath,
    ) -> Result<(), SandboxError> {
        if from_name.is_empty()
            || from_name == "."
            || from_name == ".."
            || from_name.contains('/')
            || from_name.contains('\0')
        {
            return Err(SandboxError::invalid(
                from_name,
                "staging name must be a single component",
            ));
        }
        let (to_dir, to_name) = self.parent_of(to, "replace")?;
        match from_dir.rename(from_name, &to_dir, to_name) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(nix::libc::EXDEV) => {
                self.copy_in(from_dir, from_name, &to_dir, to_name)
                    .map_err(|e| SandboxError::from_io(to, e))?;
                from_dir
                    .remove_file(from_name)
                    .map_err(|e| SandboxError::Io {
                        path: from_name.to_owned(),
                        source: e,
                    })
            }
            Err(e) => Err(SandboxError::from_io(to, e)),
        }
    }

    fn copy_in(
        &self,
        from_dir: &Dir,
        from_name: &str,
        to_dir: &Dir,
        to_name: &str,
    ) -> io::Result<()> {
        let mut src_opts = OpenOptions::new();
        src_opts.read(true).follow(FollowSymlinks::No);
        let mut src = from_dir.open_with(from_name, &src_opts)?;
        let meta = src.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "only regular files can be moved across filesystems",
            ));
        }
        let tmp = tmp_name();
        let result = (|| -> io::Result<()> {
            let mut opts = OpenOptions::new();
            opts.write(true).create_new(true).mode(0o600);
            let mut dst = to_dir.open_with(&tmp, &opts)?;
            io::copy(&mut src, &mut dst)?;
            dst.set_permissions(meta.permissions())?;
            dst.sync_all()?;
            to_dir.rename(&tmp, to_dir, to_name)
        })();
        if result.is_err() {
            let _ = to_dir.remove_file(&tmp);
        }
        result
    }

    /// Create a symlink at `link` pointing to `target`. The target must be relative and
    /// stay inside the root, checked lexically from the link's directory, so the link
    /// also stays harmless for the (unsandboxed) game process. To make that check
    /// meaningful the link's parent must be reached without symlinks, and `..` may only
    /// lead the target (`../../lib/x`, not `a/../..`): after a named component `..` would
    /// climb from wherever that component (maybe itself a link) really points.
    pub fn symlink(&self, target: &str, link: &RelPath) -> Result<(), SandboxError> {
        check_symlink_target(target, link)?;
        let (dir, name) = self.parent_of_nofollow(link, "replace")?;
        dir.symlink(target, name)
            .map_err(|e| SandboxError::from_io(link, e))
    }

    /// Hard-link `new` to the regular file `existing`. Symlinks and directories are
    /// refused: linking a planted symlink would just copy it, and a link to something
    /// the game user does not own is exactly what an attacker wants.
    pub fn hard_link(&self, existing: &RelPath, new: &RelPath) -> Result<(), SandboxError> {
        let (src_dir, src_name) = self.parent_of(existing, "link")?;
        let meta = src_dir
            .symlink_metadata(src_name)
            .map_err(|e| SandboxError::from_io(existing, e))?;
        if meta.is_symlink() {
            return Err(SandboxError::IsSymlink {
                path: existing.to_string(),
            });
        }
        if meta.is_dir() {
            return Err(SandboxError::IsDir {
                path: existing.to_string(),
            });
        }
        if !meta.is_file() {
            return Err(SandboxError::NotAFile {
                path: existing.to_string(),
            });
        }
        let (dst_dir, dst_name) = self.parent_of(new, "replace")?;
        src_dir
            .hard_link(src_name, &dst_dir, dst_name)
            .map_err(|e| SandboxError::from_io(new, e))
    }

    /// chmod without following a symlink at `rel` (refused with
    /// [`SandboxError::IsSymlink`]). Only the rwx bits are applied: setuid, setgid and
    /// sticky are never set through the sandbox, since the agent may be root and a
    /// setuid file in a game directory is a ready-made privilege escalation.
    pub fn set_permissions(&self, rel: &RelPath, mode: u32) -> Result<(), SandboxError> {
        use nix::sys::stat::{FchmodatFlags, Mode, fchmodat};
        let mode = Mode::from_bits_truncate((mode & 0o777) as nix::libc::mode_t);
        let result = if rel.is_root() {
            fchmodat(self.root.as_fd(), ".", mode, FchmodatFlags::FollowSymlink)
        } else {
            let (dir, name) = self.parent_of(rel, "chmod")?;
            // glibc implements NOFOLLOW with fchmodat2 or an O_PATH|O_NOFOLLOW handle and
            // /proc/self/fd, and fails with EOPNOTSUPP on a symlink: race-free.
            fchmodat(dir.as_fd(), name, mode, FchmodatFlags::NoFollowSymlink)
        };
        result.map_err(|errno| match errno {
            nix::errno::Errno::EOPNOTSUPP => SandboxError::IsSymlink {
                path: rel.to_string(),
            },
            e => SandboxError::from_io(rel, e.into()),
        })
    }

    /// chown without following a symlink at `rel` (a symlink's own owner changes).
    pub fn chown_nofollow(&self, rel: &RelPath, uid: u32, gid: u32) -> Result<(), SandboxError> {
        use nix::fcntl::AtFlags;
        use nix::unistd::{Gid, Uid, fchownat};
        let (uid, gid) = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
        let result = if rel.is_root() {
            fchownat(
                self.root.as_fd(),
                ".",
                uid,
                gid,
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
        } else {
            let (dir, name) = self.parent_of(rel, "chown")?;
            fchownat(dir.as_fd(), name, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW)
        };
        result.map_err(|e| SandboxError::from_io(rel, e.into()))
    }

    /// `chown_nofollow` on `rel` and everything below it. Symlinks get their own owner
    /// changed and are never followed or descended into. Blocking.
    pub fn chown_tree(&self, rel: &RelPath, uid: u32, gid: u32) -> Result<(), SandboxError> {
        let mut stack = vec![rel.clone()];
        while let Some(cur) = stack.pop() {
            self.chown_nofollow(&cur, uid, gid)?;
            if !self.symlink_metadata(&cur)?.is_dir() {
                continue;
            }
            let entries = if cur.is_root() {
                self.root.entries()
            } else {
                self.root.read_dir(cur.as_str())
            }
            .map_err(|e| SandboxError::from_io(&cur, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| SandboxError::from_io(&cur, e))?;
                let name = entry.file_name();
                let name = name.to_str().ok_or_else(|| SandboxError::InvalidPath {
                    path: format!("{cur}/{}", name.to_string_lossy()),
                    reason: "not UTF-8".into(),
                })?;
                stack.push(cur.join_str(name)?);
            }
        }
        Ok(())
    }
}

/// cap-std opened with `O_NONBLOCK` so a FIFO cannot hang the open; regular files ignore
/// the flag, but callers may hand the file to code that does not expect it.
fn clear_nonblock(file: &std::fs::File) -> io::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = fcntl(file, FcntlArg::F_GETFL).map_err(io::Error::from)?;
    let flags = OFlag::from_bits_truncate(flags);
    if flags.contains(OFlag::O_NONBLOCK) {
        fcntl(file, FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK)).map_err(io::Error::from)?;
    }
    Ok(())
}

/// The lexical rules of [`Sandbox::symlink`].
pub(crate) fn check_symlink_target(target: &str, link: &RelPath) -> Result<(), SandboxError> {
    let bad = |reason: &str| SandboxError::InvalidPath {
        path: target.to_owned(),
        reason: format!("symlink target for {link}: {reason}"),
    };
    if target.is_empty() {
        return Err(bad("empty"));
    }
    if target.contains('\0') {
        return Err(bad("contains a NUL byte"));
    }
    if target.len() > MAX_PATH_BYTES {
        return Err(bad("too long"));
    }
    if target.starts_with('/') {
        return Err(SandboxError::Escape {
            path: format!("{link} -> {target}"),
        });
    }
    let mut depth = link.depth().saturating_sub(1);
    let mut named = false;
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." if named => return Err(bad("`..` after a named component")),
            ".." => {
                if depth == 0 {
                    return Err(SandboxError::Escape {
                        path: format!("{link} -> {target}"),
                    });
                }
                depth -= 1;
            }
            _ => named = true,
        }
    }
    Ok(())
}
