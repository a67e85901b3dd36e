//! Unpacking downloaded archives into a server directory.
//!
//! Archives come from the internet (or from a template author), so every entry is
//! treated as hostile: names go through [`Sandbox::rel`] after a stricter pre-check,
//! every write goes through the [`Sandbox`] (so a symlink planted earlier, by the
//! archive or the game process, cannot carry a write out of the root), and sizes are
//! counted while streaming instead of trusting headers, which a bomb would lie in.

use crate::sandbox::{RelPath, Sandbox, SandboxError};
use std::cell::Cell;
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Below this many bytes the ratio guard does not apply: tiny, very compressible files
/// (a config full of spaces) are normal and cannot hurt.
const RATIO_FLOOR: u64 = 1024 * 1024;
/// Progress is reported at least this often while a big file streams.
const PROGRESS_EVERY: u64 = 1024 * 1024;
/// ... or after this many entries.
const PROGRESS_ENTRIES: u64 = 100;
/// Longest symlink target read from a zip entry's body.
const MAX_LINK_TARGET: u64 = 4096;

/// The archive kinds templates can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveFormat {
    Tar,
    TarGz,
    TarXz,
    TarZst,
    Zip,
}

impl ArchiveFormat {
    /// Guess the format from the first bytes of the file, falling back to its name
    /// (old tar files have no magic). `None` when neither tells.
    pub fn detect(path: &Path) -> Option<ArchiveFormat> {
        let mut head = Vec::with_capacity(512);
        if let Ok(file) = File::open(path) {
            let _ = file.take(512).read_to_end(&mut head);
        }
        ArchiveFormat::from_magic(&head).or_else(|| {
            path.file_name()
                .and_then(|n| n.to_str())
                .and_then(ArchiveFormat::from_file_name)
        })
    }

    /// The format whose magic bytes start `head` (which should hold the first 262 bytes
    /// or more, for tar's `ustar` at offset 257).
    pub fn from_magic(head: &[u8]) -> Option<ArchiveFormat> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(ArchiveFormat::TarGz)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(ArchiveFormat::TarZst)
        } else if head.starts_with(&[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) {
            Some(ArchiveFormat::TarXz)
        } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            Some(ArchiveFormat::Zip)
        } else if head.get(257..262) == Some(b"ustar") {
            Some(ArchiveFormat::Tar)
        } else {
            None
        }
    }

    /// The format a file name's extension suggests.
    pub fn from_file_name(name: &str) -> Option<ArchiveFormat> {
        let name = name.to_ascii_lowercase();
        let ends = |sfx: &[&str]| sfx.iter().any(|s| name.ends_with(s));
        if ends(&[".tar.gz", ".tgz"]) {
            Some(ArchiveFormat::TarGz)
        } else if ends(&[".tar.xz", ".txz"]) {
            Some(ArchiveFormat::TarXz)
        } else if ends(&[".tar.zst", ".tar.zstd", ".tzst"]) {
            Some(ArchiveFormat::TarZst)
        } else if ends(&[".zip"]) {
            Some(ArchiveFormat::Zip)
        } else if ends(&[".tar"]) {
            Some(ArchiveFormat::Tar)
        } else {
            None
        }
    }
}

/// Limits and behaviour of one extraction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Leading path components dropped from every entry (like `tar --strip-components`);
    /// entries with no more components are skipped.
    pub strip_components: u32,
    /// Stop when the written file contents pass this many bytes.
    pub max_total_bytes: u64,
    /// Stop after this many entries.
    pub max_entries: u64,
    /// Stop when the output grows past this multiple of the compressed size (per zip
    /// entry and for the whole archive). 0 turns the guard off.
    pub max_ratio: u64,
    /// Replace existing files and symlinks. When false, entries whose path exists are
    /// skipped so a reinstall keeps files the user changed.
    pub overwrite: bool,
}

impl Default for ExtractOptions {
    /// 32 GiB, a million entries, ratio 200, overwriting.
    fn default() -> ExtractOptions {
        ExtractOptions {
            strip_components: 0,
            max_total_bytes: 32 * 1024 * 1024 * 1024,
            max_entries: 1_000_000,
            max_ratio: 200,
            overwrite: true,
        }
    }
}

