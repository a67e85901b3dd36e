//! Real game servers from Debian, run through Garrison: OpenTTD (stdin console, `quit`)
//! and Luanti (stopped by SIGTERM to its process group).

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

const T: Duration = Duration::from_secs(120);

#[tokio::test]
async fn openttd_runs_answers_console_and_quits() {
    assert!(
        std::path::Path::new("/usr/games/openttd").exists(),
        "OpenTTD is not installed (apt-get install openttd openttd-opengfx)"
    );
    let g = Garrison::start_with_env(&[("GARRISON_PLAYERS_QUERY_SECS", "1")]).await;
    let port = free_port();
    let v = g
        .create(
            json!({"name": "OpenTTD", "template": "openttd", "port": port,
                       "variables": {"map_size": "6", "server_name": "Garrison test"}}),
        )
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(v["game"], "openttd");
    g.wait_state(&id, "offline", T).await;
    let dir = g.data_dir().join("servers").join(&id);
    let (_, v) = g.call("GET", &format!("/api/servers/{id}"), None).await;
    assert_eq!(v["install"]["state"], "succeeded", "{v}");
    let cfg = std::fs::read_to_string(dir.join("openttd.cfg")).unwrap();
    assert!(cfg.contains("server_advertise = false"), "{cfg}");

    let (s, v) = g.power(&id, "start").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    g.wait_state(&id, "running", T).await;
    g.wait_log(&id, "Map generated, starting game", T).await;
    // The settings were patched into its config before the start.
    let cfg = std::fs::read_to_string(dir.join("openttd.cfg")).unwrap();
    let private = std::fs::read_to_string(dir.join("private.cfg")).unwrap();
    assert!(private.contains("server_name = Garrison test"), "{private}");
    assert!(cfg.contains(&format!("server_port = {port}")), "{cfg}");
    assert!(cfg.contains("map_x = 6"), "{cfg}");

    let (s, v) = g.command(&id, "clients").await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    g.wait_log(&id, "Client #1", T).await;

    // The template's query asks the game itself: nobody on, room for its clients.
    let deadline = std::time::Instant::now() + T;
    let players = loop {
        let (_, v) = g
            .call("GET", &format!("/api/servers/{id}/players"), None)
            .await;
        if v["source"] == "query" {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "no query answer: {v}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(players["online"], 0, "{players}");
    assert!(players["max"].as_u64().unwrap() > 0, "{players}");

    let (s, _) = g.power(&id, "stop").await;
    assert_eq!(s, StatusCode::ACCEPTED);
    g.wait_state(&id, "offline", T).await;
    wait_no_processes(&dir, Duration::from_secs(10)).await;
    let (_, h) = g
        .call("GET", &format!("/api/servers/{id}/history"), None)
        .await;
    assert!(!h.to_string().contains("crashed"), "{h}");

    // OpenTTD wrote its whole config on the way out; a changed variable edits only its
    // own line, at once, and every other line stays byte for byte.
    for (file, key, value, line) in [
        (
            "private.cfg",
            "server_name",
            "Renamed by Garrison",
            "server_name = Renamed by Garrison",
        ),
        ("openttd.cfg", "max_clients", "12", "max_clients = 12"),
    ] {
        let written = std::fs::read_to_string(dir.join(file)).unwrap();
        let (s, v) = g
            .call(
                "PATCH",
                &format!("/api/servers/{id}/startup"),
                Some(json!({"variables": {key: value}})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let patched = std::fs::read_to_string(dir.join(file)).unwrap();
        assert_eq!(
            written.lines().count(),
            patched.lines().count(),
            "{patched}"
        );
        let changed: Vec<&str> = written
            .lines()
            .zip(patched.lines())
            .filter(|(a, b)| a != b)
            .map(|(_, b)| b)
            .collect();
        assert_eq!(changed, vec![line], "{file}: {patched}");
    }
}

#[tokio::test]
async fn luanti_runs_and_stops_by_signal_saving_its_world() {
    assert!(
        std::path::Path::new("/usr/lib/minetest/minetestserver").exists(),
        "Luanti is not installed (apt-get install minetest-server)"
    );
    let g = Garrison::start().await;
    let port = free_port();
    let v = g
        .create(json!({"name": "Luanti", "template": "luanti", "port": port}))
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    g.wait_state(&id, "offline", T).await;
    let dir = g.data_dir().join("servers").join(&id);

    g.power(&id, "start").await;
    g.wait_state(&id, "running", T).await;
    g.wait_log(&id, "listening on", T).await;
    let stats = g.wait_stats(&id, Duration::from_secs(15)).await;
    assert!(stats["processes"].as_u64().unwrap() >= 1, "{stats}");
    // Disk usage is walked at most every 15 s: the first samples may predate the walk.
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        let (_, v) = g
            .call("GET", &format!("/api/servers/{id}/stats"), None)
            .await;
        if v["disk_bytes"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "disk never counted: {v}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // It announces itself to the panel (its serverlist_url), players included.
    let conf = std::fs::read_to_string(dir.join("minetest.conf")).unwrap();
    assert!(conf.contains("server_announce = true"), "{conf}");
    assert!(conf.contains("/api/luanti/"), "{conf}");
    let deadline = std::time::Instant::now() + T;
    let players = loop {
        let (_, v) = g
            .call("GET", &format!("/api/servers/{id}/players"), None)
            .await;
        if v["source"] == "announce" {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "no announce: {v}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(players["online"], 0, "{players}");
    assert_eq!(players["max"], 15, "max_users: {players}");
    // A wrong token is refused.
    let r = g
        .http
        .post(g.url(&format!("/api/luanti/{id}/not-the-token/announce")))
        .body("json=%7B%22action%22%3A%22start%22%2C%22clients%22%3A99%7D")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    g.power(&id, "stop").await;
    g.wait_state(&id, "offline", T).await;
    wait_no_processes(&dir, Duration::from_secs(10)).await;
    let lines = g.logs(&id, 1000).await;
    assert!(
        lines.iter().any(|l| l.contains("Shutting down")),
        "{lines:?}"
    );
    // The world was written on the way out.
    assert!(dir.join("world").join("world.mt").exists());
    assert!(
        dir.join("world").join("map.sqlite").exists()
            || dir.join("world").join("map_meta.txt").exists()
    );
    let (_, h) = g
        .call("GET", &format!("/api/servers/{id}/history"), None)
        .await;
    assert!(!h.to_string().contains("crashed"), "{h}");
}
