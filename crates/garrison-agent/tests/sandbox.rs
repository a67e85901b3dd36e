//! The sandbox refuses every way out of the server directory, and an attack leaves the
//! files beside the root byte-for-byte unchanged.

use garrison_agent::sandbox::{RelPath, Sandbox, SandboxError};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

/// A temp dir with `root/` (the sandbox) and `outside/canary` beside it.
struct Fixture {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    root: PathBuf,
    outside: PathBuf,
    sb: Sandbox,
}

const CANARY: &[u8] = b"canary: do not touch\n";

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().to_path_buf();
        let root = base.join("root");
        let outside = base.join("outside");
        std::fs::create_dir(&root).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("canary"), CANARY).unwrap();
        std::fs::set_permissions(
            outside.join("canary"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let sb = Sandbox::open(&root).unwrap();
        Fixture {
            _tmp: tmp,
            base,
            root,
            outside,
            sb,
        }
    }

    /// The canary is unchanged and nothing new appeared outside the root.
    fn assert_outside_untouched(&self) {
        let canary = self.outside.join("canary");
        assert_eq!(std::fs::read(&canary).unwrap(), CANARY);
        let mode = std::fs::symlink_metadata(&canary)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o644, "canary mode changed");
        let mut names: Vec<_> = std::fs::read_dir(&self.outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, vec!["canary"], "new files outside the root");
        let mut top: Vec<_> = std::fs::read_dir(&self.base)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        top.sort();
        assert_eq!(top, vec!["outside", "root"], "new files beside the root");
    }

    fn link_in_root(&self, name: &str, target: &Path) {
        symlink(target, self.root.join(name)).unwrap();
    }
}

fn rel(p: &str) -> RelPath {
    Sandbox::rel(p).unwrap()
}

#[test]
fn rel_accepts_normal_paths() {
    assert_eq!(rel("a/b/c").as_str(), "a/b/c");
    assert_eq!(rel("./a/./b").as_str(), "a/b");
    assert_eq!(rel("dir/").as_str(), "dir");
    assert!(rel("").is_root());
    assert!(rel(".").is_root());
    assert_eq!(rel("back\\slash").as_str(), "back\\slash");
    assert_eq!(rel("a/b").parent().unwrap().as_str(), "a");
    assert!(rel("a").parent().unwrap().is_root());
    assert_eq!(rel("a/b").file_name(), Some("b"));
    assert!(rel("a/bc").starts_with(&rel("a")));
    assert!(!rel("ab").starts_with(&rel("a")));
    assert_eq!(rel("a").join(&rel("b/c")).unwrap().as_str(), "a/b/c");
}

#[test]
fn rel_refuses_dotdot_in_every_position() {
    for p in [
        "..",
        "../x",
        "a/..",
        "a/../b",
        "a/b/../../..",
        "./..",
        "a/../../x",
        "../",
    ] {
        match Sandbox::rel(p) {
            Err(SandboxError::InvalidPath { reason, .. }) => {
                assert!(reason.contains(".."), "{p}: {reason}")
            }
            other => panic!("{p:?} was not refused: {other:?}"),
        }
    }
}

#[test]
fn rel_refuses_absolute_nul_empty_and_overlong() {
    for p in [
        "/etc/passwd",
        "/",
        "//x",
        "a//b",
        "a/b//",
        "nul\0byte",
        "a/\0",
    ] {
        assert!(
            matches!(Sandbox::rel(p), Err(SandboxError::InvalidPath { .. })),
            "{p:?} was not refused"
        );
    }
    let long_name = "x".repeat(256);
    assert!(Sandbox::rel(&long_name).is_err());
    assert!(Sandbox::rel(&"x".repeat(255)).is_ok());
    let long_path = vec!["abcdefgh"; 600].join("/");
    assert!(long_path.len() > 4096);
    assert!(Sandbox::rel(&long_path).is_err());
    let msg = Sandbox::rel("/etc/passwd").unwrap_err().to_string();
    assert!(msg.contains("/etc/passwd"), "{msg}");
}