/// Reported while extracting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExtractProgress {
    /// Entries handled so far.
    pub entries: u64,
    /// File bytes written so far.
    pub bytes: u64,
}

/// What an extraction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExtractStats {
    pub entries: u64,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hard_links: u64,
    /// Devices, FIFOs, sockets, entries stripped to nothing and, without `overwrite`,
    /// entries whose path already existed.
    pub skipped: u64,
    /// File content bytes written.
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("opening the archive {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("reading the archive: {source}")]
    Read {
        #[source]
        source: io::Error,
    },
    #[error("the archive is damaged or not a {format:?} archive: {reason}")]
    Corrupt {
        format: ArchiveFormat,
        reason: String,
    },
    #[error("unsafe entry {entry:?} in the archive: {reason}")]
    UnsafeEntry { entry: String, reason: String },
    #[error("unsupported entry {entry:?} in the archive: {reason}")]
    Unsupported { entry: String, reason: String },
    #[error("the archive is too large: {reason}")]
    TooLarge { reason: String },
    #[error("entry {entry:?}: {reason}")]
    Conflict { entry: String, reason: String },
    #[error("extracting {entry:?}: {source}")]
    Sandbox {
        entry: String,
        #[source]
        source: SandboxError,
    },
    #[error("writing {entry:?}: {source}")]
    Write {
        entry: String,
        #[source]
        source: io::Error,
    },
    #[error("cancelled")]
    Cancelled,
}

/// Unpack `archive` into `dest` inside `sandbox`. Blocking: run it in `spawn_blocking`.
///
/// Entries are handled in archive order and the first unsafe or failing entry stops the
/// whole extraction with an error. Nothing is ever written outside the sandbox root, but
/// entries before the bad one may already have been written inside `dest`: extract into
/// a fresh directory if the caller needs all-or-nothing.
///
/// Entry names with `..`, a leading `/`, a backslash, a drive prefix (`C:`) or NUL are
/// [`ExtractError::UnsafeEntry`]. Symlinks must be relative and stay inside the root
/// (see [`Sandbox::symlink`]); tar hard links may only point at a regular file this same
/// extraction wrote. Devices and FIFOs are skipped. Only the rwx bits of modes are kept;
/// directory modes are applied at the end so a read-only directory can still be filled.
pub fn extract(
    archive: &Path,
    format: ArchiveFormat,
    sandbox: &Sandbox,
    dest: &RelPath,
    opts: &ExtractOptions,
    progress: &mut dyn FnMut(ExtractProgress),
) -> Result<ExtractStats, ExtractError> {
    let file = File::open(archive).map_err(|source| ExtractError::Open {
        path: archive.to_path_buf(),
        source,
    })?;
    extract_file(
        file,
        archive,
        format,
        sandbox,
        dest,
        opts,
        progress,
        &|| false,
    )
}

/// [`extract`] from an open file (an archive inside a server directory must be opened
/// through the sandbox, never by path), stopping with [`ExtractError::Cancelled`] at the
/// next entry once `cancelled` says so. `name` is for messages.
#[allow(clippy::too_many_arguments)]
pub fn extract_file(
    file: File,
    name: &Path,
    format: ArchiveFormat,
    sandbox: &Sandbox,
    dest: &RelPath,
    opts: &ExtractOptions,
    progress: &mut dyn FnMut(ExtractProgress),
    cancelled: &dyn Fn() -> bool,
) -> Result<ExtractStats, ExtractError> {
    let archive_len = file
        .metadata()
        .map_err(|source| ExtractError::Open {
            path: name.to_path_buf(),
            source,
        })?
        .len();
    sandbox
        .create_dir_all(dest)
        .map_err(|source| ExtractError::Sandbox {
            entry: dest.to_string(),
            source,
        })?;
    let mut ex = Extractor {
        sandbox,
        dest,
        opts,
        cancelled,
        archive_len,
        stats: ExtractStats::default(),
        progress,
        last_report: 0,
        last_report_entries: 0,
        made_dirs: HashSet::new(),
        files: HashSet::new(),
        dir_modes: Vec::new(),
    };
    match format {
        ArchiveFormat::Zip => extract_zip(file, &mut ex)?,
        ArchiveFormat::Tar => extract_tar(BufReader::new(file), format, &mut ex)?,
        ArchiveFormat::TarGz => extract_tar(
            flate2::read::MultiGzDecoder::new(BufReader::new(file)),
            format,
            &mut ex,
        )?,
        ArchiveFormat::TarXz => extract_tar(
            liblzma::read::XzDecoder::new_multi_decoder(BufReader::new(file)),
            format,
            &mut ex,
        )?,
        ArchiveFormat::TarZst => {
            let decoder =
                zstd::stream::read::Decoder::new(file).map_err(|e| ExtractError::Corrupt {
                    format,
                    reason: e.to_string(),
                })?;
            extract_tar(decoder, format, &mut ex)?
        }
    }
    ex.finish()
}

