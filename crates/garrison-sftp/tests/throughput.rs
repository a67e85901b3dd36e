//! A 1 GiB round trip through the SFTP server with the OpenSSH client, checked by
//! SHA-256. The comparison with OpenSSH's own sftp-server is a benchmark:
//! `cargo bench -p garrison --bench files`.

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
async fn garrison_round_trip(f: &Fixture) -> (Duration, Duration) {
    let _ = std::fs::remove_file(f.root.join("big.bin"));
    let _ = std::fs::remove_file(f.local.join("back.bin"));
    let t = Instant::now();
    let out = f
        .sftp_as(
            "alice",
            Login::Password("correct horse"),
            &[],
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
            &[],
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
    let (put, get) = garrison_round_trip(&f).await;
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
