//! A 1 GiB round trip through the SFTP server with the OpenSSH client, checked by
//! SHA-256, with the throughput printed. `vs_openssh` (ignored; run it in release with
//! `--ignored --nocapture`) puts the same file through Debian's sshd + sftp-server.

mod common;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::process::Command;

const SIZE_MIB: u64 = 1024;

async fn make_file(path: &Path) {
    let out = Command::new("dd")
        .arg("if=/dev/urandom")
        .arg(format!("of={}", path.display()))
        .args(["bs=1M", &format!("count={SIZE_MIB}"), "status=none"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "dd failed");
}

async fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().await.unwrap();
    assert!(out.status.success(), "sha256sum failed");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

fn rate(d: Duration) -> String {
    format!(
        "{:.1} s, {:.0} MiB/s",
        d.as_secs_f64(),
        SIZE_MIB as f64 / d.as_secs_f64()
    )
}

/// (put, get) times through Garrison's server.
async fn garrison_round_trip(f: &Fixture, extra: &[&str]) -> (Duration, Duration) {
    let _ = std::fs::remove_file(f.root.join("big.bin"));
    let _ = std::fs::remove_file(f.local.join("back.bin"));
    let t = Instant::now();
    let out = f
        .sftp_as(
            "alice",
            Login::Password("correct horse"),
            extra,
            "put big.bin\n",
        )
        .await;
    let put = t.elapsed();
    assert!(out.ok, "{}", out.all());
    let t = Instant::now();
    let out = f
        .sftp_as(
            "alice",
            Login::Password("correct horse"),
            extra,
            "get big.bin back.bin\n",
        )
        .await;
    let get = t.elapsed();
    assert!(out.ok, "{}", out.all());
    (put, get)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_round_trip() {
    let mut f = Fixture::new(None, |_| {}).await;
    let local = f.local.join("big.bin");
    make_file(&local).await;
    let want = sha256(&local).await;
    let (put, get) = garrison_round_trip(&f, &[]).await;
    eprintln!("garrison sftp 1 GiB: put {}, get {}", rate(put), rate(get));
    assert_eq!(
        sha256(&f.root.join("big.bin")).await,
        want,
        "upload corrupted"
    );
    assert_eq!(
        sha256(&f.local.join("back.bin")).await,
        want,
        "download corrupted"
    );
    let writes = f.gate.audit_entries("sftp.write");
    assert_eq!(writes[0].bytes, Some(SIZE_MIB * 1024 * 1024));
    f.stop().await;
}

/// Debian's sshd with its sftp-server on a free port, a key for root.
async fn openssh_round_trip(f: &Fixture, extra: &[&str]) -> Option<(Duration, Duration)> {
    let sshd = Path::new("/usr/sbin/sshd");
    if !sshd.exists() {
        eprintln!("no sshd; skipped");
        return None;
    }
    let dir = f.tmp.path().join("sshd");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap();
    let key = f.tmp.path().join("bench_key");
    if !key.exists() {
        f.keygen("bench_key").await;
    }
    let authorized = dir.join("authorized_keys");
    std::fs::copy(key.with_extension("pub"), &authorized).unwrap();
    let host = dir.join("host_key");
    let _ = std::fs::remove_file(&host);
    let _ = std::fs::remove_file(host.with_extension("pub"));
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&host)
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = dir.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "ListenAddress 127.0.0.1:{port}\nHostKey {}\nAuthorizedKeysFile {}\nPidFile none\n\
             UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n\
             Subsystem sftp /usr/lib/openssh/sftp-server\n",
            host.display(),
            authorized.display()
        ),
    )
    .unwrap();
    let mut daemon = Command::new(sshd)
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .await
    );
    let sftp = |batch: &'static str| {
        let mut c = f.client("sftp", &Login::Key(&key), extra);
        let b = f.tmp.path().join("openssh-batch");
        std::fs::write(&b, batch).unwrap();
        c.arg("-P")
            .arg(port.to_string())
            .arg("-b")
            .arg(b)
            .arg("root@127.0.0.1");
        c
    };
    let remote = f.tmp.path().join("openssh-remote.bin");
    let _ = std::fs::remove_file(&remote);
    let put_batch: &'static str =
        Box::leak(format!("put big.bin {}\n", remote.display()).into_boxed_str());
    let get_batch: &'static str =
        Box::leak(format!("get {} back2.bin\n", remote.display()).into_boxed_str());
    let t = Instant::now();
    let out = run(sftp(put_batch)).await;
    let put = t.elapsed();
    assert!(out.ok, "{}", out.all());
    let t = Instant::now();
    let out = run(sftp(get_batch)).await;
    let get = t.elapsed();
    assert!(out.ok, "{}", out.all());
    let _ = daemon.kill().await;
    let _ = std::fs::remove_file(&remote);
    Some((put, get))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
async fn vs_openssh() {
    let mut f = Fixture::new(None, |_| {}).await;
    make_file(&f.local.join("big.bin")).await;
    let runs: [&[&str]; 3] = [&[], &["-c", "aes128-gcm@openssh.com"], &["-B", "32768"]];
    for extra in runs {
        let name = if extra.is_empty() {
            "defaults".to_owned()
        } else {
            extra.join(" ")
        };
        for round in 0..2 {
            let (gp, gg) = garrison_round_trip(&f, extra).await;
            if let Some((op, og)) = openssh_round_trip(&f, extra).await {
                eprintln!(
                    "[{name}, round {round}] put: garrison {} vs openssh {} ({:.2}x); \
                     get: garrison {} vs openssh {} ({:.2}x)",
                    rate(gp),
                    rate(op),
                    op.as_secs_f64() / gp.as_secs_f64(),
                    rate(gg),
                    rate(og),
                    og.as_secs_f64() / gg.as_secs_f64(),
                );
            }
        }
    }
    f.stop().await;
}
