//! Player counts against a real `garrison serve`: joins and leaves read from the demo
//! server's console (current players, history, counts in the metrics), and a template
//! with a Minecraft status query answered by a local responder.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn players(g: &Garrison, id: &str) -> Value {
    let (s, v) = g
        .call("GET", &format!("/api/servers/{id}/players"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

async fn wait_players(g: &Garrison, id: &str, want: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = players(g, id).await;
        if want(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "players stayed {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn console_joins_and_leaves_are_tracked_and_counted() {
    // Every 2 s: the last hour is still raw samples (1 s would make it 3600 points).
    let g = Garrison::start_with_env(&[("GARRISON_METRICS_SAMPLE_SECS", "2")]).await;
    let id = g.create_demo("players", json!({})).await;
    assert_eq!(players(&g, &id).await["online"], Value::Null, "not running");
    g.power(&id, "start").await;
    g.wait_state(&id, "running", Duration::from_secs(30)).await;
    for c in ["join alice", "join bob", "leave alice", "join bob"] {
        g.command(&id, c).await;
    }
    // A chat line that merely mentions joining does not count.
    g.command(&id, "say carol joined the game").await;
    let now = wait_players(&g, &id, |v| v["names"] == json!(["bob"])).await;
    assert_eq!(now["online"], 1);
    assert_eq!(now["source"], "console");
    assert!(now["updated_at"].is_i64());

    // The count reaches the metrics history.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, m) = g
            .call("GET", &format!("/api/servers/{id}/metrics"), None)
            .await;
        let counted = m["points"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["players"] == 1.0);
        if counted {
            break;
        }
        assert!(Instant::now() < deadline, "no player count in {m}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let (s, a) = g
        .call(
            "GET",
            &format!("/api/servers/{id}/players/activity?timezone=Europe/Berlin"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    let events: Vec<(String, String)> = a["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("alice".to_owned(), "left".to_owned()),
            ("bob".to_owned(), "joined".to_owned()),
            ("alice".to_owned(), "joined".to_owned()),
        ],
        "newest first, a repeated join once: {a}"
    );
    assert_eq!(a["by_hour"].as_array().unwrap().len(), 24);
    assert_eq!(a["peak"], 1, "{a}");
    assert!(a["average"].as_f64().unwrap() > 0.0);

    // Stopping ends everyone's session.
    g.power(&id, "stop").await;
    g.wait_state(&id, "offline", Duration::from_secs(30)).await;
    assert_eq!(players(&g, &id).await["online"], Value::Null);
    let (_, a) = g
        .call("GET", &format!("/api/servers/{id}/players/activity"), None)
        .await;
    assert_eq!(a["events"][0]["name"], "bob");
    assert_eq!(a["events"][0]["kind"], "left");

    for (q, status) in [
        ("timezone=Moon/Base", StatusCode::UNPROCESSABLE_ENTITY),
        ("from=5&to=1", StatusCode::UNPROCESSABLE_ENTITY),
        ("colour=red", StatusCode::BAD_REQUEST),
    ] {
        let (s, v) = g
            .call(
                "GET",
                &format!("/api/servers/{id}/players/activity?{q}"),
                None,
            )
            .await;
        assert_eq!(s, status, "{q}: {v}");
    }
}

fn varint(mut v: u32, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

async fn read_varint(s: &mut tokio::net::TcpStream) -> u32 {
    let mut v = 0u32;
    for i in 0..5 {
        let b = s.read_u8().await.unwrap();
        v |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            break;
        }
    }
    v
}

/// A Minecraft server list ping responder: handshake, status request, then the status
/// JSON (and a pong if asked).
async fn slp_responder(l: tokio::net::TcpListener, status: Value) {
    loop {
        let Ok((mut s, _)) = l.accept().await else {
            return;
        };
        let status = status.clone();
        tokio::spawn(async move {
            for _ in 0..2 {
                let len = read_varint(&mut s).await as usize;
                let mut buf = vec![0; len];
                s.read_exact(&mut buf).await.unwrap();
            }
            let text = status.to_string();
            let mut payload = vec![0u8];
            varint(text.len() as u32, &mut payload);
            payload.extend_from_slice(text.as_bytes());
            let mut packet = Vec::new();
            varint(payload.len() as u32, &mut packet);
            packet.extend_from_slice(&payload);
            let _ = s.write_all(&packet).await;
        });
    }
}

#[tokio::test]
async fn a_query_protocol_counts_players() {
    let g = Garrison::start_with_env(&[("GARRISON_PLAYERS_QUERY_SECS", "1")]).await;
    let template = json!({
        "id": "demo-query", "name": "Demo with a query", "game": "demo",
        "ports": [{"name": "game", "default": 27600}, {"name": "query", "offset": 1}],
        "startup": {
            "command": ["{{garrison}}", "demo-server", "--port", "{{port}}"],
            "done": [{"contains": "Done! Demo server ready"}],
            "stop": {"type": "command", "command": "stop"},
            "stop_timeout_secs": 5
        },
        "env": {"HOME": "{{server_dir}}", "PATH": "/usr/local/bin:/usr/bin:/bin"},
        "query": {"protocol": "minecraft_slp", "port": "query"}
    });
    let (s, v) = g.call("POST", "/api/templates", Some(template)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // A port whose next one is free too, for the responder.
    let (port, listener) = loop {
        let p = free_port();
        if let Ok(l) = tokio::net::TcpListener::bind(("127.0.0.1", p + 1)).await {
            break (p, l);
        }
    };
    tokio::spawn(slp_responder(
        listener,
        json!({"version": {"name": "1.21.4", "protocol": 769},
               "players": {"online": 7, "max": 20, "sample": [{"name": "steve", "id": "0"}]},
               "description": {"text": "A query test"}}),
    ));
    let v = g
        .create(json!({"name": "queried", "template": "demo-query", "port": port}))
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    g.wait_state(&id, "offline", Duration::from_secs(30)).await;
    g.power(&id, "start").await;
    g.wait_state(&id, "running", Duration::from_secs(30)).await;
    let now = wait_players(&g, &id, |v| v["source"] == "query").await;
    assert_eq!(now["online"], 7, "{now}");
    assert_eq!(now["max"], 20);
    assert_eq!(now["names"], json!(["steve"]));

    // A template whose query names a port it lacks is refused.
    let (s, v) = g
        .call(
            "POST",
            "/api/templates",
            Some(json!({
                "id": "bad-query", "name": "Bad", "game": "demo",
                "ports": [{"name": "game", "default": 27700}],
                "startup": {"command": ["x"], "stop": {"type": "signal", "signal": "SIGTERM"}, "stop_timeout_secs": 5},
                "query": {"protocol": "a2s", "port": "query"}
            })),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("query"),
        "{v}"
    );
}
