//! SFTP attributes and `ls -l` style long names for file entries.

use garrison_proto::{FileEntry, FileKind};
use russh_sftp::protocol::{File, FileAttributes};

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

fn type_bits(kind: FileKind) -> u32 {
    match kind {
        FileKind::File => S_IFREG,
        FileKind::Dir => S_IFDIR,
        FileKind::Symlink => S_IFLNK,
        FileKind::Other => 0,
    }
}

fn secs(ms: i64) -> u32 {
    u32::try_from((ms / 1000).max(0)).unwrap_or(u32::MAX)
}

pub fn attrs(e: &FileEntry) -> FileAttributes {
    let mtime = secs(e.modified);
    FileAttributes {
        size: Some(e.size),
        permissions: Some(type_bits(e.kind) | (e.mode & 0o7777)),
        atime: Some(mtime),
        mtime: Some(mtime),
        ..FileAttributes::empty()
    }
}

pub fn attrs_of_metadata(m: &std::fs::Metadata) -> FileAttributes {
    use std::os::unix::fs::MetadataExt;
    let mtime = u32::try_from(m.mtime().max(0)).unwrap_or(u32::MAX);
    let atime = u32::try_from(m.atime().max(0)).unwrap_or(u32::MAX);
    FileAttributes {
        size: Some(m.len()),
        permissions: Some(m.mode() & 0o177777),
        atime: Some(atime),
        mtime: Some(mtime),
        ..FileAttributes::empty()
    }
}

fn mode_string(kind: FileKind, mode: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(match kind {
        FileKind::Dir => 'd',
        FileKind::Symlink => 'l',
        FileKind::File => '-',
        FileKind::Other => '?',
    });
    let bits = [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o040, 'r'),
        (0o020, 'w'),
        (0o010, 'x'),
        (0o004, 'r'),
        (0o002, 'w'),
        (0o001, 'x'),
    ];
    for (bit, c) in bits {
        s.push(if mode & bit != 0 { c } else { '-' });
    }
    s
}

use garrison_proto::civil_from_days as civil;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `ls -l` dates: time of day within half a year of `now`, the year otherwise.
fn date(ms: i64, now_ms: i64) -> String {
    let s = ms.div_euclid(1000);
    let (y, m, d) = civil(s.div_euclid(86_400));
    let month = MONTHS[(m as usize).saturating_sub(1) % 12];
    if (now_ms - ms).abs() < 182 * 86_400 * 1000 {
        let tod = s.rem_euclid(86_400);
        format!("{month} {d:>2} {:02}:{:02}", tod / 3600, tod % 3600 / 60)
    } else {
        format!("{month} {d:>2}  {y}")
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub fn long_name(e: &FileEntry, now_ms: i64) -> String {
    let mut s = format!(
        "{} 1 garrison garrison {:>8} {} {}",
        mode_string(e.kind, e.mode),
        e.size,
        date(e.modified, now_ms),
        e.name
    );
    if let (FileKind::Symlink, Some(t)) = (e.kind, &e.target) {
        s.push_str(" -> ");
        s.push_str(t);
    }
    s
}

pub fn listing_file(e: &FileEntry, now_ms: i64) -> File {
    File {
        filename: e.name.clone(),
        longname: long_name(e, now_ms),
        attrs: attrs(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: FileKind, mode: u32, ms: i64) -> FileEntry {
        FileEntry {
            name: "x.txt".into(),
            path: "d/x.txt".into(),
            kind,
            size: 42,
            mode,
            modified: ms,
            target: None,
        }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(19_723), (2024, 1, 1));
        assert_eq!(civil(11_016), (2000, 2, 29));
    }

    #[test]
    fn long_names_look_like_ls() {
        // 2024-03-05 14:07:00 UTC
        let t = 1_709_647_620_000;
        let f = long_name(&entry(FileKind::File, 0o644, t), t);
        assert_eq!(
            f,
            "-rw-r--r-- 1 garrison garrison       42 Mar  5 14:07 x.txt"
        );
        let old = long_name(&entry(FileKind::Dir, 0o755, t), t + 400 * 86_400_000);
        assert_eq!(
            old,
            "drwxr-xr-x 1 garrison garrison       42 Mar  5  2024 x.txt"
        );
    }

    #[test]
    fn attrs_carry_the_type() {
        let a = attrs(&entry(FileKind::Symlink, 0o777, 5_000));
        assert_eq!(a.permissions, Some(S_IFLNK | 0o777));
        assert_eq!(a.mtime, Some(5));
        assert!(attrs(&entry(FileKind::Dir, 0o755, 0)).is_dir());
    }
}
