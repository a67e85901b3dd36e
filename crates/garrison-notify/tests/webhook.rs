//! Webhook, Discord and Slack deliveries against a local HTTP listener on 127.0.0.1.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use garrison_notify::{
    Channel, Delivery, Notification, Sender, SenderOptions, ServerRef, Severity,
};
use hmac::{KeyInit, Mac};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
struct Recorded {
    at: Instant,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

/// What the listener answers, in order; after the script, 200.
#[derive(Clone)]
enum Answer {
    Status(u16),
    RetryAfter(u16, &'static str),
    Hang,
}

#[derive(Clone)]
struct Listener {
    seen: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
}

impl Listener {
    fn seen(&self) -> Vec<Recorded> {
        self.seen.lock().unwrap().clone()
    }
}

async fn record(
    State(l): State<Listener>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    l.seen.lock().unwrap().push(Recorded {
        at: Instant::now(),
        path: uri.path().to_owned(),
        headers,
        body,
    });
    let next = l.script.lock().unwrap().pop_front();
    match next {
        None => StatusCode::OK.into_response(),
        Some(Answer::Status(s)) => (StatusCode::from_u16(s).unwrap(), "scripted").into_response(),
        Some(Answer::RetryAfter(s, after)) => (
            StatusCode::from_u16(s).unwrap(),
            [("retry-after", after)],
            "slow down",
        )
            .into_response(),
        Some(Answer::Hang) => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            StatusCode::OK.into_response()
        }
    }
}

/// A listener on 127.0.0.1 answering `script`; its task ends with the test's runtime.
async fn listen(script: Vec<Answer>) -> (String, Listener) {
    let l = Listener {
        seen: Arc::default(),
        script: Arc::new(Mutex::new(script.into())),
    };
    let app = axum::Router::new().fallback(record).with_state(l.clone());
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(tcp, app).await;
    });
    (format!("http://{addr}"), l)
}

fn sender(allow_private: bool, attempts: u32, timeout: Duration) -> Sender {
    Sender::new(SenderOptions {
        allow_private,
        attempts,
        first_backoff: Duration::from_millis(10),
        timeout,
    })
    .unwrap()
}

fn notification() -> Notification {
    Notification {
        id: "0190f6c4-delivery-1".into(),
        event: "server.crashed".into(),
        title: "Lobby crashed".into(),
        message: "The server exited with code 1.".into(),
        severity: Severity::Critical,
        server: Some(ServerRef {
            id: "srv-42".into(),
            name: "Lobby".into(),
        }),
        at: 1_700_000_000_000,
        link: Some("https://panel.example.com/servers/srv-42".into()),
        data: serde_json::json!({"exit_code": 1}),
    }
}

fn webhook(base: &str, secret: Option<&str>) -> Channel {
    Channel::Webhook {
        url: format!("{base}/hooks/secret-token-path"),
        secret: secret.map(str::to_owned),
    }
}

fn statuses(d: &Delivery) -> Vec<Option<u16>> {
    d.attempts.iter().map(|a| a.status).collect()
}

fn header<'a>(r: &'a Recorded, name: &str) -> &'a str {
    r.headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn signed_webhook_carries_the_documented_headers_and_body() {
    let (base, l) = listen(vec![]).await;
    let n = notification();
    let d = sender(true, 3, Duration::from_secs(5))
        .deliver(&webhook(&base, Some("s3cr3t")), &n)
        .await;
    assert!(d.ok, "{d:?}");
    assert_eq!(statuses(&d), [Some(200)]);
    assert!(d.attempts[0].error.is_none());

    let seen = l.seen();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.path, "/hooks/secret-token-path");
    assert_eq!(header(r, "content-type"), "application/json");
    assert_eq!(
        header(r, "user-agent"),
        format!("Garrison/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(header(r, "x-garrison-event"), "server.crashed");
    assert_eq!(header(r, "x-garrison-delivery"), "0190f6c4-delivery-1");
    let ts: i64 = header(r, "x-garrison-timestamp").parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - ts).abs() < 60, "timestamp {ts} vs now {now}");

    // Verify as a receiver would: HMAC-SHA256 over "<timestamp>.<raw body>".
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cr3t").unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&r.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(header(r, "x-garrison-signature"), expected);
    assert_eq!(garrison_notify::signature("s3cr3t", ts, &r.body), expected);
    // A wrong secret does not verify.
    assert_ne!(garrison_notify::signature("other", ts, &r.body), expected);

    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["id"], "0190f6c4-delivery-1");
    assert_eq!(body["event"], "server.crashed");
    assert_eq!(body["title"], "Lobby crashed");
    assert_eq!(body["severity"], "critical");
    assert_eq!(body["server"]["id"], "srv-42");
    assert_eq!(body["server"]["name"], "Lobby");
    assert_eq!(body["at"], 1_700_000_000_000i64);
    assert_eq!(body["data"]["exit_code"], 1);
}