#[test]
fn basic_operations_work_inside() {
    let f = Fixture::new();
    let sb = &f.sb;
    sb.create_dir_all(&rel("cfg/sub")).unwrap();
    sb.write_atomic(&rel("cfg/sub/a.txt"), b"hello").unwrap();
    assert_eq!(sb.read(&rel("cfg/sub/a.txt"), 100).unwrap(), b"hello");
    assert_eq!(
        sb.read_to_string(&rel("cfg/sub/a.txt"), 100).unwrap(),
        "hello"
    );
    assert!(matches!(
        sb.read(&rel("cfg/sub/a.txt"), 4),
        Err(SandboxError::TooLarge { limit: 4, .. })
    ));
    // write_atomic keeps the mode of the file it replaces.
    sb.set_permissions(&rel("cfg/sub/a.txt"), 0o600).unwrap();
    sb.write_atomic(&rel("cfg/sub/a.txt"), b"again").unwrap();
    let meta = std::fs::metadata(f.root.join("cfg/sub/a.txt")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        std::fs::read(f.root.join("cfg/sub/a.txt")).unwrap(),
        b"again"
    );
    // No temp files left behind.
    let names: Vec<_> = std::fs::read_dir(f.root.join("cfg/sub")).unwrap().collect();
    assert_eq!(names.len(), 1);

    {
        use std::io::Write;
        let mut file = sb.create_new_file(&rel("stream.bin")).unwrap();
        file.write_all(b"streamed").unwrap();
    }
    assert!(matches!(
        sb.create_new_file(&rel("stream.bin")),
        Err(SandboxError::AlreadyExists { .. })
    ));
    {
        use std::io::Write;
        let mut file = sb.create_file(&rel("stream.bin")).unwrap();
        file.write_all(b"new").unwrap();
    }
    assert_eq!(sb.read(&rel("stream.bin"), 100).unwrap(), b"new");

    sb.rename(&rel("stream.bin"), &rel("cfg/moved.bin"))
        .unwrap();
    assert!(!sb.exists(&rel("stream.bin")).unwrap());
    assert!(sb.exists(&rel("cfg/moved.bin")).unwrap());
    sb.hard_link(&rel("cfg/moved.bin"), &rel("hard.bin"))
        .unwrap();
    assert_eq!(sb.read(&rel("hard.bin"), 100).unwrap(), b"new");
    sb.symlink("cfg/moved.bin", &rel("soft")).unwrap();
    sb.symlink("../moved.bin", &rel("cfg/sub/up")).unwrap();
    assert_eq!(sb.read(&rel("cfg/sub/up"), 100).unwrap(), b"new");
    assert!(sb.symlink_metadata(&rel("soft")).unwrap().is_symlink());
    sb.remove_file(&rel("soft")).unwrap();
    assert!(matches!(
        sb.remove_file(&rel("cfg")),
        Err(SandboxError::IsDir { .. })
    ));
    sb.remove_dir_all(&rel("cfg")).unwrap();
    assert!(!sb.exists(&rel("cfg")).unwrap());
    assert!(matches!(
        sb.read(&rel("missing"), 10),
        Err(SandboxError::NotFound { .. })
    ));
    assert!(sb.remove_dir_all(&RelPath::root()).is_err());
    assert!(f.root.exists());

    // Moving in from a staging directory.
    let staging_path = f.base.join("staging");
    std::fs::create_dir(&staging_path).unwrap();
    std::fs::write(staging_path.join("dl.part"), b"downloaded").unwrap();
    let staging =
        cap_std::fs::Dir::open_ambient_dir(&staging_path, cap_std::ambient_authority()).unwrap();
    sb.rename_in(&staging, "dl.part", &rel("server.jar"))
        .unwrap();
    assert_eq!(sb.read(&rel("server.jar"), 100).unwrap(), b"downloaded");
    assert!(!staging_path.join("dl.part").exists());
    assert!(sb.rename_in(&staging, "../x", &rel("y")).is_err());
    std::fs::remove_dir(&staging_path).unwrap();
    f.assert_outside_untouched();
}

#[test]
fn symlink_to_etc_and_to_parent_cannot_be_used() {
    let f = Fixture::new();
    f.link_in_root("etc", Path::new("/etc"));
    f.link_in_root("up", Path::new(".."));
    f.link_in_root("out", &f.outside);
    let sb = &f.sb;
    for p in ["etc/passwd", "up/outside/canary", "out/canary"] {
        let r = rel(p);
        assert!(
            matches!(sb.read(&r, 1 << 20), Err(SandboxError::Escape { .. })),
            "read {p}"
        );
        assert!(sb.open_read(&r).is_err(), "open {p}");
        assert!(sb.write_atomic(&r, b"pwned").is_err(), "write {p}");
        assert!(sb.create_file(&r).is_err(), "create {p}");
        assert!(sb.create_new_file(&rel(&format!("{p}.new"))).is_err());
        assert!(sb.remove_file(&r).is_err(), "remove {p}");
        assert!(sb.set_permissions(&r, 0o777).is_err(), "chmod {p}");
        assert!(sb.chown_nofollow(&r, 0, 0).is_err(), "chown {p}");
        assert!(sb.symlink_metadata(&r).is_err(), "stat {p}");
        assert!(sb.hard_link(&r, &rel("stolen")).is_err(), "link {p}");
        assert!(sb.rename(&r, &rel("stolen")).is_err(), "rename {p}");
        assert!(sb.create_dir_all(&rel(&format!("{p}.d/x"))).is_err());
        assert!(sb.symlink("x", &rel(&format!("{p}.lnk"))).is_err());
    }
    assert!(sb.write_atomic(&rel("out/evil"), b"pwned").is_err());
    assert!(sb.rename(&rel("nothing"), &rel("out/evil")).is_err());
    // remove_dir_all on a link removes the link only.
    sb.remove_dir_all(&rel("out")).unwrap();
    assert!(f.outside.join("canary").exists());
    assert!(!sb.exists(&rel("stolen")).unwrap());
    f.assert_outside_untouched();
}