/// Counts the decompressed stream and cuts it off at the ratio limit, so even data the
/// tar reader consumes on its own (PAX headers, long names, padding) is bounded.
struct Meter {
    read: Cell<u64>,
    limit: u64,
    tripped: Cell<bool>,
}

struct Metered<R> {
    inner: R,
    meter: Rc<Meter>,
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.meter.read.get().saturating_add(n as u64);
        self.meter.read.set(total);
        if total > self.meter.limit {
            self.meter.tripped.set(true);
            return Err(io::Error::other("decompressed size limit reached"));
        }
        Ok(n)
    }
}

fn extract_tar<R: Read>(
    reader: R,
    format: ArchiveFormat,
    ex: &mut Extractor<'_>,
) -> Result<(), ExtractError> {
    let ratio = ex.opts.max_ratio;
    let meter = Rc::new(Meter {
        read: Cell::new(0),
        limit: ex.ratio_limit(ex.archive_len),
        tripped: Cell::new(false),
    });
    let mut archive = tar::Archive::new(Metered {
        inner: reader,
        meter: Rc::clone(&meter),
    });
    let read_err = |source: io::Error| {
        if meter.tripped.get() {
            ratio_error(ratio)
        } else if source.kind() == io::ErrorKind::InvalidData
            || source.kind() == io::ErrorKind::UnexpectedEof
            || source.kind() == io::ErrorKind::Other
        {
            ExtractError::Corrupt {
                format,
                reason: source.to_string(),
            }
        } else {
            ExtractError::Read { source }
        }
    };
    let entries = archive.entries().map_err(read_err)?;
    for entry in entries {
        let mut entry = entry.map_err(read_err)?;
        let raw_name = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw_name).into_owned();
        ex.count_entry()?;
        let kind = entry.header().entry_type();
        let mode = entry.header().mode().unwrap_or(0o644);
        use tar::EntryType as T;
        match kind {
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => {
                // Consumed by the reader itself; a stray one carries nothing to write.
                ex.stats.skipped += 1;
                continue;
            }
            T::Char | T::Block | T::Fifo => {
                ex.stats.skipped += 1;
                continue;
            }
            _ => {}
        }
        let Some(target) = ex.target(&raw_name)? else {
            ex.stats.skipped += 1;
            continue;
        };
        // Pre-POSIX tars mark directories only by a trailing slash.
        let old_style_dir = kind == T::Regular && raw_name.ends_with(b"/");
        match kind {
            T::Directory => ex.dir(&target, &shown, mode)?,
            _ if old_style_dir => ex.dir(&target, &shown, mode)?,
            T::Regular | T::Continuous | T::GNUSparse => {
                let r = ex.file(&target, &shown, mode, &mut entry, None);
                if meter.tripped.get() {
                    return Err(ratio_error(ratio));
                }
                r?
            }
            T::Symlink => {
                let link = entry
                    .link_name_bytes()
                    .map(|l| l.into_owned())
                    .unwrap_or_default();
                ex.symlink(&target, &shown, &link)?
            }
            T::Link => {
                let link = entry
                    .link_name_bytes()
                    .map(|l| l.into_owned())
                    .unwrap_or_default();
                ex.hard_link(&target, &shown, &link)?
            }
            other => {
                return Err(ExtractError::Unsupported {
                    entry: shown,
                    reason: format!("tar entry type {other:?}"),
                });
            }
        }
        ex.report(false);
    }
    if meter.tripped.get() {
        return Err(ratio_error(ratio));
    }
    Ok(())
}

fn ratio_error(ratio: u64) -> ExtractError {
    ExtractError::TooLarge {
        reason: format!("it decompresses to more than {ratio} times its compressed size"),
    }
}

