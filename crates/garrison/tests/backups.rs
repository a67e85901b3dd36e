//! Backups through the real API of a real `garrison serve`: create, list, download,
//! manifest, lock, verify, restore (merge, delete extra, partial), limits, rotation, the
//! rate limit, bad input, corrupt and missing archives, a kill -9 mid-backup and
//! mid-restore, the real Luanti world, and the `garrison backup verify` / `garrison
//! db-backup` commands.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);

/// Deterministic incompressible bytes.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Every entry under `root`: path → (kind, sha256 or link target, mode bits).
fn tree(root: &Path) -> BTreeMap<String, (char, String, u32)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (char, String, u32)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let mode = m.permissions().mode() & 0o7777;
            if m.file_type().is_symlink() {
                let t = std::fs::read_link(&p).unwrap();
                out.insert(rel, ('l', t.to_string_lossy().into_owned(), 0));
            } else if m.is_dir() {
                out.insert(rel, ('d', String::new(), mode));
                walk(root, &p, out);
            } else {
                out.insert(rel, ('f', sha(&std::fs::read(&p).unwrap()), mode));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn server_dir(g: &Garrison, id: &str) -> PathBuf {
    g.data_dir().join("servers").join(id)
}

async fn create_backup(g: &Garrison, id: &str, body: Value) -> String {
    let (s, v) = g
        .call("POST", &format!("/api/servers/{id}/backups"), Some(body))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["state"], "creating", "{v}");
    v["id"].as_str().unwrap().to_owned()
}

async fn get_backup(g: &Garrison, id: &str, b: &str) -> (StatusCode, Value) {
    g.call("GET", &format!("/api/servers/{id}/backups/{b}"), None)
        .await
}

/// Polls until the backup is no longer `creating`; returns it.
async fn wait_backup(g: &Garrison, id: &str, b: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (s, v) = get_backup(g, id, b).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if v["state"] != "creating" {
            return v;
        }
        assert!(Instant::now() < deadline, "backup still creating: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn ready_backup(g: &Garrison, id: &str, body: Value) -> Value {
    let b = create_backup(g, id, body).await;
    let v = wait_backup(g, id, &b).await;
    assert_eq!(v["state"], "ready", "{v}");
    v
}

async fn restore(g: &Garrison, id: &str, b: &str, body: Value) -> (StatusCode, Value) {
    g.call(
        "POST",
        &format!("/api/servers/{id}/backups/{b}/restore"),
        Some(body),
    )
    .await
}

/// Polls the server until its restore is no longer running; returns the status.
async fn wait_restore(g: &Garrison, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, v) = g.call("GET", &format!("/api/servers/{id}"), None).await;
        let r = v["restore"].clone();
        if !r.is_null() && r["state"] != "running" {
            return r;
        }
        assert!(Instant::now() < deadline, "restore still running: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn restored(g: &Garrison, id: &str, b: &str, body: Value) {
    let (s, v) = restore(g, id, b, body).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["restore"]["state"], "running", "{v}");
    let r = wait_restore(g, id).await;
    assert_eq!(r["state"], "succeeded", "{r}");
    assert_eq!(r["backup"], b);
}

