//! SFTP through a real `garrison serve` with OpenSSH's `sftp` client in batch mode:
//! panel users sign in as `<username>.<server short id>` with their password or an SSH
//! key from their account, their server permissions apply per operation, the disk
//! limit holds, logins and writes are audited, and a user who loses access is
//! disconnected.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const ALICE_PASSWORD: &str = "alice has a long password";

enum Auth<'a> {
    Password(&'a str),
    Key(&'a Path),
}

/// Run `sftp -b` against the Garrison under test. Password sign-in goes through
/// `SSH_ASKPASS` (batch mode never prompts on a terminal).
fn sftp(dir: &Path, port: u16, login: &str, auth: Auth<'_>, batch: &str) -> Output {
    let file = dir.join(format!("batch-{}", rand_suffix()));
    std::fs::write(&file, batch).unwrap();
    let mut cmd = Command::new("sftp");
    cmd.args([
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "ConnectTimeout=10",
    ]);
    match auth {
        Auth::Password(pw) => {
            let askpass = dir.join(format!("askpass-{}", rand_suffix()));
            std::fs::write(&askpass, format!("#!/bin/sh\necho '{pw}'\n")).unwrap();
            std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700)).unwrap();
            // Before `-b`: ssh keeps the first value of an option, and batch mode
            // would otherwise turn password prompts off.
            cmd.args([
                "-o",
                "BatchMode=no",
                "-o",
                "PreferredAuthentications=password",
                "-o",
                "PubkeyAuthentication=no",
                "-o",
                "NumberOfPasswordPrompts=1",
            ])
            .env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0");
        }
        Auth::Key(key) => {
            cmd.arg("-i").arg(key).args([
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "PreferredAuthentications=publickey",
            ]);
        }
    }
    cmd.arg("-b")
        .arg(&file)
        .arg("-P")
        .arg(port.to_string())
        .arg(format!("{login}@127.0.0.1"))
        .stdin(Stdio::null())
        .output()
        .expect("run sftp")
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn ok(out: &Output) -> bool {
    out.status.success()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

struct World {
    g: Garrison,
    tmp: tempfile::TempDir,
    id: String,
    dir: PathBuf,
    port: u16,
    short: String,
}

impl World {
    async fn new(env: &[(&str, &str)]) -> World {
        let g = Garrison::start_with_env(env).await;
        let id = g.create_demo("sftp", json!({})).await;
        let dir = g.data_dir().join("servers").join(&id);
        let port = g.sftp_port.expect("garrison serve runs SFTP");
        let short: String = id.chars().filter(char::is_ascii_alphanumeric).collect();
        let short = short[short.len() - 8..].to_lowercase();
        World {
            g,
            tmp: tempfile::tempdir().unwrap(),
            id,
            dir,
            port,
            short,
        }
    }

    /// A user who is a subuser of the server with `permissions`.
    async fn subuser(&self, name: &str, permissions: &[&str]) {
        let (s, v) = self
            .g
            .call(
                "POST",
                "/api/admin/users",
                Some(json!({"username": name, "password": ALICE_PASSWORD})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        if !permissions.is_empty() {
            let (s, v) = self
                .g
                .call(
                    "POST",
                    &format!("/api/servers/{}/users", self.id),
                    Some(json!({"username": name, "permissions": permissions})),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{v}");
        }
    }

    fn login(&self, name: &str) -> String {
        format!("{name}.{}", self.short)
    }

    fn run(&self, name: &str, auth: Auth<'_>, batch: &str) -> Output {
        sftp(self.tmp.path(), self.port, &self.login(name), auth, batch)
    }

    fn local(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    async fn audit_actions(&self) -> Vec<Value> {
        let (s, v) = self
            .g
            .call("GET", &format!("/api/servers/{}/activity", self.id), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["entries"].as_array().unwrap().clone()
    }
}

const ALL_FILES: &[&str] = &[
    "file.sftp",
    "file.read",
    "file.read-content",
    "file.create",
    "file.update",
    "file.delete",
];

#[tokio::test]
async fn a_subuser_works_with_files_over_sftp_by_password_and_by_key() {
    let w = World::new(&[]).await;
    w.subuser("alice", ALL_FILES).await;
    std::fs::write(w.local("up.txt"), b"uploaded over sftp\n").unwrap();
    std::fs::write(w.dir.join("server.properties"), b"motd=hi\n").unwrap();
    let batch = format!(
        "ls -l\nput {} up.txt\nmkdir world\nrename up.txt world/moved.txt\nchmod 600 world/moved.txt\nget server.properties {}\nrm server.properties\nls world\n",
        w.local("up.txt").display(),
        w.local("props").display()
    );
    let out = w.run("alice", Auth::Password(ALICE_PASSWORD), &batch);
    assert!(ok(&out), "{}", text(&out));
    assert!(text(&out).contains("moved.txt"), "{}", text(&out));
    assert_eq!(
        std::fs::read(w.dir.join("world/moved.txt")).unwrap(),
        b"uploaded over sftp\n"
    );
    let mode = std::fs::metadata(w.dir.join("world/moved.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(std::fs::read(w.local("props")).unwrap(), b"motd=hi\n");
    assert!(!w.dir.join("server.properties").exists());

    // the same user with an SSH key from their account
    let key = w.local("id_ed25519");
    ssh_keygen(&key);
    let out = w.run("alice", Auth::Key(&key), "ls\n");
    assert!(!ok(&out), "an unregistered key signed in: {}", text(&out));
    let cookie = w.g.login("alice", ALICE_PASSWORD).await.unwrap();
    let r = w
        .g
        .http
        .post(w.g.url("/api/account/ssh-keys"))
        .session(&cookie)
        .json(&json!({"name": "laptop", "public_key": std::fs::read_to_string(w.local("id_ed25519.pub")).unwrap()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let out = w.run("alice", Auth::Key(&key), "ls world\n");
    assert!(ok(&out), "{}", text(&out));
    assert!(text(&out).contains("moved.txt"));

    // audited: logins and writes, via sftp, from loopback
    let entries = w.audit_actions().await;
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "sftp.login",
        "sftp.write",
        "sftp.mkdir",
        "sftp.rename",
        "sftp.chmod",
        "sftp.delete",
    ] {
        assert!(actions.contains(&a), "{a} not in {actions:?}");
    }
    let write = entries
        .iter()
        .find(|e| e["action"] == "sftp.write")
        .unwrap();
    assert_eq!(write["via"], "sftp", "{write}");
    assert_eq!(write["ip"], "127.0.0.1", "{write}");
}

#[tokio::test]
async fn sign_in_and_every_operation_need_their_permission() {
    let w = World::new(&[]).await;
    w.subuser("reader", &["file.sftp", "file.read", "file.read-content"])
        .await;
    w.subuser("nosftp", &["file.read", "file.read-content", "file.create"])
        .await;
    w.subuser("stranger", &[]).await;
    std::fs::write(w.dir.join("keep.txt"), b"keep").unwrap();
    std::fs::write(w.local("x.txt"), b"x").unwrap();

    let out = w.run(
        "reader",
        Auth::Password(ALICE_PASSWORD),
        "ls\nget keep.txt /dev/null\n",
    );
    assert!(ok(&out), "{}", text(&out));
    for denied in [
        format!("put {} new.txt\n", w.local("x.txt").display()),
        "rm keep.txt\n".to_owned(),
        "mkdir d\n".to_owned(),
        "rename keep.txt k2.txt\n".to_owned(),
        "chmod 777 keep.txt\n".to_owned(),
    ] {
        let out = w.run("reader", Auth::Password(ALICE_PASSWORD), &denied);
        assert!(!ok(&out), "{denied:?} was allowed: {}", text(&out));
    }
    assert_eq!(std::fs::read(w.dir.join("keep.txt")).unwrap(), b"keep");
    assert!(!w.dir.join("new.txt").exists());

    for (who, pw) in [
        ("nosftp", ALICE_PASSWORD),
        ("stranger", ALICE_PASSWORD),
        ("reader", "wrong password"),
        ("nobody-at-all", ALICE_PASSWORD),
    ] {
        let out = w.run(who, Auth::Password(pw), "ls\n");
        assert!(!ok(&out), "{who} signed in: {}", text(&out));
    }
    // a login naming no server, or another server, is refused too
    let out = sftp(
        w.tmp.path(),
        w.port,
        "reader",
        Auth::Password(ALICE_PASSWORD),
        "ls\n",
    );
    assert!(!ok(&out));
    let out = sftp(
        w.tmp.path(),
        w.port,
        "reader.00000000",
        Auth::Password(ALICE_PASSWORD),
        "ls\n",
    );
    assert!(!ok(&out));
    let entries = w.audit_actions().await;
    assert!(
        entries.iter().any(|e| e["action"] == "sftp.login"),
        "{entries:?}"
    );
    // shell and exec channels do not exist
    let out = Command::new("ssh")
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-p",
        ])
        .arg(w.port.to_string())
        .arg(format!("{}@127.0.0.1", w.login("reader")))
        .arg("true")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test]
async fn read_only_mode_refuses_every_write() {
    let w = World::new(&[("GARRISON_SFTP_READ_ONLY", "true")]).await;
    w.subuser("alice", ALL_FILES).await;
    std::fs::write(w.dir.join("keep.txt"), b"keep").unwrap();
    std::fs::write(w.local("x.txt"), b"x").unwrap();
    let out = w.run(
        "alice",
        Auth::Password(ALICE_PASSWORD),
        "get keep.txt /dev/null\n",
    );
    assert!(ok(&out), "{}", text(&out));
    let out = w.run(
        "alice",
        Auth::Password(ALICE_PASSWORD),
        &format!("put {} new.txt\n", w.local("x.txt").display()),
    );
    assert!(!ok(&out), "{}", text(&out));
    let out = w.run("alice", Auth::Password(ALICE_PASSWORD), "rm keep.txt\n");
    assert!(!ok(&out));
    assert!(w.dir.join("keep.txt").exists());
    assert!(!w.dir.join("new.txt").exists());
}

#[tokio::test]
async fn an_upload_over_the_disk_limit_fails_and_leaves_nothing() {
    let w = World::new(&[]).await;
    let (s, v) =
        w.g.call(
            "PATCH",
            &format!("/api/servers/{}", w.id),
            Some(json!({"limits": {"disk_mb": 2}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    w.subuser("alice", ALL_FILES).await;
    let mut f = std::fs::File::create(w.local("big.bin")).unwrap();
    f.write_all(&vec![7u8; 3 * 1024 * 1024]).unwrap();
    drop(f);
    let out = w.run(
        "alice",
        Auth::Password(ALICE_PASSWORD),
        &format!("put {} big.bin\n", w.local("big.bin").display()),
    );
    // OpenSSH's client shows only the status ("Failure"), not the server's message.
    assert!(!ok(&out), "{}", text(&out));
    let listed: Vec<String> = std::fs::read_dir(&w.dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        listed.iter().all(|n| !n.contains("big")),
        "a partial upload is visible: {listed:?}"
    );
    let out = w.run("alice", Auth::Password(ALICE_PASSWORD), "ls -la\n");
    assert!(ok(&out));
    assert!(!text(&out).contains("big"), "{}", text(&out));
}

#[tokio::test]
async fn a_user_who_loses_access_is_disconnected() {
    let w = World::new(&[]).await;
    w.subuser("alice", ALL_FILES).await;
    // An interactive session kept open: commands arrive on stdin.
    let askpass = w.local("askpass");
    std::fs::write(&askpass, format!("#!/bin/sh\necho '{ALICE_PASSWORD}'\n")).unwrap();
    std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut child = Command::new("sftp")
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "PreferredAuthentications=password",
            "-o",
            "PubkeyAuthentication=no",
            "-P",
        ])
        .arg(w.port.to_string())
        .arg(format!("{}@127.0.0.1", w.login("alice")))
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "ls").unwrap();
    // signed in and working
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let entries = w.audit_actions().await;
        if entries.iter().any(|e| e["action"] == "sftp.login") {
            break;
        }
        assert!(Instant::now() < deadline, "no sftp.login: {entries:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(child.try_wait().unwrap().is_none(), "sftp ended early");
    // take the server away from her: the session ends within the recheck interval
    let (_, users) = w.g.call("GET", "/api/admin/users", None).await;
    let alice = users
        .as_array()
        .or_else(|| users["users"].as_array())
        .unwrap()
        .iter()
        .find(|u| u["username"] == "alice")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, v) =
        w.g.call(
            "DELETE",
            &format!("/api/servers/{}/users/{alice}", w.id),
            None,
        )
        .await;
    assert!(s.is_success(), "{v}");
    // An idle client notices the closed connection at its next command, so keep
    // asking: the session must be gone within the recheck interval (5 s) and a margin.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the SFTP session outlived the user's access"
        );
        let _ = writeln!(stdin, "ls");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(stdin);
    // and she cannot come back
    let out = w.run("alice", Auth::Password(ALICE_PASSWORD), "ls\n");
    assert!(!ok(&out));
}

#[tokio::test]
async fn unknown_keys_never_lock_an_account_but_wrong_passwords_do() {
    let w = World::new(&[]).await;
    w.subuser("alice", ALL_FILES).await;
    let key = w.local("other_key");
    ssh_keygen(&key);
    // Clients offer every key they hold; none of these is a guess.
    for _ in 0..8 {
        let out = w.run("alice", Auth::Key(&key), "ls\n");
        assert!(!ok(&out));
    }
    let out = w.run("alice", Auth::Password(ALICE_PASSWORD), "ls\n");
    assert!(ok(&out), "locked out by key offers: {}", text(&out));
    // Wrong passwords are guesses: the panel's login lockout applies to SFTP too.
    for _ in 0..6 {
        let out = w.run("alice", Auth::Password("not her password"), "ls\n");
        assert!(!ok(&out));
    }
    let out = w.run("alice", Auth::Password(ALICE_PASSWORD), "ls\n");
    assert!(!ok(&out), "no lockout after six wrong passwords");
    let (s, v) =
        w.g.call_raw(
            "POST",
            "/api/auth/login",
            &json!({"username": "alice", "password": ALICE_PASSWORD}).to_string(),
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
}