fn extract_zip(file: File, ex: &mut Extractor<'_>) -> Result<(), ExtractError> {
    let format = ArchiveFormat::Zip;
    let corrupt = |e: zip::result::ZipError| ExtractError::Corrupt {
        format,
        reason: e.to_string(),
    };
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(corrupt)?;
    if zip.len() as u64 > ex.opts.max_entries {
        return Err(ExtractError::TooLarge {
            reason: format!(
                "{} entries, more than the limit of {}",
                zip.len(),
                ex.opts.max_entries
            ),
        });
    }
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(corrupt)?;
        let name = entry.name().map_err(corrupt)?.into_owned();
        ex.count_entry()?;
        if entry.encrypted() {
            return Err(ExtractError::Unsupported {
                entry: name,
                reason: "encrypted".to_owned(),
            });
        }
        let unix = entry.unix_mode();
        let file_type = unix.map(|m| m & 0o170000).unwrap_or(0);
        // FIFO, character device, block device, socket.
        if matches!(file_type, 0o010000 | 0o020000 | 0o060000 | 0o140000) {
            ex.stats.skipped += 1;
            continue;
        }
        let Some(target) = ex.target(name.as_bytes())? else {
            ex.stats.skipped += 1;
            continue;
        };
        if entry.is_dir() {
            ex.dir(&target, &name, unix.unwrap_or(0o755))?;
        } else if entry.is_symlink() {
            let mut link = Vec::new();
            (&mut entry)
                .take(MAX_LINK_TARGET + 1)
                .read_to_end(&mut link)
                .map_err(|e| ExtractError::Corrupt {
                    format,
                    reason: e.to_string(),
                })?;
            if link.len() as u64 > MAX_LINK_TARGET {
                return Err(ExtractError::UnsafeEntry {
                    entry: name,
                    reason: "symlink target too long".to_owned(),
                });
            }
            ex.symlink(&target, &name, &link)?;
        } else {
            let per_entry = ex.ratio_limit(entry.compressed_size());
            ex.file(
                &target,
                &name,
                unix.unwrap_or(0o644),
                &mut entry,
                Some(per_entry),
            )?;
        }
        ex.report(false);
    }
    Ok(())
}

/// State shared by the tar and zip walkers.
struct Extractor<'a> {
    sandbox: &'a Sandbox,
    dest: &'a RelPath,
    opts: &'a ExtractOptions,
    cancelled: &'a dyn Fn() -> bool,
    archive_len: u64,
    stats: ExtractStats,
    progress: &'a mut dyn FnMut(ExtractProgress),
    last_report: u64,
    last_report_entries: u64,
    /// Directories known to exist, to avoid a `mkdir -p` per file.
    made_dirs: HashSet<RelPath>,
    /// Regular files written by this extraction: the only allowed hard link targets.
    files: HashSet<RelPath>,
    dir_modes: Vec<(RelPath, u32)>,
}

