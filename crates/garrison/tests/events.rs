//! `GET /api/events` (Server-Sent Events) against a real `garrison serve`: each caller
//! gets only the events it may see, filters work, bad queries are refused, and a
//! revoked key ends the stream.

mod common;

use common::*;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// An open event stream, parsed into (event name, data JSON).
struct Stream {
    body: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>,
    >,
    buf: String,
}

impl Stream {
    async fn open(g: &Garrison, key: &str, query: &str) -> Stream {
        let r = g
            .http
            .get(g.url(&format!("/api/events{query}")))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        Stream {
            body: Box::pin(r.bytes_stream()),
            buf: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped); `None` at the end of the stream or
    /// after `timeout`.
    async fn next(&mut self, timeout: Duration) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut name = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if let Some(name) = name {
                    return Some((name, serde_json::from_str(&data).unwrap()));
                }
                continue;
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Ok(Some(Ok(chunk))) => self.buf.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(Some(Err(_)) | None) | Err(_) => return None,
            }
        }
    }

    /// Events until `until` matches one (included), failing after `timeout`.
    async fn until(
        &mut self,
        timeout: Duration,
        until: impl Fn(&str, &Value) -> bool,
    ) -> Vec<(String, Value)> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some((name, data)) = self.next(left).await else {
                panic!("stream ended or timed out; seen: {seen:#?}");
            };
            let done = until(&name, &data);
            seen.push((name, data));
            if done {
                return seen;
            }
        }
    }
}

async fn key_for(g: &Garrison, user: &str, body: Value) -> (String, String) {
    let cookie = g.login(user, "a long password").await.unwrap();
    let a = g
        .json_with_cookie("POST", "/api/account/api-keys", Some(&cookie), body)
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    (
        a.body["key"].as_str().unwrap().to_owned(),
        a.body["id"].as_str().unwrap().to_owned(),
    )
}

fn is_status(name: &str, data: &Value, server: &str, state: &str) -> bool {
    name == "server.status" && data["data"]["server"] == server && data["data"]["state"] == state
}

#[tokio::test]
async fn each_caller_streams_only_what_it_may_see() {
    let g = Garrison::start().await;
    let a = g.create_demo("sse-a", json!({})).await;
    let b = g.create_demo("sse-b", json!({})).await;
    let (st, v) = g
        .call(
            "POST",
            "/api/admin/users",
            Some(json!({"username": "viewer", "password": "a long password"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, v) = g
        .call(
            "POST",
            &format!("/api/servers/{a}/users"),
            Some(json!({"username": "viewer", "permissions": ["control.console"]})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (viewer, viewer_key_id) = key_for(&g, "viewer", json!({"name": "sse"})).await;

    let mut admin = Stream::open(&g, &g.key, "").await;
    let mut only_a_status =
        Stream::open(&g, &g.key, &format!("?server={a}&events=server.status")).await;
    let mut sub = Stream::open(&g, &viewer, "").await;

    // A schedule event on A (the viewer lacks schedule.read), then activity on both.
    let (st, s) = g
        .call(
            "POST",
            &format!("/api/servers/{a}/schedules"),
            Some(
                json!({"name": "tick", "trigger": {"kind": "cron", "expression": "@yearly"},
                        "tasks": [{"action": "delay", "secs": 1}]}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{s}");
    g.call(
        "POST",
        &format!(
            "/api/servers/{a}/schedules/{}/run",
            s["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    g.power(&b, "start").await;
    g.wait_state(&b, "running", Duration::from_secs(30)).await;
    g.power(&a, "start").await;
    g.wait_state(&a, "running", Duration::from_secs(30)).await;
    g.command(&a, "say over sse").await;

    let seen = admin
        .until(Duration::from_secs(20), |n, d| {
            is_status(n, d, &a, "running")
        })
        .await;
    assert!(
        seen.iter().any(|(n, d)| is_status(n, d, &b, "running")),
        "{seen:#?}"
    );
    assert!(seen.iter().any(|(n, _)| n == "schedule.run"), "{seen:#?}");
    for (name, data) in &seen {
        assert_eq!(&data["event"], name, "data is the event's own JSON");
    }

    let seen = only_a_status
        .until(Duration::from_secs(20), |n, d| {
            is_status(n, d, &a, "running")
        })
        .await;
    assert!(
        seen.iter()
            .all(|(n, d)| n == "server.status" && d["data"]["server"] == a.as_str()),
        "{seen:#?}"
    );

    let seen = sub
        .until(Duration::from_secs(20), |n, d| {
            n == "server.console"
                && d["data"]["lines"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|l| l.as_str().unwrap().contains("say over sse"))
        })
        .await;
    for (name, data) in &seen {
        assert_eq!(
            data["data"]["server"],
            a.as_str(),
            "only server A: {name} {data}"
        );
        assert_ne!(name, "schedule.run", "needs schedule.read");
    }
    assert!(seen.iter().any(|(n, d)| is_status(n, d, &a, "running")));

    // Revoking the viewer's key ends its stream within the recheck period.
    let cookie = g.login("viewer", "a long password").await.unwrap();
    let a2 = g
        .send_with_cookie(
            "DELETE",
            &format!("/api/account/api-keys/{viewer_key_id}"),
            Some(&cookie),
            None,
        )
        .await;
    assert_eq!(a2.status, StatusCode::NO_CONTENT, "{}", a2.body);
    assert!(
        sub.closes_within(Duration::from_secs(15)).await,
        "the stream outlived its key"
    );
}

impl Stream {
    /// True when the server closes the stream within `timeout` (events meanwhile are
    /// dropped).
    async fn closes_within(&mut self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_)) | None) => return true,
                Err(_) => return false,
            }
        }
    }
}

#[tokio::test]
async fn bad_event_streams_are_refused() {
    let g = Garrison::start().await;
    for (query, status) in [
        ("?colour=red", StatusCode::BAD_REQUEST),
        ("?events=", StatusCode::UNPROCESSABLE_ENTITY),
        ("?events=Server%20Status", StatusCode::UNPROCESSABLE_ENTITY),
        ("?server=", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (st, v) = g.call("GET", &format!("/api/events{query}"), None).await;
        assert_eq!(st, status, "{query}: {v}");
    }
    let r = g.http.get(g.url("/api/events")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (narrow, _) = {
        let (st, v) = g
            .call(
                "POST",
                "/api/account/api-keys",
                Some(json!({"name": "narrow", "permissions": ["template.read"]})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        (v["key"].as_str().unwrap().to_owned(), ())
    };
    let r = g
        .http
        .get(g.url("/api/events"))
        .bearer_auth(&narrow)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
