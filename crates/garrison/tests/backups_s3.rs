//! Backups to S3 through `garrison serve`: the `[backups]` settings reach the node, a
//! backup lands in a real local S3-compatible server (moto), and it downloads, verifies,
//! restores and deletes from there. The driver's own multipart and retry tests are in
//! `garrison-agent/tests/backup_s3.rs`.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BUCKET: &str = "garrison-it";

/// A `moto_server` child on a free loopback port, killed on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    async fn start() -> Moto {
        let port = free_port();
        let hint = "moto_server (PyPI `moto[server]`) is needed: .ci/run installs it";
        let on_path = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("moto_server").is_file()));
        let mut cmd = if on_path {
            Command::new("moto_server")
        } else {
            let mut c = Command::new("python3");
            c.args(["-m", "moto.server"]);
            c
        };
        let child = cmd
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run moto_server ({e}). {hint}"));
        let mut moto = Moto { child, port };
        let started = Instant::now();
        loop {
            if let Some(st) = moto.child.try_wait().unwrap() {
                panic!("moto_server exited ({st}). {hint}");
            }
            if let Ok(r) = reqwest::get(format!("{}/moto-api/", moto.url())).await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto_server did not answer"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let r = reqwest::Client::new()
            .put(format!("{}/{BUCKET}", moto.url()))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "create bucket: {}", r.status());
        moto
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Keys in the bucket.
    async fn keys(&self) -> Vec<String> {
        let body = reqwest::get(format!("{}/{BUCKET}?list-type=2", self.url()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        body.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_ready(g: &Garrison, id: &str, b: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, v) = g
            .call("GET", &format!("/api/servers/{id}/backups/{b}"), None)
            .await;
        if v["state"] != "creating" {
            return v;
        }
        assert!(Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn backups_to_s3_through_garrison_serve() {
    let moto = Moto::start().await;
    let config = format!(
        "[backups]\nstorage = \"s3\"\n\n[backups.s3]\nendpoint = \"{}\"\nbucket = \"{BUCKET}\"\n\
         prefix = \"garrison/\"\npath_style = true\nallow_http = true\n\
         access_key_id = \"test\"\nsecret_access_key = \"from-the-file\"\npart_size = 5242880\n",
        moto.url()
    );
    // The secret can come from the environment instead of the file.
    let g = Garrison::start_with_config(
        &config,
        &[("GARRISON_BACKUPS_S3_SECRET_ACCESS_KEY", "test")],
    )
    .await;
    let id = g.create_demo("To S3", json!({})).await;
    let dir = g.data_dir().join("servers").join(&id);
    // Several parts: 12 MiB of noise at 5 MiB per part.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..12 * 1024 * 1024 / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect();
    std::fs::create_dir_all(dir.join("world")).unwrap();
    std::fs::write(dir.join("world/region.bin"), &noise).unwrap();
    std::fs::write(dir.join("config.txt"), b"a=1\n").unwrap();

    let (s, v) = g
        .call(
            "POST",
            &format!("/api/servers/{id}/backups"),
            Some(json!({"name": "s3"})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let bid = v["id"].as_str().unwrap().to_owned();
    let b = wait_ready(&g, &id, &bid).await;
    assert_eq!(b["state"], "ready", "{b}");
    assert_eq!(b["storage"], "s3");
    let keys = moto.keys().await;
    assert!(
        keys.contains(&format!("garrison/{id}/{bid}.tar.zst"))
            && keys.contains(&format!("garrison/{id}/{bid}.manifest.json")),
        "{keys:?}"
    );
    assert!(
        !g.data_dir().join("backups").join(&id).exists(),
        "nothing stored locally"
    );

    let resp = g
        .http
        .get(g.url(&format!("/api/servers/{id}/backups/{bid}/download")))
        .bearer_auth(&g.key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(
        hex::encode(Sha256::digest(&bytes)),
        b["sha256"].as_str().unwrap()
    );

    let (_, v) = g
        .call(
            "POST",
            &format!("/api/servers/{id}/backups/{bid}/verify"),
            None,
        )
        .await;
    assert_eq!(v["integrity"], "ok", "{v}");

    std::fs::write(dir.join("world/region.bin"), b"damaged").unwrap();
    std::fs::write(dir.join("config.txt"), b"a=2\n").unwrap();
    let (s, v) = g
        .call(
            "POST",
            &format!("/api/servers/{id}/backups/{bid}/restore"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, v) = g.call("GET", &format!("/api/servers/{id}"), None).await;
        if v["restore"]["state"] != "running" {
            assert_eq!(v["restore"]["state"], "succeeded", "{v}");
            break;
        }
        assert!(Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(std::fs::read(dir.join("world/region.bin")).unwrap(), noise);
    assert_eq!(std::fs::read(dir.join("config.txt")).unwrap(), b"a=1\n");

    let (s, _) = g
        .call("DELETE", &format!("/api/servers/{id}/backups/{bid}"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(moto.keys().await.is_empty(), "{:?}", moto.keys().await);
}
