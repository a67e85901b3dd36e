//! The demo game server end to end: console, commands, stop, crash handling, slow
//! WebSocket readers, and a restart of `garrison serve` itself.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

fn console_lines(frame: &Value) -> Vec<String> {
    match frame["event"].as_str() {
        Some("server.console" | "console.history") => frame["data"]["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_owned())
            .collect(),
        _ => Vec::new(),
    }
}

fn server_dir(g: &Garrison, id: &str) -> std::path::PathBuf {
    g.data_dir().join("servers").join(id)
}

#[tokio::test]
async fn start_watch_command_stop() {
    let g = Garrison::start().await;
    let id = g
        .create_demo("demo one", json!({"variables": {"ready_delay_ms": "300"}}))
        .await;
    assert!(
        server_dir(&g, &id).join("demo.properties").exists(),
        "install step did not run"
    );

    let mut ws = g.ws(&id).await;
    let hello = ws.next_json(T).await.unwrap();
    assert_eq!(hello["event"], "hello");
    assert_eq!(hello["data"]["state"], "offline");

    let (s, v) = g.power(&id, "start").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    // Status changes arrive on the socket: starting, then running once the ready line shows.
    ws.until(T, |f| {
        f["event"] == "server.status" && f["data"]["state"] == "starting"
    })
    .await;
    let mut saw_ready = false;
    ws.until(T, |f| {
        saw_ready |= console_lines(f)
            .iter()
            .any(|l| l.contains("Done! Demo server ready"));
        f["event"] == "server.status" && f["data"]["state"] == "running"
    })
    .await;
    // The ready line may come just after the status frame on another path; check the log.
    if !saw_ready {
        g.wait_log(&id, "Done! Demo server ready", T).await;
    }

    // A second client gets the history on connect.
    let mut ws2 = g.ws(&id).await;
    ws2.until(T, |f| {
        f["event"] == "console.history" && console_lines(f).iter().any(|l| l.contains("Done!"))
    })
    .await;

    // Commands from the socket and from REST are echoed in the console.
    ws.send(json!({"type": "command", "command": "say hello from ws"}))
        .await;
    ws.until(T, |f| {
        console_lines(f)
            .iter()
            .any(|l| l.contains("> say hello from ws"))
    })
    .await;
    let (s, v) = g.command(&id, "players").await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    ws2.until(T, |f| {
        console_lines(f)
            .iter()
            .any(|l| l.contains("There are 0 players online"))
    })
    .await;
    // Bad input on the socket is answered with an error frame, not a disconnect.
    ws.send(json!({"type": "command", "command": "x".repeat(5000)}))
        .await;
    let err = ws.until(T, |f| f["event"] == "error").await;
    assert_eq!(err["data"]["field"], "command");
    ws.send(json!({"type": "dance"})).await;
    ws.until(T, |f| f["event"] == "error").await;

    // Stats: live on the socket and over REST.
    let st = ws.until(T, |f| f["event"] == "server.stats").await;
    assert!(
        st["data"]["stats"]["memory_bytes"].as_u64().unwrap() > 0,
        "{st}"
    );
    let stats = g.wait_stats(&id, T).await;
    assert!(stats["processes"].as_u64().unwrap() >= 1, "{stats}");
    assert_eq!(stats["state"], "running");

    // Starting twice is a conflict naming the state; so is deleting while running.
    let (s, v) = g.power(&id, "start").await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["state"], "running");
    let (s, v) = g.call("DELETE", &format!("/api/servers/{id}"), None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["state"], "running");

    // Stop from the socket: the stop command goes to stdin, the server exits cleanly.
    ws.send(json!({"type": "power", "action": "stop"})).await;
    ws.until(T, |f| {
        f["event"] == "server.status" && f["data"]["state"] == "offline"
    })
    .await;
    wait_no_processes(&server_dir(&g, &id), T).await;
    let lines = g.logs(&id, 1000).await;
    assert!(
        lines.iter().any(|l| l.contains("Stopping demo server")),
        "{lines:?}"
    );

    // History: every transition persisted, newest first, none of them a crash.
    let (_, h) = g
        .call("GET", &format!("/api/servers/{id}/history"), None)
        .await;
    let tos: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        &tos[..4],
        &["offline", "stopping", "running", "starting"],
        "{h}"
    );
    assert!(!tos.contains(&"crashed"));
    assert_eq!(g.stored_state(&id).await, "offline");

    // The console log file on disk has the lines too.
    let log =
        std::fs::read_to_string(g.data_dir().join("logs").join(&id).join("console.log")).unwrap();
    assert!(log.contains("> say hello from ws"));
}