#[test]
fn last_component_symlink_is_not_followed() {
    let f = Fixture::new();
    let canary = f.outside.join("canary");
    f.link_in_root("cfg.txt", &canary);
    // An in-root target too: even a link that is allowed to exist is not written through.
    std::fs::write(f.root.join("real.txt"), b"real").unwrap();
    f.link_in_root("inner", Path::new("real.txt"));
    let sb = &f.sb;

    assert!(matches!(
        sb.write_atomic(&rel("cfg.txt"), b"pwned"),
        Err(SandboxError::IsSymlink { .. })
    ));
    assert!(matches!(
        sb.write_atomic(&rel("inner"), b"pwned"),
        Err(SandboxError::IsSymlink { .. })
    ));
    assert!(matches!(
        sb.create_file(&rel("inner")),
        Err(SandboxError::IsSymlink { .. })
    ));
    assert!(matches!(
        sb.create_new_file(&rel("cfg.txt")),
        Err(SandboxError::AlreadyExists { .. })
    ));
    assert!(matches!(
        sb.set_permissions(&rel("cfg.txt"), 0o777),
        Err(SandboxError::IsSymlink { .. })
    ));
    assert!(matches!(
        sb.set_permissions(&rel("inner"), 0o777),
        Err(SandboxError::IsSymlink { .. })
    ));
    assert!(matches!(
        sb.hard_link(&rel("cfg.txt"), &rel("h")),
        Err(SandboxError::IsSymlink { .. })
    ));
    let meta = sb.symlink_metadata(&rel("cfg.txt")).unwrap();
    assert!(meta.is_symlink());
    // chown of the link itself (to our own ids, so it works unprivileged) leaves the
    // target alone.
    let uid = nix::unistd::getuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();
    sb.chown_nofollow(&rel("cfg.txt"), uid, gid).unwrap();
    sb.remove_file(&rel("cfg.txt")).unwrap();
    assert!(!f.root.join("cfg.txt").exists());
    sb.remove_dir_all(&rel("inner")).unwrap();
    assert_eq!(std::fs::read(f.root.join("real.txt")).unwrap(), b"real");
    let mode = std::fs::metadata(f.root.join("real.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_ne!(mode & 0o777, 0o777);
    f.assert_outside_untouched();
}

#[test]
fn chown_as_root_leaves_the_target_alone() {
    if !nix::unistd::getuid().is_root() {
        return;
    }
    let f = Fixture::new();
    f.link_in_root("link", &f.outside.join("canary"));
    std::fs::write(f.root.join("file"), b"x").unwrap();
    let before = std::fs::metadata(f.outside.join("canary")).unwrap();
    f.sb.chown_nofollow(&rel("link"), 4242, 4243).unwrap();
    f.sb.chown_nofollow(&rel("file"), 4242, 4243).unwrap();
    f.sb.chown_nofollow(&RelPath::root(), 4242, 4243).unwrap();
    use std::os::unix::fs::MetadataExt;
    let after = std::fs::metadata(f.outside.join("canary")).unwrap();
    assert_eq!((before.uid(), before.gid()), (after.uid(), after.gid()));
    let link = std::fs::symlink_metadata(f.root.join("link")).unwrap();
    assert_eq!((link.uid(), link.gid()), (4242, 4243));
    let file = std::fs::metadata(f.root.join("file")).unwrap();
    assert_eq!((file.uid(), file.gid()), (4242, 4243));
    f.assert_outside_untouched();
}

#[test]
fn chown_tree_changes_everything_inside_and_nothing_a_link_points_at() {
    if !nix::unistd::getuid().is_root() {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let f = Fixture::new();
    std::fs::create_dir_all(f.root.join("a/b")).unwrap();
    std::fs::write(f.root.join("a/b/deep.txt"), b"x").unwrap();
    std::fs::write(f.root.join("top.txt"), b"x").unwrap();
    // links to a directory and a file outside: neither followed nor descended into
    f.link_in_root("a/out-dir", &f.outside);
    f.link_in_root("out-file", &f.outside.join("canary"));
    let before = std::fs::metadata(&f.outside).unwrap();
    f.sb.chown_tree(&RelPath::root(), 4242, 4243).unwrap();
    for p in [
        "",
        "a",
        "a/b",
        "a/b/deep.txt",
        "top.txt",
        "a/out-dir",
        "out-file",
    ] {
        let m = std::fs::symlink_metadata(f.root.join(p)).unwrap();
        assert_eq!((m.uid(), m.gid()), (4242, 4243), "{p}");
    }
    let after = std::fs::metadata(&f.outside).unwrap();
    assert_eq!((before.uid(), before.gid()), (after.uid(), after.gid()));
    let canary = std::fs::metadata(f.outside.join("canary")).unwrap();
    assert_eq!((canary.uid(), canary.gid()), (0, 0));
    f.assert_outside_untouched();
}

#[test]
fn symlink_targets_must_stay_inside() {
    let f = Fixture::new();
    let sb = &f.sb;
    sb.create_dir_all(&rel("a/b")).unwrap();
    for (target, link) in [
        ("/etc/passwd", "abs"),
        ("..", "up"),
        ("../outside/canary", "up2"),
        ("../../x", "a/up"),
        ("../../../x", "a/b/up"),
        ("x/../..", "chain"),
        ("b/../../..", "a/chain"),
        ("", "empty"),
        ("nul\0", "nul"),
    ] {
        assert!(
            sb.symlink(target, &rel(link)).is_err(),
            "{link} -> {target:?}"
        );
        assert!(
            !f.root.join(link).exists() && std::fs::symlink_metadata(f.root.join(link)).is_err()
        );
    }
    sb.symlink("../x", &rel("a/ok")).unwrap();
    sb.symlink("../../a", &rel("a/b/ok")).unwrap();
    sb.symlink(".", &rel("dot")).unwrap();
    // Creating a link through an in-root symlinked directory is refused: its real
    // location differs from the lexical one the target was checked against.
    for target in ["../outside", "x"] {
        let err = sb.symlink(target, &rel("dot/x")).unwrap_err();
        assert!(
            matches!(
                err,
                SandboxError::IsSymlink { .. } | SandboxError::Io { .. }
            ),
            "{err:?}"
        );
    }
    f.assert_outside_untouched();
}

#[test]
fn hard_links_to_outside_are_refused() {
    let f = Fixture::new();
    f.link_in_root("out", &f.outside);
    f.link_in_root("canary_link", &f.outside.join("canary"));
    let sb = &f.sb;
    assert!(Sandbox::rel("../outside/canary").is_err());
    assert!(matches!(
        sb.hard_link(&rel("out/canary"), &rel("stolen")),
        Err(SandboxError::Escape { .. })
    ));
    assert!(matches!(
        sb.hard_link(&rel("canary_link"), &rel("stolen")),
        Err(SandboxError::IsSymlink { .. })
    ));
    sb.create_dir_all(&rel("d")).unwrap();
    assert!(matches!(
        sb.hard_link(&rel("d"), &rel("stolen")),
        Err(SandboxError::IsDir { .. })
    ));
    std::fs::write(f.root.join("mine"), b"x").unwrap();
    assert!(matches!(
        sb.hard_link(&rel("mine"), &rel("out/planted")),
        Err(SandboxError::Escape { .. })
    ));
    assert!(!f.root.join("stolen").exists());
    f.assert_outside_untouched();
}

#[test]
fn fifo_is_refused_without_blocking() {
    let f = Fixture::new();
    nix::unistd::mkfifo(
        &f.root.join("pipe"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    let sb = &f.sb;
    assert!(sb.read(&rel("pipe"), 10).is_err());
    assert!(sb.create_file(&rel("pipe")).is_err());
    f.assert_outside_untouched();
}

#[test]
fn setuid_bits_are_never_set() {
    let f = Fixture::new();
    f.sb.write_atomic(&rel("bin"), b"#!/bin/sh\n").unwrap();
    f.sb.set_permissions(&rel("bin"), 0o6755).unwrap();
    let mode = std::fs::metadata(f.root.join("bin"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o755);
    f.sb.set_permissions(&RelPath::root(), 0o750).unwrap();
    let mode = std::fs::metadata(&f.root).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o750);
    f.assert_outside_untouched();
}

#[test]
fn missing_root_is_not_found() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(matches!(
        Sandbox::open(&tmp.path().join("nope")),
        Err(SandboxError::NotFound { .. })
    ));
}