#[tokio::test]
async fn unsigned_webhook_has_no_signature_header() {
    let (base, l) = listen(vec![]).await;
    let d = sender(true, 1, Duration::from_secs(5))
        .deliver(&webhook(&base, None), &notification())
        .await;
    assert!(d.ok, "{d:?}");
    let seen = l.seen();
    assert!(seen[0].headers.get("x-garrison-signature").is_none());
    assert!(seen[0].headers.get("x-garrison-timestamp").is_some());
}

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    let (base, l) = listen(vec![Answer::Status(500), Answer::Status(503)]).await;
    let d = sender(true, 5, Duration::from_secs(5))
        .deliver(&webhook(&base, Some("k")), &notification())
        .await;
    assert!(d.ok, "{d:?}");
    assert_eq!(statuses(&d), [Some(500), Some(503), Some(200)]);
    for a in &d.attempts[..2] {
        let e = a.error.as_deref().unwrap();
        assert!(e.contains("HTTP 5"), "{e}");
        assert!(!e.contains("secret-token-path"), "the URL path leaked: {e}");
    }
    let seen = l.seen();
    assert_eq!(seen.len(), 3);
    // Every retry is the same delivery.
    for r in &seen {
        assert_eq!(header(r, "x-garrison-delivery"), "0190f6c4-delivery-1");
    }
}

#[tokio::test]
async fn server_errors_give_up_after_the_attempts() {
    let (base, l) = listen(vec![Answer::Status(500); 10]).await;
    let d = sender(true, 3, Duration::from_secs(5))
        .deliver(&webhook(&base, None), &notification())
        .await;
    assert!(!d.ok);
    assert_eq!(statuses(&d), [Some(500); 3]);
    assert_eq!(l.seen().len(), 3);
}

#[tokio::test]
async fn client_errors_stop_at_once() {
    let (base, l) = listen(vec![Answer::Status(404)]).await;
    let d = sender(true, 5, Duration::from_secs(5))
        .deliver(&webhook(&base, None), &notification())
        .await;
    assert!(!d.ok);
    assert_eq!(statuses(&d), [Some(404)]);
    let e = d.attempts[0].error.as_deref().unwrap();
    assert!(e.contains("404"), "{e}");
    assert!(e.contains("scripted"), "the body snippet is kept: {e}");
    assert!(!e.contains("secret-token-path"), "{e}");
    assert_eq!(l.seen().len(), 1);
}

#[tokio::test]
async fn too_many_requests_honours_retry_after() {
    let (base, l) = listen(vec![Answer::RetryAfter(429, "1")]).await;
    let d = sender(true, 3, Duration::from_secs(5))
        .deliver(&webhook(&base, None), &notification())
        .await;
    assert!(d.ok, "{d:?}");
    assert_eq!(statuses(&d), [Some(429), Some(200)]);
    let seen = l.seen();
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at - seen[0].at;
    // The backoff alone would be 10 ms.
    assert!(gap >= Duration::from_millis(950), "waited only {gap:?}");
    assert!(gap < Duration::from_secs(5), "waited {gap:?}");
}

