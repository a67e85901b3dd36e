//! Extraction of normal and malicious archives. Every malicious case checks that the
//! directory beside the sandbox root is byte-for-byte unchanged and that no file named
//! `evil` appeared anywhere outside the root.

use garrison_agent::install::{ArchiveFormat, ExtractError, ExtractOptions, extract};
use garrison_agent::sandbox::{RelPath, Sandbox};
use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

struct Fixture {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    root: PathBuf,
    outside: PathBuf,
    before: BTreeMap<PathBuf, Vec<u8>>,
    sb: Sandbox,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().to_path_buf();
        let root = base.join("root");
        let outside = base.join("outside");
        std::fs::create_dir(&root).unwrap();
        std::fs::create_dir_all(outside.join("sub")).unwrap();
        std::fs::write(outside.join("canary"), b"canary\n").unwrap();
        std::fs::write(outside.join("sub/canary2"), b"canary two\n").unwrap();
        let before = snapshot(&outside);
        let sb = Sandbox::open(&root).unwrap();
        Fixture {
            _tmp: tmp,
            base,
            root,
            outside,
            before,
            sb,
        }
    }

    fn archive(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.base.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn run(
        &self,
        name: &str,
        bytes: &[u8],
        format: ArchiveFormat,
        opts: &ExtractOptions,
    ) -> Result<garrison_agent::install::ExtractStats, ExtractError> {
        let path = self.archive(name, bytes);
        let r = extract(&path, format, &self.sb, &RelPath::root(), opts, &mut |_| {});
        std::fs::remove_file(&path).unwrap();
        r
    }

    fn assert_safe(&self) {
        assert_eq!(snapshot(&self.outside), self.before, "outside dir changed");
        let mut evil = Vec::new();
        find_named(&self.base, "evil", &mut evil);
        evil.retain(|p| !p.starts_with(&self.root));
        assert!(evil.is_empty(), "evil outside the root: {evil:?}");
        let mut top: Vec<_> = std::fs::read_dir(&self.base)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        top.sort();
        assert_eq!(top, ["outside", "root"]);
    }
}

/// Every file, link and directory under `dir` (not following links), with contents.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            out.insert(p.clone(), b"<dir>".to_vec());
            out.extend(snapshot(&p));
        } else if m.is_symlink() {
            out.insert(
                p.clone(),
                std::fs::read_link(&p)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes(),
            );
        } else {
            let mut v = std::fs::read(&p).unwrap();
            v.extend(format!("<mode {:o}>", m.permissions().mode()).bytes());
            out.insert(p, v);
        }
    }
    out
}

fn find_named(dir: &Path, name: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd {
        let e = e.unwrap();
        let p = e.path();
        if e.file_name() == name {
            out.push(p.clone());
        }
        if std::fs::symlink_metadata(&p).unwrap().is_dir() {
            find_named(&p, name, out);
        }
    }
}

