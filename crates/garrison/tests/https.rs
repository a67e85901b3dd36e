//! HTTP hardening: optional HTTPS with HSTS and Secure cookies, CORS only for the
//! configured origins, security headers.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn clean(cmd: &mut Command) -> &mut Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("GARRISON_") {
            cmd.env_remove(k);
        }
    }
    // Never the default SFTP port: tests run side by side.
    cmd.env("GARRISON_SFTP_LISTEN", "127.0.0.1:0")
}

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sk", "-D", "-", "--max-time", "10"])
        .args(args)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn https_with_hsts_and_secure_cookies() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "openssl could not make a test certificate");
    let data = dir.path().join("data");
    let mut child = clean(&mut Command::new(garrison_bin()))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("GARRISON_TLS_CERT", &cert)
        .env("GARRISON_TLS_KEY", &key)
        .env("GARRISON_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut base = String::new();
    while base.is_empty() {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "garrison exited");
        if let Some(rest) = line.split("listening on ").nth(1) {
            base = rest.split_whitespace().next().unwrap().to_owned();
        }
    }
    assert!(base.starts_with("https://"), "{base}");

    let (head, err) = curl(&[&format!("{base}/api/health")]);
    assert!(head.starts_with("HTTP/"), "{head}{err}");
    assert!(head.contains(" 200"), "{head}");
    assert!(
        head.to_lowercase()
            .contains("strict-transport-security: max-age=31536000"),
        "{head}"
    );
    let (head, _) = curl(&[
        "-H",
        "content-type: application/json",
        "-d",
        &format!("{{\"username\":\"admin\",\"password\":\"{ADMIN_PASSWORD}\"}}"),
        &format!("{base}/api/auth/login"),
    ]);
    let cookie = head
        .lines()
        .find(|l| {
            l.to_lowercase()
                .starts_with("set-cookie: garrison_session=")
        })
        .unwrap_or_else(|| panic!("{head}"));
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    // Plain HTTP on the HTTPS port gets nowhere.
    let (head, _) = curl(&[&format!(
        "{}/api/health",
        base.replace("https://", "http://")
    )]);
    assert!(!head.contains(" 200"), "{head}");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());

    // Half a TLS setting, or a missing file, is refused at start, naming the key.
    for (env, needle) in [
        (
            vec![("GARRISON_TLS_CERT", cert.to_str().unwrap())],
            "tls_key",
        ),
        (
            vec![
                ("GARRISON_TLS_CERT", "/nonexistent.pem"),
                ("GARRISON_TLS_KEY", key.to_str().unwrap()),
            ],
            "tls_cert",
        ),
        (
            vec![
                ("GARRISON_TLS_CERT", key.to_str().unwrap()),
                ("GARRISON_TLS_KEY", key.to_str().unwrap()),
            ],
            "tls_cert",
        ),
    ] {
        let mut cmd = Command::new(garrison_bin());
        clean(&mut cmd)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data);
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{env:?} started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{env:?}: {err}");
    }
}

#[tokio::test]
async fn cors_only_for_configured_origins() {
    let g = Garrison::start_with_env(&[("GARRISON_ALLOWED_ORIGINS", "https://panel.example.com")])
        .await;
    let preflight = |origin: &'static str| {
        g.http
            .request(reqwest::Method::OPTIONS, g.url("/api/servers"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let r = preflight("https://panel.example.com").await.unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://panel.example.com"
    );
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
    let r = preflight("https://evil.example").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());

    let plain = Garrison::start().await;
    let r = plain
        .http
        .get(plain.url("/api/health"))
        .header("origin", "https://panel.example.com")
        .send()
        .await
        .unwrap();
    assert!(
        r.headers().get("access-control-allow-origin").is_none(),
        "CORS is on by default"
    );
    assert!(
        r.headers().get("strict-transport-security").is_none(),
        "HSTS over plain HTTP"
    );
}