impl Extractor<'_> {
    fn ratio_limit(&self, compressed: u64) -> u64 {
        if self.opts.max_ratio == 0 {
            return u64::MAX;
        }
        compressed
            .saturating_mul(self.opts.max_ratio)
            .max(RATIO_FLOOR)
    }

    fn count_entry(&mut self) -> Result<(), ExtractError> {
        if (self.cancelled)() {
            return Err(ExtractError::Cancelled);
        }
        self.stats.entries += 1;
        if self.stats.entries > self.opts.max_entries {
            return Err(ExtractError::TooLarge {
                reason: format!("more than {} entries", self.opts.max_entries),
            });
        }
        Ok(())
    }

    fn report(&mut self, force: bool) {
        if force
            || self.stats.bytes - self.last_report >= PROGRESS_EVERY
            || self.stats.entries - self.last_report_entries >= PROGRESS_ENTRIES
        {
            self.last_report = self.stats.bytes;
            self.last_report_entries = self.stats.entries;
            (self.progress)(ExtractProgress {
                entries: self.stats.entries,
                bytes: self.stats.bytes,
            });
        }
    }

    /// The sandbox path an entry lands at, or `None` if stripping left nothing.
    fn target(&self, raw: &[u8]) -> Result<Option<RelPath>, ExtractError> {
        let Some(rel) = entry_rel(raw, self.opts.strip_components)? else {
            return Ok(None);
        };
        let shown = String::from_utf8_lossy(raw).into_owned();
        self.dest
            .join(&rel)
            .map(Some)
            .map_err(|e| ExtractError::UnsafeEntry {
                entry: shown,
                reason: e.to_string(),
            })
    }

    fn sandbox_err(&self, entry: &str, source: SandboxError) -> ExtractError {
        match source {
            SandboxError::Escape { .. } | SandboxError::InvalidPath { .. } => {
                ExtractError::UnsafeEntry {
                    entry: entry.to_owned(),
                    reason: source.to_string(),
                }
            }
            source => ExtractError::Sandbox {
                entry: entry.to_owned(),
                source,
            },
        }
    }

    fn ensure_dir(&mut self, dir: &RelPath, entry: &str) -> Result<(), ExtractError> {
        if dir.is_root() || self.made_dirs.contains(dir) {
            return Ok(());
        }
        self.sandbox
            .create_dir_all(dir)
            .map_err(|e| self.sandbox_err(entry, e))?;
        let mut cur = Some(dir.clone());
        while let Some(d) = cur {
            if d.is_root() || !self.made_dirs.insert(d.clone()) {
                break;
            }
            cur = d.parent();
        }
        Ok(())
    }

    fn ensure_parent(&mut self, target: &RelPath, entry: &str) -> Result<(), ExtractError> {
        match target.parent() {
            Some(p) => self.ensure_dir(&p, entry),
            None => Ok(()),
        }
    }

    /// Make room for a non-directory at `target`: `Ok(false)` means skip the entry.
    fn clear_for(&mut self, target: &RelPath, entry: &str) -> Result<bool, ExtractError> {
        match self.sandbox.symlink_metadata(target) {
            Err(SandboxError::NotFound { .. }) => Ok(true),
            Err(e) => Err(self.sandbox_err(entry, e)),
            Ok(m) if m.is_dir() => Err(ExtractError::Conflict {
                entry: entry.to_owned(),
                reason: "a directory is in the way".to_owned(),
            }),
            Ok(_) if !self.opts.overwrite => Ok(false),
            Ok(_) => {
                self.files.remove(target);
                self.sandbox
                    .remove_file(target)
                    .map_err(|e| self.sandbox_err(entry, e))?;
                Ok(true)
            }
        }
    }

    fn dir(&mut self, target: &RelPath, entry: &str, mode: u32) -> Result<(), ExtractError> {
        self.ensure_dir(target, entry)?;
        if target != self.dest {
            self.dir_modes.push((target.clone(), mode & 0o777));
        }
        self.stats.dirs += 1;
        Ok(())
    }

    fn file(
        &mut self,
        target: &RelPath,
        entry: &str,
        mode: u32,
        reader: &mut dyn Read,
        entry_limit: Option<u64>,
    ) -> Result<(), ExtractError> {
        self.ensure_parent(target, entry)?;
        if !self.clear_for(target, entry)? {
            self.stats.skipped += 1;
            return Ok(());
        }
        let mut out = self
            .sandbox
            .create_new_file(target)
            .map_err(|e| self.sandbox_err(entry, e))?;
        let total_limit = self.ratio_limit(self.archive_len);
        let mut written: u64 = 0;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(ExtractError::Read { source }),
            };
            written += n as u64;
            self.stats.bytes += n as u64;
            if self.stats.bytes > self.opts.max_total_bytes {
                return Err(ExtractError::TooLarge {
                    reason: format!("more than {} bytes uncompressed", self.opts.max_total_bytes),
                });
            }
            if entry_limit.is_some_and(|l| written > l) || self.stats.bytes > total_limit {
                return Err(ratio_error(self.opts.max_ratio));
            }
            out.write_all(&buf[..n])
                .map_err(|source| ExtractError::Write {
                    entry: entry.to_owned(),
                    source,
                })?;
            self.report(false);
        }
        out.set_permissions(std::fs::Permissions::from_mode(mode & 0o777))
            .map_err(|source| ExtractError::Write {
                entry: entry.to_owned(),
                source,
            })?;
        self.files.insert(target.clone());
        self.stats.files += 1;
        Ok(())
    }

    fn symlink(&mut self, target: &RelPath, entry: &str, link: &[u8]) -> Result<(), ExtractError> {
        let unsafe_entry = |reason: &str| ExtractError::UnsafeEntry {
            entry: entry.to_owned(),
            reason: reason.to_owned(),
        };
        let link =
            std::str::from_utf8(link).map_err(|_| unsafe_entry("symlink target is not UTF-8"))?;
        if link.contains('\\') {
            return Err(unsafe_entry("symlink target contains a backslash"));
        }
        self.ensure_parent(target, entry)?;
        if !self.clear_for(target, entry)? {
            self.stats.skipped += 1;
            return Ok(());
        }
        self.sandbox.symlink(link, target).map_err(|e| match e {
            SandboxError::Escape { .. } | SandboxError::InvalidPath { .. } => {
                ExtractError::UnsafeEntry {
                    entry: entry.to_owned(),
                    reason: e.to_string(),
                }
            }
            e => self.sandbox_err(entry, e),
        })?;
        self.stats.symlinks += 1;
        Ok(())
    }

    fn hard_link(
        &mut self,
        target: &RelPath,
        entry: &str,
        link: &[u8],
    ) -> Result<(), ExtractError> {
        let shown = String::from_utf8_lossy(link).into_owned();
        let existing = entry_rel(link, self.opts.strip_components)
            .map_err(|e| match e {
                ExtractError::UnsafeEntry { reason, .. } => ExtractError::UnsafeEntry {
                    entry: entry.to_owned(),
                    reason: format!("hard link to {shown:?}: {reason}"),
                },
                e => e,
            })?
            .map(|rel| self.dest.join(&rel))
            .transpose()
            .map_err(|e| self.sandbox_err(entry, e))?;
        let Some(existing) = existing.filter(|e| self.files.contains(e)) else {
            return Err(ExtractError::UnsafeEntry {
                entry: entry.to_owned(),
                reason: format!("hard link to {shown:?}, which this archive did not extract"),
            });
        };
        self.ensure_parent(target, entry)?;
        if !self.clear_for(target, entry)? {
            self.stats.skipped += 1;
            return Ok(());
        }
        self.sandbox
            .hard_link(&existing, target)
            .map_err(|e| self.sandbox_err(entry, e))?;
        self.files.insert(target.clone());
        self.stats.hard_links += 1;
        Ok(())
    }

    /// Apply directory modes deepest first, so a parent losing its search bit cannot
    /// block its children's chmod.
    fn finish(mut self) -> Result<ExtractStats, ExtractError> {
        let mut modes = std::mem::take(&mut self.dir_modes);
        modes.sort_by_key(|(p, _)| std::cmp::Reverse(p.depth()));
        for (path, mode) in modes {
            self.sandbox
                .set_permissions(&path, mode)
                .map_err(|e| self.sandbox_err(path.as_str(), e))?;
        }
        self.report(true);
        Ok(self.stats)
    }
}

