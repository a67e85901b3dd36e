//! File benchmarks against a real `garrison serve` (release build under `cargo bench`):
//! SFTP upload and download of a large file through Garrison and through OpenSSH's own
//! sftp-server (Debian `openssh-server`'s sshd on another port, same client, same file,
//! same run), the API's upload and download throughput of a multi-GiB file with the
//! panel's peak memory while it streams (which must stay bounded: the one assertion
//! here, about memory, never about time), and the time to the first page of a
//! directory of 100,000 files. Prints a table.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Samples a process's RSS every 20 ms until dropped; `peak()` is the largest seen.
struct RssWatch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl RssWatch {
    fn start(pid: u32) -> RssWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !s.load(Ordering::Relaxed) {
                peak = peak.max(rss_kib(pid));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        });
        RssWatch {
            stop,
            thread: Some(thread),
        }
    }

    fn peak(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().map(|t| t.join().unwrap()).unwrap_or(0)
    }
}

/// `mib` MiB of incompressible bytes (xorshift), and their SHA-256.
fn make_file(path: &Path, mib: usize) -> String {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut h = Sha256::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for chunk in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        h.update(&block);
        f.write_all(&block).unwrap();
    }
    f.flush().unwrap();
    hex::encode(h.finalize())
}

fn sha256_file(path: &Path) -> String {
    let mut f = std::fs::File::open(path).unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}

/// Run OpenSSH's `sftp` in batch mode; returns the seconds it took.
fn sftp_batch(port: u16, login: &str, key: &Path, batch: &str, dir: &Path) -> f64 {
    let file = dir.join("batch");
    std::fs::write(&file, batch).unwrap();
    let t0 = Instant::now();
    let out = Command::new("sftp")
        .arg("-b")
        .arg(&file)
        .arg("-P")
        .arg(port.to_string())
        .arg("-i")
        .arg(key)
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "LogLevel=ERROR",
        ])
        .arg(format!("{login}@127.0.0.1"))
        .stdin(Stdio::null())
        .output()
        .expect("run sftp");
    let secs = t0.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "sftp {batch:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    secs
}

/// Debian's sshd on a free loopback port with only our test key, or `None` without it.
struct OpenSsh {
    child: std::process::Child,
    port: u16,
    user: String,
}

