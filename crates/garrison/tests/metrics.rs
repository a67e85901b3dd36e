//! Metrics history and Prometheus against a real `garrison serve`: a running server's
//! samples are stored and read back as a series, the node's too, top consumers, bad
//! queries refused, and `/metrics` with its token and loopback rules.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_running_server_has_a_history_and_prometheus_sees_it() {
    let g = Garrison::start_with_env(&[("GARRISON_METRICS_SAMPLE_SECS", "1")]).await;
    let id = g.create_demo("measured", json!({})).await;
    g.power(&id, "start").await;
    g.wait_state(&id, "running", Duration::from_secs(30)).await;

    let deadline = Instant::now() + Duration::from_secs(20);
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let series = loop {
        // One sample a second here: ten minutes are 600 raw points.
        let (s, v) = g
            .call(
                "GET",
                &format!("/api/servers/{id}/metrics?from={}", started - 600_000),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if v["points"].as_array().unwrap().len() >= 3 {
            break v;
        }
        assert!(Instant::now() < deadline, "no samples: {v}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(series["resolution"], "raw");
    assert_eq!(series["target"], id.as_str());
    let p = &series["points"][0];
    assert!(p["memory"].as_i64().unwrap() > 0, "{p}");
    assert!(p["cpu"].is_number());
    assert_eq!(p["samples"], 1);
    let ats: Vec<i64> = series["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["at"].as_i64().unwrap())
        .collect();
    assert!(ats.windows(2).all(|w| w[0] < w[1]), "oldest first: {ats:?}");

    // A week asks for coarser points (minutes; none rolled up yet in this young store).
    let now = ats[ats.len() - 1];
    for (days, res) in [(1, "minute"), (7, "hour"), (90, "hour")] {
        let (s, v) = g
            .call(
                "GET",
                &format!(
                    "/api/servers/{id}/metrics?from={}&to={now}",
                    now - days * 86_400_000
                ),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["resolution"], res, "{days} days");
    }
    let (_, stepped) = g
        .call("GET", &format!("/api/servers/{id}/metrics?step=3600"), None)
        .await;
    assert_eq!(stepped["resolution"], "hour");

    let (s, node) = g
        .call(
            "GET",
            &format!("/api/nodes/local/metrics?from={}", started - 600_000),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{node}");
    assert!(!node["points"].as_array().unwrap().is_empty(), "{node}");
    assert!(node["points"][0]["memory_total"].as_i64().unwrap() > 0);
    assert!(node["current"]["disk_total_bytes"].as_u64().unwrap() > 0);
    let (s, _) = g.call("GET", "/api/nodes/elsewhere/metrics", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, top) = g
        .call("GET", "/api/admin/metrics/top?by=memory&limit=5", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{top}");
    assert_eq!(top[0]["server"], id.as_str());
    assert_eq!(top[0]["name"], "measured");

    for (query, status, field) in [
        ("from=x", StatusCode::UNPROCESSABLE_ENTITY, Some("from")),
        (
            "from=10&to=5",
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("from"),
        ),
        ("step=0", StatusCode::UNPROCESSABLE_ENTITY, Some("step")),
        ("colour=red", StatusCode::BAD_REQUEST, None),
    ] {
        let (s, v) = g
            .call("GET", &format!("/api/servers/{id}/metrics?{query}"), None)
            .await;
        assert_eq!(s, status, "{query}: {v}");
        if let Some(f) = field {
            assert_eq!(v["error"]["field"], f, "{query}: {v}");
        }
    }
    let (s, _) = g.call("GET", "/api/admin/metrics/top?by=mood", None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // Prometheus, from loopback without a token.
    let text = g
        .http
        .get(g.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in:\n{text}"))
            .to_owned()
    };
    assert!(
        line(&format!(
            "garrison_server_up{{server=\"{id}\",name=\"measured\",state=\"running\"}}"
        ))
        .ends_with(" 1")
    );
    assert!(line("garrison_servers{state=\"running\"}").ends_with(" 1"));
    let mem = line(&format!("garrison_server_memory_bytes{{server=\"{id}\""));
    assert!(
        mem.rsplit(' ').next().unwrap().parse::<f64>().unwrap() > 0.0,
        "{mem}"
    );
    line("garrison_node_memory_total_bytes{node=\"local\"}");
    line("garrison_http_requests_total{");
    assert!(
        text.contains("route=\"/api/servers/{id}/metrics\""),
        "requests are counted by route template, not by id"
    );
    line("garrison_http_request_duration_seconds_bucket{");
    line("# TYPE garrison_info gauge");
}

#[tokio::test]
async fn prometheus_needs_its_token_or_loopback() {
    let token = "a-long-scrape-token-1234";
    let g = Garrison::start_with_env(&[
        ("GARRISON_METRICS_TOKEN", token),
        ("GARRISON_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let r = g.http.get(g.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = g
        .http
        .get(g.url("/metrics"))
        .bearer_auth("wrong-token-wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"]["code"].is_string());
    let r = g
        .http
        .get(g.url("/metrics"))
        .bearer_auth(token)
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("garrison_info"));
    drop(g);

    // Without a token: loopback only.
    let g = Garrison::start_with_env(&[("GARRISON_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let r = g
        .http
        .get(g.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = g.http.get(g.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    drop(g);

    let g = Garrison::start_with_env(&[("GARRISON_METRICS_PROMETHEUS", "false")]).await;
    let r = g.http.get(g.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
