//! HTTP hardening: optional HTTPS with HSTS and Secure cookies, CORS only for the
//! configured origins, security headers.

mod common;

use common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// A self-signed certificate valid `days` days; returns (cert, key) paths.
fn make_cert(dir: &Path, name: &str, days: u32) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}-key.pem")),
    );
    let ok = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days"])
        .arg(days.to_string())
        .args(["-subj", &format!("/CN={name}"), "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "openssl could not make a test certificate");
    (cert, key)
}

/// `garrison serve` over HTTPS; returns the child and its `https://` base URL.
fn serve_https(data: &Path, cert: &Path, key: &Path, env: &[(&str, &str)]) -> (Child, String) {
    let mut cmd = Command::new(garrison_bin());
    clean(&mut cmd)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env("GARRISON_TLS_CERT", cert)
        .env("GARRISON_TLS_KEY", key)
        .env("GARRISON_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
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
    (child, base)
}

fn stop(mut child: Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
}

/// Logs in as the admin over HTTPS; returns the cookies to send back and the
/// response's head.
fn login(base: &str) -> (String, String) {
    let (head, _) = curl(&[
        "-H",
        "content-type: application/json",
        "-d",
        &format!("{{\"username\":\"admin\",\"password\":\"{ADMIN_PASSWORD}\"}}"),
        &format!("{base}/api/auth/login"),
    ]);
    let cookies: Vec<&str> = head
        .lines()
        .filter_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .map(|c| c.split(';').next().unwrap_or(c))
        .collect();
    assert!(!cookies.is_empty(), "{head}");
    (cookies.join("; "), head)
}

/// An API call over HTTPS with the session cookies; returns (status, JSON body).
fn call(base: &str, cookie: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{base}{path}");
    let csrf = format!("x-csrf-token: {}", csrf_of(cookie));
    let cookie = format!("cookie: {cookie}");
    let body = body.map(|b| b.to_string());
    let mut args = vec![
        "-X",
        method,
        "-H",
        &cookie,
        "-H",
        &csrf,
        "-H",
        "content-type: application/json",
    ];
    if let Some(b) = &body {
        args.extend(["-d", b.as_str()]);
    }
    args.push(&url);
    let (out, err) = curl(&args);
    let (head, text) = out
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{out}{err}"));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(text).unwrap_or(Value::Null))
}

#[test]
fn https_with_hsts_and_secure_cookies() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(dir.path(), "localhost", 1);
    let data = dir.path().join("data");
    let (child, base) = serve_https(&data, &cert, &key, &[]);

    let (head, err) = curl(&[&format!("{base}/api/health")]);
    assert!(head.starts_with("HTTP/"), "{head}{err}");
    assert!(head.contains(" 200"), "{head}");
    assert!(
        head.to_lowercase()
            .contains("strict-transport-security: max-age=31536000"),
        "{head}"
    );
    let (_, head) = login(&base);
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

    stop(child);

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

/// The certificate-expiry alert watches the chain Garrison serves: the earliest end of
/// any certificate in it, and stays quiet for a rule that looks less far ahead.
#[test]
fn a_certificate_near_its_end_raises_an_alert() {
    let dir = tempfile::tempdir().unwrap();
    let (leaf, key) = make_cert(dir.path(), "localhost", 90);
    let (issuer, _) = make_cert(dir.path(), "issuer", 10);
    let chain = dir.path().join("chain.pem");
    std::fs::write(
        &chain,
        [
            std::fs::read(&leaf).unwrap(),
            std::fs::read(&issuer).unwrap(),
        ]
        .concat(),
    )
    .unwrap();
    let data = dir.path().join("data");
    let (child, base) = serve_https(&data, &chain, &key, &[("GARRISON_ALERTS_EVAL_SECS", "1")]);
    let (cookie, _) = login(&base);

    for (body, field) in [
        (
            json!({"name": "x", "kind": "certificate_expiry", "params": {"days": 0}}),
            "params.days",
        ),
        (
            json!({"name": "x", "kind": "certificate_expiry", "params": {"days": 400}}),
            "params.days",
        ),
        (
            json!({"name": "x", "kind": "certificate_expiry", "params": {"threshold": 5.0}}),
            "params.threshold",
        ),
    ] {
        let (s, v) = call(
            &base,
            &cookie,
            "POST",
            "/api/alerts/rules",
            Some(body.clone()),
        );
        assert_eq!(s, 422, "{body}: {v}");
        assert_eq!(v["error"]["field"], field, "{body}: {v}");
    }
    let (s, _) = call(&base, &cookie, "GET", "/api/alerts/rules", None);
    assert_eq!(s, 200);

    let rule = |name: &str, days: u32| {
        let (s, v) = call(
            &base,
            &cookie,
            "POST",
            "/api/alerts/rules",
            Some(
                json!({"name": name, "kind": "certificate_expiry", "params": {"days": days}, "severity": "critical"}),
            ),
        );
        assert_eq!(s, 201, "{v}");
        v["id"].as_str().unwrap().to_owned()
    };
    // The issuer ends in 10 days: a 30-day rule fires, a 7-day one does not.
    let near = rule("Certificate ends within 30 days", 30);
    let far = rule("Certificate ends within 7 days", 7);
    let deadline = Instant::now() + Duration::from_secs(20);
    let alert = loop {
        let (s, v) = call(&base, &cookie, "GET", "/api/alerts?state=firing", None);
        assert_eq!(s, 200, "{v}");
        let list = v["alerts"].as_array().cloned().unwrap_or_default();
        if let Some(a) = list.iter().find(|a| a["rule_id"] == near.as_str()) {
            assert!(
                !list.iter().any(|a| a["rule_id"] == far.as_str()),
                "the 7-day rule fired: {v}"
            );
            break a.clone();
        }
        assert!(Instant::now() < deadline, "no certificate alert: {v}");
        std::thread::sleep(Duration::from_millis(300));
    };
    let title = alert["title"].as_str().unwrap();
    assert!(
        title.starts_with("Certificate 2 of the HTTPS chain expires in 9 days")
            || title.starts_with("Certificate 2 of the HTTPS chain expires in 10 days"),
        "{alert}"
    );
    assert_eq!(alert["severity"], "critical", "{alert}");
    let days_left = alert["value"].as_f64().unwrap();
    assert!((9.9..=10.0).contains(&days_left), "{alert}");
    assert!(
        alert["message"].as_str().unwrap().contains("Renew it"),
        "{alert}"
    );
    // Still quiet after a few more evaluations.
    std::thread::sleep(Duration::from_secs(3));
    let (_, v) = call(&base, &cookie, "GET", "/api/alerts?state=firing", None);
    let list = v["alerts"].as_array().unwrap();
    assert_eq!(
        list.iter()
            .filter(|a| a["rule_id"] == near.as_str())
            .count(),
        1,
        "{v}"
    );
    assert!(!list.iter().any(|a| a["rule_id"] == far.as_str()), "{v}");
    stop(child);
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
