//! `garrison serve` with `database_url = postgres://…`: the same behaviour as SQLite,
//! end to end. Needs GARRISON_TEST_POSTGRES_URL (set by .ci/run); skipped outside CI
//! when it is missing, and failing in CI.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

fn psql(url: &str, sql: &str) {
    let out = std::process::Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn serve_on_postgresql_keeps_servers_across_restarts() {
    let Ok(admin_url) = std::env::var("GARRISON_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must set GARRISON_TEST_POSTGRES_URL"
        );
        eprintln!("skipped: GARRISON_TEST_POSTGRES_URL is not set");
        return;
    };
    let db = format!("garrison_it_{}_{}", std::process::id(), free_port());
    psql(&admin_url, &format!("CREATE DATABASE {db}"));
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let url = format!("{base}/{db}");
    {
        let mut g = Garrison::start_with_env(&[("GARRISON_DATABASE_URL", &url)]).await;
        let (s, health) = g.call("GET", "/api/health", None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(health["database"], "postgres");
        let id = g
            .create_demo("on postgres", json!({"auto_start": true}))
            .await;
        g.power(&id, "start").await;
        g.wait_state(&id, "running", Duration::from_secs(30)).await;
        g.restart().await;
        let (_, list) = g.call("GET", "/api/servers", None).await;
        assert_eq!(list[0]["name"], "on postgres");
        g.wait_state(&id, "running", Duration::from_secs(30)).await;
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
            &tos[..6],
            &[
                "running", "starting", "offline", "stopping", "running", "starting"
            ],
            "{h}"
        );
        g.stop();
    }
    psql(&admin_url, &format!("DROP DATABASE {db} WITH (FORCE)"));
}
