//! Compress and decompress inside a server directory, and the tar walk behind
//! directory downloads.
//!
//! Archives are written to a hidden temp file charged to the quota as it grows and
//! renamed into place when complete. Extraction goes through `install/extract.rs` into
//! a staging directory outside the server directory, is checked against the deny list
//! there, and only then is merged in: a bad or oversized archive leaves nothing.

use super::server::{ServerFiles, invalid, io_err};
use super::usage::Usage;
use super::{map_dir_err, map_err};
use crate::install::extract::{ArchiveFormat, ExtractError, ExtractOptions, extract_file};
use crate::sandbox::{NoFollowDir, RelPath, Sandbox, SandboxError};
use cap_fs_ext::OsMetadataExt;
use cap_std::fs::Metadata;
use garrison_proto::{ArchiveKind, FileAction, FileEntry, FileError, FileErrorKind, FileSource};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// Reads exactly `len` bytes: a file that shrank while being archived is padded with
/// zeros, one that grew is cut, so the entry matches the size its header declared.
struct Exact<R> {
    inner: io::Take<R>,
    remaining: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = match self.inner.read(&mut buf[..want])? {
            0 => {
                buf[..want].fill(0);
                want
            }
            n => n,
        };
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// What a tree walk writes entries into.
trait Sink {
    fn dir(&mut self, name: &str, m: &Metadata) -> io::Result<()>;
    fn file(&mut self, name: &str, m: &Metadata, data: &mut dyn Read, len: u64) -> io::Result<()>;
    /// Zip has no portable symlinks: they are left out there.
    fn symlink(&mut self, name: &str, m: &Metadata, target: &str) -> io::Result<()>;
}

fn tar_header(m: &Metadata, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(m.mode() & 0o7777);
    h.set_mtime(u64::try_from(m.mtime()).unwrap_or(0));
    h
}

impl<W: Write> Sink for tar::Builder<W> {
    fn dir(&mut self, name: &str, m: &Metadata) -> io::Result<()> {
        let mut h = tar_header(m, tar::EntryType::Directory, 0);
        self.append_data(&mut h, format!("{name}/"), io::empty())
    }

    fn file(&mut self, name: &str, m: &Metadata, data: &mut dyn Read, len: u64) -> io::Result<()> {
        let mut h = tar_header(m, tar::EntryType::Regular, len);
        self.append_data(&mut h, name, data)
    }

    fn symlink(&mut self, name: &str, m: &Metadata, target: &str) -> io::Result<()> {
        let mut h = tar_header(m, tar::EntryType::Symlink, 0);
        self.append_link(&mut h, name, target)
    }
}

struct ZipSink<W: Write + Seek> {
    zip: zip::ZipWriter<W>,
}

fn zip_io(e: zip::result::ZipError) -> io::Error {
    match e {
        zip::result::ZipError::Io(e) => e,
        e => io::Error::other(e.to_string()),
    }
}

impl<W: Write + Seek> Sink for ZipSink<W> {
    fn dir(&mut self, name: &str, m: &Metadata) -> io::Result<()> {
        let opts = zip::write::SimpleFileOptions::default().unix_permissions(m.mode() & 0o777);
        self.zip.add_directory(name, opts).map_err(zip_io)
    }

    fn file(&mut self, name: &str, m: &Metadata, data: &mut dyn Read, len: u64) -> io::Result<()> {
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(m.mode() & 0o777)
            .large_file(len >= u64::from(u32::MAX));
        self.zip.start_file(name, opts).map_err(zip_io)?;
        io::copy(data, &mut self.zip)?;
        Ok(())
    }

    fn symlink(&mut self, _name: &str, _m: &Metadata, _target: &str) -> io::Result<()> {
        Ok(())
    }
}

/// The archive file being written: every byte past its current end is charged to the
/// quota first, so a compress stops at the limit instead of filling the disk.
struct QuotaFile<'a> {
    file: File,
    usage: &'a Usage,
    pos: u64,
    len: u64,
    charged: u64,
    refused: Option<FileError>,
}