#[tokio::test]
async fn stop_timeout_kills_the_whole_group_and_kill_is_immediate() {
    let g = Garrison::start().await;
    let id = g.create_demo("stubborn", json!({})).await;
    let dir = server_dir(&g, &id);
    g.power(&id, "start").await;
    g.wait_state(&id, "running", T).await;
    g.command(&id, "spawn-child").await;
    g.wait_log(&id, "child pid", T).await;
    g.command(&id, "ignore-stop").await;
    g.wait_log(&id, "Ignoring stop requests", T).await;
    assert!(processes_in(&dir).len() >= 2, "{:?}", processes_in(&dir));

    let started = Instant::now();
    let (s, _) = g.power(&id, "stop").await;
    assert_eq!(s, StatusCode::ACCEPTED);
    g.wait_state(&id, "stopping", T).await;
    g.wait_state(&id, "offline", T).await;
    // The demo template's stop timeout is 5 s; then SIGKILL to the group.
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "stopped before the timeout"
    );
    wait_no_processes(&dir, Duration::from_secs(5)).await;
    assert_eq!(
        g.stored_state(&id).await,
        "offline",
        "a requested stop became a crash"
    );

    // Kill: no waiting at all, children included.
    g.power(&id, "start").await;
    g.wait_state(&id, "running", T).await;
    g.command(&id, "spawn-child").await;
    g.wait_log(&id, "child pid", T).await;
    let (s, v) = g.power(&id, "kill").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    g.wait_state(&id, "offline", Duration::from_secs(3)).await;
    wait_no_processes(&dir, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn crashes_restart_with_backoff_until_the_limit() {
    let g = Garrison::start().await;
    // The default policy: restart with backoff, at most 3 restarts in 10 minutes.
    let id = g.create_demo("crashy", json!({})).await;
    let dir = server_dir(&g, &id);
    g.power(&id, "start").await;
    for round in 0..4 {
        g.wait_state(&id, "running", T).await;
        let pids = processes_in(&dir);
        assert_eq!(pids.len(), 1, "round {round}: {pids:?}");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pids[0]),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        g.wait_state(&id, "crashed", T).await;
    }
    // The fourth crash stays crashed.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(g.state(&id).await, "crashed");
    let (_, v) = g.call("GET", &format!("/api/servers/{id}"), None).await;
    assert_eq!(v["state"], "crashed");
    assert_eq!(v["last_exit"]["signal"], 9, "{v}");
    assert!(
        v["last_exit"]["last_lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("Done!")),
        "{v}"
    );
    let (_, h) = g
        .call("GET", &format!("/api/servers/{id}/history"), None)
        .await;
    let crashes = h
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["to"] == "crashed")
        .count();
    assert_eq!(crashes, 4, "{h}");
    assert!(
        h[0]["reason"].as_str().unwrap_or("").contains("limit"),
        "{h}"
    );

    // A user can start it again, and a crash from the console is a crash too.
    let (s, _) = g.power(&id, "start").await;
    assert_eq!(s, StatusCode::ACCEPTED);
    g.wait_state(&id, "running", T).await;
    g.call(
        "PATCH",
        &format!("/api/servers/{id}"),
        Some(json!({"restart": {"enabled": false}})),
    )
    .await;
    // The policy change applies at the next start; this run still has the old one,
    // whose window is full: the crash stays crashed either way.
    g.command(&id, "crash").await;
    g.wait_state(&id, "crashed", T).await;
    let (_, v) = g.call("GET", &format!("/api/servers/{id}"), None).await;
    assert_eq!(v["last_exit"]["code"], 3, "{v}");
}