async fn manifest(g: &Garrison, id: &str, b: &str) -> Vec<Value> {
    let (s, v) = g
        .call(
            "GET",
            &format!("/api/servers/{id}/backups/{b}/manifest"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["entries"].as_array().unwrap().clone()
}

/// The server's files are exactly the manifest's: same set, file hashes, link targets
/// and modes.
fn assert_matches_manifest(dir: &Path, entries: &[Value]) {
    let on_disk = tree(dir);
    let mut want = BTreeMap::new();
    for e in entries {
        let path = e["path"].as_str().unwrap().to_owned();
        let mode = e["mode"].as_u64().unwrap() as u32 & 0o7777;
        let v = match e["kind"].as_str().unwrap() {
            "file" => ('f', e["sha256"].as_str().unwrap().to_owned(), mode),
            "dir" => ('d', String::new(), mode),
            "symlink" => ('l', e["target"].as_str().unwrap().to_owned(), 0),
            k => panic!("kind {k}"),
        };
        want.insert(path, v);
    }
    assert_eq!(on_disk, want, "files differ from the backup's manifest");
}

async fn download(g: &Garrison, id: &str, b: &str, range: Option<&str>) -> (StatusCode, Vec<u8>) {
    let mut req = g
        .http
        .get(g.url(&format!("/api/servers/{id}/backups/{b}/download")))
        .bearer_auth(&g.key);
    if let Some(r) = range {
        req = req.header("range", r);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.bytes().await.unwrap().to_vec())
}

fn backup_files(g: &Garrison, id: &str) -> Vec<String> {
    let dir = g.data_dir().join("backups").join(id);
    let mut names: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

fn seed_world(dir: &Path) {
    write(&dir.join("world/level.dat"), &noise(3 * 1024 * 1024, 1));
    write(&dir.join("world/region/r.0.0.mca"), &noise(200_000, 2));
    write(&dir.join("world/empty.txt"), b"");
    std::fs::create_dir_all(dir.join("world/empty-dir")).unwrap();
    write(&dir.join("config.txt"), b"a=1\n");
    write(&dir.join("logs/latest.log"), b"noise\n");
    write(&dir.join("cache/tmp.bin"), &noise(1000, 3));
    write(&dir.join(".garrisonignore"), b"logs/\n");
    std::fs::set_permissions(
        dir.join("config.txt"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::os::unix::fs::symlink("world/level.dat", dir.join("level-link")).unwrap();
}

#[tokio::test]
async fn backup_download_lock_verify_and_restore() {
    let g = Garrison::start().await;
    let id = g.create_demo("Backed up", json!({})).await;
    let dir = server_dir(&g, &id);
    seed_world(&dir);
    g.power(&id, "start").await;
    g.wait_state(&id, "running", T).await;

    // Made while the server runs.
    let b = ready_backup(&g, &id, json!({"name": "First", "ignore": ["cache/"]})).await;
    let bid = b["id"].as_str().unwrap().to_owned();
    assert_eq!(b["name"], "First");
    assert_eq!(b["storage"], "local");
    assert_eq!(b["compression"], "zstd");
    assert_eq!(b["ignore"], json!(["cache/"]));
    assert!(b["completed_at"].as_i64().is_some(), "{b}");
    let size = b["size"].as_u64().unwrap();
    let sum = b["sha256"].as_str().unwrap().to_owned();
    assert_eq!(sum.len(), 64);
    assert!(b["progress"].is_null());
    // The template's hooks ran around it: save first, resume after.
    let lines = g.wait_log(&id, "> save-on", T).await;
    let save = lines.iter().position(|l| l.contains("> save-all")).unwrap();
    let resume = lines.iter().position(|l| l.contains("> save-on")).unwrap();
    assert!(save < resume, "{lines:?}");

    let (s, list) = g
        .call("GET", &format!("/api/servers/{id}/backups"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["backups"][0]["id"], bid.as_str());
    assert_eq!(list["limits"]["count"], 1);
    assert_eq!(list["limits"]["bytes"], size);
    assert!(list["limits"]["max_count"].is_null());

    // The download is the archive the checksum names; a range resumes it.
    let (s, bytes) = download(&g, &id, &bid, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((bytes.len() as u64, sha(&bytes)), (size, sum.clone()));
    let (s, tail) = download(&g, &id, &bid, Some("bytes=10-")).await;
    assert_eq!(s, StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail, bytes[10..]);

    // What it holds: the ignore file and the request's ignore list are honoured.
    let entries = manifest(&g, &id, &bid).await;
    let paths: Vec<&str> = entries
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    for p in [
        "world/level.dat",
        "world/region/r.0.0.mca",
        "world/empty-dir",
        "config.txt",
        ".garrisonignore",
        "level-link",
    ] {
        assert!(paths.contains(&p), "{p} missing from {paths:?}");
    }
    assert!(
        !paths
            .iter()
            .any(|p| p.starts_with("logs") || p.starts_with("cache")),
        "{paths:?}"
    );
    let level = entries
        .iter()
        .find(|e| e["path"] == "world/level.dat")
        .unwrap();
    assert_eq!(
        level["sha256"],
        sha(&std::fs::read(dir.join("world/level.dat")).unwrap())
    );

    let (s, v) = g
        .call(
            "POST",
            &format!("/api/servers/{id}/backups/{bid}/verify"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["integrity"], "ok", "{v}");
    assert_eq!(v["backup"]["integrity"], "ok");

    // A running server is not restored.
    let (s, v) = restore(&g, &id, &bid, json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "conflict");
    assert_eq!(v["error"]["state"], "running");
    g.power(&id, "stop").await;
    g.wait_state(&id, "offline", T).await;

    // Merge restore: changed and deleted files come back, others stay.
    write(&dir.join("config.txt"), b"a=2\n");
    std::fs::remove_file(dir.join("world/level.dat")).unwrap();
    write(&dir.join("extra.txt"), b"not in the backup");
    restored(&g, &id, &bid, json!({})).await;
    assert_eq!(std::fs::read(dir.join("config.txt")).unwrap(), b"a=1\n");
    assert_eq!(
        std::fs::metadata(dir.join("config.txt"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640
    );
    assert_eq!(
        std::fs::read(dir.join("world/level.dat")).unwrap(),
        noise(3 * 1024 * 1024, 1)
    );
    assert!(dir.join("extra.txt").exists());
    assert!(dir.join("logs/latest.log").exists());
    // The restored tree is readable through the file API again (a fresh sandbox).
    let (s, v) = g
        .call(
            "GET",
            &format!("/api/servers/{id}/files/content?path=config.txt"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // Partial restore of one directory touches nothing else.
    write(&dir.join("config.txt"), b"a=3\n");
    write(&dir.join("world/region/r.0.0.mca"), b"changed");
    restored(&g, &id, &bid, json!({"paths": ["world"]})).await;
    assert_eq!(std::fs::read(dir.join("config.txt")).unwrap(), b"a=3\n");
    assert_eq!(
        std::fs::read(dir.join("world/region/r.0.0.mca")).unwrap(),
        noise(200_000, 2)
    );

    // Delete-extra restore: the server's files are exactly the backup's.
    restored(&g, &id, &bid, json!({"delete_extra": true})).await;
    assert_matches_manifest(&dir, &entries);
    assert!(!g.data_dir().join("restore-staging").join(&id).exists());

    // The server still runs from the restored files.
    g.power(&id, "start").await;
    g.wait_state(&id, "running", T).await;
    g.power(&id, "stop").await;
    g.wait_state(&id, "offline", T).await;

    // Locked backups are not deleted.
    let (s, v) = g
        .call(
            "POST",
            &format!("/api/servers/{id}/backups/{bid}/lock"),
            None,
        )
        .await;
    assert_eq!(
        (s, v["locked"].clone()),
        (StatusCode::OK, json!(true)),
        "{v}"
    );
    let (s, v) = g
        .call("DELETE", &format!("/api/servers/{id}/backups/{bid}"), None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["error"]["code"], "backup_locked");
    let (s, _) = g
        .call(
            "POST",
            &format!("/api/servers/{id}/backups/{bid}/unlock"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(backup_files(&g, &id).len(), 2, "archive and manifest");
    let (s, _) = g
        .call("DELETE", &format!("/api/servers/{id}/backups/{bid}"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(get_backup(&g, &id, &bid).await.0, StatusCode::NOT_FOUND);
    assert!(
        backup_files(&g, &id).is_empty(),
        "{:?}",
        backup_files(&g, &id)
    );

    // Every step is in the server's activity.
    let (_, a) = g
        .call("GET", &format!("/api/servers/{id}/activity"), None)
        .await;
    let text = a.to_string();
    for action in [
        "backup.create",
        "backup.download",
        "backup.restore",
        "backup.lock",
        "backup.unlock",
        "backup.delete",
    ] {
        assert!(text.contains(action), "{action} not audited: {text}");
    }
}

#[tokio::test]
async fn bad_input_corrupt_and_missing_archives() {
    let g = Garrison::start().await;
    let id = g.create_demo("Bad input", json!({})).await;
    let dir = server_dir(&g, &id);
    seed_world(&dir);
    let url = format!("/api/servers/{id}/backups");

    let (s, v) = g
        .call("POST", &url, Some(json!({"name": "x".repeat(101)})))
        .await;
    assert_eq!(
        (s, v["error"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("name")),
        "{v}"
    );
    let (s, v) = g
        .call("POST", &url, Some(json!({"ignore": ["a\nb"]})))
        .await;
    assert_eq!(
        (s, v["error"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("ignore.0")),
        "{v}"
    );
    let (s, v) = g.call("POST", &url, Some(json!({"colour": "red"}))).await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("unknown_field")),
        "{v}"
    );
    let (s, v) = g.call_raw("POST", &url, "{not json").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = get_backup(&g, &id, "no-such-backup").await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );
    assert_eq!(
        restore(&g, &id, "no-such-backup", json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    // Nothing was half-made by the refusals.
    let (_, list) = g.call("GET", &url, None).await;
    assert_eq!(list["backups"], json!([]));

    // An empty body takes the defaults.
    let (s, v) = g.call_raw("POST", &url, "").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let bid = v["id"].as_str().unwrap().to_owned();
    assert!(v["name"].as_str().unwrap().starts_with("Backup 20"), "{v}");
    let b = wait_backup(&g, &id, &bid).await;
    assert_eq!(b["state"], "ready", "{b}");

    for (body, code) in [
        (json!({"paths": ["nope"]}), "invalid_path"),
        (json!({"paths": ["../etc"]}), "invalid_path"),
        (json!({"paths": "world"}), "invalid_value"),
    ] {
        let (s, v) = restore(&g, &id, &bid, body.clone()).await;
        assert_eq!(v["error"]["code"], code, "{body}: {s} {v}");
    }
    let (s, v) = g.call("POST", &format!("{url}/{bid}/cancel"), None).await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("backup_not_running"))
    );

    // A damaged archive is refused before any file is touched.
    let archive = g
        .data_dir()
        .join("backups")
        .join(&id)
        .join(format!("{bid}.tar.zst"));
    let mut bytes = std::fs::read(&archive).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&archive, &bytes).unwrap();
    write(&dir.join("config.txt"), b"changed after the backup\n");
    let before = tree(&dir);
    let (s, v) = restore(&g, &id, &bid, json!({"delete_extra": true})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let r = wait_restore(&g, &id).await;
    assert_eq!(r["state"], "failed", "{r}");
    assert!(
        r["error"].as_str().unwrap().contains("nothing was changed"),
        "{r}"
    );
    assert_eq!(tree(&dir), before, "a refused restore changed files");
    let (_, b) = get_backup(&g, &id, &bid).await;
    assert_eq!(b["integrity"], "corrupt", "{b}");
    let (_, v) = g.call("POST", &format!("{url}/{bid}/verify"), None).await;
    assert_eq!(v["integrity"], "corrupt", "{v}");
    // The server still starts: the failed restore let go of it.
    g.power(&id, "start").await;
    g.wait_state(&id, "running", T).await;
    g.power(&id, "kill").await;
    g.wait_state(&id, "offline", T).await;

    // A missing archive is reported as such.
    std::fs::remove_file(&archive).unwrap();
    let (_, v) = g.call("POST", &format!("{url}/{bid}/verify"), None).await;
    assert_eq!(v["integrity"], "missing", "{v}");
    let (s, v) = download(&g, &id, &bid, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{}", String::from_utf8_lossy(&v));
    assert_eq!(tree(&dir), before);
}

#[tokio::test]
async fn busy_cancel_and_the_creation_rate_limit() {
    // Slow reads make the backup last long enough to act on it while it runs.
    let g = Garrison::start_with_env(&[
        ("GARRISON_BACKUPS_READ_LIMIT_MIB_PER_SEC", "1"),
        ("GARRISON_BACKUPS_MIN_INTERVAL_SECS", "3600"),
    ])
    .await;
    let id = g.create_demo("Busy", json!({})).await;
    let dir = server_dir(&g, &id);
    write(&dir.join("big.bin"), &noise(16 * 1024 * 1024, 9));
    let bid = create_backup(&g, &id, json!({})).await;
    let url = format!("/api/servers/{id}/backups");

    // Progress shows while it runs.
    let deadline = Instant::now() + T;
    loop {
        let (_, v) = get_backup(&g, &id, &bid).await;
        if v["progress"]["bytes"].as_u64().unwrap_or(0) > 0 {
            assert!(v["progress"]["percent"].as_f64().unwrap() < 100.0, "{v}");
            break;
        }
        assert!(Instant::now() < deadline, "no progress: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (s, v) = g.call("POST", &url, Some(json!({}))).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert!(v["error"]["retry_after"].as_u64().unwrap() > 3000, "{v}");
    let (s, v) = g.call("DELETE", &format!("{url}/{bid}"), None).await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("backup_in_progress"))
    );

    let (s, v) = g.call("POST", &format!("{url}/{bid}/cancel"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let b = wait_backup(&g, &id, &bid).await;
    assert_eq!(b["state"], "cancelled", "{b}");
    assert!(
        backup_files(&g, &id).is_empty(),
        "{:?}",
        backup_files(&g, &id)
    );
    // A cancelled backup is not usable.
    let (s, v) = restore(&g, &id, &bid, json!({})).await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("backup_not_ready"))
    );
}

#[tokio::test]
async fn limits_rotation_and_quota() {
    let g = Garrison::start().await;
    let id = g.create_demo("Limits", json!({})).await;
    let dir = server_dir(&g, &id);
    write(&dir.join("data.bin"), &noise(3 * 1024 * 1024, 4));
    let url = format!("/api/servers/{id}/backups");
    let (s, v) = g
        .call(
            "PATCH",
            &format!("/api/servers/{id}"),
            Some(json!({"limits": {"backups": 2}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    let b1 = ready_backup(&g, &id, json!({"name": "one"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b2 = ready_backup(&g, &id, json!({"name": "two"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, v) = g.call("POST", &url, Some(json!({"name": "three"}))).await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("backup_limit_reached")),
        "{v}"
    );
    let (_, list) = g.call("GET", &url, None).await;
    assert_eq!(list["limits"]["max_count"], 2);
    assert_eq!(list["backups"].as_array().unwrap().len(), 2);

    // Rotation removes the oldest unlocked backup once the new one succeeded.
    g.call("POST", &format!("{url}/{b1}/lock"), None).await;
    let b3 = ready_backup(&g, &id, json!({"name": "three", "rotate": true})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + T;
    loop {
        let (_, list) = g.call("GET", &url, None).await;
        let ids: Vec<&str> = list["backups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["id"].as_str().unwrap())
            .collect();
        if ids.len() == 2 {
            assert_eq!(
                ids,
                [b3.as_str(), b1.as_str()],
                "the locked one stays, the oldest unlocked goes"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{ids:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get_backup(&g, &id, &b2).await.0, StatusCode::NOT_FOUND);
    assert!(!backup_files(&g, &id).iter().any(|f| f.starts_with(&b2)));
    // With every backup at the limit locked, even rotation is refused.
    g.call("POST", &format!("{url}/{b3}/lock"), None).await;
    let (s, v) = g.call("POST", &url, Some(json!({"rotate": true}))).await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("backup_limit_reached")),
        "{v}"
    );
    g.call(
        "PATCH",
        &format!("/api/servers/{id}"),
        Some(json!({"limits": {"backups": 0}})),
    )
    .await;
    let (s, v) = g.call("POST", &url, Some(json!({}))).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("turned off"),
        "{v}"
    );

    // A restore that would not fit the disk limit is refused up front.
    std::fs::remove_file(dir.join("data.bin")).unwrap();
    write(&dir.join("other.txt"), b"kept");
    g.call(
        "PATCH",
        &format!("/api/servers/{id}"),
        Some(json!({"limits": {"disk_mb": 1, "backups": 5}})),
    )
    .await;
    let before = tree(&dir);
    let (s, v) = restore(&g, &id, &b1, json!({})).await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (StatusCode::PAYLOAD_TOO_LARGE, json!("quota_exceeded")),
        "{v}"
    );
    assert_eq!(tree(&dir), before);
    let (_, srv) = g.call("GET", &format!("/api/servers/{id}"), None).await;
    assert!(
        srv["restore"].is_null(),
        "a refused restore left a status: {srv}"
    );

    // Deleting the server deletes its backups, locked ones too.
    assert!(!backup_files(&g, &id).is_empty());
    let (s, v) = g.call("DELETE", &format!("/api/servers/{id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert!(
        backup_files(&g, &id).is_empty(),
        "{:?}",
        backup_files(&g, &id)
    );
}

/// Events of one restore from the console socket, until `pred` says stop.
async fn wait_restore_event(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Value {
    ws.until(T, |v| {
        v["event"] == "server.backup" && v["data"]["op"] == "restore" && pred(&v["data"])
    })
    .await
}

#[tokio::test]
async fn kill_nine_mid_backup_and_mid_restore() {
    // Mid-backup: slow reads so the kill lands while it runs.
    let mut g = Garrison::start_with_env(&[("GARRISON_BACKUPS_READ_LIMIT_MIB_PER_SEC", "2")]).await;
    let id = g.create_demo("Killed", json!({})).await;
    let dir = server_dir(&g, &id);
    write(&dir.join("big.bin"), &noise(40 * 1024 * 1024, 5));
    let bid = create_backup(&g, &id, json!({})).await;
    let deadline = Instant::now() + T;
    loop {
        let (_, v) = get_backup(&g, &id, &bid).await;
        if v["progress"]["bytes"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    g.crash_and_restart().await;
    let (_, b) = get_backup(&g, &id, &bid).await;
    assert_eq!(b["state"], "failed", "{b}");
    assert!(b["error"].as_str().unwrap().contains("interrupted"), "{b}");
    assert!(
        backup_files(&g, &id).is_empty(),
        "half a backup left: {:?}",
        backup_files(&g, &id)
    );
    drop(g);

    // Mid-restore: a big archive, and the kill as soon as extraction reports progress.
    let mut g = Garrison::start().await;
    let id = g.create_demo("Killed restore", json!({})).await;
    let dir = server_dir(&g, &id);
    for i in 0..4 {
        write(
            &dir.join(format!("world/part{i}.bin")),
            &noise(100 * 1024 * 1024, 10 + i),
        );
    }
    let bid = ready_backup(&g, &id, json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 0..4 {
        write(
            &dir.join(format!("world/part{i}.bin")),
            format!("changed {i}").as_bytes(),
        );
    }
    write(&dir.join("new.txt"), b"made after the backup");
    let before = tree(&dir);
    let mut ws = g.ws(&id).await;
    let (s, v) = restore(&g, &id, &bid, json!({"delete_extra": true})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    wait_restore_event(&mut ws, |d| {
        d["stage"] == "progress" && d["bytes"].as_u64().unwrap_or(0) > 0
    })
    .await;
    drop(ws);
    g.crash_and_restart().await;
    assert_eq!(
        tree(&dir),
        before,
        "files changed by an interrupted restore"
    );
    let (_, srv) = g.call("GET", &format!("/api/servers/{id}"), None).await;
    assert_eq!(srv["restore"]["state"], "failed", "{srv}");
    assert!(
        srv["restore"]["error"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{srv}"
    );
    // Staging is cleaned up at start, and the backup still restores.
    let deadline = Instant::now() + T;
    while g.data_dir().join("restore-staging").join(&id).exists() {
        assert!(Instant::now() < deadline, "staging left behind");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A restore cancelled before the swap leaves the files as they were.
    let mut ws = g.ws(&id).await;
    let (s, v) = restore(&g, &id, &bid, json!({"delete_extra": true})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    wait_restore_event(&mut ws, |d| d["stage"] == "progress").await;
    let (s, v) = g
        .call(
            "POST",
            &format!("/api/servers/{id}/backups/{bid}/cancel"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let r = wait_restore(&g, &id).await;
    assert_eq!(r["state"], "cancelled", "{r}");
    assert_eq!(tree(&dir), before, "a cancelled restore changed files");
    drop(ws);

    restored(&g, &id, &bid, json!({"delete_extra": true})).await;
    assert_eq!(
        std::fs::read(dir.join("world/part3.bin")).unwrap(),
        noise(100 * 1024 * 1024, 13)
    );
    assert!(!dir.join("new.txt").exists());
}

#[tokio::test]
async fn luanti_world_backed_up_running_and_stopped_and_restored_exactly() {
    assert!(
        Path::new("/usr/lib/minetest/minetestserver").exists(),
        "Luanti is not installed (apt-get install minetest-server)"
    );
    let g = Garrison::start().await;
    let port = free_port();
    let v = g
        .create(json!({"name": "Luanti", "template": "luanti", "port": port}))
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    g.wait_state(&id, "offline", T).await;
    let dir = server_dir(&g, &id);
    g.power(&id, "start").await;
    g.wait_state(&id, "running", T).await;
    g.wait_log(&id, "listening on", T).await;

    // While it runs: the archive is consistent with its own manifest.
    let running = ready_backup(&g, &id, json!({"name": "running"})).await;
    let rid = running["id"].as_str().unwrap().to_owned();
    let (_, v) = g
        .call(
            "POST",
            &format!("/api/servers/{id}/backups/{rid}/verify"),
            None,
        )
        .await;
    assert_eq!(v["integrity"], "ok", "{v}");
    assert!(
        manifest(&g, &id, &rid)
            .await
            .iter()
            .any(|e| e["path"] == "world/world.mt")
    );

    g.power(&id, "stop").await;
    g.wait_state(&id, "offline", T).await;
    wait_no_processes(&dir, Duration::from_secs(10)).await;
    let stopped = ready_backup(&g, &id, json!({"name": "stopped"})).await;
    let sid = stopped["id"].as_str().unwrap().to_owned();
    let entries = manifest(&g, &id, &sid).await;
    assert_matches_manifest(&dir, &entries);
    let world_files: Vec<String> = entries
        .iter()
        .filter(|e| e["kind"] == "file" && e["path"].as_str().unwrap().starts_with("world/"))
        .map(|e| e["path"].as_str().unwrap().to_owned())
        .collect();
    assert!(world_files.len() >= 2, "{world_files:?}");

    // Change and delete world files, then restore the stopped backup exactly.
    write(&dir.join("world/world.mt"), b"gameid = broken\n");
    for f in &world_files {
        if f != "world/world.mt" {
            let _ = std::fs::remove_file(dir.join(f));
        }
    }
    write(&dir.join("world/stray.txt"), b"stray");
    restored(&g, &id, &sid, json!({"delete_extra": true})).await;
    assert_matches_manifest(&dir, &entries);

    // And the game runs on the restored world.
    g.power(&id, "start").await;
    g.wait_state(&id, "running", T).await;
    g.power(&id, "stop").await;
    g.wait_state(&id, "offline", T).await;
}

fn cli(args: &[&str], data_dir: &Path) -> std::process::Output {
    let mut cmd = std::process::Command::new(garrison_bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("GARRISON_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap()
}

#[tokio::test]
async fn verify_and_db_backup_commands() {
    let g = Garrison::start().await;
    let id = g.create_demo("Checked", json!({})).await;
    write(&server_dir(&g, &id).join("a.txt"), b"a");
    let b = ready_backup(&g, &id, json!({})).await;
    let bid = b["id"].as_str().unwrap().to_owned();

    let out = cli(&["backup", "verify"], g.data_dir());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("1 backups checked, 0 missing or corrupt"),
        "{text}"
    );

    let archive = g
        .data_dir()
        .join("backups")
        .join(&id)
        .join(format!("{bid}.tar.zst"));
    let mut bytes = std::fs::read(&archive).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&archive, &bytes).unwrap();
    let out = cli(&["backup", "verify", "--server", &id], g.data_dir());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("CORRUPT"), "{text}");
    let (_, b) = get_backup(&g, &id, &bid).await;
    assert_eq!(b["integrity"], "corrupt", "the panel marks it: {b}");

    // A consistent copy of the database while Garrison runs; it opens as a data dir.
    let copy = tempfile::tempdir().unwrap();
    let db = copy.path().join("garrison.db");
    let out = cli(
        &["db-backup", "--output", db.to_str().unwrap()],
        g.data_dir(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.is_file());
    let out = cli(&["user", "list"], copy.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("admin"));
    // An existing file is never overwritten.
    let out = cli(
        &["db-backup", "--output", db.to_str().unwrap()],
        g.data_dir(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists already"));
}
