//! The file manager API against a real `garrison serve`: every operation a user relies
//! on, the attack corpus (each attempt refused with a JSON error and the file system
//! outside the server directory byte-for-byte unchanged), the disk quota, the deny list
//! and `server.file` events.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

struct Files<'a> {
    g: &'a Garrison,
    id: String,
}

impl Files<'_> {
    fn url(&self, rest: &str) -> String {
        self.g.url(&format!("/api/servers/{}/files{rest}", self.id))
    }

    async fn call(&self, method: &str, rest: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.g
            .call(
                method,
                &format!("/api/servers/{}/files{rest}", self.id),
                body,
            )
            .await
    }

    async fn put(&self, path: &str, content: impl Into<reqwest::Body>) -> (StatusCode, Value) {
        let r = self
            .g
            .http
            .put(self.url(&format!("/content?path={}", enc(path))))
            .bearer_auth(&self.g.key)
            .body(content)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, rest: &str, query: &[(&str, &str)]) -> (StatusCode, Value) {
        let r = self
            .g
            .http
            .get(self.url(&format!("{rest}{}", qs(query))))
            .bearer_auth(&self.g.key)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn read(&self, path: &str) -> (StatusCode, Value) {
        self.get("/content", &[("path", path)]).await
    }

    async fn download(&self, path: &str, range: Option<&str>) -> (StatusCode, Vec<u8>) {
        let mut req = self
            .g
            .http
            .get(self.url(&format!("/download?path={}", enc(path))))
            .bearer_auth(&self.g.key);
        if let Some(r) = range {
            req = req.header("range", r);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        (status, r.bytes().await.unwrap().to_vec())
    }

    async fn upload(&self, path: &str, bytes: &[u8]) -> (StatusCode, Value) {
        let (s, v) = self
            .call(
                "POST",
                "/uploads",
                Some(json!({"path": path, "size": bytes.len()})),
            )
            .await;
        if s != StatusCode::CREATED {
            return (s, v);
        }
        let up = v["id"].as_str().unwrap().to_owned();
        self.chunk(&up, 0, bytes.to_vec()).await
    }

    async fn chunk(&self, upload: &str, offset: u64, bytes: Vec<u8>) -> (StatusCode, Value) {
        let r = self
            .g
            .http
            .patch(self.url(&format!("/uploads/{upload}?offset={offset}")))
            .bearer_auth(&self.g.key)
            .body(bytes)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn list(&self, query: &[(&str, &str)]) -> Value {
        let (s, v) = self.get("", query).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }
}

/// Percent-encode a query value (every byte but unreserved ones).
fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn qs(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect();
    format!("?{}", parts.join("&"))
}

fn names(page: &Value) -> Vec<String> {
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect()
}

fn server_dir(g: &Garrison, id: &str) -> PathBuf {
    g.data_dir().join("servers").join(id)
}

/// Every file under `dir` (not following links) with its kind, mode and content hash.
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let rel = path.strip_prefix(base).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            use std::os::unix::fs::MetadataExt;
            let desc = if meta.file_type().is_symlink() {
                format!("link {:?}", std::fs::read_link(&path).unwrap())
            } else if meta.is_dir() {
                walk(base, &path, out);
                format!("dir {:o}", meta.mode())
            } else {
                let mut h = Sha256::new();
                h.update(std::fs::read(&path).unwrap());
                format!("file {:o} {}", meta.mode(), hex::encode(h.finalize()))
            };
            out.insert(rel, desc);
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

async fn demo(g: &Garrison, name: &str) -> (String, PathBuf) {
    let id = g.create_demo(name, json!({})).await;
    let dir = server_dir(g, &id);
    (id, dir)
}

#[tokio::test]
async fn files_are_listed_edited_moved_copied_searched_and_deleted() {
    let g = Garrison::start().await;
    let (id, dir) = demo(&g, "files").await;
    let f = Files { g: &g, id };

    let (s, v) = f
        .call("POST", "/folder", Some(json!({"path": "config"})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["kind"], "dir");
    let (s, v) = f
        .put("config/server.properties", "motd=Hello\nmax-players=8\n")
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["size"], 25);
    assert_eq!(
        std::fs::read_to_string(dir.join("config/server.properties")).unwrap(),
        "motd=Hello\nmax-players=8\n"
    );
    let (s, v) = f.read("config/server.properties").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["content"], "motd=Hello\nmax-players=8\n");
    // saving again replaces the whole content
    let (s, _) = f.put("config/server.properties", "motd=Bye\n").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        f.read("config/server.properties").await.1["content"],
        "motd=Bye\n"
    );

    // listing: directories first, sorted, paginated, with stat info
    for i in 0..25 {
        std::fs::write(dir.join(format!("file-{i:02}.txt")), vec![b'x'; i]).unwrap();
    }
    let page = f.list(&[("limit", "10")]).await;
    assert!(page["total"].as_u64().unwrap() >= 26, "{page}");
    let first = names(&page);
    assert_eq!(first.len(), 10);
    assert_eq!(page["entries"][0]["kind"], "dir", "{page}");
    let all = f.list(&[("limit", "1000")]).await;
    let files: Vec<String> = names(&all)
        .into_iter()
        .filter(|n| n.starts_with("file-"))
        .collect();
    let mut sorted = files.clone();
    sorted.sort();
    assert_eq!(files, sorted);
    let by_size = f
        .list(&[("sort", "size"), ("order", "desc"), ("limit", "1000")])
        .await;
    let sizes: Vec<u64> = by_size["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "file")
        .map(|e| e["size"].as_u64().unwrap())
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
    let second = f.list(&[("limit", "10"), ("offset", "10")]).await;
    assert!(names(&second).iter().all(|n| !first.contains(n)));
    let (s, v) = f.get("", &[("limit", "0")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["field"], "limit");
    let (s, v) = f.get("", &[("sort", "colour")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = f.get("", &[("path", "file-01.txt")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "not_a_directory");

    // rename/move, never over an existing file
    let (s, v) = f
        .call(
            "POST",
            "/rename",
            Some(json!({"from": "file-01.txt", "to": "config/one.txt"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["path"], "config/one.txt");
    assert!(!dir.join("file-01.txt").exists());
    let (s, v) = f
        .call(
            "POST",
            "/rename",
            Some(json!({"from": "file-02.txt", "to": "config/one.txt"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "file_exists");
    assert_eq!(std::fs::read(dir.join("config/one.txt")).unwrap(), b"x");

    // copy of a tree
    let (s, v) = f
        .call(
            "POST",
            "/copy",
            Some(json!({"from": "config", "to": "config-copy"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        std::fs::read_to_string(dir.join("config-copy/server.properties")).unwrap(),
        "motd=Bye\n"
    );

    // chmod
    let (s, v) = f
        .call(
            "POST",
            "/chmod",
            Some(json!({"path": "config/one.txt", "mode": 0o600})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["mode"].as_u64().unwrap() & 0o777, 0o600);
    let (s, _) = f
        .call(
            "POST",
            "/chmod",
            Some(json!({"path": "config/one.txt", "mode": 0o4755})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // search by name and by content
    let (s, v) = f.get("/search", &[("query", "SERVER.prop")]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let found: Vec<&str> = v["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["entry"]["path"].as_str().unwrap())
        .collect();
    assert!(found.contains(&"config/server.properties"), "{v}");
    assert!(found.contains(&"config-copy/server.properties"), "{v}");
    let (s, v) = f
        .get("/search", &[("query", "motd=bye"), ("content", "true")])
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["matches"][0]["line"], 1, "{v}");
    let (s, _) = f.get("/search", &[("query", "")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // delete files and trees
    let (s, v) = f
        .call(
            "POST",
            "/delete",
            Some(json!({"paths": ["config-copy", "file-03.txt"]})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert!(!dir.join("config-copy").exists());
    assert!(!dir.join("file-03.txt").exists());
    let (s, v) = f.read("file-03.txt").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["error"]["code"], "file_not_found");

    // the editor's limits: big files and binary files are downloads
    std::fs::write(dir.join("big.log"), vec![b'a'; 6 * 1024 * 1024]).unwrap();
    let (s, v) = f.read("big.log").await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(v["error"]["code"], "file_too_large");
    std::fs::write(dir.join("blob.bin"), [0xff, 0xfe, 0x00, 0x80]).unwrap();
    let (s, v) = f.read("blob.bin").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "not_text");

    // usage follows what the API writes at once (game writes after a rescan)
    let (_, before) = f.call("GET", "/usage", None).await;
    let (s, v) = f.upload("counted.bin", &vec![5u8; 1024 * 1024]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = f.call("GET", "/usage", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let grew = v["used_bytes"].as_u64().unwrap() - before["used_bytes"].as_u64().unwrap();
    assert!(grew >= 1024 * 1024, "{before} → {v}");
    assert!(v["limit_bytes"].is_null());

    // every change is in the server's activity log
    let (_, log) = g
        .call("GET", &format!("/api/servers/{}/activity", f.id), None)
        .await;
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "file.mkdir",
        "file.write",
        "file.rename",
        "file.copy",
        "file.chmod",
        "file.delete",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
}

#[tokio::test]
async fn uploads_resume_and_downloads_stream_files_and_directories() {
    let g = Garrison::start().await;
    let (id, dir) = demo(&g, "transfers").await;
    let f = Files { g: &g, id };
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();

    let (s, v) = f
        .call(
            "POST",
            "/uploads",
            Some(json!({"path": "world/region.dat", "size": data.len()})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let up = v["id"].as_str().unwrap().to_owned();
    assert_eq!(v["offset"], 0);
    // the parent is created on completion, not before; nothing visible yet
    let (s, v) = f.chunk(&up, 0, data[..1_000_000].to_vec()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["offset"], 1_000_000);
    assert_eq!(v["done"], false);
    assert!(!dir.join("world/region.dat").exists());
    // a chunk at the wrong offset is refused and changes nothing
    let (s, v) = f.chunk(&up, 5, data[5..10].to_vec()).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "upload_conflict");
    // resume: ask where it stands, continue from there
    let (s, v) = f.call("GET", &format!("/uploads/{up}"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["offset"], 1_000_000);
    let (s, v) = f.chunk(&up, 1_000_000, data[1_000_000..].to_vec()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["done"], true);
    assert_eq!(std::fs::read(dir.join("world/region.dat")).unwrap(), data);

    // more bytes than declared are refused; the file is not created
    let (s, v) = f
        .call(
            "POST",
            "/uploads",
            Some(json!({"path": "small.bin", "size": 4})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let up = v["id"].as_str().unwrap().to_owned();
    let (s, v) = f.chunk(&up, 0, vec![1; 10]).await;
    assert!(s.is_client_error(), "{s} {v}");
    assert!(!dir.join("small.bin").exists());
    // abort
    let (s, _) = f.call("DELETE", &format!("/uploads/{up}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = f.call("GET", &format!("/uploads/{up}"), None).await;
    assert!(s.is_client_error());
    // an existing file is not replaced without overwrite
    let (s, v) = f
        .call(
            "POST",
            "/uploads",
            Some(json!({"path": "world/region.dat", "size": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "file_exists");

    // download whole, and resumed from an offset
    let (s, body) = f.download("world/region.dat", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, data);
    let (s, body) = f.download("world/region.dat", Some("bytes=2500000-")).await;
    assert_eq!(s, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, &data[2_500_000..]);
    let (s, _) = f.download("world/region.dat", Some("bytes=0-10")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // a directory comes as a tar.gz with the same files
    std::fs::write(dir.join("world/level.dat"), b"level").unwrap();
    let (s, body) = f.download("world", None).await;
    assert_eq!(s, StatusCode::OK);
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&body[..]));
    let mut got = BTreeMap::new();
    for e in tar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().display().to_string();
        if e.header().entry_type().is_file() {
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            got.insert(path.trim_start_matches("./").to_owned(), bytes);
        }
    }
    let find = |suffix: &str| {
        got.iter()
            .find(|(k, _)| k.ends_with(suffix))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(find("region.dat"), Some(data.clone()), "{:?}", got.keys());
    assert_eq!(find("level.dat"), Some(b"level".to_vec()));
}

#[tokio::test]
async fn compress_and_extract_round_trip_in_every_format() {
    let g = Garrison::start().await;
    let (id, dir) = demo(&g, "archives").await;
    let f = Files { g: &g, id };
    std::fs::create_dir_all(dir.join("world/region")).unwrap();
    std::fs::write(dir.join("world/level.dat"), b"level data").unwrap();
    std::fs::write(dir.join("world/region/r.0.0.mca"), vec![7u8; 100_000]).unwrap();
    let before = snapshot(&dir.join("world"));
    for (format, name) in [
        ("tar_gz", "w.tar.gz"),
        ("tar_zst", "w.tar.zst"),
        ("zip", "w.zip"),
    ] {
        let (s, v) = f
            .call(
                "POST",
                "/compress",
                Some(json!({"paths": ["world"], "destination": name, "format": format})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{format}: {v}");
        assert!(v["size"].as_u64().unwrap() > 0);
        let out = format!("out-{format}");
        let (s, v) = f
            .call(
                "POST",
                "/decompress",
                Some(json!({"path": name, "destination": out})),
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{format}: {v}");
        let after = snapshot(&dir.join(&out).join("world"));
        let strip = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
            m.iter()
                .filter(|(_, d)| d.starts_with("file"))
                .map(|(k, d)| (k.clone(), d.split(' ').next_back().unwrap().to_owned()))
                .collect()
        };
        assert_eq!(strip(&after), strip(&before), "{format}");
    }
    let (s, v) = f
        .call(
            "POST",
            "/compress",
            Some(json!({"paths": ["world"], "destination": "x.rar", "format": "rar"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["field"], "format");
    std::fs::write(dir.join("not-an-archive.zip"), b"hello").unwrap();
    let (s, v) = f
        .call(
            "POST",
            "/decompress",
            Some(json!({"path": "not-an-archive.zip", "destination": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "bad_archive");
}

/// Archives that try to write outside the directory they are extracted into.
fn evil_archives() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    // tar entries with `..`, an absolute path, a symlink out and a hard link out,
    // written with raw headers (the tar crate refuses to build some of them)
    for (name, kind, link) in [
        ("../../escape-dotdot.txt", tar::EntryType::Regular, None),
        ("/tmp/escape-absolute.txt", tar::EntryType::Regular, None),
        ("link-out", tar::EntryType::Symlink, Some("/etc")),
        ("hard-out", tar::EntryType::Link, Some("/etc/passwd")),
    ] {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        {
            let raw = h.as_old_mut();
            raw.name[..name.len()].copy_from_slice(name.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_mode(0o644);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
            h.set_size(0);
        } else {
            h.set_size(5);
        }
        h.set_cksum();
        b.append(
            &h,
            if link.is_some() {
                &b""[..]
            } else {
                &b"owned"[..]
            },
        )
        .unwrap();
        if kind == tar::EntryType::Symlink {
            // then a file written through the link
            let mut h = tar::Header::new_gnu();
            h.set_path("link-out/escape-through-link").unwrap();
            h.set_size(5);
            h.set_mode(0o644);
            h.set_cksum();
            b.append(&h, &b"owned"[..]).unwrap();
        }
        let file = match name {
            n if n.starts_with("../") => "dotdot.tar",
            n if n.starts_with('/') => "absolute.tar",
            "link-out" => "symlink.tar",
            _ => "hardlink.tar",
        };
        out.push((file, b.into_inner().unwrap()));
    }
    // zip slip
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file(
        "../../zip-slip.txt",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    std::io::Write::write_all(&mut z, b"owned").unwrap();
    out.push(("slip.zip", z.finish().unwrap().into_inner()));
    // a zip bomb: 2 GiB of zeros that compress to a few MiB
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    z.start_file("zeros.bin", opts).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..2048 {
        std::io::Write::write_all(&mut z, &zeros).unwrap();
    }
    out.push(("bomb.zip", z.finish().unwrap().into_inner()));
    out
}

#[tokio::test]
async fn the_attack_corpus_is_refused_and_nothing_outside_changes() {
    let g = Garrison::start().await;
    let (id, dir) = demo(&g, "attacks").await;
    let f = Files { g: &g, id };
    // A canary outside the server directory, on the same file system (so hard links work).
    let canary = g.data_dir().join("canary");
    std::fs::create_dir_all(canary.join("sub")).unwrap();
    std::fs::write(canary.join("secret.txt"), b"do not touch").unwrap();
    std::fs::write(canary.join("sub/deeper.txt"), b"nor this").unwrap();
    // What a hostile game could plant in its own directory.
    std::os::unix::fs::symlink("/etc/passwd", dir.join("passwd-link")).unwrap();
    std::os::unix::fs::symlink(&canary, dir.join("canary-link")).unwrap();
    std::os::unix::fs::symlink("..", dir.join("parent-link")).unwrap();
    std::os::unix::fs::symlink(canary.join("secret.txt"), dir.join("secret-link")).unwrap();
    std::fs::hard_link(canary.join("secret.txt"), dir.join("hard-secret")).unwrap();
    let outside_before = snapshot(&canary);
    let etc_passwd = std::fs::read("/etc/passwd").unwrap();
    let data_before: Vec<String> = std::fs::read_dir(g.data_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();

    let escapes = [
        "../canary/secret.txt",
        "../../canary/secret.txt",
        "a/../../canary/secret.txt",
        "a/b/../../../canary/secret.txt",
        "./../canary/secret.txt",
        "..",
        "../",
        "/..",
        "config/../..",
        "passwd-link",
        "canary-link/secret.txt",
        "canary-link/sub/deeper.txt",
        "parent-link/canary/secret.txt",
        "parent-link/servers",
        "secret-link",
        "hard-secret",
        "nul\0byte",
        "new\nline",
        &"a".repeat(300),
    ];
    let mut failures = Vec::new();
    for path in escapes {
        let checks: Vec<(&str, StatusCode, Value)> = vec![
            {
                let (s, v) = f.read(path).await;
                ("read", s, v)
            },
            {
                let (s, v) = f.get("", &[("path", path)]).await;
                ("list", s, v)
            },
            {
                let (s, v) = f
                    .call(
                        "POST",
                        "/folder",
                        Some(json!({"path": format!("{path}/x")})),
                    )
                    .await;
                ("mkdir", s, v)
            },
            {
                let (s, v) = f
                    .call("POST", "/chmod", Some(json!({"path": path, "mode": 0o777})))
                    .await;
                ("chmod", s, v)
            },
            {
                let (s, v) = f
                    .call("POST", "/copy", Some(json!({"from": path, "to": "copied"})))
                    .await;
                ("copy-from", s, v)
            },
            {
                let (s, v) = f
                    .call(
                        "POST",
                        "/copy",
                        Some(json!({"from": "file.txt", "to": path})),
                    )
                    .await;
                ("copy-to", s, v)
            },
            {
                let (s, v) = f
                    .call(
                        "POST",
                        "/rename",
                        Some(json!({"from": "file.txt", "to": format!("{path}/moved")})),
                    )
                    .await;
                ("rename-to", s, v)
            },
            {
                let (s, v) = f.upload(path, b"owned").await;
                ("upload", s, v)
            },
            {
                let (s, body) = f.download(path, None).await;
                let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
                ("download", s, v)
            },
            {
                let (s, v) = f
                    .call(
                        "POST",
                        "/compress",
                        Some(json!({"paths": [path], "destination": "out.tar.gz"})),
                    )
                    .await;
                ("compress", s, v)
            },
            // Last: replacing a hard-linked name writes a new file (the link is broken,
            // the outside file untouched), so it goes after the reads.
            {
                let (s, v) = f.put(path, "owned").await;
                ("write", s, v)
            },
        ];
        for (op, s, v) in checks {
            // chmod/list/read of an in-root symlink act on the link or refuse; anything
            // that succeeded must not have reached outside (checked below).
            let acted_on_link = s.is_success()
                && (path.ends_with("-link") || path == "hard-secret")
                && (matches!(op, "chmod" | "list" | "compress")
                    || (path == "hard-secret" && op == "write"));
            if s.is_success() && !acted_on_link {
                failures.push(format!("{op} {path:?}: {s} {v}"));
            }
            if !s.is_success() && v["error"]["code"].as_str().is_none() {
                failures.push(format!("{op} {path:?}: {s} without a JSON error: {v}"));
            }
        }
    }
    // chmod through a link changes the link's target never
    let (s, v) = f
        .call(
            "POST",
            "/chmod",
            Some(json!({"path": "secret-link", "mode": 0o777})),
        )
        .await;
    assert!(!s.is_success() || v["kind"] == "symlink", "{s} {v}");
    // deleting a link removes the link only
    let (s, v) = f
        .call(
            "POST",
            "/delete",
            Some(json!({"paths": ["canary-link", "secret-link"]})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert!(!dir.join("canary-link").exists());

    // malicious archives: refused, nothing lands outside the destination
    for (name, bytes) in evil_archives() {
        let (s, v) = f.upload(name, &bytes).await;
        assert!(s.is_success(), "upload {name}: {s} {v}");
        let (s, v) = f
            .call(
                "POST",
                "/decompress",
                Some(json!({"path": name, "destination": "unpacked"})),
            )
            .await;
        if s.is_success() {
            failures.push(format!("decompress {name}: {s} {v}"));
        } else {
            assert!(v["error"]["code"].is_string(), "{name}: {v}");
        }
    }
    assert!(!g.data_dir().join("escape-dotdot.txt").exists());
    assert!(!Path::new("/tmp/escape-absolute.txt").exists());
    assert!(!Path::new("/etc/escape-through-link").exists());
    assert!(!dir.join("../zip-slip.txt").exists());
    assert!(failures.is_empty(), "not refused:\n{}", failures.join("\n"));
    // Backslashes and `%2e` are ordinary name characters on Linux: such a name is a
    // file inside the server directory, never a way out of it.
    // A leading `/` means the server's root, as in SFTP.
    for literal in [
        "\\..\\canary\\secret.txt",
        "%2e%2e/%2e%2e/canary/secret.txt",
        "..%2fcanary",
        "/etc/passwd",
        "//etc/passwd",
    ] {
        let (s, v) = f.put(literal, "inside").await;
        if s.is_success() {
            let inside = dir.join(literal.trim_start_matches('/'));
            assert_eq!(std::fs::read(inside).unwrap(), b"inside", "{literal}");
        } else {
            assert!(v["error"]["code"].is_string(), "{literal}: {v}");
        }
    }

    assert_eq!(snapshot(&canary), outside_before, "the canary changed");
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), etc_passwd);
    let data_after: Vec<String> = std::fs::read_dir(g.data_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for name in &data_after {
        assert!(
            data_before.contains(name) || name.starts_with("uploads") || name == "install-cache",
            "new entry {name} in the data dir"
        );
    }
}

#[tokio::test]
async fn the_disk_limit_is_enforced_before_every_write() {
    let g = Garrison::start().await;
    let (id, dir) = demo(&g, "quota").await;
    let (s, v) = g
        .call(
            "PATCH",
            &format!("/api/servers/{id}"),
            Some(json!({"limits": {"disk_mb": 2}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let f = Files {
        g: &g,
        id: id.clone(),
    };
    let (s, v) = f.put("one.bin", vec![1u8; 1024 * 1024]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // a write that would pass the limit is refused and writes nothing
    let (s, v) = f.put("two.bin", vec![2u8; 1536 * 1024]).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(v["error"]["code"], "quota_exceeded");
    assert!(!dir.join("two.bin").exists());
    // uploads reserve their size up front
    let (s, v) = f
        .call(
            "POST",
            "/uploads",
            Some(json!({"path": "big.bin", "size": 3 * 1024 * 1024})),
        )
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    // copies count too
    let (s, v) = f
        .call(
            "POST",
            "/copy",
            Some(json!({"from": "one.bin", "to": "one-copy.bin"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = f
        .call(
            "POST",
            "/copy",
            Some(json!({"from": "one.bin", "to": "one-copy2.bin"})),
        )
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert!(!dir.join("one-copy2.bin").exists());
    // deleting frees the space again
    let (s, _) = f
        .call("POST", "/delete", Some(json!({"paths": ["one-copy.bin"]})))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = f.call("GET", "/usage", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["limit_bytes"], 2 * 1024 * 1024);
    let used = v["used_bytes"].as_u64().unwrap();
    assert!(
        (1024 * 1024..1024 * 1024 + 64 * 1024).contains(&used),
        "{v}"
    );
    let (s, v) = f.put("fits.bin", vec![3u8; 512 * 1024]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // an archive that would unpack beyond the limit is refused
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file("big.bin", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut z, &vec![0u8; 3 * 1024 * 1024]).unwrap();
    let zip_bytes = z.finish().unwrap().into_inner();
    let (s, v) = f.upload("big.zip", &zip_bytes).await;
    assert!(s.is_success(), "{v}");
    let (s, v) = f
        .call(
            "POST",
            "/decompress",
            Some(json!({"path": "big.zip", "destination": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert!(!dir.join("x/big.bin").exists());
    // the game filling its directory past the limit is told so in its console
    std::fs::write(dir.join("game-wrote.bin"), vec![4u8; 2 * 1024 * 1024]).unwrap();
    let lines = g
        .wait_log(&id, "over the limit", Duration::from_secs(60))
        .await;
    assert!(lines.iter().any(|l| l.contains("[Garrison]")), "{lines:?}");
}

#[tokio::test]
async fn deny_list_hides_and_protects_files() {
    let g = Garrison::start().await;
    let toml = include_str!("../../../templates/demo.toml").replacen(
        "id = \"demo\"",
        "id = \"demo-deny\"\nfile_deny = [\"/secret.txt\", \"private/\", \"*.key\"]",
        1,
    );
    let (s, v) = g
        .call(
            "POST",
            "/api/templates/import",
            Some(json!({"content": toml})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let v = g
        .create(json!({"name": "deny", "template": "demo-deny", "port": free_port()}))
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    g.wait_state(&id, "offline", Duration::from_secs(30)).await;
    let dir = server_dir(&g, &id);
    std::fs::write(dir.join("secret.txt"), b"rcon password").unwrap();
    std::fs::create_dir_all(dir.join("private")).unwrap();
    std::fs::write(dir.join("private/a.txt"), b"a").unwrap();
    std::fs::write(dir.join("server.key"), b"key").unwrap();
    std::fs::write(dir.join("public.txt"), b"ok").unwrap();
    let f = Files { g: &g, id };
    let listed = names(&f.list(&[]).await);
    assert!(listed.contains(&"public.txt".to_owned()), "{listed:?}");
    for hidden in ["secret.txt", "private", "server.key"] {
        assert!(
            !listed.contains(&hidden.to_owned()),
            "{hidden} listed: {listed:?}"
        );
    }
    for path in ["secret.txt", "private/a.txt", "server.key"] {
        let (s, v) = f.read(path).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {v}");
        assert_eq!(v["error"]["code"], "path_denied");
        let (s, _) = f.put(path, "x").await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
        let (s, _) = f
            .call("POST", "/delete", Some(json!({"paths": [path]})))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }
    let (s, _) = f
        .call(
            "POST",
            "/rename",
            Some(json!({"from": "public.txt", "to": "new.key"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, v) = f.get("/search", &[("query", "secret")]).await;
    assert_eq!(v["matches"].as_array().unwrap().len(), 0, "{v}");
    assert_eq!(
        std::fs::read(dir.join("secret.txt")).unwrap(),
        b"rcon password"
    );
}

#[tokio::test]
async fn file_changes_reach_the_websocket_from_the_api_and_from_the_game() {
    let g = Garrison::start().await;
    let (id, dir) = demo(&g, "events").await;
    let f = Files {
        g: &g,
        id: id.clone(),
    };
    let mut ws = g.ws(&id).await;
    let (s, _) = f.put("from-api.txt", "hi").await;
    assert_eq!(s, StatusCode::OK);
    let ev = ws
        .until(Duration::from_secs(10), |v| {
            v["event"] == "server.file"
                && v["data"]["changes"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["path"] == "from-api.txt"))
        })
        .await;
    assert_eq!(ev["data"]["source"], "api", "{ev}");
    std::fs::write(dir.join("from-game.txt"), b"written by the game").unwrap();
    let ev = ws
        .until(Duration::from_secs(10), |v| {
            v["event"] == "server.file"
                && v["data"]["changes"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["path"] == "from-game.txt"))
        })
        .await;
    assert_eq!(ev["data"]["source"], "game", "{ev}");
}

#[tokio::test]
async fn url_pulls_refuse_private_addresses_unless_allowed() {
    let fixture = fixture_http::FixtureHttp::start().await;
    fixture.put("/pack.zip", b"pack bytes".to_vec());
    let g = Garrison::start().await;
    let (id, dir) = demo(&g, "pull").await;
    let f = Files { g: &g, id };
    for url in [
        fixture.url("/pack.zip"),
        "https://127.0.0.1/x".to_owned(),
        "https://[::1]/x".to_owned(),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://10.0.0.1/x".to_owned(),
        "ftp://example.com/x".to_owned(),
        "file:///etc/passwd".to_owned(),
    ] {
        let (s, v) = f
            .call(
                "POST",
                "/pull",
                Some(json!({"url": url, "destination": "pulled.zip"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {v}");
        assert_eq!(v["error"]["code"], "pull_refused", "{url}: {v}");
    }
    assert!(!dir.join("pulled.zip").exists());
    drop(g);

    let g = Garrison::start_with_env(&[
        ("GARRISON_INSTALL_ALLOW_HTTP", "true"),
        ("GARRISON_INSTALL_ALLOW_PRIVATE", "true"),
    ])
    .await;
    let (id, dir) = demo(&g, "pull-allowed").await;
    let f = Files { g: &g, id };
    let (s, v) = f
        .call(
            "POST",
            "/pull",
            Some(json!({"url": fixture.url("/pack.zip"), "destination": ""})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["path"], "pack.zip");
    assert_eq!(std::fs::read(dir.join("pack.zip")).unwrap(), b"pack bytes");
}

#[tokio::test]
async fn sftp_details_name_the_login_and_port() {
    let g = Garrison::start().await;
    let (id, _) = demo(&g, "sftp-box").await;
    let (s, v) = g
        .call("GET", &format!("/api/servers/{id}/sftp"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let short: String = id.chars().filter(char::is_ascii_alphanumeric).collect();
    let short = &short[short.len() - 8..];
    assert_eq!(v["username"], format!("admin.{short}"));
    assert_eq!(v["port"], g.sftp_port.expect("serve prints the SFTP port"));
    assert_eq!(
        v["url"],
        format!("sftp://admin.{short}@127.0.0.1:{}", v["port"])
    );
    let g2 = Garrison::start_with_env(&[("GARRISON_SFTP", "false")]).await;
    let (id, _) = demo(&g2, "no-sftp").await;
    let (s, _) = g2
        .call("GET", &format!("/api/servers/{id}/sftp"), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