impl Write for QuotaFile<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let end = self.pos.saturating_add(data.len() as u64);
        let growth = end.saturating_sub(self.len);
        if let Err(e) = self.usage.charge(growth) {
            self.refused = Some(e);
            return Err(io::Error::other("quota exceeded"));
        }
        self.charged += growth;
        let n = match self.file.write(data) {
            Ok(n) => n,
            Err(e) => {
                self.usage.release(growth);
                self.charged -= growth;
                return Err(e);
            }
        };
        // A short write charged more than it grew.
        let unused = growth.saturating_sub((self.pos + n as u64).saturating_sub(self.len));
        self.usage.release(unused);
        self.charged -= unused;
        self.pos += n as u64;
        self.len = self.len.max(self.pos);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for QuotaFile<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = self.file.seek(to)?;
        Ok(self.pos)
    }
}

fn stopped(rel: &RelPath) -> FileError {
    FileError::new(
        FileErrorKind::Io,
        Some(rel.as_str()),
        "the node is shutting down",
    )
}

/// Add `parent/name` (at `rel`) as `arc` and, for a directory, everything in it.
/// Denied and temp entries, hard-linked files, FIFOs and devices are left out; a
/// symlink is stored as a link (never followed).
fn add_entry(
    files: &ServerFiles,
    sink: &mut dyn Sink,
    parent: &NoFollowDir,
    name: &str,
    rel: &RelPath,
    arc: &str,
) -> Result<(), FileError> {
    if files.ctx.stopping() {
        return Err(stopped(rel));
    }
    if files.deny_hides_leaf(rel) {
        return Ok(());
    }
    let m = match parent.lstat(name) {
        Ok(m) => m,
        // Deleted by the game while we walk: nothing to add.
        Err(SandboxError::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(map_err(e)),
    };
    let wrap = |e: io::Error| io_err(rel, e);
    if m.is_symlink() {
        let target = parent.read_link(name).map_err(map_err)?;
        return sink.symlink(arc, &m, &target).map_err(wrap);
    }
    if m.is_dir() {
        let sub = match parent.open_dir(name) {
            Ok(d) => d,
            Err(
                SandboxError::IsSymlink { .. }
                | SandboxError::NotADir { .. }
                | SandboxError::NotFound { .. },
            ) => {
                return Ok(());
            }
            Err(e) => return Err(map_dir_err(e)),
        };
        sink.dir(arc, &m).map_err(wrap)?;
        return add_children(files, sink, &sub, rel, arc);
    }
    if !m.is_file() {
        return Ok(());
    }
    let file = match parent.open_read(name) {
        Ok(f) => f,
        Err(
            SandboxError::Escape { .. }
            | SandboxError::NotAFile { .. }
            | SandboxError::IsSymlink { .. }
            | SandboxError::IsDir { .. }
            | SandboxError::NotFound { .. },
        ) => return Ok(()),
        Err(e) => return Err(map_err(e)),
    };
    let len = file.metadata().map_err(wrap)?.len();
    let mut data = Exact {
        inner: file.take(len),
        remaining: len,
    };
    sink.file(arc, &m, &mut data, len).map_err(wrap)
}

fn add_children(
    files: &ServerFiles,
    sink: &mut dyn Sink,
    dir: &NoFollowDir,
    rel: &RelPath,
    arc: &str,
) -> Result<(), FileError> {
    let mut names = dir.names().map_err(map_err)?;
    // Sorted so an archive of the same tree is the same archive.
    names.sort_unstable();
    for n in names {
        let Ok(child) = rel.join_str(&n) else {
            continue;
        };
        let child_arc = if arc.is_empty() {
            n.clone()
        } else {
            format!("{arc}/{n}")
        };
        add_entry(files, sink, dir, &n, &child, &child_arc)?;
    }
    Ok(())
}

/// The directory `dir` (at `rel`) as tar entries under `prefix` (`""`: no prefix).
pub(crate) fn tar_dir<W: Write>(
    files: &ServerFiles,
    dir: &NoFollowDir,
    rel: &RelPath,
    prefix: &str,
    builder: &mut tar::Builder<W>,
) -> Result<(), FileError> {
    if !prefix.is_empty() {
        let m = dir.metadata().map_err(map_err)?;
        Sink::dir(builder, prefix, &m).map_err(|e| io_err(rel, e))?;
    }
    add_children(files, builder, dir, rel, prefix)
}

fn bad_archive(rel: &RelPath, message: String) -> FileError {
    FileError::new(FileErrorKind::BadArchive, Some(rel.as_str()), message)
}

impl ServerFiles {
    pub(crate) fn compress(
        &self,
        paths: &[String],
        destination: &str,
        format: ArchiveKind,
    ) -> Result<FileEntry, FileError> {
        if paths.is_empty() {
            return Err(invalid("", "nothing to compress"));
        }
        let dest = self.parse_new(destination)?;
        self.allowed(&dest)?;
        let mut items = Vec::with_capacity(paths.len());
        for p in paths {
            let rel = self.parse(p)?;
            self.allowed(&rel)?;
            items.push(rel);
        }
        let (dest_dir, dest_name) = self.parent(&dest)?;
        if dest_dir.lstat_opt(dest_name).map_err(map_err)?.is_some() {
            return Err(FileError::new(
                FileErrorKind::AlreadyExists,
                Some(dest.as_str()),
                format!("{dest} already exists"),
            ));
        }
        let (file, tmp) = dest_dir.create_temp(0o644).map_err(map_err)?;
        let mut out = QuotaFile {
            file,
            usage: &self.usage,
            pos: 0,
            len: 0,
            charged: 0,
            refused: None,
        };
        let result = self.write_archive(&items, format, &mut out);
        let result = result
            .and_then(|()| out.file.sync_all().map_err(|e| io_err(&dest, e)))
            .and_then(|()| {
                dest_dir
                    .rename_noreplace(&tmp, &dest_dir, dest_name)
                    .map_err(map_err)
            });
        if let Err(e) = result {
            let _ = dest_dir.remove_file(&tmp);
            self.usage.release(out.charged);
            return Err(out.refused.take().unwrap_or(e));
        }
        self.emit(FileSource::Api, FileAction::Created, &dest, None);
        self.stat_rel(&dest)
    }

    fn write_archive(
        &self,
        items: &[RelPath],
        format: ArchiveKind,
        out: &mut QuotaFile<'_>,
    ) -> Result<(), FileError> {
        let at = |e: io::Error| {
            FileError::new(FileErrorKind::Io, None, format!("writing the archive: {e}"))
        };
        let add_all = |sink: &mut dyn Sink| -> Result<(), FileError> {
            for rel in items {
                if rel.is_root() {
                    let dir = self.dir(rel)?;
                    add_children(self, sink, &dir, rel, "")?;
                } else {
                    let (dir, name) = self.parent(rel)?;
                    add_entry(self, sink, &dir, name, rel, name)?;
                }
            }
            Ok(())
        };
        match format {
            ArchiveKind::Zip => {
                let mut sink = ZipSink {
                    zip: zip::ZipWriter::new(&mut *out),
                };
                add_all(&mut sink)?;
                sink.zip.finish().map_err(|e| at(zip_io(e)))?;
            }
            ArchiveKind::Tar => {
                let mut b = tar::Builder::new(&mut *out);
                add_all(&mut b)?;
                b.into_inner().map_err(at)?;
            }
            ArchiveKind::TarGz => {
                let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
                    &mut *out,
                    flate2::Compression::default(),
                ));
                add_all(&mut b)?;
                b.into_inner().map_err(at)?.finish().map_err(at)?;
            }
            ArchiveKind::TarXz => {
                let mut b = tar::Builder::new(liblzma::write::XzEncoder::new(&mut *out, 6));
                add_all(&mut b)?;
                b.into_inner().map_err(at)?.finish().map_err(at)?;
            }
            ArchiveKind::TarZst => {
                let enc = zstd::stream::write::Encoder::new(&mut *out, 3).map_err(at)?;
                let mut b = tar::Builder::new(enc);
                add_all(&mut b)?;
                b.into_inner().map_err(at)?.finish().map_err(at)?;
            }
        }
        Ok(())
    }

    /// Unpack `archive` into the directory `destination` (created when missing).
    pub(crate) fn decompress(&self, archive: &str, destination: &str) -> Result<(), FileError> {
        let arc_rel = self.parse(archive)?;
        self.allowed(&arc_rel)?;
        let dest = self.parse_mut(destination)?;
        self.allowed(&dest)?;
        let mut file = self.open_read_rel(&arc_rel)?;
        let mut head = Vec::with_capacity(512);
        (&mut file)
            .take(512)
            .read_to_end(&mut head)
            .map_err(|e| io_err(&arc_rel, e))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| io_err(&arc_rel, e))?;
        let format = ArchiveFormat::from_magic(&head)
            .or_else(|| arc_rel.file_name().and_then(ArchiveFormat::from_file_name))
            .ok_or_else(|| {
                bad_archive(
                    &arc_rel,
                    format!("{arc_rel} is not an archive this node can unpack"),
                )
            })?;

        let staging_root = super::hub::staging_dir(&self.ctx.config, &self.id);
        let staging_path = staging_root.join(format!("extract-{}", super::sha_id()));
        std::fs::create_dir(&staging_path)
            .map_err(|e| FileError::new(FileErrorKind::Io, None, format!("staging: {e}")))?;
        let result = self.extract_via(&staging_path, file, &arc_rel, format, &dest);
        // Leftovers of a failed or partial merge.
        let _ = std::fs::remove_dir_all(&staging_path);
        result
    }

    fn extract_via(
        &self,
        staging_path: &std::path::Path,
        file: File,
        arc_rel: &RelPath,
        format: ArchiveFormat,
        dest: &RelPath,
    ) -> Result<(), FileError> {
        let staging = Sandbox::open(staging_path).map_err(map_err)?;
        let remaining = self.usage.remaining();
        let cap = self.ctx.config.install.max_extract_bytes;
        let opts = ExtractOptions {
            max_total_bytes: cap.min(remaining),
            ..ExtractOptions::default()
        };
        let quota_bound = remaining < cap;
        let name = std::path::PathBuf::from(arc_rel.as_str());
        let stats = extract_file(
            file,
            &name,
            format,
            &staging,
            &RelPath::root(),
            &opts,
            &mut |_| {},
            &|| self.ctx.stopping(),
        )
        .map_err(|e| match e {
            // The byte limit is the quota when the quota is the smaller of the two.
            ExtractError::TooLarge { reason }
                if quota_bound && reason.contains("bytes uncompressed") =>
            {
                let u = self.usage.get();
                FileError::new(
                    FileErrorKind::QuotaExceeded,
                    Some(arc_rel.as_str()),
                    format!(
                        "quota exceeded: {} limit, {} used",
                        super::usage::human(u.limit_bytes.unwrap_or(0)),
                        super::usage::human(u.used_bytes)
                    ),
                )
            }
            ExtractError::Open { .. } | ExtractError::Read { .. } | ExtractError::Write { .. } => {
                FileError::new(FileErrorKind::Io, Some(arc_rel.as_str()), e.to_string())
            }
            ExtractError::Sandbox { source, .. } => match source {
                SandboxError::Io { .. } => FileError::new(
                    FileErrorKind::Io,
                    Some(arc_rel.as_str()),
                    source.to_string(),
                ),
                other => bad_archive(arc_rel, other.to_string()),
            },
            ExtractError::Cancelled => stopped(arc_rel),
            e => bad_archive(arc_rel, e.to_string()),
        })?;
        let staged = staging.dir_nofollow(&RelPath::root()).map_err(map_err)?;
        self.check_staged(&staged, &RelPath::root(), dest)?;
        self.usage.charge(stats.bytes)?;
        let dest_dir = match self.make_dirs(dest) {
            Ok(d) => d,
            Err(e) => {
                self.usage.release(stats.bytes);
                return Err(e);
            }
        };
        let mut replaced = 0u64;
        let merged = self.merge(&staged, &dest_dir, dest, &mut replaced);
        self.usage.release(replaced);
        if merged.is_err() {
            // Part of it went in: the figure is no longer exact.
            self.usage.mark_stale();
        }
        self.emit(FileSource::Api, FileAction::Modified, dest, None);
        merged
    }

    /// Every staged entry must be allowed where it will land, with a name users could
    /// have created.
    fn check_staged(
        &self,
        dir: &NoFollowDir,
        sub: &RelPath,
        dest: &RelPath,
    ) -> Result<(), FileError> {
        for (n, m) in dir.entries().map_err(map_err)? {
            let inner = sub.join_str(&n).map_err(map_err)?;
            let at = dest.join(&inner).map_err(map_err)?;
            if n.contains(['\n', '\r']) {
                return Err(bad_archive(
                    &at,
                    format!("entry {inner:?} has a newline in its name"),
                ));
            }
            if self.deny_hides(&at) {
                return Err(FileError::new(
                    FileErrorKind::Denied,
                    Some(at.as_str()),
                    format!("the archive would write {at}, which is protected"),
                ));
            }
            if m.is_dir() {
                let d = dir.open_dir(&n).map_err(map_dir_err)?;
                self.check_staged(&d, &inner, dest)?;
            }
        }
        Ok(())
    }

    /// `mkdir -p` without following any symlink.
    pub(crate) fn make_dirs(&self, rel: &RelPath) -> Result<NoFollowDir, FileError> {
        let mut cur = self.dir(&RelPath::root())?;
        for part in rel.components() {
            cur = match cur.open_dir(part) {
                Ok(d) => d,
                Err(SandboxError::NotFound { .. }) => {
                    cur.create_dir(part).map_err(map_err)?;
                    cur.open_dir(part).map_err(map_dir_err)?
                }
                Err(e) => return Err(map_dir_err(e)),
            };
        }
        Ok(cur)
    }

    /// Move staged entries into `dst`: new names are renamed in, directories on both
    /// sides are merged, files replace files.
    fn merge(
        &self,
        src: &NoFollowDir,
        dst: &NoFollowDir,
        dst_rel: &RelPath,
        replaced: &mut u64,
    ) -> Result<(), FileError> {
        for (n, m) in src.entries().map_err(map_err)? {
            let at = dst_rel.join_str(&n).map_err(map_err)?;
            let existing = dst.lstat_opt(&n).map_err(map_err)?;
            match existing {
                None => self.adopt_tree(src, &n, dst, &at)?,
                Some(e) if e.is_dir() && m.is_dir() => {
                    let s = src.open_dir(&n).map_err(map_dir_err)?;
                    let d = dst.open_dir(&n).map_err(map_dir_err)?;
                    self.merge(&s, &d, &at, replaced)?;
                }
                Some(e) if e.is_dir() || m.is_dir() => {
                    return Err(bad_archive(
                        &at,
                        format!("{at}: a file and a directory of the same name"),
                    ));
                }
                Some(e) => {
                    dst.adopt(src.as_dir(), &n, &n, true).map_err(map_err)?;
                    if e.is_file() && e.nlink() <= 1 {
                        *replaced += e.len();
                    }
                }
            }
        }
        Ok(())
    }

    /// Rename a staged entry in; across filesystems, copy it (already charged).
    fn adopt_tree(
        &self,
        src: &NoFollowDir,
        name: &str,
        dst: &NoFollowDir,
        at: &RelPath,
    ) -> Result<(), FileError> {
        match dst.adopt(src.as_dir(), name, name, false) {
            Ok(()) => Ok(()),
            Err(SandboxError::Io { source, .. })
                if source.raw_os_error() == Some(nix::libc::EXDEV) =>
            {
                let m = src.lstat(name).map_err(map_err)?;
                if m.is_symlink() {
                    let target = src.read_link(name).map_err(map_err)?;
                    return dst.symlink(&target, name).map_err(map_err);
                }
                dst.create_dir(name).map_err(map_err)?;
                let s = src.open_dir(name).map_err(map_dir_err)?;
                let d = dst.open_dir(name).map_err(map_dir_err)?;
                for (n, _) in s.entries().map_err(map_err)? {
                    let inner = at.join_str(&n).map_err(map_err)?;
                    self.adopt_tree(&s, &n, &d, &inner)?;
                }
                d.chmod_self(m.mode()).map_err(map_err)
            }
            Err(e) => Err(map_err(e)),
        }
    }
}
