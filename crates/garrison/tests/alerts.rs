//! Alerts and notifications against a real `garrison serve`: a demo server burning CPU
//! fires the CPU rule after its duration, one signed webhook delivery arrives (its
//! signature checked here), aiosmtpd receives the email, and the alert resolves when
//! the load stops; crash and crash-loop alerts; muting in a maintenance window; bad
//! rules, channels and windows refused.

mod common;

use axum::body::Bytes;
use axum::http::HeaderMap;
use common::*;
use hmac::{KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A local webhook receiver that records every request.
struct Hook {
    url: String,
    got: Arc<Mutex<Vec<(HeaderMap, String)>>>,
}

impl Hook {
    async fn start() -> Hook {
        let got: Arc<Mutex<Vec<(HeaderMap, String)>>> = Arc::default();
        let store = got.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let store = store.clone();
                async move {
                    store
                        .lock()
                        .unwrap()
                        .push((headers, String::from_utf8_lossy(&body).into_owned()));
                    "ok"
                }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", l.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(l, app).await });
        Hook { url, got }
    }

    fn events(&self) -> Vec<(HeaderMap, Value)> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(h, b)| (h.clone(), serde_json::from_str(b).unwrap()))
            .collect()
    }

    fn raw(&self) -> Vec<(HeaderMap, String)> {
        self.got.lock().unwrap().clone()
    }

    async fn wait_for(&self, event: &str, timeout: Duration) -> (HeaderMap, Value) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.events().into_iter().find(|(_, v)| v["event"] == event) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no {event} delivery; got {:#?}",
                self.events()
                    .iter()
                    .map(|(_, v)| v.clone())
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// aiosmtpd saving into a Maildir, killed when dropped.
struct Smtp {
    port: u16,
    dir: tempfile::TempDir,
    _child: tokio::process::Child,
}

impl Smtp {
    async fn start() -> Smtp {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = tokio::process::Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.path().join("mail"))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 -m aiosmtpd (pip install aiosmtpd)");
        let deadline = Instant::now() + Duration::from_secs(15);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Smtp {
            port,
            dir,
            _child: child,
        }
    }

    fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("mail").join("new")) else {
            return Vec::new();
        };
        entries
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect()
    }
}

const ENV: &[(&str, &str)] = &[
    ("GARRISON_ALERTS_EVAL_SECS", "1"),
    ("GARRISON_METRICS_SAMPLE_SECS", "1"),
    ("GARRISON_NOTIFICATIONS_ALLOW_PRIVATE", "true"),
    ("GARRISON_NOTIFICATIONS_FIRST_BACKOFF_MS", "50"),
];