#[tokio::test]
async fn a_websocket_client_that_never_reads_stalls_nothing() {
    let g = Garrison::start().await;
    let id = g.create_demo("flood", json!({})).await;
    g.power(&id, "start").await;
    g.wait_state(&id, "running", T).await;

    // The stuck client connects and never reads again.
    let mut stuck = g.ws(&id).await;
    let mut reader = g.ws(&id).await;
    reader.until(T, |f| f["event"] == "console.history").await;

    // More frames than the per-server ring (1,024) plus what the socket buffers hold.
    let total = 1_500_000;
    g.command(&id, &format!("flood {total}")).await;
    let last = format!("flood {}", total - 1);
    let started = Instant::now();
    let mut seen = 0usize;
    reader
        .until(Duration::from_secs(120), |f| {
            let lines = console_lines(f);
            seen += lines.len();
            lines.contains(&last)
        })
        .await;
    let elapsed = started.elapsed();
    // The reading client got (nearly) everything; the server is still responsive.
    assert!(
        seen >= total * 9 / 10,
        "reader saw only {seen} of {total} lines"
    );
    let (s, _) = g.command(&id, "players").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    g.wait_log(&id, "There are 0 players online", T).await;
    eprintln!("flood of {total} lines reached the reading client in {elapsed:?}");

    // The stuck client, once it reads, is told how many lines it missed.
    let missed = stuck
        .until(Duration::from_secs(60), |f| f["event"] == "console.missed")
        .await;
    assert!(missed["data"]["lines"].as_u64().unwrap() > 0, "{missed}");
    g.power(&id, "stop").await;
    g.wait_state(&id, "offline", T).await;
}

#[tokio::test]
async fn install_blocks_start_and_garrison_restart_keeps_everything() {
    let mut g = Garrison::start().await;
    let slow = g
        .create(
            json!({"name": "slow install", "template": "demo", "port": free_port(),
                       "variables": {"install_delay_ms": "3000"}}),
        )
        .await;
    let slow = slow["id"].as_str().unwrap().to_owned();
    assert_eq!(g.state(&slow).await, "installing");
    let (s, v) = g.power(&slow, "start").await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["state"], "installing");
    let (s, v) = g
        .call("DELETE", &format!("/api/servers/{slow}"), None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    g.wait_state(&slow, "offline", T).await;

    let auto = g.create_demo("auto", json!({"auto_start": true})).await;
    let manual = g.create_demo("manual", json!({})).await;
    g.power(&auto, "start").await;
    g.power(&manual, "start").await;
    g.wait_state(&auto, "running", T).await;
    g.wait_state(&manual, "running", T).await;

    g.restart().await;
    // Shutdown stopped every game server: nothing was left running meanwhile.
    let (_, list) = g.call("GET", "/api/servers", None).await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["slow install", "auto", "manual"]);
    g.wait_state(&auto, "running", T).await;
    assert_eq!(g.state(&manual).await, "offline");
    assert_eq!(g.stored_state(&manual).await, "offline");
    let (_, h) = g
        .call("GET", &format!("/api/servers/{manual}/history"), None)
        .await;
    assert_eq!(h[0]["to"], "offline", "{h}");
    assert_eq!(h[1]["to"], "stopping", "{h}");
    // The API key made before the restart still works (we are using it).
    let (s, _) = g.call("GET", "/api/account/api-keys", None).await;
    assert_eq!(s, StatusCode::OK);

    // Exiting leaves no game server behind.
    let data = g.data_dir().to_owned();
    let st = g.stop();
    assert!(st.success());
    assert!(
        processes_in(&data.join("servers")).is_empty(),
        "{:?}",
        processes_in(&data)
    );
}

#[tokio::test]
async fn a_killed_garrison_leaves_no_game_server_behind_after_its_next_start() {
    let mut g = Garrison::start().await;
    let id = g.create_demo("orphan", json!({"auto_start": true})).await;
    let dir = server_dir(&g, &id);
    g.power(&id, "start").await;
    g.wait_state(&id, "running", T).await;
    g.command(&id, "spawn-child").await;
    g.wait_log(&id, "child pid", T).await;
    let before = processes_in(&dir);
    assert!(before.len() >= 2, "{before:?}");

    g.crash_and_restart().await;
    // The old group is gone (the new start may already run a fresh one: auto-start).
    for pid in &before {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| s.contains(") Z"))
                    .unwrap_or(true),
            "process {pid} of the killed Garrison survived"
        );
    }
    g.wait_state(&id, "running", T).await;
    let (_, h) = g
        .call("GET", &format!("/api/servers/{id}/history"), None)
        .await;
    assert!(h.to_string().contains("Garrison restarted"), "{h}");
    g.power(&id, "stop").await;
    g.wait_state(&id, "offline", T).await;
    wait_no_processes(&dir, T).await;
}