#[tokio::test]
async fn a_hanging_target_times_out_each_attempt() {
    let (base, l) = listen(vec![Answer::Hang, Answer::Hang]).await;
    let started = Instant::now();
    let d = sender(true, 2, Duration::from_millis(300))
        .deliver(&webhook(&base, None), &notification())
        .await;
    assert!(!d.ok);
    assert_eq!(d.attempts.len(), 2);
    for a in &d.attempts {
        assert_eq!(a.status, None);
        let e = a.error.as_deref().unwrap();
        assert!(e.contains("timed out"), "{e}");
        assert!(!e.contains("secret-token-path"), "{e}");
        assert!(a.duration_ms >= 250, "{a:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(l.seen().len(), 2);
}

#[tokio::test]
async fn loopback_targets_are_refused_unless_allowed() {
    let (base, l) = listen(vec![]).await;
    let port = base.rsplit(':').next().unwrap().to_owned();
    let s = sender(false, 5, Duration::from_secs(5));
    for url in [
        format!("{base}/hooks/secret-token-path"),
        format!("http://localhost:{port}/hooks/secret-token-path"),
        format!("http://[::ffff:127.0.0.1]:{port}/hooks/secret-token-path"),
    ] {
        let d = s
            .deliver(
                &Channel::Webhook {
                    url: url.clone(),
                    secret: None,
                },
                &notification(),
            )
            .await;
        assert!(!d.ok, "{url}");
        assert_eq!(d.attempts.len(), 1, "{url}: a refusal is not retried");
        let e = d.attempts[0].error.as_deref().unwrap();
        assert!(
            e.contains("private or loopback") && e.contains("an admin can allow private targets"),
            "{url}: {e}"
        );
        assert!(!e.contains("secret-token-path"), "{e}");
    }
    assert!(l.seen().is_empty(), "a request reached the listener");

    // Allowed, the same target is reached.
    let d = sender(true, 1, Duration::from_secs(5))
        .deliver(&webhook(&base, None), &notification())
        .await;
    assert!(d.ok, "{d:?}");
    assert_eq!(l.seen().len(), 1);
}

#[tokio::test]
async fn an_unreachable_target_is_a_connection_error() {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    drop(tcp);
    let d = sender(true, 2, Duration::from_secs(2))
        .deliver(
            &Channel::Slack {
                url: format!("http://127.0.0.1:{port}/services/T/B/tok"),
            },
            &notification(),
        )
        .await;
    assert!(!d.ok);
    assert_eq!(d.attempts.len(), 2, "connection errors are retried");
    let e = d.attempts[0].error.as_deref().unwrap();
    assert!(e.contains("connection failed"), "{e}");
    assert!(!e.contains("tok"), "{e}");
}

#[tokio::test]
async fn an_invalid_channel_is_one_failed_attempt() {
    let d = sender(true, 5, Duration::from_secs(1))
        .deliver(&Channel::Discord { url: "nope".into() }, &notification())
        .await;
    assert!(!d.ok);
    assert_eq!(d.attempts.len(), 1);
    assert!(d.attempts[0].error.as_deref().unwrap().starts_with("url:"));
}

#[tokio::test]
async fn discord_gets_an_embed() {
    let (base, l) = listen(vec![]).await;
    let d = sender(true, 1, Duration::from_secs(5))
        .deliver(
            &Channel::Discord {
                url: format!("{base}/api/webhooks/1/tok"),
            },
            &notification(),
        )
        .await;
    assert!(d.ok, "{d:?}");
    let seen = l.seen();
    let r = &seen[0];
    assert_eq!(r.path, "/api/webhooks/1/tok");
    assert_eq!(header(r, "content-type"), "application/json");
    assert!(r.headers.get("x-garrison-signature").is_none());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(v["content"].is_null());
    let embeds = v["embeds"].as_array().unwrap();
    assert_eq!(embeds.len(), 1);
    let e = &embeds[0];
    assert_eq!(e["title"], "Lobby crashed");
    assert_eq!(e["description"], "The server exited with code 1.");
    assert_eq!(e["color"], 0xe74c3c);
    assert_eq!(e["timestamp"], "2023-11-14T22:13:20Z");
    assert_eq!(e["url"], "https://panel.example.com/servers/srv-42");
    let fields = e["fields"].as_array().unwrap();
    assert!(
        fields
            .iter()
            .any(|f| f["name"] == "Server" && f["value"] == "Lobby"),
        "{fields:?}"
    );
    assert!(
        fields
            .iter()
            .any(|f| f["name"] == "Event" && f["value"] == "server.crashed"),
        "{fields:?}"
    );
}

#[tokio::test]
async fn slack_gets_text_and_blocks() {
    let (base, l) = listen(vec![]).await;
    let mut n = notification();
    n.severity = Severity::Warning;
    n.message = "CPU <90%> & rising".into();
    let d = sender(true, 1, Duration::from_secs(5))
        .deliver(
            &Channel::Slack {
                url: format!("{base}/services/T000/B000/tok"),
            },
            &n,
        )
        .await;
    assert!(d.ok, "{d:?}");
    let seen = l.seen();
    let v: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(v["text"], "Lobby crashed: CPU <90%> & rising");
    let blocks = v["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert_eq!(blocks[0]["text"]["text"], "Lobby crashed");
    assert_eq!(blocks[1]["type"], "section");
    assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
    assert_eq!(blocks[1]["text"]["text"], "CPU &lt;90%&gt; &amp; rising");
    let context = blocks[2]["elements"][0]["text"].as_str().unwrap();
    assert!(context.contains("warning"), "{context}");
    assert!(context.contains("Lobby"), "{context}");
    assert!(context.contains("server.crashed"), "{context}");
}
