//! Rate limits and login lockout against a real `garrison serve`, configured with small
//! limits through `GARRISON_*` variables.

mod common;

use common::{ADMIN_PASSWORD, AsSession, Garrison};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// `POST /api/auth/login`, optionally claiming a client address in `X-Forwarded-For`.
/// Returns the status, `Retry-After` and the body.
async fn login_from(
    g: &Garrison,
    forwarded_for: Option<&str>,
    user: &str,
    password: &str,
) -> (StatusCode, Option<u64>, Value) {
    let mut req = g
        .http
        .post(g.url("/api/auth/login"))
        .json(&json!({"username": user, "password": password}));
    if let Some(ip) = forwarded_for {
        req = req.header("x-forwarded-for", ip);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (status, retry, r.json().await.unwrap_or(Value::Null))
}

fn assert_rate_limited(status: StatusCode, retry: Option<u64>, body: &Value) -> u64 {
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let retry = retry.expect("Retry-After header");
    assert!(retry >= 1, "{retry}");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert_eq!(body["error"]["retry_after"], retry, "{body}");
    retry
}

#[tokio::test]
async fn failed_logins_lock_the_account_then_longer_and_a_success_resets_it() {
    // Behind a proxy on loopback: each request says which client it comes from.
    let g = Garrison::start_with_env(&[
        ("GARRISON_TRUSTED_PROXIES", "127.0.0.1"),
        ("GARRISON_RATE_LIMIT_LOCKOUT_BASE_SECS", "1"),
        ("GARRISON_RATE_LIMIT_LOCKOUT_MAX_SECS", "30"),
    ])
    .await;

    // Five wrong passwords from five networks lock the account...
    for i in 1..=5 {
        let (s, _, v) = login_from(&g, Some(&format!("198.51.100.{i}")), "admin", "nope").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "attempt {i}: {v}");
    }
    // ...so even the right password, from anywhere, is refused for a while.
    let (s, retry, v) = login_from(&g, Some("198.51.100.6"), "admin", ADMIN_PASSWORD).await;
    assert_eq!(assert_rate_limited(s, retry, &v), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // The next lockout lasts twice as long.
    for i in 1..=5 {
        let (s, _, v) = login_from(&g, Some(&format!("198.51.101.{i}")), "admin", "nope").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "attempt {i}: {v}");
    }
    let (s, retry, v) = login_from(&g, Some("198.51.101.6"), "admin", ADMIN_PASSWORD).await;
    assert_eq!(assert_rate_limited(s, retry, &v), 2);
    tokio::time::sleep(Duration::from_millis(2100)).await;

    // A success clears the account's count: four failures after it lock nothing.
    let (s, _, v) = login_from(&g, Some("198.51.102.1"), "admin", ADMIN_PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for i in 2..=5 {
        let (s, _, v) = login_from(&g, Some(&format!("198.51.102.{i}")), "admin", "nope").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    }
    let (s, _, v) = login_from(&g, Some("198.51.102.6"), "admin", ADMIN_PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn one_network_guessing_many_accounts_is_locked_for_every_account() {
    let g = Garrison::start_with_env(&[("GARRISON_TRUSTED_PROXIES", "127.0.0.1")]).await;
    for name in ["alice", "bob", "carol", "dave", "erin"] {
        let (s, _, v) = login_from(&g, Some("203.0.113.9"), name, "guess").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    }
    // Another account, right password, same network: refused (lockout base 60 s).
    let (s, retry, v) = login_from(&g, Some("203.0.113.9"), "admin", ADMIN_PASSWORD).await;
    let retry = assert_rate_limited(s, retry, &v);
    assert!((50..=60).contains(&retry), "{retry}");
    // The account itself is fine from elsewhere.
    let (s, _, v) = login_from(&g, Some("203.0.113.10"), "admin", ADMIN_PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    // No trusted proxies: the socket address (loopback) is the client, whatever the
    // header claims.
    let g = Garrison::start().await;
    for i in 1..=5 {
        let (s, _, v) = login_from(&g, Some(&format!("192.0.2.{i}")), "mallory", "x").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    }
    let (s, retry, v) = login_from(&g, Some("192.0.2.77"), "admin", ADMIN_PASSWORD).await;
    assert_rate_limited(s, retry, &v);
    // The API key in hand keeps working: API limits are per key, not per network.
    let (s, v) = g.call("GET", "/api/servers", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn an_api_flood_is_limited_per_key_and_spares_other_callers() {
    let g = Garrison::start_with_env(&[
        ("GARRISON_RATE_LIMIT_API_PER_MINUTE", "20"),
        ("GARRISON_RATE_LIMIT_ANONYMOUS_PER_MINUTE", "10"),
    ])
    .await;
    // A second key of the same user, and a session: each its own bucket.
    let cookie = g.login("admin", ADMIN_PASSWORD).await.unwrap();
    let r = g
        .http
        .post(g.url("/api/account/api-keys"))
        .session(&cookie)
        .json(&json!({"name": "second"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let second: Value = r.json().await.unwrap();
    let second = second["key"].as_str().unwrap().to_owned();

    let mut ok = 0;
    let (status, retry, body) = loop {
        let r = g
            .http
            .get(g.url("/api/templates"))
            .bearer_auth(&g.key)
            .send()
            .await
            .unwrap();
        let status = r.status();
        if status != StatusCode::OK {
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse().unwrap());
            break (status, retry, r.json::<Value>().await.unwrap());
        }
        ok += 1;
        assert!(ok <= 20, "no limit after {ok} requests");
    };
    assert_eq!(ok, 20);
    let retry = assert_rate_limited(status, retry, &body);
    assert!(retry <= 3, "{retry}");

    // The WebSocket upgrade is a request like any other.
    let url = format!("{}/api/servers/x/ws", g.base.replace("http://", "ws://"));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", g.key).parse().unwrap(),
    );
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS)
        }
        other => panic!("expected 429, got {:?}", other.map(|(_, r)| r.status())),
    }

    // Other callers are unaffected; health is never limited.
    for _ in 0..5 {
        let r = g
            .http
            .get(g.url("/api/templates"))
            .bearer_auth(&second)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = g
            .http
            .get(g.url("/api/account"))
            .session(&cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    for _ in 0..30 {
        let r = g.http.get(g.url("/api/health")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    // Requests without valid credentials share their network's smaller bucket (the
    // two logins above already used two of its ten).
    let mut unauthorized = 0;
    loop {
        let r = g
            .http
            .get(g.url("/api/servers"))
            .bearer_auth("gsk_not-a-key")
            .send()
            .await
            .unwrap();
        match r.status() {
            StatusCode::UNAUTHORIZED => unauthorized += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(r.headers().contains_key("retry-after"));
                break;
            }
            s => panic!("{s}"),
        }
        assert!(unauthorized <= 10, "no limit for anonymous requests");
    }
    assert!((1..=8).contains(&unauthorized), "{unauthorized}");
}

#[tokio::test]
async fn limits_off_never_answer_429() {
    let g = Garrison::start_with_env(&[
        ("GARRISON_RATE_LIMITS", "off"),
        ("GARRISON_RATE_LIMIT_API_PER_MINUTE", "1"),
        ("GARRISON_RATE_LIMIT_ANONYMOUS_PER_MINUTE", "1"),
        ("GARRISON_RATE_LIMIT_LOGIN_ATTEMPTS", "1"),
    ])
    .await;
    for _ in 0..30 {
        let (s, v) = g.call("GET", "/api/templates", None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    for _ in 0..3 {
        let (s, _, v) = login_from(&g, None, "admin", "nope").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    }
    let (s, _, v) = login_from(&g, None, "admin", ADMIN_PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}