enum E<'a> {
    File(&'a [u8], &'a [u8], u32),
    Dir(&'a [u8]),
    Symlink(&'a [u8], &'a [u8]),
    HardLink(&'a [u8], &'a [u8]),
    Fifo(&'a [u8]),
}

/// A tar built from raw header bytes, so names the `tar` crate would refuse to write
/// (`..`, absolute) end up in the archive as given.
fn tar(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let (name, data, kind, mode, link): (&[u8], &[u8], tar::EntryType, u32, &[u8]) = match e {
            E::File(n, d, m) => (n, d, tar::EntryType::Regular, *m, b""),
            E::Dir(n) => (n, b"", tar::EntryType::Directory, 0o755, b""),
            E::Symlink(n, t) => (n, b"", tar::EntryType::Symlink, 0o777, t),
            E::HardLink(n, t) => (n, b"", tar::EntryType::Link, 0o644, t),
            E::Fifo(n) => (n, b"", tar::EntryType::Fifo, 0o644, b""),
        };
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zst(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 1).unwrap()
}

fn xz(data: &[u8]) -> Vec<u8> {
    liblzma::encode_all(data, 1).unwrap()
}

enum Z<'a> {
    File(&'a str, &'a [u8], u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
}

fn zip(entries: &[Z<'_>]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for e in entries {
        match e {
            Z::File(n, d, m) => {
                w.start_file(*n, opts.unix_permissions(*m)).unwrap();
                w.write_all(d).unwrap();
            }
            Z::Dir(n) => w.add_directory(*n, opts).unwrap(),
            Z::Symlink(n, t) => w.add_symlink(*n, *t, opts).unwrap(),
        }
    }
    w.finish().unwrap().into_inner()
}

fn sample_tar() -> Vec<u8> {
    tar(&[
        E::Dir(b"pkg/"),
        E::Dir(b"pkg/bin/"),
        E::File(b"pkg/bin/server", b"#!/bin/sh\necho hi\n", 0o4755),
        E::Dir(b"pkg/data/deep/er/"),
        E::File(b"pkg/data/deep/er/x.txt", b"nested", 0o644),
        E::Symlink(b"pkg/run", b"bin/server"),
        E::Symlink(b"pkg/data/up", b"../bin/server"),
        E::HardLink(b"pkg/bin/server2", b"pkg/bin/server"),
        E::Fifo(b"pkg/pipe"),
    ])
}

fn check_sample(root: &Path, prefix: &str) {
    let p = |s: &str| root.join(format!("{prefix}{s}"));
    assert_eq!(
        std::fs::read(p("bin/server")).unwrap(),
        b"#!/bin/sh\necho hi\n"
    );
    let mode = std::fs::metadata(p("bin/server"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o755, "exec bits kept, setuid stripped");
    assert_eq!(std::fs::read(p("data/deep/er/x.txt")).unwrap(), b"nested");
    assert_eq!(
        std::fs::read_link(p("run")).unwrap(),
        Path::new("bin/server")
    );
    assert_eq!(std::fs::read(p("run")).unwrap(), b"#!/bin/sh\necho hi\n");
    assert_eq!(
        std::fs::read(p("data/up")).unwrap(),
        b"#!/bin/sh\necho hi\n"
    );
    assert_eq!(
        std::fs::read(p("bin/server2")).unwrap(),
        b"#!/bin/sh\necho hi\n"
    );
    assert!(
        std::fs::symlink_metadata(p("pipe")).is_err(),
        "fifo skipped"
    );
}

#[test]
fn normal_archives_in_every_format() {
    let raw = sample_tar();
    for (format, bytes) in [
        (ArchiveFormat::Tar, raw.clone()),
        (ArchiveFormat::TarGz, gz(&raw)),
        (ArchiveFormat::TarZst, zst(&raw)),
        (ArchiveFormat::TarXz, xz(&raw)),
    ] {
        let f = Fixture::new();
        let path = f.archive("a.bin", &bytes);
        assert_eq!(ArchiveFormat::detect(&path), Some(format));
        let mut reports = 0;
        let stats = extract(
            &path,
            format,
            &f.sb,
            &RelPath::root(),
            &ExtractOptions::default(),
            &mut |_| reports += 1,
        )
        .unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(reports > 0);
        check_sample(&f.root, "pkg/");
        assert_eq!(stats.files, 2, "{format:?} {stats:?}");
        assert_eq!(stats.symlinks, 2);
        assert_eq!(stats.hard_links, 1);
        assert_eq!(stats.dirs, 3);
        assert_eq!(stats.skipped, 1);
        f.assert_safe();
    }
}

#[test]
fn zip_with_nested_dirs_and_symlink() {
    let f = Fixture::new();
    let bytes = zip(&[
        Z::Dir("pkg/"),
        Z::File("pkg/bin/server", b"#!/bin/sh\necho hi\n", 0o755),
        Z::File("pkg/data/deep/er/x.txt", b"nested", 0o644),
        Z::Symlink("pkg/run", "bin/server"),
        Z::Symlink("pkg/data/up", "../bin/server"),
        Z::File("pkg/bin/server2", b"#!/bin/sh\necho hi\n", 0o755),
    ]);
    let path = f.archive("a.zip", &bytes);
    assert_eq!(ArchiveFormat::detect(&path), Some(ArchiveFormat::Zip));
    std::fs::remove_file(&path).unwrap();
    let stats = f
        .run(
            "a.zip",
            &bytes,
            ArchiveFormat::Zip,
            &ExtractOptions::default(),
        )
        .unwrap();
    assert_eq!(stats.files, 3);
    assert_eq!(stats.symlinks, 2);
    let p = |s: &str| f.root.join(s);
    assert_eq!(
        std::fs::read(p("pkg/data/up")).unwrap(),
        b"#!/bin/sh\necho hi\n"
    );
    assert_eq!(
        std::fs::read(p("pkg/run")).unwrap(),
        b"#!/bin/sh\necho hi\n"
    );
    let mode = std::fs::metadata(p("pkg/bin/server"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    f.assert_safe();
}

#[test]
fn strip_components_and_dest() {
    let f = Fixture::new();
    let opts = ExtractOptions {
        strip_components: 1,
        ..ExtractOptions::default()
    };
    let path = f.archive("a.tgz", &gz(&sample_tar()));
    let dest = Sandbox::rel("game/files").unwrap();
    extract(
        &path,
        ArchiveFormat::TarGz,
        &f.sb,
        &dest,
        &opts,
        &mut |_| {},
    )
    .unwrap();
    std::fs::remove_file(&path).unwrap();
    check_sample(&f.root, "game/files/");
    assert!(!f.root.join("game/files/pkg").exists());
    f.assert_safe();
}

#[test]
fn overwrite_false_keeps_existing_files() {
    let f = Fixture::new();
    std::fs::create_dir_all(f.root.join("pkg/data/deep/er")).unwrap();
    std::fs::write(f.root.join("pkg/data/deep/er/x.txt"), b"user edited").unwrap();
    let opts = ExtractOptions {
        overwrite: false,
        ..ExtractOptions::default()
    };
    f.run("a.tar", &sample_tar(), ArchiveFormat::Tar, &opts)
        .unwrap();
    assert_eq!(
        std::fs::read(f.root.join("pkg/data/deep/er/x.txt")).unwrap(),
        b"user edited"
    );
    // And with overwrite, a planted in-root symlink is replaced, not written through.
    std::fs::write(f.root.join("target"), b"keep").unwrap();
    std::fs::remove_file(f.root.join("pkg/data/deep/er/x.txt")).unwrap();
    std::os::unix::fs::symlink("../../../../target", f.root.join("pkg/data/deep/er/x.txt"))
        .unwrap();
    f.run(
        "a.tar",
        &sample_tar(),
        ArchiveFormat::Tar,
        &ExtractOptions::default(),
    )
    .unwrap();
    assert_eq!(std::fs::read(f.root.join("target")).unwrap(), b"keep");
    assert!(
        !std::fs::symlink_metadata(f.root.join("pkg/data/deep/er/x.txt"))
            .unwrap()
            .is_symlink()
    );
    f.assert_safe();
}

fn expect_unsafe(r: Result<garrison_agent::install::ExtractStats, ExtractError>, what: &str) {
    match r {
        Err(ExtractError::UnsafeEntry { entry, reason }) => {
            assert!(!entry.is_empty() && !reason.is_empty(), "{what}");
            eprintln!("{what}: refused {entry:?}: {reason}");
        }
        other => panic!("{what}: expected UnsafeEntry, got {other:?}"),
    }
}

fn malicious_tars(outside: &Path) -> Vec<(&'static str, Vec<u8>)> {
    let outside_evil = outside.join("evil").to_string_lossy().into_owned();
    vec![
        (
            "dotdot",
            tar(&[
                E::File(b"ok.txt", b"ok", 0o644),
                E::File(b"../evil", b"x", 0o644),
            ]),
        ),
        ("dotdot deep", tar(&[E::File(b"a/../../evil", b"x", 0o644)])),
        (
            "dotdot outside",
            tar(&[E::File(b"../outside/evil", b"x", 0o644)]),
        ),
        (
            "dotdot before strip",
            tar(&[E::File(b"../x/evil", b"x", 0o644)]),
        ),
        ("absolute", tar(&[E::File(b"/tmp/evil", b"x", 0o644)])),
        (
            "absolute outside",
            tar(&[E::File(outside_evil.as_bytes(), b"x", 0o644)]),
        ),
        ("backslash", tar(&[E::File(b"..\\evil", b"x", 0o644)])),
        ("drive", tar(&[E::File(b"C:/evil", b"x", 0o644)])),
        ("symlink etc", tar(&[E::Symlink(b"evil", b"/etc/passwd")])),
        (
            "symlink dotdot",
            tar(&[
                E::Symlink(b"link", b".."),
                E::File(b"link/evil", b"x", 0o644),
            ]),
        ),
        (
            "symlink out",
            tar(&[
                E::Symlink(b"link", b"../outside"),
                E::File(b"link/evil", b"x", 0o644),
            ]),
        ),
        (
            "symlink chain",
            tar(&[
                E::Symlink(b"d", b"."),
                E::Symlink(b"e", b"d/.."),
                E::File(b"e/outside/evil", b"x", 0o644),
            ]),
        ),
        (
            "hard link etc",
            tar(&[E::HardLink(b"evil", b"/etc/passwd")]),
        ),
        (
            "hard link dotdot",
            tar(&[E::HardLink(b"evil", b"../outside/canary")]),
        ),
        (
            "hard link not extracted",
            tar(&[E::HardLink(b"evil", b"somewhere/else")]),
        ),
    ]
}

#[test]
fn malicious_tar_names_are_refused() {
    let count = malicious_tars(Path::new("/x")).len();
    for i in 0..count {
        for format in [ArchiveFormat::Tar, ArchiveFormat::TarGz] {
            let f = Fixture::new();
            let (what, bytes) = malicious_tars(&f.outside).swap_remove(i);
            let data = if format == ArchiveFormat::TarGz {
                gz(&bytes)
            } else {
                bytes
            };
            let opts = ExtractOptions {
                strip_components: u32::from(what == "dotdot before strip"),
                ..ExtractOptions::default()
            };
            expect_unsafe(f.run("a", &data, format, &opts), what);
            f.assert_safe();
        }
    }
}

#[test]
fn symlink_to_etc_then_write_through_it_is_refused() {
    let f = Fixture::new();
    let canary = f.outside.join("canary");
    let bytes = tar(&[
        E::Symlink(b"cfg", canary.to_str().unwrap().as_bytes()),
        E::File(b"cfg", b"pwned", 0o644),
    ]);
    expect_unsafe(
        f.run("a", &bytes, ArchiveFormat::Tar, &ExtractOptions::default()),
        "abs link",
    );
    f.assert_safe();
}

#[test]
fn planted_symlink_to_outside_dir_is_not_written_through() {
    for format in [ArchiveFormat::Tar, ArchiveFormat::Zip] {
        let f = Fixture::new();
        // The game process (or an earlier archive) planted this inside the root.
        std::os::unix::fs::symlink(&f.outside, f.root.join("out")).unwrap();
        std::os::unix::fs::symlink(f.outside.join("canary"), f.root.join("canary")).unwrap();
        let bytes = match format {
            ArchiveFormat::Zip => zip(&[Z::File("out/evil", b"x", 0o644)]),
            _ => tar(&[E::File(b"out/evil", b"x", 0o644)]),
        };
        let r = f.run("a", &bytes, format, &ExtractOptions::default());
        assert!(r.is_err(), "{format:?}: {r:?}");
        expect_unsafe(r, "planted link");
        // A file entry over a planted file symlink replaces the link.
        let bytes = match format {
            ArchiveFormat::Zip => zip(&[Z::File("canary", b"pwned", 0o644)]),
            _ => tar(&[E::File(b"canary", b"pwned", 0o644)]),
        };
        f.run("a", &bytes, format, &ExtractOptions::default())
            .unwrap();
        assert_eq!(std::fs::read(f.root.join("canary")).unwrap(), b"pwned");
        f.assert_safe();
    }
}

#[test]
fn malicious_zip_names_are_refused() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "dotdot",
            zip(&[Z::File("ok", b"ok", 0o644), Z::File("../evil", b"x", 0o644)]),
        ),
        ("dotdot deep", zip(&[Z::File("a/../../evil", b"x", 0o644)])),
        ("absolute", zip(&[Z::File("/tmp/evil", b"x", 0o644)])),
        ("backslash", zip(&[Z::File("..\\..\\evil", b"x", 0o644)])),
        ("drive", zip(&[Z::File("C:\\evil", b"x", 0o644)])),
        ("nul", zip(&[Z::File("evil\0.txt", b"x", 0o644)])),
        ("symlink etc", zip(&[Z::Symlink("evil", "/etc/passwd")])),
        (
            "symlink dotdot",
            zip(&[Z::Symlink("link", ".."), Z::File("link/evil", b"x", 0o644)]),
        ),
    ];
    for (what, bytes) in cases {
        let f = Fixture::new();
        let r = f.run(
            "a.zip",
            &bytes,
            ArchiveFormat::Zip,
            &ExtractOptions::default(),
        );
        eprintln!("zip {what}: {r:?}");
        match r {
            Err(ExtractError::UnsafeEntry { .. }) => {}
            // The zip reader itself may reject a name it cannot represent.
            Err(ExtractError::Corrupt { .. }) if what == "nul" => {}
            other => panic!("{what}: {other:?}"),
        }
        f.assert_safe();
    }
}

#[test]
fn zip_bomb_is_stopped() {
    let f = Fixture::new();
    let zeros = vec![0u8; 100 * 1024 * 1024];
    let bytes = zip(&[Z::File("evil", &zeros, 0o644)]);
    assert!(bytes.len() < 1024 * 1024);
    let opts = ExtractOptions {
        max_total_bytes: 10 * 1024 * 1024,
        ..ExtractOptions::default()
    };
    let r = f.run("bomb.zip", &bytes, ArchiveFormat::Zip, &opts);
    assert!(matches!(r, Err(ExtractError::TooLarge { .. })), "{r:?}");
    // The ratio guard alone (no byte limit) stops it too.
    let r = f.run(
        "bomb.zip",
        &bytes,
        ArchiveFormat::Zip,
        &ExtractOptions::default(),
    );
    eprintln!("zip ratio: {r:?}");
    assert!(matches!(r, Err(ExtractError::TooLarge { .. })), "{r:?}");
    f.assert_safe();
}

#[test]
fn tar_bomb_is_stopped() {
    let f = Fixture::new();
    let zeros = vec![0u8; 100 * 1024 * 1024];
    let bytes = gz(&tar(&[E::File(b"evil", &zeros, 0o644)]));
    let opts = ExtractOptions {
        max_total_bytes: 10 * 1024 * 1024,
        ..ExtractOptions::default()
    };
    let r = f.run("bomb.tgz", &bytes, ArchiveFormat::TarGz, &opts);
    assert!(matches!(r, Err(ExtractError::TooLarge { .. })), "{r:?}");
    let r = f.run(
        "bomb.tgz",
        &bytes,
        ArchiveFormat::TarGz,
        &ExtractOptions::default(),
    );
    assert!(matches!(r, Err(ExtractError::TooLarge { .. })), "{r:?}");
    let opts = ExtractOptions {
        max_entries: 2,
        ..ExtractOptions::default()
    };
    let many = tar(&[E::Dir(b"a/"), E::Dir(b"b/"), E::Dir(b"c/")]);
    let r = f.run("many.tar", &many, ArchiveFormat::Tar, &opts);
    assert!(matches!(r, Err(ExtractError::TooLarge { .. })), "{r:?}");
    f.assert_safe();
}

#[test]
fn format_detection_and_names() {
    assert_eq!(
        ArchiveFormat::from_file_name("x.tar.gz"),
        Some(ArchiveFormat::TarGz)
    );
    assert_eq!(
        ArchiveFormat::from_file_name("X.TGZ"),
        Some(ArchiveFormat::TarGz)
    );
    assert_eq!(
        ArchiveFormat::from_file_name("x.tar.xz"),
        Some(ArchiveFormat::TarXz)
    );
    assert_eq!(
        ArchiveFormat::from_file_name("x.tar.zst"),
        Some(ArchiveFormat::TarZst)
    );
    assert_eq!(
        ArchiveFormat::from_file_name("x.zip"),
        Some(ArchiveFormat::Zip)
    );
    assert_eq!(
        ArchiveFormat::from_file_name("x.tar"),
        Some(ArchiveFormat::Tar)
    );
    assert_eq!(ArchiveFormat::from_file_name("x.jar"), None);
    for (format, name) in [
        (ArchiveFormat::Tar, "tar"),
        (ArchiveFormat::TarGz, "tar_gz"),
        (ArchiveFormat::TarXz, "tar_xz"),
        (ArchiveFormat::TarZst, "tar_zst"),
        (ArchiveFormat::Zip, "zip"),
    ] {
        assert_eq!(
            serde_json::to_string(&format).unwrap(),
            format!("\"{name}\"")
        );
        let back: ArchiveFormat = serde_json::from_str(&format!("\"{name}\"")).unwrap();
        assert_eq!(back, format);
    }
    // Magic beats a misleading name.
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("actually-gzip.zip");
    std::fs::write(&p, gz(b"hello")).unwrap();
    assert_eq!(ArchiveFormat::detect(&p), Some(ArchiveFormat::TarGz));
    let p = tmp.path().join("old.tar");
    std::fs::write(&p, [0u8; 600]).unwrap();
    assert_eq!(ArchiveFormat::detect(&p), Some(ArchiveFormat::Tar));
}

#[test]
fn damaged_archive_is_an_error() {
    let f = Fixture::new();
    let r = f.run(
        "x.zip",
        b"PK\x03\x04 not really",
        ArchiveFormat::Zip,
        &ExtractOptions::default(),
    );
    assert!(matches!(r, Err(ExtractError::Corrupt { .. })), "{r:?}");
    let r = f.run(
        "x.tgz",
        b"\x1f\x8b garbage",
        ArchiveFormat::TarGz,
        &ExtractOptions::default(),
    );
    assert!(r.is_err(), "{r:?}");
    f.assert_safe();
}