async fn post(g: &Garrison, path: &str, body: Value) -> Value {
    let (s, v) = g.call("POST", path, Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{path}: {v}");
    v
}

async fn alerts(g: &Garrison, query: &str) -> Vec<Value> {
    let (s, v) = g.call("GET", &format!("/api/alerts?{query}"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["alerts"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_busy_server_fires_a_cpu_alert_that_is_signed_mailed_and_resolves() {
    let hook = Hook::start().await;
    let smtp = Smtp::start().await;
    let g = Garrison::start_with_env(ENV).await;
    let secret = "a webhook signing secret";
    let webhook = post(
        &g,
        "/api/admin/channels",
        json!({"name": "ops hook", "events": ["alert"],
               "channel": {"kind": "webhook", "url": hook.url, "secret": secret}}),
    )
    .await;
    assert!(webhook["channel"].get("secret").is_none(), "{webhook}");
    assert_eq!(webhook["channel"]["has_secret"], true);
    post(
        &g,
        "/api/admin/channels",
        json!({"name": "ops mail", "events": ["alert.firing"],
               "channel": {"kind": "email", "host": "127.0.0.1", "port": smtp.port,
                           "security": "none", "from": "Garrison <garrison@example.com>",
                           "to": ["ops@example.com"],
                           "subject": "[{{severity}}] {{title}}"}}),
    )
    .await;
    let rule = post(
        &g,
        "/api/alerts/rules",
        json!({"name": "hot CPU", "kind": "cpu", "severity": "critical",
               "params": {"threshold": 50.0, "duration_secs": 3}}),
    )
    .await;
    let id = g.create_demo("busy", json!({})).await;
    g.power(&id, "start").await;
    g.wait_state(&id, "running", Duration::from_secs(30)).await;
    let burning = Instant::now();
    g.command(&id, "burn 12").await;

    let (headers, body) = hook.wait_for("alert.firing", Duration::from_secs(25)).await;
    assert!(
        burning.elapsed() >= Duration::from_secs(3),
        "fired only after the rule's duration"
    );
    assert_eq!(body["severity"], "critical");
    assert_eq!(body["server"]["id"], id.as_str());
    assert_eq!(body["server"]["name"], "busy");
    assert!(body["title"].as_str().unwrap().contains("CPU"), "{body}");
    assert_eq!(headers["x-garrison-event"], "alert.firing");
    // The signature, computed here: HMAC-SHA256 over "<timestamp>.<body>".
    let raw = hook
        .raw()
        .into_iter()
        .find(|(h, _)| h["x-garrison-event"] == "alert.firing")
        .unwrap()
        .1;
    let ts = headers["x-garrison-timestamp"].to_str().unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.{raw}").as_bytes());
    let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(headers["x-garrison-signature"].to_str().unwrap(), want);

    let firing = alerts(&g, "state=firing").await;
    assert_eq!(firing.len(), 1, "{firing:#?}");
    assert_eq!(firing[0]["kind"], "cpu");
    assert_eq!(firing[0]["rule_id"], rule["id"]);
    assert!(firing[0]["value"].as_f64().unwrap() > 50.0);

    // The email, through aiosmtpd.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mail = loop {
        if let Some(m) = smtp.messages().into_iter().next() {
            break m;
        }
        assert!(Instant::now() < deadline, "no email arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        mail.contains("Subject: [critical] busy: CPU above 50%"),
        "{mail}"
    );
    assert!(mail.contains("ops@example.com"));

    // The load stops: the alert resolves by itself, and the hook hears it once.
    let (_, resolved) = hook
        .wait_for("alert.resolved", Duration::from_secs(30))
        .await;
    assert_eq!(resolved["server"]["id"], id.as_str());
    let all = alerts(&g, "").await;
    assert_eq!(all.len(), 1, "one alert for one episode: {all:#?}");
    assert_eq!(all[0]["state"], "resolved");
    assert_eq!(all[0]["resolved_by"], "auto");
    let firings = hook
        .events()
        .iter()
        .filter(|(_, v)| v["event"] == "alert.firing")
        .count();
    assert_eq!(firings, 1, "deduplicated while it held");
    assert_eq!(smtp.messages().len(), 1, "mail only subscribed to firing");

    let (_, log) = g
        .call(
            "GET",
            &format!(
                "/api/admin/channels/{}/deliveries",
                webhook["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 2, "{log:#?}");
    assert!(
        log.iter()
            .all(|d| d["ok"] == true && d["attempts"][0]["status"] == 200)
    );
    let (_, stats) = g.call("GET", "/api/alerts/stats", None).await;
    assert_eq!(stats["firing"], 0);
    assert_eq!(stats["resolved_24h"], 1);

    // A test send answers with its delivery.
    let (s, t) = g
        .call(
            "POST",
            &format!(
                "/api/admin/channels/{}/test",
                webhook["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["ok"], true);
    hook.wait_for("test", Duration::from_secs(5)).await;
}

#[tokio::test]
async fn crashes_raise_alerts_that_a_maintenance_window_mutes() {
    let hook = Hook::start().await;
    let g = Garrison::start_with_env(ENV).await;
    post(
        &g,
        "/api/admin/channels",
        json!({"name": "hook", "events": ["alert", "server.crashed"],
               "channel": {"kind": "webhook", "url": hook.url}}),
    )
    .await;
    post(
        &g,
        "/api/alerts/rules",
        json!({"name": "crashed", "kind": "crashed", "severity": "critical"}),
    )
    .await;
    post(
        &g,
        "/api/alerts/rules",
        json!({"name": "crash loop", "kind": "crash_loop", "params": {"count": 2, "window_secs": 600}}),
    )
    .await;
    let id = g
        .create_demo("crashy", json!({"restart": {"enabled": false}}))
        .await;
    // An always-open window for this server.
    let w = post(
        &g,
        "/api/admin/maintenance",
        json!({"name": "all day", "server_id": id, "cron": "0 0 * * *", "duration_secs": 604800}),
    )
    .await;
    assert_eq!(w["open"], true, "{w}");
    let (_, listed) = g
        .call("GET", &format!("/api/servers/{id}/maintenance"), None)
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    let crash = || async {
        g.power(&id, "start").await;
        g.wait_state(&id, "running", Duration::from_secs(30)).await;
        g.command(&id, "crash").await;
        g.wait_state(&id, "crashed", Duration::from_secs(30)).await;
    };
    crash().await;
    crash().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let open = loop {
        let open = alerts(&g, "state=firing").await;
        if open.iter().any(|a| a["kind"] == "crash_loop") {
            break open;
        }
        assert!(Instant::now() < deadline, "no crash loop alert: {open:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(open.iter().all(|a| a["muted"] == true), "{open:#?}");
    assert!(open.iter().any(|a| a["kind"] == "crashed"));
    // The server's own view.
    let (_, own) = g
        .call(
            "GET",
            &format!("/api/servers/{id}/alerts?state=firing"),
            None,
        )
        .await;
    assert_eq!(own["alerts"].as_array().unwrap().len(), 2);
    // Muted: no alert reached the hook (the plain crash events did).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !hook
            .events()
            .iter()
            .any(|(_, v)| v["event"].as_str().unwrap().starts_with("alert")),
        "{:#?}",
        hook.events()
    );
    assert!(
        hook.events()
            .iter()
            .any(|(_, v)| v["event"] == "server.crashed")
    );

    // Window gone: the next crash is heard.
    let (s, _) = g
        .call(
            "DELETE",
            &format!("/api/admin/maintenance/{}", w["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    crash().await;
    let (_, fired) = hook.wait_for("alert.firing", Duration::from_secs(15)).await;
    assert!(
        fired["title"].as_str().unwrap().contains("crashed"),
        "{fired}"
    );

    // Resolving by hand; bulk resolve of the rest; a second resolve is refused.
    let open = alerts(&g, "state=firing").await;
    let one = open.iter().find(|a| a["kind"] == "crash_loop").unwrap();
    let path = format!("/api/alerts/{}/resolve", one["id"].as_str().unwrap());
    let (s, v) = g.call("POST", &path, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "resolved");
    assert_ne!(v["resolved_by"], "auto");
    let (s, v) = g.call("POST", &path, None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "alert_resolved");
    let (s, v) = g
        .call(
            "POST",
            "/api/alerts/resolve",
            Some(json!({"all": true, "server": id})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["resolved"].as_u64().unwrap() >= 1, "{v}");
    assert!(alerts(&g, "state=firing").await.is_empty());
}

#[tokio::test]
async fn bad_rules_channels_and_windows_are_refused() {
    let g = Garrison::start().await;
    let id = g.create_demo("x", json!({})).await;
    for (body, field) in [
        (json!({"name": "", "kind": "cpu"}), "name"),
        (
            json!({"name": "x", "kind": "crashed", "params": {"threshold": 5.0}}),
            "params.threshold",
        ),
        (
            json!({"name": "x", "kind": "cpu", "params": {"duration_secs": 99999999}}),
            "params.duration_secs",
        ),
        (
            json!({"name": "x", "kind": "crash_loop", "params": {"count": 1}}),
            "params.count",
        ),
        (
            json!({"name": "x", "kind": "cpu", "severity": "apocalyptic"}),
            "severity",
        ),
        (
            json!({"name": "x", "kind": "cpu", "server_id": "nope"}),
            "server_id",
        ),
        (
            json!({"name": "x", "kind": "data_disk_low", "server_id": id}),
            "server_id",
        ),
        // Served over plain HTTP there is no certificate to watch.
        (json!({"name": "x", "kind": "certificate_expiry"}), "kind"),
        (
            json!({"name": "x", "kind": "cpu", "params": {"days": 3}}),
            "params.days",
        ),
    ] {
        let (s, v) = g
            .call("POST", "/api/alerts/rules", Some(body.clone()))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert_eq!(v["error"]["field"], field, "{body}: {v}");
    }
    let (s, _) = g
        .call(
            "POST",
            "/api/alerts/rules",
            Some(json!({"name": "x", "kind": "weather"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let hook = json!({"kind": "webhook", "url": "http://127.0.0.1:9/x"});
    for (body, field) in [
        (
            json!({"name": "h", "events": ["alert"], "channel": {"kind": "webhook", "url": "ftp://x"}}),
            "channel.url",
        ),
        (
            json!({"name": "h", "events": ["weather"], "channel": hook}),
            "events[0]",
        ),
        (
            json!({"name": "h", "events": [], "channel": hook}),
            "events",
        ),
        (
            json!({"name": "h", "events": ["alert"], "servers": ["nope"], "channel": hook}),
            "servers[0]",
        ),
        (
            json!({"name": "m", "events": ["alert"], "channel": {"kind": "email", "host": "h", "port": 25,
                    "security": "none", "from": "not an address", "to": ["a@example.com"]}}),
            "channel.from",
        ),
    ] {
        let (s, v) = g
            .call("POST", "/api/admin/channels", Some(body.clone()))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert_eq!(v["error"]["field"], field, "{body}: {v}");
    }
    for (body, field) in [
        (
            json!({"name": "w", "cron": "nope", "duration_secs": 600}),
            "cron",
        ),
        (
            json!({"name": "w", "cron": "@daily", "timezone": "Moon/Base", "duration_secs": 600}),
            "timezone",
        ),
        (
            json!({"name": "w", "cron": "@daily", "duration_secs": 5}),
            "duration_secs",
        ),
        (
            json!({"name": "w", "cron": "@daily", "duration_secs": 600, "server_id": "nope"}),
            "server_id",
        ),
    ] {
        let (s, v) = g
            .call("POST", "/api/admin/maintenance", Some(body.clone()))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert_eq!(v["error"]["field"], field, "{body}: {v}");
    }
    for path in [
        "/api/alerts/rules",
        "/api/admin/channels",
        "/api/admin/maintenance",
    ] {
        let (_, v) = g.call("GET", path, None).await;
        assert_eq!(v, json!([]), "{path}: nothing stored");
    }

    // Without allow_private (the default), a loopback webhook is refused at delivery.
    let (s, c) = g
        .call(
            "POST",
            "/api/admin/channels",
            Some(json!({"name": "local", "events": ["alert"], "channel": hook})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let (s, t) = g
        .call(
            "POST",
            &format!("/api/admin/channels/{}/test", c["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["ok"], false);
    let attempts = t["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "not retried: {t}");
    assert!(
        attempts[0]["error"].as_str().unwrap().contains("private"),
        "{t}"
    );
    // Replacing without the secret keeps it; the API never shows it.
    let (s, c) = g
        .call(
            "POST",
            "/api/admin/channels",
            Some(json!({"name": "signed", "events": ["alert"],
                        "channel": {"kind": "webhook", "url": "https://example.com/h", "secret": "s3cret"}})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let (s, v) = g
        .call(
            "PUT",
            &format!("/api/admin/channels/{}", c["id"].as_str().unwrap()),
            Some(json!({"name": "renamed", "events": ["alert"],
                        "channel": {"kind": "webhook", "url": "https://example.com/h"}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["channel"]["has_secret"], true, "{v}");
    assert!(!v.to_string().contains("s3cret"));
}