/// Check an entry name and strip its leading components. Stricter than
/// [`Sandbox::rel`]: the name is checked *before* stripping (so `../x/evil` cannot lose
/// its `..` to `strip_components`), and Windows-style names are refused because other
/// tools extracting the same archive would treat them as paths.
fn entry_rel(raw: &[u8], strip: u32) -> Result<Option<RelPath>, ExtractError> {
    let shown = String::from_utf8_lossy(raw).into_owned();
    let unsafe_entry = |reason: &str| ExtractError::UnsafeEntry {
        entry: shown.clone(),
        reason: reason.to_owned(),
    };
    if raw.contains(&0) {
        return Err(unsafe_entry("contains a NUL byte"));
    }
    let name = std::str::from_utf8(raw).map_err(|_| unsafe_entry("name is not UTF-8"))?;
    if name.starts_with('/') {
        return Err(unsafe_entry("absolute path"));
    }
    if name.contains('\\') {
        return Err(unsafe_entry(
            "contains a backslash (a Windows path separator)",
        ));
    }
    let b = name.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Err(unsafe_entry("Windows drive prefix"));
    }
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(unsafe_entry("`..` component")),
            p => parts.push(p),
        }
    }
    let strip = usize::try_from(strip).unwrap_or(usize::MAX);
    if parts.len() <= strip {
        return Ok(None);
    }
    let rest = parts[strip..].join("/");
    RelPath::new(&rest)
        .map(Some)
        .map_err(|e| unsafe_entry(&e.to_string()))
}
