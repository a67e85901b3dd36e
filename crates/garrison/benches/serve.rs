//! Benchmarks against a real `garrison serve` (release build under `cargo bench`):
//! console throughput from a flooding demo server to one WebSocket reader, echo
//! latency of a console command, and the panel's memory with 100 servers defined and
//! with 100 demo servers running. Prints a table; asserts nothing about timing.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (flood_lines, servers, echoes) = if full {
        (1_000_000, 100, 1000)
    } else {
        (20_000, 5, 20)
    };
    let mut rows = Vec::new();

    // Console throughput and echo latency.
    {
        let g = Garrison::start().await;
        let id = g.create_demo("bench", json!({})).await;
        g.power(&id, "start").await;
        g.wait_state(&id, "running", T).await;
        let mut ws = g.ws(&id).await;
        ws.until(T, |f| f["event"] == "console.history").await;

        let mut latencies = Vec::with_capacity(echoes);
        for i in 0..echoes {
            let needle = format!("> ping {i}");
            let t0 = Instant::now();
            ws.send(json!({"type": "command", "command": format!("ping {i}")}))
                .await;
            ws.until(T, |f| {
                f["event"] == "server.console"
                    && f["data"]["lines"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|l| l == &needle)
            })
            .await;
            latencies.push(t0.elapsed());
        }
        latencies.sort();
        let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
        rows.push((
            format!("console command echo latency, {echoes} round trips"),
            format!(
                "p50 {:.2} ms, p99 {:.2} ms",
                pct(0.5).as_secs_f64() * 1e3,
                pct(0.99).as_secs_f64() * 1e3
            ),
        ));

        let last = format!("flood {}", flood_lines - 1);
        let t0 = Instant::now();
        ws.send(json!({"type": "command", "command": format!("flood {flood_lines}")}))
            .await;
        let (mut received, mut missed, mut frames) = (0u64, 0u64, 0u64);
        ws.until(Duration::from_secs(600), |f| match f["event"].as_str() {
            Some("server.console") => {
                frames += 1;
                let lines = f["data"]["lines"].as_array().unwrap();
                received += lines
                    .iter()
                    .filter(|l| l.as_str().unwrap().starts_with("flood "))
                    .count() as u64;
                missed += f["data"]["dropped"].as_u64().unwrap_or(0);
                lines.iter().any(|l| l.as_str() == Some(last.as_str()))
            }
            Some("console.missed") => {
                missed += f["data"]["lines"].as_u64().unwrap_or(0);
                false
            }
            _ => false,
        })
        .await;
        let secs = t0.elapsed().as_secs_f64();
        rows.push((
            format!("console flood, {flood_lines} lines to 1 WebSocket reader"),
            format!(
                "{:.0} lines/s received, {received} received, {missed} dropped, {frames} frames, {secs:.2} s",
                received as f64 / secs
            ),
        ));
        rows.push((
            "garrison RSS after the flood".into(),
            format!("{} MiB", rss_kib(g.pid()) / 1024),
        ));
    }

    // Memory with many servers.
    {
        let g = Garrison::start().await;
        let mut ids = Vec::new();
        for i in 0..servers {
            let v = g
                .create(json!({"name": format!("s{i}"), "template": "demo", "port": 40000 + i}))
                .await;
            ids.push(v["id"].as_str().unwrap().to_owned());
        }
        for id in &ids {
            g.wait_state(id, "offline", T).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        rows.push((
            format!("garrison serve idle, {servers} servers just created (and installed)"),
            format!("{} MiB RSS", rss_kib(g.pid()) / 1024),
        ));
        // The everyday idle state: started with the servers already defined.
        let mut g = g;
        g.restart().await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        rows.push((
            format!("garrison serve idle after a restart, {servers} servers defined"),
            format!("{} MiB RSS", rss_kib(g.pid()) / 1024),
        ));
        let t0 = Instant::now();
        for id in &ids {
            g.power(id, "start").await;
        }
        for id in &ids {
            g.wait_state(id, "running", T).await;
        }
        let start_secs = t0.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let games: u64 = processes_in(&g.data_dir().join("servers"))
            .iter()
            .map(|p| rss_kib(*p as u32))
            .sum();
        rows.push((
            format!("garrison serve, {servers} demo servers running"),
            format!(
                "{} MiB RSS (game processes {} MiB in all; all running after {start_secs:.1} s)",
                rss_kib(g.pid()) / 1024,
                games / 1024
            ),
        ));
        let cpu0 = proc_cpu_ticks(g.pid());
        tokio::time::sleep(Duration::from_secs(10)).await;
        let cpu1 = proc_cpu_ticks(g.pid());
        let hz = 100.0;
        rows.push((
            format!("garrison CPU with {servers} idle running servers"),
            format!(
                "{:.2} % of a core",
                (cpu1 - cpu0) as f64 / hz / 10.0 * 100.0
            ),
        ));
    }

    // Authenticated API reads beside a bare axum JSON handler, same load, same run.
    {
        let (conns, secs) = if full { (64, 10) } else { (4, 1) };
        let g = Garrison::start_with_env(&[("GARRISON_RATE_LIMITS", "off")]).await;
        for i in 0..servers {
            g.create(json!({"name": format!("s{i}"), "template": "demo", "port": 41000 + i}))
                .await;
        }
        let (_, list) = g.call("GET", "/api/servers", None).await;
        let body = list.to_string();
        let bare = bare_json_server(body.clone()).await;
        let (rps, p50, p99) = load(&bare, None, conns, secs).await;
        rows.push((
            format!(
                "bare axum JSON handler ({} KiB), {conns} connections",
                body.len() / 1024
            ),
            format!("{rps:.0} req/s, p50 {p50:.2} ms, p99 {p99:.2} ms"),
        ));
        let url = g.url("/api/servers");
        let (grps, gp50, gp99) = load(&url, Some(&g.key), conns, secs).await;
        rows.push((
            format!("GET /api/servers ({servers} servers, API key), {conns} connections"),
            format!(
                "{grps:.0} req/s, p50 {gp50:.2} ms, p99 {gp99:.2} ms; bare/garrison cost ratio {:.2}",
                rps / grps.max(1.0)
            ),
        ));
    }

    print_table(&rows, full, "serve");
}

fn proc_cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15; after ")" they are at 11 and 12.
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

/// A bare axum server answering `body` as JSON, for comparison; returns its URL.
async fn bare_json_server(body: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    let app = axum::Router::new().route(
        "/api/servers",
        axum::routing::get(move || {
            let body = body.clone();
            async move { axum::Json(body) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/api/servers")
}

/// `conns` clients, each sending requests back to back for `secs` seconds.
/// Returns requests per second, p50 and p99 latency in ms.
async fn load(url: &str, key: Option<&str>, conns: usize, secs: u64) -> (f64, f64, f64) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(conns)
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (client, url, key) = (client.clone(), url.to_owned(), key.map(str::to_owned));
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let mut req = client.get(&url);
                if let Some(k) = &key {
                    req = req.bearer_auth(k);
                }
                let r = req.send().await.unwrap();
                assert!(r.status().is_success(), "{}", r.status());
                r.bytes().await.unwrap();
                lat.push(t0.elapsed().as_secs_f64() * 1e3);
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        all.get(((all.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    (all.len() as f64 / elapsed, pct(0.5), pct(0.99))
}
