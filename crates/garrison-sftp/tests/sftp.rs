//! The SFTP server driven by the real OpenSSH client against a real agent.

mod common;

use common::*;
use garrison_proto::Permission;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everyday_operations_over_openssh() {
    let mut f = Fixture::new(None, |_| {}).await;
    std::fs::write(f.local.join("hello.txt"), b"hello from the client\n").unwrap();
    std::fs::write(f.root.join("server.properties"), b"motd=hi\n").unwrap();
    std::fs::create_dir(f.root.join("world")).unwrap();

    let out = f
        .sftp(
            "pwd\nls -la\nput hello.txt\nput hello.txt world/copy.txt\nget server.properties got.properties\n\
             rename hello.txt renamed.txt\nmkdir plugins\nmkdir plugins/empty\nrmdir plugins/empty\n\
             chmod 600 renamed.txt\nrm world/copy.txt\nls -l\n",
        )
        .await;
    assert!(out.ok, "{}", out.all());
    assert!(
        out.stdout.contains("Remote working directory: /"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("server.properties"), "{}", out.stdout);
    assert!(out.stdout.contains("world"), "{}", out.stdout);
    assert!(out.stdout.contains("renamed.txt"), "{}", out.stdout);

    assert_eq!(
        std::fs::read(f.root.join("renamed.txt")).unwrap(),
        b"hello from the client\n"
    );
    assert!(!f.root.join("hello.txt").exists());
    assert_eq!(mode(&f.root.join("renamed.txt")), 0o600);
    assert!(f.root.join("plugins").is_dir());
    assert!(!f.root.join("plugins/empty").exists());
    assert!(!f.root.join("world/copy.txt").exists());
    assert_eq!(
        std::fs::read(f.local.join("got.properties")).unwrap(),
        b"motd=hi\n"
    );

    let actions = f.gate.actions();
    for a in [
        "sftp.login",
        "sftp.write",
        "sftp.rename",
        "sftp.mkdir",
        "sftp.delete",
        "sftp.chmod",
    ] {
        assert!(actions.iter().any(|x| x == a), "no {a} in {actions:?}");
    }
    let writes = f.gate.audit_entries("sftp.write");
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert_eq!(writes[0].path.as_deref(), Some("hello.txt"));
    assert_eq!(writes[0].bytes, Some(22));
    let renames = f.gate.audit_entries("sftp.rename");
    assert_eq!(renames[0].path.as_deref(), Some("hello.txt"));
    assert_eq!(renames[0].to.as_deref(), Some("renamed.txt"));
    assert!(f.gate.actions().iter().all(|a| a != "sftp.login_failed"));

    // Rename never replaces; put over an existing file replaces it.
    std::fs::write(f.local.join("v2.txt"), b"second version").unwrap();
    let out = f.sftp("rename renamed.txt server.properties\n").await;
    assert!(!out.ok);
    assert_eq!(
        std::fs::read(f.root.join("server.properties")).unwrap(),
        b"motd=hi\n"
    );
    let out = f.sftp("put v2.txt server.properties\n").await;
    assert!(out.ok, "{}", out.all());
    assert_eq!(
        std::fs::read(f.root.join("server.properties")).unwrap(),
        b"second version"
    );
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unknown_user_are_refused() {
    let mut f = Fixture::new(None, |_| {}).await;
    let out = f
        .sftp_as("alice", Login::Password("wrong"), &[], "ls\n")
        .await;
    assert!(!out.ok);
    assert!(out.stderr.contains("Permission denied"), "{}", out.all());
    let out = f
        .sftp_as("mallory", Login::Password("correct horse"), &[], "ls\n")
        .await;
    assert!(!out.ok);
    let failed = f.gate.audit_entries("sftp.login_failed");
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(failed[0].path.as_deref(), Some("alice.s1"));
    assert!(f.gate.audit_entries("sftp.login").is_empty());
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_sign_in() {
    let mut f = Fixture::new(None, |_| {}).await;
    let (key, blob) = f.keygen("alice_key").await;
    let (other, _) = f.keygen("other_key").await;
    f.gate.add_key("alice", blob);
    std::fs::write(f.root.join("a.txt"), b"A").unwrap();
    let out = f
        .sftp_as("alice", Login::Key(&key), &[], "get a.txt\n")
        .await;
    assert!(out.ok, "{}", out.all());
    assert_eq!(std::fs::read(f.local.join("a.txt")).unwrap(), b"A");
    let out = f.sftp_as("alice", Login::Key(&other), &[], "ls\n").await;
    assert!(!out.ok, "an unregistered key got in");
    assert_eq!(f.gate.audit_entries("sftp.login").len(), 1);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_are_enforced_per_operation() {
    let mut f = Fixture::new(None, |_| {}).await;
    f.gate
        .add("nocreate", "pw", without(Permission::FileCreate));
    f.gate
        .add("nodelete", "pw", without(Permission::FileDelete));
    f.gate
        .add("noupdate", "pw", without(Permission::FileUpdate));
    f.gate
        .add("nocontent", "pw", without(Permission::FileReadContent));
    f.gate.add("nosftp", "pw", without(Permission::FileSftp));
    std::fs::write(f.local.join("new.txt"), b"new").unwrap();
    std::fs::write(f.root.join("keep.txt"), b"keep").unwrap();

    let out = f
        .sftp_as("nocreate", Login::Password("pw"), &[], "put new.txt\n")
        .await;
    assert!(!out.ok);
    assert!(out.stderr.contains("ermission denied"), "{}", out.all());
    assert!(!f.root.join("new.txt").exists());
    let out = f
        .sftp_as("nocreate", Login::Password("pw"), &[], "mkdir d\n")
        .await;
    assert!(!out.ok);
    assert!(!f.root.join("d").exists());

    let out = f
        .sftp_as("nodelete", Login::Password("pw"), &[], "rm keep.txt\n")
        .await;
    assert!(!out.ok);
    assert!(f.root.join("keep.txt").exists());

    // Overwriting and renaming an existing file need file.update; a new file does not.
    let out = f
        .sftp_as(
            "noupdate",
            Login::Password("pw"),
            &[],
            "put new.txt keep.txt\n",
        )
        .await;
    assert!(!out.ok);
    assert_eq!(std::fs::read(f.root.join("keep.txt")).unwrap(), b"keep");
    let out = f
        .sftp_as(
            "noupdate",
            Login::Password("pw"),
            &[],
            "rename keep.txt k2.txt\n",
        )
        .await;
    assert!(!out.ok);
    let out = f
        .sftp_as(
            "noupdate",
            Login::Password("pw"),
            &[],
            "chmod 600 keep.txt\n",
        )
        .await;
    assert!(!out.ok);
    assert_eq!(mode(&f.root.join("keep.txt")), 0o644);
    let out = f
        .sftp_as(
            "noupdate",
            Login::Password("pw"),
            &[],
            "put new.txt fresh.txt\n",
        )
        .await;
    assert!(out.ok, "{}", out.all());
    assert!(f.root.join("fresh.txt").exists());

    let out = f
        .sftp_as(
            "nocontent",
            Login::Password("pw"),
            &[],
            "ls\nget keep.txt\n",
        )
        .await;
    assert!(!out.ok);
    assert!(
        out.stdout.contains("keep.txt"),
        "listing needs only file.read"
    );
    assert!(!f.local.join("keep.txt").exists());

    let out = f
        .sftp_as("nosftp", Login::Password("pw"), &[], "ls\n")
        .await;
    assert!(!out.ok);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_mode_refuses_every_write() {
    let mut f = Fixture::new(None, |c| c.read_only = true).await;
    std::fs::write(f.local.join("new.txt"), b"new").unwrap();
    std::fs::write(f.root.join("keep.txt"), b"keep").unwrap();
    let before = snapshot(&f.root);
    for cmd in [
        "put new.txt\n",
        "put new.txt keep.txt\n",
        "mkdir d\n",
        "rm keep.txt\n",
        "rename keep.txt k\n",
        "chmod 600 keep.txt\n",
    ] {
        let out = f.sftp(cmd).await;
        assert!(!out.ok, "{cmd} worked in read-only mode");
    }
    let out = f.sftp("get keep.txt\nls\n").await;
    assert!(out.ok, "{}", out.all());
    assert_eq!(snapshot(&f.root), before);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_exceeded_mid_upload_leaves_nothing() {
    let mut f = Fixture::new(Some(1024 * 1024), |_| {}).await;
    std::fs::write(f.root.join("small.txt"), b"small").unwrap();
    let big: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(f.local.join("big.bin"), &big).unwrap();
    std::fs::write(f.root.join("existing.bin"), b"old content").unwrap();
    let out = f.sftp("put big.bin\n").await;
    assert!(!out.ok);
    // OpenSSH prints the status code, not the server's message ("quota exceeded", which
    // `raw_client_sees_quota_message` checks).
    assert!(out.all().contains("Failure"), "{}", out.all());
    let out = f.sftp("put big.bin existing.bin\n").await;
    assert!(!out.ok);
    // Nothing partial, under any name.
    let out = f.sftp("ls -a\n").await;
    assert!(out.ok, "{}", out.all());
    assert!(!out.stdout.contains("big.bin"), "{}", out.stdout);
    let names: Vec<String> = std::fs::read_dir(&f.root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, ["existing.bin", "small.txt"], "{names:?}");
    assert_eq!(
        std::fs::read(f.root.join("existing.bin")).unwrap(),
        b"old content"
    );
    // The failed uploads gave their quota back: a small upload still fits.
    std::fs::write(f.local.join("fits.bin"), vec![7u8; 512 * 1024]).unwrap();
    let out = f.sftp("put fits.bin\n").await;
    assert!(out.ok, "{}", out.all());
    assert!(f.gate.audit_entries("sftp.write").len() == 1);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_paths_stay_inside_the_root() {
    let mut f = Fixture::new(None, |_| {}).await;
    let canary = f.tmp.path().join("canary");
    std::fs::create_dir(&canary).unwrap();
    std::fs::write(canary.join("secret.txt"), b"outside the root").unwrap();
    std::fs::set_permissions(
        canary.join("secret.txt"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc/passwd", f.root.join("passwd_link")).unwrap();
    std::os::unix::fs::symlink(canary.join("secret.txt"), f.root.join("secret_link")).unwrap();
    std::os::unix::fs::symlink("../../../canary", f.root.join("canary_dir")).unwrap();
    std::fs::write(f.local.join("x"), b"x").unwrap();
    let canary_before = snapshot(&canary);
    let etc_x = std::path::Path::new("/etc/x");
    assert!(!etc_x.exists());

    let attempts = [
        "get ../../etc/passwd stolen1\n",
        "get /../../../etc/passwd stolen2\n",
        "get passwd_link stolen3\n",
        "get secret_link stolen4\n",
        "get canary_dir/secret.txt stolen5\n",
        "put x /etc/x\n",
        "put x ../x\n",
        "put x ../../../canary/x\n",
        "put x canary_dir/x\n",
        "chmod 777 secret_link\n",
        "chmod 777 canary_dir\n",
        "rename secret_link ../moved\n",
        "rm canary_dir/secret.txt\n",
        "mkdir ../escape\n",
        "symlink /etc/passwd mylink\n",
        "ln -s /etc/passwd mylink2\n",
    ];
    for cmd in attempts {
        let out = f.sftp(cmd).await;
        assert!(!out.ok, "{cmd:?} succeeded: {}", out.all());
    }
    // cd .. beyond the root stays at the root.
    let out = f.sftp("cd ..\ncd ../../..\npwd\nls\n").await;
    assert!(out.ok, "{}", out.all());
    assert!(
        out.stdout.contains("Remote working directory: /\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("passwd_link"), "{}", out.stdout);

    for i in 1..=5 {
        let p = f.local.join(format!("stolen{i}"));
        if let Ok(bytes) = std::fs::read(&p) {
            assert!(!bytes.starts_with(b"root:"), "stolen{i} has /etc/passwd");
            assert_ne!(bytes, b"outside the root", "stolen{i} has the canary");
        }
    }
    assert!(!etc_x.exists());
    assert!(!f.tmp.path().join("data/servers/x").exists());
    assert!(!f.tmp.path().join("moved").exists());
    assert!(!f.root.join("mylink").exists());
    assert!(!f.root.join("mylink2").exists());
    assert_eq!(snapshot(&canary), canary_before, "the canary changed");
    // The links are still links, untouched.
    assert_eq!(
        std::fs::read_link(f.root.join("passwd_link")).unwrap(),
        std::path::Path::new("/etc/passwd")
    );
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_exec_and_forwarding_are_refused() {
    let mut f = Fixture::new(None, |_| {}).await;
    let marker = f.tmp.path().join("ran");
    let cmd = format!("touch {}", marker.display());
    let out = f
        .ssh("alice", Login::Password("correct horse"), &[&cmd])
        .await;
    assert!(!out.ok, "exec worked: {}", out.all());
    let out = f
        .ssh("alice", Login::Password("correct horse"), &["true"])
        .await;
    assert!(!out.ok);
    let out = f
        .ssh(
            "alice",
            Login::Password("correct horse"),
            &["-W", &format!("127.0.0.1:{}", f.port())],
        )
        .await;
    assert!(!out.ok, "stdio forwarding worked: {}", out.all());
    assert!(!marker.exists());
    // A shell, with a pty even: refused too.
    let mut c = f.client("ssh", &Login::Password("correct horse"), &[]);
    c.arg("-p")
        .arg(f.port().to_string())
        .arg("-tt")
        .arg("alice.s1@127.0.0.1");
    let out = run(c).await;
    assert!(!out.ok, "shell worked: {}", out.all());
    f.stop().await;
}

/// An sftp process reading its commands from a pipe, to keep one session open.
struct Live {
    child: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
}

impl Live {
    async fn start(f: &Fixture, user: &str, password: &str) -> Live {
        let mut c = f.sftp_cmd(&Login::Password(password), &[]);
        c.arg("-b")
            .arg("-")
            .arg(format!("{user}.{SERVER}@127.0.0.1"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = c.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        Live {
            child,
            stdin: Some(stdin),
        }
    }

    async fn send(&mut self, line: &str) {
        if let Some(stdin) = &mut self.stdin {
            let _ = stdin.write_all(line.as_bytes()).await;
            let _ = stdin.flush().await;
        }
    }

    /// Whether the process ended within `max`.
    async fn ended_within(&mut self, max: Duration) -> bool {
        tokio::time::timeout(max, self.child.wait()).await.is_ok()
    }

    /// sftp only notices a closed connection at its next command: send one, and say
    /// whether the process then failed at once.
    async fn connection_gone(&mut self) -> bool {
        self.send("ls\n").await;
        match tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            Ok(Ok(status)) => !status.success(),
            _ => false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_permissions_apply_and_revoked_users_are_cut_off() {
    let mut f = Fixture::new(None, |c| c.recheck_secs = 1).await;
    std::fs::write(f.local.join("a.txt"), b"a").unwrap();
    let mut live = Live::start(&f, "alice", "correct horse").await;
    live.send("put a.txt one.txt\n").await;
    assert!(
        eventually(Duration::from_secs(20), || f.root.join("one.txt").exists()).await,
        "the first put did not land"
    );
    f.gate
        .set_permissions("alice", without(Permission::FileCreate));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // `-put`: a failure does not end the batch.
    live.send("-put a.txt two.txt\nput a.txt one.txt\n").await;
    assert!(
        eventually(Duration::from_secs(20), || f
            .gate
            .audit_entries("sftp.write")
            .len()
            == 2)
        .await,
        "the overwrite (file.update is still held) did not land"
    );
    assert!(
        !f.root.join("two.txt").exists(),
        "put without file.create worked"
    );

    f.gate.revoke("alice");
    // Within the recheck interval (1 s) and a margin.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        live.connection_gone().await,
        "a revoked user was not disconnected"
    );
    // And cannot come back.
    let out = f.sftp("ls\n").await;
    assert!(!out.ok);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_auth_attempts_disconnect() {
    let mut f = Fixture::new(None, |c| c.max_auth_attempts = 3).await;
    let out = f
        .sftp_as(
            "alice",
            Login::Password("wrong"),
            &["-o", "NumberOfPasswordPrompts=10"],
            "ls\n",
        )
        .await;
    assert!(!out.ok);
    assert_eq!(f.askpass_calls(), 3, "{}", out.all());
    assert_eq!(
        f.gate
            .authenticate_calls
            .load(std::sync::atomic::Ordering::SeqCst),
        3
    );
    assert_eq!(f.gate.audit_entries("sftp.login_failed").len(), 3);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_ip_and_per_user_limits() {
    let mut f = Fixture::new(None, |c| {
        c.per_ip_per_minute = 4;
        c.max_sessions_per_user = 1;
    })
    .await;
    // One session held open: a second one for the same user is refused.
    let mut live = Live::start(&f, "alice", "correct horse").await;
    live.send("pwd\n").await;
    assert!(
        eventually(Duration::from_secs(20), || f
            .gate
            .audit_entries("sftp.login")
            .len()
            == 1)
        .await
    );
    let out = f.sftp("ls\n").await;
    assert!(!out.ok, "a second session got in");
    live.stdin = None;
    assert!(live.ended_within(Duration::from_secs(10)).await);
    // Two connections so far; two more are allowed this minute, the fifth is not.
    for _ in 0..2 {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", f.port()))
            .await
            .unwrap();
        let mut banner = [0u8; 8];
        tokio::io::AsyncReadExt::read_exact(&mut s, &mut banner)
            .await
            .unwrap();
        assert_eq!(&banner, b"SSH-2.0-");
    }
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", f.port()))
        .await
        .unwrap();
    let mut buf = [0u8; 8];
    let n = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut s, &mut buf),
    )
    .await
    .unwrap()
    .unwrap_or(0);
    assert_eq!(n, 0, "a connection over the per-IP limit got a banner");
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_key_is_kept_and_shutdown_ends_sessions() {
    let mut f = Fixture::new(None, |_| {}).await;
    let scan = |port: u16| async move {
        let out = tokio::process::Command::new("ssh-keyscan")
            .args(["-t", "ed25519", "-p", &port.to_string(), "127.0.0.1"])
            .output()
            .await
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.contains("ssh-ed25519"))
            .map(|l| l.split_whitespace().nth(2).unwrap().to_owned())
            .unwrap()
    };
    let first = scan(f.port()).await;
    let key_file = f.config.host_key.clone();
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let mut live = Live::start(&f, "alice", "correct horse").await;
    live.send("pwd\n").await;
    assert!(
        eventually(Duration::from_secs(20), || f
            .gate
            .audit_entries("sftp.login")
            .len()
            == 1)
        .await
    );
    let port = f.port();
    let server = f.server.take().unwrap();
    let t = Instant::now();
    server.shutdown().await;
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "shutdown took {:?}",
        t.elapsed()
    );
    assert!(live.connection_gone().await, "a session outlived shutdown");
    // The port is closed.
    let addr = ("127.0.0.1", port);
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());

    let again = garrison_sftp::start(f.config.clone(), f.agent.clone(), f.gate.clone())
        .await
        .unwrap();
    let second = scan(again.local_addr().port()).await;
    assert_eq!(first, second, "the host key changed across restarts");
    again.shutdown().await;
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_closed() {
    let mut f = Fixture::new(None, |c| c.idle_timeout_secs = 2).await;
    let mut live = Live::start(&f, "alice", "correct horse").await;
    live.send("pwd\n").await;
    assert!(
        eventually(Duration::from_secs(20), || f
            .gate
            .audit_entries("sftp.login")
            .len()
            == 1)
        .await
    );
    // Busy: requests (`ls`; `pwd` is answered by the client) keep it open past the
    // idle time. Had the connection gone, the failing `ls` would end the batch.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        live.send("ls\n").await;
    }
    assert!(
        !live.ended_within(Duration::from_millis(500)).await,
        "a busy session was closed"
    );
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(live.connection_gone().await, "an idle session stayed open");
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn common_algorithms_connect_and_weak_ones_do_not() {
    let mut f = Fixture::new(None, |_| {}).await;
    let mut good: Vec<Vec<String>> = Vec::new();
    for kex in [
        "curve25519-sha256",
        "curve25519-sha256@libssh.org",
        "ecdh-sha2-nistp256",
        "ecdh-sha2-nistp384",
        "ecdh-sha2-nistp521",
        "diffie-hellman-group-exchange-sha256",
        "diffie-hellman-group16-sha512",
        "diffie-hellman-group14-sha256",
    ] {
        good.push(vec!["-o".into(), format!("KexAlgorithms={kex}")]);
    }
    for cipher in [
        "chacha20-poly1305@openssh.com",
        "aes256-gcm@openssh.com",
        "aes128-gcm@openssh.com",
        "aes256-ctr",
        "aes192-ctr",
        "aes128-ctr",
    ] {
        good.push(vec!["-c".into(), cipher.into()]);
    }
    for mac in [
        "hmac-sha2-256-etm@openssh.com",
        "hmac-sha2-512-etm@openssh.com",
        "hmac-sha2-256",
        "hmac-sha2-512",
    ] {
        good.push(vec![
            "-c".into(),
            "aes128-ctr".into(),
            "-o".into(),
            format!("MACs={mac}"),
        ]);
    }
    for args in &good {
        let extra: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = f
            .sftp_as("alice", Login::Password("correct horse"), &extra, "ls\n")
            .await;
        assert!(out.ok, "{args:?}: {}", out.all());
    }
    for args in [
        ["-c", "aes128-cbc"],
        ["-c", "3des-cbc"],
        ["-o", "MACs=hmac-sha1"],
        ["-o", "KexAlgorithms=diffie-hellman-group14-sha1"],
        ["-o", "HostKeyAlgorithms=ssh-rsa"],
    ] {
        let mut extra = args.to_vec();
        if args[0] == "-o" && args[1].starts_with("MACs") {
            extra.extend(["-c", "aes128-ctr"]);
        }
        let out = f
            .sftp_as("alice", Login::Password("correct horse"), &extra, "ls\n")
            .await;
        assert!(!out.ok, "{args:?} was accepted");
    }
    f.stop().await;
}