impl Drop for OpenSsh {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_openssh(dir: &Path, public_key: &Path) -> Option<OpenSsh> {
    let sshd = Path::new("/usr/sbin/sshd");
    let server = Path::new("/usr/lib/openssh/sftp-server");
    if !sshd.exists() || !server.exists() {
        return None;
    }
    let host_key = dir.join("ssh_host_ed25519_key");
    ssh_keygen(&host_key);
    let authorized = dir.join("authorized_keys");
    std::fs::copy(public_key, &authorized).ok()?;
    if nix::unistd::geteuid().is_root() {
        // sshd's privilege separation directory.
        std::fs::create_dir_all("/run/sshd").ok()?;
    }
    let port = free_port();
    let child = Command::new(sshd)
        .args(["-D", "-e", "-f", "/dev/null", "-p", &port.to_string()])
        .arg("-o")
        .arg("ListenAddress=127.0.0.1")
        .arg("-o")
        .arg(format!("HostKey={}", host_key.display()))
        .arg("-o")
        .arg(format!("AuthorizedKeysFile={}", authorized.display()))
        .args([
            "-o",
            "StrictModes=no",
            "-o",
            "UsePAM=no",
            "-o",
            "PasswordAuthentication=no",
            "-o",
            "PermitRootLogin=prohibit-password",
            "-o",
            "PidFile=none",
        ])
        .arg("-o")
        .arg(format!("Subsystem=sftp {}", server.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let user = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name)?;
    Some(OpenSsh { child, port, user })
}

fn mib_per_s(mib: usize, secs: f64) -> String {
    format!("{:.0} MiB/s ({secs:.2} s)", mib as f64 / secs)
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (sftp_mib, api_mib, listing) = if full {
        (1024, 3072, 100_000)
    } else {
        (16, 32, 2_000)
    };
    let mut rows = Vec::new();
    let tmp = tempfile::tempdir().unwrap();
    let g = Garrison::start_with_env(&[("GARRISON_RATE_LIMITS", "off")]).await;
    let id = g.create_demo("bench-files", json!({})).await;
    let server_dir: PathBuf = g.data_dir().join("servers").join(&id);

    // SFTP through Garrison and through OpenSSH, same client and file.
    let key = tmp.path().join("id_ed25519");
    ssh_keygen(&key);
    let public = tmp.path().join("id_ed25519.pub");
    let cookie = g.login("admin", ADMIN_PASSWORD).await.unwrap();
    let r = g
        .http
        .post(g.url("/api/account/ssh-keys"))
        .session(&cookie)
        .json(&json!({"name": "bench", "public_key": std::fs::read_to_string(&public).unwrap()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let (_, details) = g
        .call("GET", &format!("/api/servers/{id}/sftp"), None)
        .await;
    let login = details["username"].as_str().unwrap().to_owned();
    let port = g.sftp_port.expect("SFTP port");
    let src = tmp.path().join("src.bin");
    let sum = make_file(&src, sftp_mib);
    let back = tmp.path().join("back.bin");
    let dir = tmp.path().to_owned();
    let (put, get) = {
        let (src, back, key, login, dir) = (
            src.clone(),
            back.clone(),
            key.clone(),
            login.clone(),
            dir.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let put = sftp_batch(
                port,
                &login,
                &key,
                &format!("put {} big.bin\n", src.display()),
                &dir,
            );
            let get = sftp_batch(
                port,
                &login,
                &key,
                &format!("get big.bin {}\n", back.display()),
                &dir,
            );
            (put, get)
        })
        .await
        .unwrap()
    };
    assert_eq!(
        sha256_file(&back),
        sum,
        "the SFTP round trip changed the file"
    );
    std::fs::remove_file(&back).unwrap();
    std::fs::remove_file(server_dir.join("big.bin")).unwrap();
    rows.push((
        format!("SFTP upload {sftp_mib} MiB, Garrison"),
        mib_per_s(sftp_mib, put),
    ));
    rows.push((
        format!("SFTP download {sftp_mib} MiB, Garrison"),
        mib_per_s(sftp_mib, get),
    ));
    let openssh = {
        let (dir, public) = (dir.clone(), public.clone());
        tokio::task::spawn_blocking(move || start_openssh(&dir, &public))
            .await
            .unwrap()
    };
    match openssh {
        Some(o) => {
            let target = tmp.path().join("openssh-target.bin");
            let (oput, oget) = {
                let (src, back, key, dir, target) = (
                    src.clone(),
                    back.clone(),
                    key.clone(),
                    dir.clone(),
                    target.clone(),
                );
                let (port, user) = (o.port, o.user.clone());
                tokio::task::spawn_blocking(move || {
                    let put = sftp_batch(
                        port,
                        &user,
                        &key,
                        &format!("put {} {}\n", src.display(), target.display()),
                        &dir,
                    );
                    let get = sftp_batch(
                        port,
                        &user,
                        &key,
                        &format!("get {} {}\n", target.display(), back.display()),
                        &dir,
                    );
                    (put, get)
                })
                .await
                .unwrap()
            };
            assert_eq!(sha256_file(&back), sum);
            std::fs::remove_file(&back).unwrap();
            std::fs::remove_file(&target).unwrap();
            rows.push((
                format!("SFTP upload {sftp_mib} MiB, OpenSSH sftp-server"),
                mib_per_s(sftp_mib, oput),
            ));
            rows.push((
                format!("SFTP download {sftp_mib} MiB, OpenSSH sftp-server"),
                mib_per_s(sftp_mib, oget),
            ));
            rows.push((
                "SFTP Garrison / OpenSSH throughput (budget ≥ 0.9)".into(),
                format!("upload {:.2}, download {:.2}", oput / put, oget / get),
            ));
        }
        None => rows.push((
            "SFTP through OpenSSH sftp-server".into(),
            "skipped: /usr/sbin/sshd or sftp-server missing (apt-get install openssh-server)"
                .into(),
        )),
    }
    std::fs::remove_file(&src).unwrap();

    // The API: a multi-GiB upload in resumable chunks and a streamed download.
    let big = tmp.path().join("api.bin");
    let api_sum = make_file(&big, api_mib);
    let size = (api_mib as u64) << 20;
    let idle_rss = rss_kib(g.pid());
    let watch = RssWatch::start(g.pid());
    let t0 = Instant::now();
    let (s, v) = g
        .call(
            "POST",
            &format!("/api/servers/{id}/files/uploads"),
            Some(json!({"path": "api.bin", "size": size})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let upload = v["id"].as_str().unwrap().to_owned();
    let chunk_len = 64usize << 20;
    let mut file = std::fs::File::open(&big).unwrap();
    let mut offset = 0u64;
    while offset < size {
        let mut chunk = vec![0u8; chunk_len.min((size - offset) as usize)];
        file.read_exact(&mut chunk).unwrap();
        let n = chunk.len() as u64;
        let r = g
            .http
            .patch(g.url(&format!(
                "/api/servers/{id}/files/uploads/{upload}?offset={offset}"
            )))
            .bearer_auth(&g.key)
            .body(chunk)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        offset += n;
    }
    let up_secs = t0.elapsed().as_secs_f64();
    let up_peak = watch.peak();
    let watch = RssWatch::start(g.pid());
    let t0 = Instant::now();
    let r = g
        .http
        .get(g.url(&format!("/api/servers/{id}/files/download?path=api.bin")))
        .bearer_auth(&g.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut h = Sha256::new();
    let mut got = 0u64;
    let mut stream = r.bytes_stream();
    use futures_util::StreamExt;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        got += chunk.len() as u64;
        h.update(&chunk);
    }
    let down_secs = t0.elapsed().as_secs_f64();
    let down_peak = watch.peak();
    assert_eq!(got, size);
    assert_eq!(
        hex::encode(h.finalize()),
        api_sum,
        "the API round trip changed the file"
    );
    std::fs::remove_file(&big).unwrap();
    rows.push((
        format!("API upload {api_mib} MiB (64 MiB chunks)"),
        format!(
            "{}, panel peak RSS {} MiB (idle {} MiB)",
            mib_per_s(api_mib, up_secs),
            up_peak / 1024,
            idle_rss / 1024
        ),
    ));
    rows.push((
        format!("API download {api_mib} MiB"),
        format!(
            "{}, panel peak RSS {} MiB",
            mib_per_s(api_mib, down_secs),
            down_peak / 1024
        ),
    ));
    // Streaming means memory does not grow with the file: at most a few chunks in flight.
    let bound = idle_rss + 3 * (chunk_len as u64 >> 10) + 64 * 1024;
    assert!(
        up_peak < bound && down_peak < bound,
        "memory grew with the transfer: peaks {up_peak} / {down_peak} KiB, bound {bound} KiB"
    );
    let _ = g
        .call(
            "POST",
            &format!("/api/servers/{id}/files/delete"),
            Some(json!({"paths": ["api.bin"]})),
        )
        .await;

    // A directory of many files: time to the first page.
    let many = server_dir.join("many");
    std::fs::create_dir(&many).unwrap();
    for i in 0..listing {
        std::fs::File::create(many.join(format!("chunk-{i:06}.dat"))).unwrap();
    }
    let mut times = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        let (s, v) = g
            .call(
                "GET",
                &format!("/api/servers/{id}/files?path=many&limit=100"),
                None,
            )
            .await;
        times.push(t0.elapsed().as_secs_f64() * 1e3);
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["total"], listing);
    }
    let first = times[0];
    times.sort_by(f64::total_cmp);
    rows.push((
        format!("list a directory of {listing} files, first page of 100"),
        format!("first {first:.0} ms, median of 5 {:.0} ms", times[2]),
    ));

    print_table(&rows, full, "files");
}
