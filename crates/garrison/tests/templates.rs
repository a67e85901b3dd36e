//! Built-in templates installed for real against a local fixture server (the real
//! download hosts mapped onto it with `install.mirrors`), config files kept in step
//! with the settings, the startup settings API, reinstall and cancel, and an install
//! cut short by a Garrison restart. Java is a stand-in JVM directory
//! (`GARRISON_JAVA_DIRS`) whose `java` behaves like the game's server.

mod common;

use common::fixture_http::FixtureHttp;
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// A stand-in `java`: it prints its arguments and then acts like a Minecraft or
/// Hytale server (ready line, `stop`, and for Hytale `auth login device` and an
/// `update` that exits 8 the way a staged update does).
const FAKE_JAVA: &str = r#"#!/bin/sh
echo "fake java VERSION $*"
case "$*" in
*HytaleServer.jar*)
  echo "Hytale Server Booted! [Multiplayer] took 1sec 12ms!"
  while read line; do
    case "$line" in
      stop) echo "Shutting down"; exit 0;;
      "auth login device")
        echo "Please visit the following URL to authenticate:"
        echo "https://oauth.accounts.hytale.com/oauth2/device/verify?user_code=SRVR-0042"
        echo "Or visit the following URL and enter the code:"
        echo "https://oauth.accounts.hytale.com/oauth2/device/verify"
        echo "Authorization code: SRVR-0042";;
      update) echo "Update staged; restarting to apply it"; exit 8;;
      *) echo "Unknown command: $line";;
    esac
  done;;
*)
  echo '[12:00:00] [Server thread/INFO]: Starting minecraft server'
  echo '[12:00:01] [Server thread/INFO]: Done (1.234s)! For help, type "help"'
  while read line; do
    case "$line" in
      stop) echo '[12:00:09] [Server thread/INFO]: Stopping the server'; exit 0;;
      *) echo "Unknown command: $line";;
    esac
  done;;
esac
"#;

/// A stand-in for SteamCMD with the real CLI's argument order: for Valheim's app it
/// "installs" a server that prints the real ready line and stops on SIGINT.
const STAND_IN_STEAMCMD: &str = r#"#!/bin/sh
# +force_install_dir DIR +login anonymous +app_update ID [-beta B] [validate] +quit
dir="$2"; app="$6"
echo "Steam Console Client (c) Valve Corporation - version 1732000000"
echo "Update state (0x61) downloading, progress: 42.00 (1000 / 2380)"
if [ "$app" = 896660 ]; then
  cat > "$dir/valheim_server.x86_64" <<'GAME'
#!/bin/sh
echo "valheim $*"
trap 'echo "Game server shutting down"; exit 0' INT
echo "Game server connected"
while true; do sleep 1; done
GAME
  chmod +x "$dir/valheim_server.x86_64"
  echo "Success! App '$app' fully installed."
else
  echo "ERROR! Failed to install app '$app' (No subscription)"
fi
"#;

/// JVM homes for Java 17, 21 and 25, readable by the user game servers run as.
fn fake_jvms() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("garrison-jvms-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for (name, version) in [
        ("jdk17", "17.0.15"),
        ("jdk21", "21.0.5"),
        ("jdk25", "25.0.1"),
    ] {
        let bin = dir.path().join(name).join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(
            dir.path().join(name).join("release"),
            format!("JAVA_VERSION=\"{version}\"\n"),
        )
        .unwrap();
        std::fs::write(bin.join("java"), FAKE_JAVA.replace("VERSION", version)).unwrap();
        for p in [dir.path().join(name), bin.clone()] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(bin.join("java"), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

struct Setup {
    g: Garrison,
    fx: FixtureHttp,
    _jvms: tempfile::TempDir,
}

/// Garrison with every real download host of the built-in templates mirrored to the
/// fixture server.
async fn setup() -> Setup {
    let fx = FixtureHttp::start().await;
    let jvms = fake_jvms();
    let hosts = [
        ("https://piston-meta.mojang.com", "/mojang-meta"),
        ("https://piston-data.mojang.com", "/mojang-data"),
        ("https://fill.papermc.io", "/fill"),
        ("https://fill-data.papermc.io", "/fill-data"),
        ("https://downloader.hytale.com", "/hytale"),
        ("https://fixtures.garrison.test", "/fixtures"),
        ("https://github.com", "/github"),
    ];
    let mirrors: Vec<String> = hosts
        .iter()
        .map(|(from, to)| format!("{from}={}", fx.url(to)))
        .collect();
    let steamcmd = jvms.path().join("steamcmd");
    std::fs::write(&steamcmd, STAND_IN_STEAMCMD).unwrap();
    std::fs::set_permissions(&steamcmd, std::fs::Permissions::from_mode(0o755)).unwrap();
    let g = Garrison::start_with_env(&[
        ("GARRISON_INSTALL_MIRRORS", &mirrors.join(",")),
        ("GARRISON_INSTALL_ALLOW_HTTP", "true"),
        ("GARRISON_INSTALL_ALLOW_PRIVATE", "true"),
        ("GARRISON_JAVA_DIRS", jvms.path().to_str().unwrap()),
        ("GARRISON_STEAMCMD", steamcmd.to_str().unwrap()),
    ])
    .await;
    Setup { g, fx, _jvms: jvms }
}

trait Pair {
    fn pair(self) -> (StatusCode, Value);
}

impl Pair for Answer {
    fn pair(self) -> (StatusCode, Value) {
        (self.status, self.body)
    }
}

fn sha1_hex(b: &[u8]) -> String {
    hex::encode(sha1::Sha1::digest(b))
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

/// Mojang's manifest → version JSON → server jar, for version 1.21.4 (and latest).
fn serve_mojang(fx: &FixtureHttp, jar: &[u8], sha1: &str) {
    fx.put(
        "/mojang-meta/mc/game/version_manifest_v2.json",
        json!({
            "latest": {"release": "1.21.4", "snapshot": "25w02a"},
            "versions": [
                {"id": "25w02a", "type": "snapshot", "url": "https://piston-meta.mojang.com/v1/packages/aa/25w02a.json"},
                {"id": "1.21.4", "type": "release", "url": "https://piston-meta.mojang.com/v1/packages/bb/1.21.4.json"}
            ]
        })
        .to_string(),
    );
    fx.put(
        "/mojang-meta/v1/packages/bb/1.21.4.json",
        json!({"id": "1.21.4", "downloads": {"server": {
            "sha1": sha1, "size": jar.len(),
            "url": format!("https://piston-data.mojang.com/v1/objects/{sha1}/server.jar")
        }}})
        .to_string(),
    );
    fx.put(
        &format!("/mojang-data/v1/objects/{sha1}/server.jar"),
        jar.to_vec(),
    );
}

fn server_dir(g: &Garrison, id: &str) -> PathBuf {
    g.data_dir().join("servers").join(id)
}

async fn server(g: &Garrison, id: &str) -> Value {
    let (s, v) = g.call("GET", &format!("/api/servers/{id}"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

/// Wait for the server's stored install outcome to leave `running`.
async fn install_outcome(g: &Garrison, id: &str) -> Value {
    let deadline = std::time::Instant::now() + T;
    loop {
        let v = server(g, id).await;
        let st = v["install"]["state"].as_str().unwrap_or("");
        if !st.is_empty() && st != "running" && v["state"] == "offline" {
            return v["install"].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "install did not end: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn minecraft_vanilla_installs_from_the_manifest_patches_its_files_and_starts() {
    let s = setup().await;
    let (g, fx) = (&s.g, &s.fx);
    let jar = b"not really a jar, but its bytes are checked".repeat(2000);
    let sha1 = sha1_hex(&jar);
    serve_mojang(fx, &jar, &sha1);
    let port = free_port();
    let v = g
        .create(
            json!({"name": "Vanilla", "template": "minecraft-vanilla", "port": port,
            "variables": {"eula": "true", "motd": "Hello from Garrison"},
            "limits": {"memory_mb": 1536}}),
        )
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(v["state"], "installing");
    let install = install_outcome(g, &id).await;
    assert_eq!(install["state"], "succeeded", "{install}");
    let dir = server_dir(g, &id);
    assert_eq!(std::fs::read(dir.join("server.jar")).unwrap(), jar);
    // the real hosts were asked for through the mirror, with our user agent
    let seen = fx.seen();
    assert!(
        seen.iter()
            .any(|r| r.path == "/mojang-meta/mc/game/version_manifest_v2.json")
    );
    assert!(seen.iter().all(|r| {
        r.user_agent
            .as_deref()
            .unwrap_or("")
            .starts_with("garrison/")
    }));

    // the config files follow the settings from the first start
    let (st, v) = g.power(&id, "start").await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    g.wait_state(&id, "running", T).await;
    let lines = g.wait_log(&id, "fake java 21.0.5", T).await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains("-Xmx1536M -jar server.jar nogui")),
        "Java 21 with the memory limit: {lines:?}"
    );
    let props = std::fs::read_to_string(dir.join("server.properties")).unwrap();
    assert!(props.contains(&format!("server-port={port}\n")), "{props}");
    assert!(props.contains("motd=Hello from Garrison\n"), "{props}");
    assert!(props.contains("max-players=20\n"), "{props}");
    assert_eq!(
        std::fs::read_to_string(dir.join("eula.txt")).unwrap(),
        "eula=true\n"
    );
    g.power(&id, "stop").await;
    g.wait_state(&id, "offline", T).await;

    // The game rewrites its file with comments and keys of its own; a PATCH changes only
    // the keys it owns, at once.
    let game_written = format!(
        "#Minecraft server properties\n#Mon Dec 01 12:00:00 UTC 2026\nallow-flight=false\ndifficulty=easy\ngamemode=survival\nmax-players=20\nmotd=Hello from Garrison\nonline-mode=true\nquery.port={port}\nserver-port={port}\nspawn-protection=16\nwhite-list=false\n"
    );
    std::fs::write(dir.join("server.properties"), &game_written).unwrap();
    let (st, v) = g
        .call(
            "PATCH",
            &format!("/api/servers/{id}/startup"),
            Some(json!({"variables": {"max_players": "42"}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        std::fs::read_to_string(dir.join("server.properties")).unwrap(),
        game_written.replace("max-players=20", "max-players=42")
    );
    let mp = v["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["key"] == "max_players")
        .unwrap()
        .clone();
    assert_eq!(mp["value"], "42");
    assert_eq!(mp["rules"]["max"], 1000);
    assert!(v["command"].as_str().unwrap().contains("-Xmx1536M"), "{v}");

    // All or nothing: one bad value and nothing changes, in the database or the file.
    let before_file = std::fs::read_to_string(dir.join("server.properties")).unwrap();
    for (body, field) in [
        (
            json!({"motd": "ok", "max_players": "0"}),
            "variables.max_players",
        ),
        (json!({"motd": "two\nlines"}), "variables.motd"),
        (json!({"difficulty": "nightmare"}), "variables.difficulty"),
        (json!({"eula": "maybe"}), "variables.eula"),
        (json!({"no_such_thing": "1"}), "variables.no_such_thing"),
    ] {
        let (st, v) = g
            .call(
                "PATCH",
                &format!("/api/servers/{id}/startup"),
                Some(json!({ "variables": body })),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert_eq!(v["error"]["field"], field, "{v}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("server.properties")).unwrap(),
        before_file
    );
    let v = server(g, &id).await;
    assert_eq!(v["variables"]["motd"], "Hello from Garrison");
    assert_eq!(v["variables"]["max_players"], "42");
}

#[tokio::test]
async fn a_checksum_mismatch_fails_the_install_clearly_and_a_reinstall_recovers() {
    let s = setup().await;
    let (g, fx) = (&s.g, &s.fx);
    let jar = b"the real jar".repeat(100);
    // The manifest promises other bytes than the server sends.
    serve_mojang(fx, &jar, &sha1_hex(b"something else"));
    fx.put(
        &format!(
            "/mojang-data/v1/objects/{}/server.jar",
            sha1_hex(b"something else")
        ),
        jar.clone(),
    );
    let v = g
        .create(
            json!({"name": "Bad sum", "template": "minecraft-vanilla", "port": free_port(),
            "variables": {"minecraft_version": "1.21.4"}}),
        )
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    let install = install_outcome(g, &id).await;
    assert_eq!(install["state"], "failed", "{install}");
    let err = install["error"].as_str().unwrap();
    assert!(err.contains("step 1 of 1 (mojang)"), "{err}");
    assert!(err.to_lowercase().contains("sha1"), "{err}");
    assert!(!server_dir(g, &id).join("server.jar").exists());
    // never stuck installing; the reason is in the history too
    let (_, h) = g
        .call("GET", &format!("/api/servers/{id}/history"), None)
        .await;
    assert!(
        h[0]["reason"].as_str().unwrap().contains("install failed"),
        "{h}"
    );

    // fixed upstream: a reinstall succeeds
    serve_mojang(fx, &jar, &sha1_hex(&jar));
    let (st, v) = g
        .call("POST", &format!("/api/servers/{id}/reinstall"), None)
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let install = install_outcome(g, &id).await;
    assert_eq!(install["state"], "succeeded", "{install}");
    assert_eq!(
        std::fs::read(server_dir(g, &id).join("server.jar")).unwrap(),
        jar
    );
}

#[tokio::test]
async fn an_interrupted_download_resumes_where_it_stopped() {
    let s = setup().await;
    let (g, fx) = (&s.g, &s.fx);
    let jar: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let sha1 = sha1_hex(&jar);
    serve_mojang(fx, &jar, &sha1);
    let path = format!("/mojang-data/v1/objects/{sha1}/server.jar");
    fx.cut_once(&path, jar.len() / 2);
    let v = g
        .create(json!({"name": "Resume", "template": "minecraft-vanilla", "port": free_port()}))
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    let install = install_outcome(g, &id).await;
    assert_eq!(install["state"], "succeeded", "{install}");
    assert_eq!(
        std::fs::read(server_dir(g, &id).join("server.jar")).unwrap(),
        jar
    );
    let jar_requests: Vec<_> = fx.seen().into_iter().filter(|r| r.path == path).collect();
    assert_eq!(jar_requests.len(), 2, "{jar_requests:?}");
    let range = jar_requests[1].range.clone().unwrap_or_default();
    assert!(
        range.starts_with("bytes=") && range != "bytes=0-",
        "{range}"
    );
}

#[tokio::test]
async fn paper_installs_the_newest_stable_build_checked_by_sha256() {
    let s = setup().await;
    let (g, fx) = (&s.g, &s.fx);
    let stable = b"paper stable build 130".repeat(500);
    fx.put(
        "/fill/v3/projects/paper",
        json!({"project": {"id": "paper"}, "versions": {"1.21": ["1.21.5", "1.21.4", "1.21.3"], "1.20": ["1.20.6"]}}).to_string(),
    );
    // the newest version has only an alpha build so far: latest means 1.21.4
    fx.put(
        "/fill/v3/projects/paper/versions/1.21.5/builds",
        json!([{"id": 1, "channel": "ALPHA", "downloads": {"server:default": {"name": "paper-1.jar", "size": 3,
            "checksums": {"sha256": sha256_hex(b"no")}, "url": "https://fill-data.papermc.io/v1/objects/alpha/paper-1.jar"}}}])
        .to_string(),
    );
    fx.put(
        "/fill/v3/projects/paper/versions/1.21.4/builds",
        json!([
            {"id": 131, "channel": "ALPHA", "downloads": {"server:default": {"name": "paper-131.jar", "size": 3,
                "checksums": {"sha256": sha256_hex(b"no")}, "url": "https://fill-data.papermc.io/v1/objects/alpha/paper-131.jar"}}},
            {"id": 130, "channel": "STABLE", "downloads": {"server:default": {"name": "paper-130.jar", "size": stable.len(),
                "checksums": {"sha256": sha256_hex(&stable)}, "url": "https://fill-data.papermc.io/v1/objects/stable/paper-130.jar"}}}
        ])
        .to_string(),
    );
    fx.put("/fill-data/v1/objects/stable/paper-130.jar", stable.clone());
    let v = g
        .create(json!({"name": "Paper", "template": "minecraft-paper", "port": free_port()}))
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    let install = install_outcome(g, &id).await;
    assert_eq!(install["state"], "succeeded", "{install}");
    assert_eq!(
        std::fs::read(server_dir(g, &id).join("server.jar")).unwrap(),
        stable
    );
    assert!(
        !fx.seen().iter().any(|r| r.path.contains("alpha")),
        "an alpha build is never taken for latest"
    );
}

fn zip_of(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, body, mode) in files {
        let opts = zip::write::SimpleFileOptions::default().unix_permissions(*mode);
        w.start_file(*name, opts).unwrap();
        w.write_all(body).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A stand-in for hytale-downloader with the real CLI's flags and its sign-in output.
const STAND_IN_DOWNLOADER: &str = r#"#!/bin/sh
path=""; patchline="release"
while [ $# -gt 0 ]; do
  case "$1" in
    -download-path) path="$2"; shift 2;;
    -patchline) patchline="$2"; shift 2;;
    -print-version) echo "2026.11.20-release"; exit 0;;
    *) echo "unknown flag: $1" >&2; exit 2;;
  esac
done
[ -n "$path" ] || { echo "missing -download-path" >&2; exit 2; }
echo "Please visit the following URL to authenticate:"
echo "https://oauth.accounts.hytale.com/oauth2/device/verify?user_code=HYTL-7QX2"
echo "Or visit the following URL and enter the code:"
echo "https://oauth.accounts.hytale.com/oauth2/device/verify"
echo "Authorization code: HYTL-7QX2"
sleep 3
echo "Authentication successful. Downloading patchline $patchline"
cp "$(dirname "$0")/payload-$patchline.zip" "$path"
echo "Downloaded to $path"
"#;

#[tokio::test]
async fn hytale_shows_the_sign_in_code_installs_and_restarts_on_exit_code_8() {
    let s = setup().await;
    let (g, fx) = (&s.g, &s.fx);
    let game = |which: &str| {
        zip_of(&[
            (
                "Server/HytaleServer.jar",
                format!("{which} jar").as_bytes(),
                0o644,
            ),
            ("Assets.zip", b"assets", 0o644),
        ])
    };
    fx.put(
        "/hytale/hytale-downloader.zip",
        zip_of(&[
            (
                "hytale-downloader-linux-amd64",
                STAND_IN_DOWNLOADER.as_bytes(),
                0o755,
            ),
            ("payload-release.zip", &game("release"), 0o644),
            ("payload-pre-release.zip", &game("pre-release"), 0o644),
        ]),
    );
    let port = free_port();
    let v = g
        .create(json!({"name": "Hytale", "template": "hytale", "port": port,
            "variables": {"patchline": "pre-release"}, "limits": {"memory_mb": 4096}}))
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    // The prompt arrives live, or (when the socket joins after it was printed) in hello.
    let mut ws = g.ws(&id).await;
    let m = ws
        .until(T, |m| {
            (m["event"] == "server.install" && m["data"]["phase"] == "prompt")
                || (m["event"] == "hello" && !m["data"]["prompt"].is_null())
        })
        .await;
    let p = &m["data"]["prompt"];
    assert_eq!(
        p["url"],
        "https://oauth.accounts.hytale.com/oauth2/device/verify?user_code=HYTL-7QX2"
    );
    assert_eq!(p["code"], "HYTL-7QX2");
    assert!(p["message"].as_str().unwrap().contains("Hytale account"));
    let install = install_outcome(g, &id).await;
    assert_eq!(install["state"], "succeeded", "{install}");
    let dir = server_dir(g, &id);
    assert_eq!(
        std::fs::read_to_string(dir.join("Server/HytaleServer.jar")).unwrap(),
        "pre-release jar"
    );
    assert!(dir.join("Assets.zip").exists());
    assert!(
        !dir.join(".hytale/game.zip").exists(),
        "the archive is removed"
    );

    g.power(&id, "start").await;
    g.wait_state(&id, "running", T).await;
    let lines = g.wait_log(&id, "fake java 25.0.1", T).await;
    assert!(
        lines.iter().any(|l| l.contains(&format!(
            "-jar Server/HytaleServer.jar --assets Assets.zip --bind 0.0.0.0:{port}"
        ))),
        "{lines:?}"
    );
    // the server's own sign-in request reaches the user the same way
    g.command(&id, "auth login device").await;
    let prompt = ws.until(T, |m| m["event"] == "server.prompt").await;
    assert_eq!(prompt["data"]["prompt"]["code"], "SRVR-0042");
    // exit code 8: started again, not a crash
    g.command(&id, "update").await;
    ws.until(T, |m| {
        m["event"] == "server.status" && m["data"]["state"] == "offline"
    })
    .await;
    ws.until(T, |m| {
        m["event"] == "server.status" && m["data"]["state"] == "running"
    })
    .await;
    let (_, h) = g
        .call("GET", &format!("/api/servers/{id}/history"), None)
        .await;
    assert!(!h.to_string().contains("crashed"), "{h}");
    g.power(&id, "stop").await;
    g.wait_state(&id, "offline", T).await;
}

/// A template of our own that downloads and unpacks `{{archive}}`.
fn unpack_template() -> Value {
    json!({
        "id": "unpack", "name": "Unpack", "game": "test",
        "ports": [{"name": "game", "default": 28000}],
        "startup": {"command": ["/bin/true"], "stop": {"type": "signal", "signal": "SIGTERM"}, "stop_timeout_secs": 5},
        "variables": [{"key": "archive", "name": "Archive", "default": "good.tar.gz"}],
        "install": [
            {"type": "download", "url": "https://fixtures.garrison.test/{{archive}}", "dest": "pkg/{{archive}}"},
            {"type": "extract", "archive": "pkg/{{archive}}", "dest": "game"}
        ]
    })
}

/// A tar.gz whose entries are written as given, bypassing the tar crate's own checks.
fn raw_tar_gz(entries: &[(&str, tar::EntryType, &str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, link, body) in entries {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(*kind);
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, *body).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
            let path = e.path();
            out.push(path.strip_prefix(dir).unwrap().display().to_string());
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn malicious_archives_are_refused_and_nothing_is_written_outside() {
    let s = setup().await;
    let (g, fx) = (&s.g, &s.fx);
    let (st, v) = g
        .call("POST", "/api/templates", Some(unpack_template()))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let reg = tar::EntryType::Regular;
    fx.put(
        "/fixtures/good.tar.gz",
        raw_tar_gz(&[
            ("data/ok.txt", reg, "", b"fine"),
            ("link", tar::EntryType::Symlink, "data/ok.txt", b""),
        ]),
    );
    fx.put(
        "/fixtures/dotdot.tar.gz",
        raw_tar_gz(&[("../../evil-dotdot", reg, "", b"x")]),
    );
    fx.put(
        "/fixtures/absolute.tar.gz",
        raw_tar_gz(&[("/tmp/garrison-evil-absolute", reg, "", b"x")]),
    );
    fx.put(
        "/fixtures/symlink.tar.gz",
        raw_tar_gz(&[
            ("escape", tar::EntryType::Symlink, "../../..", b""),
            ("escape/evil-through-link", reg, "", b"x"),
        ]),
    );
    fx.put(
        "/fixtures/passwd.tar.gz",
        raw_tar_gz(&[("passwd", tar::EntryType::Symlink, "/etc/passwd", b"")]),
    );
    fx.put(
        "/fixtures/hardlink.tar.gz",
        raw_tar_gz(&[("shadow", tar::EntryType::Link, "/etc/shadow", b"")]),
    );
    fx.put("/fixtures/zipslip.zip", {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file(
            "../../evil-zipslip",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        w.write_all(b"x").unwrap();
        w.finish().unwrap().into_inner()
    });
    let v = g
        .create(json!({"name": "Unpack", "template": "unpack", "port": free_port()}))
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    let install = install_outcome(g, &id).await;
    assert_eq!(install["state"], "succeeded", "{install}");
    let dir = server_dir(g, &id);
    assert_eq!(
        std::fs::read_to_string(dir.join("game/link")).unwrap(),
        "fine"
    );

    let outside_before = tree(g.data_dir());
    let passwd = std::fs::read("/etc/passwd").unwrap();
    for archive in [
        "dotdot.tar.gz",
        "absolute.tar.gz",
        "symlink.tar.gz",
        "passwd.tar.gz",
        "hardlink.tar.gz",
        "zipslip.zip",
    ] {
        let (st, v) = g
            .call(
                "PATCH",
                &format!("/api/servers/{id}/startup"),
                Some(json!({"variables": {"archive": archive}})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let (st, v) = g
            .call("POST", &format!("/api/servers/{id}/reinstall"), None)
            .await;
        assert_eq!(st, StatusCode::ACCEPTED, "{v}");
        let install = install_outcome(g, &id).await;
        assert_eq!(install["state"], "failed", "{archive}: {install}");
        let err = install["error"].as_str().unwrap();
        assert!(err.contains("unsafe entry"), "{archive}: {err}");
        // nothing appeared outside the server directory
        let outside: Vec<String> = tree(g.data_dir())
            .into_iter()
            .filter(|p| {
                !p.starts_with(&format!("servers/{id}"))
                    && !p.starts_with("logs")
                    && !p.starts_with("install-cache")
                    && !p.starts_with("run")
            })
            .collect();
        let before: Vec<String> = outside_before
            .iter()
            .filter(|p| {
                !p.starts_with(&format!("servers/{id}"))
                    && !p.starts_with("logs")
                    && !p.starts_with("install-cache")
                    && !p.starts_with("run")
            })
            .cloned()
            .collect();
        assert_eq!(outside, before, "{archive}");
    }
    assert!(!Path::new("/tmp/garrison-evil-absolute").exists());
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), passwd);
    let names = tree(g.data_dir());
    assert!(
        !names.iter().any(|n| n.contains("evil")),
        "no evil file anywhere: {names:?}"
    );
}

#[tokio::test]
async fn startup_settings_respect_what_users_may_see_and_change() {
    let s = setup().await;
    let g = &s.g;
    let t = json!({
        "id": "rules", "name": "Rules", "game": "demo",
        "ports": [{"name": "game", "default": 28100}],
        "startup": {"command": ["{{garrison}}", "demo-server", "--port", "{{port}}", "--ready-delay-ms", "{{delay}}"],
            "done": [{"contains": "Done! Demo server ready"}], "stop": {"type": "command", "command": "stop"}, "stop_timeout_secs": 5},
        "env": {"PATH": "/usr/bin:/bin", "TOKEN_COPY": "{{token}}"},
        "variables": [
            {"key": "delay", "name": "Delay", "type": "integer", "default": "0", "rules": {"min": 0, "max": 5000}},
            {"key": "token", "name": "Token", "type": "secret", "default": "", "rules": {"required": true, "min_length": 8}},
            {"key": "build", "name": "Build", "default": "stable", "user_editable": false},
            {"key": "internal", "name": "Internal", "default": "hidden-value", "user_viewable": false, "user_editable": false}
        ]
    });
    let (st, v) = g.call("POST", "/api/templates", Some(t)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    // required secret missing → 422 naming it
    let (st, v) = g
        .call(
            "POST",
            "/api/servers",
            Some(json!({"name": "R", "template": "rules", "port": free_port()})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["field"], "variables.token");
    // an owner who is not an admin
    let (st, v) = g
        .call(
            "POST",
            "/api/admin/users",
            Some(json!({"username": "olive", "password": "a long password"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let olive = v["id"].as_str().unwrap().to_owned();
    let v = g
        .create(
            json!({"name": "R", "template": "rules", "port": free_port(), "owner": olive,
            "variables": {"token": "s3cret-token"}}),
        )
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(
        v["variables"]["token"], "********",
        "secrets never come back: {v}"
    );
    let cookie = g.login("olive", "a long password").await.unwrap();
    let (st, v) = g
        .send_with_cookie(
            "GET",
            &format!("/api/servers/{id}/startup"),
            Some(&cookie),
            None,
        )
        .await
        .pair();
    assert_eq!(st, StatusCode::OK, "{v}");
    let keys: Vec<&str> = v["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        vec!["delay", "token", "build"],
        "hidden variables stay hidden"
    );
    let token = v["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["key"] == "token")
        .unwrap();
    assert_eq!(token["value"], "********");
    assert!(!v["command"].as_str().unwrap().contains("s3cret"), "{v}");
    let build = v["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["key"] == "build")
        .unwrap();
    assert_eq!(build["editable"], false);
    // a variable users may not change: 422, nothing applied
    let (st, v) = g
        .json_with_cookie(
            "PATCH",
            &format!("/api/servers/{id}/startup"),
            Some(&cookie),
            json!({"variables": {"delay": "10", "build": "beta"}}),
        )
        .await
        .pair();
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["field"], "variables.build");
    // the mask sent back keeps the secret; the owner may change what is editable
    let (st, v) = g
        .json_with_cookie(
            "PATCH",
            &format!("/api/servers/{id}/startup"),
            Some(&cookie),
            json!({"variables": {"delay": "10", "token": "********"}}),
        )
        .await
        .pair();
    assert_eq!(st, StatusCode::OK, "{v}");
    // the owner may describe the server but not raise its limits
    let (st, v) = g
        .json_with_cookie(
            "PATCH",
            &format!("/api/servers/{id}"),
            Some(&cookie),
            json!({"description": "Olive's test server"}),
        )
        .await
        .pair();
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["description"], "Olive's test server");
    let (st, v) = g
        .json_with_cookie(
            "PATCH",
            &format!("/api/servers/{id}"),
            Some(&cookie),
            json!({"limits": {"memory_mb": 65536}}),
        )
        .await
        .pair();
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    let (st, v) = g
        .call(
            "PATCH",
            &format!("/api/servers/{id}"),
            Some(json!({"limits": {"memory_mb": 2048, "disk_mb": 0, "cpu_percent": 100}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["limits"]["memory_mb"], 2048);
    let (st, v) = g
        .call(
            "PATCH",
            &format!("/api/servers/{id}"),
            Some(json!({"limits": {"memory_mb": -1}})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // the admin sees everything and may change it
    let (_, v) = g
        .call("GET", &format!("/api/servers/{id}/startup"), None)
        .await;
    assert_eq!(v["variables"].as_array().unwrap().len(), 4);
    assert_eq!(v["limits"]["memory_mb"], 2048);
    let (st, v) = g
        .call(
            "PATCH",
            &format!("/api/servers/{id}/startup"),
            Some(json!({"variables": {"build": "beta"}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // the secret reaches the game's environment unchanged
    g.power(&id, "start").await;
    g.wait_state(&id, "running", T).await;
    let (_, v) = g.call("GET", &format!("/api/servers/{id}"), None).await;
    assert_eq!(v["variables"]["delay"], "10");
    let pid = processes_in(&server_dir(g, &id))[0];
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    assert!(environ.contains("TOKEN=s3cret-token"), "{environ}");
    assert!(environ.contains("TOKEN_COPY=s3cret-token"));
    assert!(environ.contains("BUILD=beta"));
    g.power(&id, "stop").await;
    g.wait_state(&id, "offline", T).await;
}

#[tokio::test]
async fn reinstall_and_cancel_and_an_install_cut_short_by_a_restart() {
    let mut s = setup().await;
    let id = {
        let g = &s.g;
        let v = g
            .create(
                json!({"name": "Slow", "template": "demo", "port": free_port(),
                "variables": {"install_delay_ms": "60000"}}),
            )
            .await;
        let id = v["id"].as_str().unwrap().to_owned();
        assert_eq!(v["state"], "installing");
        // not while installing
        let (st, v) = g
            .call("POST", &format!("/api/servers/{id}/reinstall"), None)
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{v}");
        assert_eq!(v["error"]["state"], "installing");
        let (st, v) = g
            .call("POST", &format!("/api/servers/{id}/install/cancel"), None)
            .await;
        assert_eq!(st, StatusCode::ACCEPTED, "{v}");
        let install = install_outcome(g, &id).await;
        assert_eq!(install["state"], "cancelled", "{install}");
        let (st, v) = g
            .call("POST", &format!("/api/servers/{id}/install/cancel"), None)
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{v}");
        // reinstall, then kill Garrison in the middle of it
        let (st, _) = g
            .call("POST", &format!("/api/servers/{id}/reinstall"), None)
            .await;
        assert_eq!(st, StatusCode::ACCEPTED);
        g.wait_state(&id, "installing", T).await;
        id
    };
    s.g.crash_and_restart().await;
    let g = &s.g;
    let v = server(g, &id).await;
    assert_eq!(v["state"], "offline", "{v}");
    assert_eq!(v["install"]["state"], "failed", "{v}");
    assert!(
        v["install"]["error"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{v}"
    );
    // and it can be installed again
    let (st, v) = g
        .call(
            "PATCH",
            &format!("/api/servers/{id}/startup"),
            Some(json!({"variables": {"install_delay_ms": "0"}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    g.call("POST", &format!("/api/servers/{id}/reinstall"), None)
        .await;
    let install = install_outcome(g, &id).await;
    assert_eq!(install["state"], "succeeded", "{install}");
}

#[tokio::test]
async fn valheim_installs_with_steamcmd_and_stops_by_sigint() {
    let s = setup().await;
    let g = &s.g;
    let port = free_port();
    let v = g
        .create(
            json!({"name": "Valheim", "template": "valheim", "port": port,
            "variables": {"password": "secret123", "server_name": "Vikings"}}),
        )
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    let install = install_outcome(g, &id).await;
    assert_eq!(install["state"], "succeeded", "{install}");
    let lines = g.logs(&id, 200).await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Success! App '896660' fully installed")),
        "install output is console output: {lines:?}"
    );
    g.power(&id, "start").await;
    g.wait_state(&id, "running", T).await;
    let lines = g.wait_log(&id, "valheim ", T).await;
    assert!(
        lines.iter().any(|l| l.contains(&format!(
            "-name Vikings -port {port} -world Dedicated -password secret123 -public 0"
        ))),
        "{lines:?}"
    );
    g.power(&id, "stop").await;
    g.wait_state(&id, "offline", T).await;
    g.wait_log(&id, "Game server shutting down", T).await;
    // a password the game would refuse is refused up front
    let (st, v) = g
        .call(
            "PATCH",
            &format!("/api/servers/{id}/startup"),
            Some(json!({"variables": {"password": "1234"}})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["field"], "variables.password");
}

/// A stand-in TShock server: prints its arguments and its config, then the ready line.
const FAKE_TSHOCK: &str = r#"#!/bin/sh
echo "tshock $*"
cat tshock/config.json
echo "Server started"
while read line; do
  [ "$line" = exit ] && { echo "Saving world"; exit 0; }
done
"#;

fn tar_of(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, body, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(*mode);
        h.set_cksum();
        b.append_data(&mut h, name, *body).unwrap();
    }
    b.into_inner().unwrap()
}

#[tokio::test]
async fn terraria_tshock_installs_from_its_release_zip_and_keeps_config_json() {
    let s = setup().await;
    let (g, fx) = (&s.g, &s.fx);
    let inner = tar_of(&[("TShock.Server", FAKE_TSHOCK.as_bytes(), 0o755)]);
    fx.put(
        "/github/Pryaxis/TShock/releases/download/v5.2.4/TShock-5.2.4-for-Terraria-1.4.4.9-linux-amd64-Release.zip",
        zip_of(&[("TShock-Beta-linux-x64-Release.tar", &inner, 0o644)]),
    );
    let port = free_port();
    let v = g
        .create(
            json!({"name": "Terraria", "template": "terraria-tshock", "port": port,
            "variables": {"max_players": "16", "password": "pa\"ss"}}),
        )
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    let install = install_outcome(g, &id).await;
    assert_eq!(install["state"], "succeeded", "{install}");
    let dir = server_dir(g, &id);
    assert!(dir.join("TShock.Server").exists());
    assert!(
        !dir.join(".tshock").exists(),
        "the release archive is cleaned up"
    );
    g.power(&id, "start").await;
    g.wait_state(&id, "running", T).await;
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("tshock/config.json")).unwrap())
            .unwrap();
    assert_eq!(config["Settings"]["ServerPort"], json!(port), "{config}");
    assert_eq!(config["Settings"]["MaxSlots"], json!(16));
    assert_eq!(config["Settings"]["ServerPassword"], "pa\"ss");
    let (st, _) = g.power(&id, "stop").await;
    assert_eq!(st, StatusCode::ACCEPTED);
    g.wait_state(&id, "offline", T).await;
    g.wait_log(&id, "Saving world", T).await;

    // A config file the patcher cannot understand: the change is refused naming the
    // file, and the store and every file stay as they were.
    let broken = "{ \"Settings\": { \"ServerPort\": 7777, ";
    std::fs::write(dir.join("tshock/config.json"), broken).unwrap();
    let (st, v) = g
        .call(
            "PATCH",
            &format!("/api/servers/{id}/startup"),
            Some(json!({"variables": {"max_players": "20"}})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(
        v["error"]["field"], "config_files.tshock/config.json",
        "{v}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("tshock/config.json")).unwrap(),
        broken
    );
    let v = server(g, &id).await;
    assert_eq!(
        v["variables"]["max_players"], "16",
        "nothing was stored: {v}"
    );
    // and a start does not run with a stale config
    g.power(&id, "start").await;
    g.wait_state(&id, "crashed", T).await;
    let (_, h) = g
        .call("GET", &format!("/api/servers/{id}/history"), None)
        .await;
    assert!(
        h[0]["reason"]
            .as_str()
            .unwrap()
            .contains("tshock/config.json"),
        "{h}"
    );
}

#[tokio::test]
async fn a_value_the_config_format_cannot_hold_is_refused_before_anything_is_written() {
    let s = setup().await;
    let g = &s.g;
    let v = g
        .create(json!({"name": "Luanti", "template": "luanti", "port": free_port()}))
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    let install = install_outcome(g, &id).await;
    assert_eq!(install["state"], "succeeded", "{install}");
    let conf = server_dir(g, &id).join("minetest.conf");
    let (st, v) = g
        .call(
            "PATCH",
            &format!("/api/servers/{id}/startup"),
            Some(json!({"variables": {"server_name": "Fine name"}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let before = std::fs::read_to_string(&conf).unwrap();
    assert!(before.contains("server_name = Fine name\n"), "{before}");
    // Luanti trims values, so padding would be lost silently: refused, naming the variable.
    let (st, v) = g
        .call(
            "PATCH",
            &format!("/api/servers/{id}/startup"),
            Some(json!({"variables": {"server_name": "  padded", "max_users": "20"}})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["field"], "variables.server_name", "{v}");
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), before);
    let v = server(g, &id).await;
    assert_eq!(v["variables"]["max_users"], "15", "nothing was stored: {v}");
    // the same check at create
    let (st, v) = g
        .call(
            "POST",
            "/api/servers",
            Some(
                json!({"name": "L2", "template": "luanti", "port": free_port(),
                "variables": {"server_name": "trailing "}}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["field"], "variables.server_name");
}

#[tokio::test]
async fn install_progress_reaches_the_websocket_step_by_step() {
    let s = setup().await;
    let (g, fx) = (&s.g, &s.fx);
    let big: Vec<u8> = (0..4_000_000u32).map(|i| (i % 253) as u8).collect();
    fx.put("/fixtures/big.bin", big.clone());
    let t = json!({
        "id": "progress", "name": "Progress", "game": "test",
        "ports": [{"name": "game", "default": 28300}],
        "startup": {"command": ["/bin/true"], "stop": {"type": "signal", "signal": "SIGTERM"}, "stop_timeout_secs": 5},
        "env": {"PATH": "/usr/bin:/bin"},
        "install": [
            {"type": "command", "command": ["sleep 1; echo warming up"], "shell": true},
            {"type": "download", "url": "https://fixtures.garrison.test/big.bin", "dest": "data/big.bin",
             "sha256": sha256_hex(&big), "size": big.len()}
        ]
    });
    let (st, v) = g.call("POST", "/api/templates", Some(t)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let v = g
        .create(json!({"name": "Progress", "template": "progress", "port": free_port()}))
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    let mut ws = g.ws(&id).await;
    let mut events = Vec::new();
    loop {
        let m = ws.next_json(T).await.expect("a frame");
        if m["event"] == "server.install" {
            let phase = m["data"]["phase"].as_str().unwrap().to_owned();
            events.push(m["data"].clone());
            if phase == "finished" || phase == "failed" {
                break;
            }
        }
    }
    assert_eq!(events.last().unwrap()["phase"], "finished", "{events:?}");
    let steps: Vec<(u64, &str)> = events
        .iter()
        .filter(|e| e["phase"] == "step")
        .map(|e| (e["step"].as_u64().unwrap(), e["kind"].as_str().unwrap()))
        .collect();
    // The socket may join before or during step 0; either way the steps it saw end
    // with the download.
    assert!(
        steps == vec![(1, "download")] || steps == vec![(0, "command"), (1, "download")],
        "{steps:?}"
    );
    let progress: Vec<&Value> = events.iter().filter(|e| e["phase"] == "progress").collect();
    assert!(!progress.is_empty(), "{events:?}");
    let last = progress.last().unwrap();
    assert_eq!(last["total_bytes"], json!(big.len()));
    assert_eq!(last["bytes"], json!(big.len()));
    assert_eq!(last["percent"], json!(100.0));
    assert_eq!(last["steps"], json!(2));
    assert_eq!(
        std::fs::read(server_dir(g, &id).join("data/big.bin")).unwrap(),
        big
    );
}

#[tokio::test]
async fn the_generic_template_runs_any_command_with_its_port() {
    let s = setup().await;
    let g = &s.g;
    let port = free_port();
    let v = g
        .create(json!({"name": "Anything", "template": "generic", "port": port,
            "variables": {"startup_command": "echo \"up on $SERVER_PORT in $(pwd)\"; exec sleep 600"}}))
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    let (st, v) = g.power(&id, "start").await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    g.wait_state(&id, "running", T).await;
    let dir = server_dir(g, &id).canonicalize().unwrap();
    g.wait_log(&id, &format!("up on {port} in {}", dir.display()), T)
        .await;
    g.power(&id, "stop").await;
    g.wait_state(&id, "offline", T).await;
    wait_no_processes(&dir, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn installs_refuse_private_addresses_unless_allowed() {
    let fx = FixtureHttp::start().await;
    fx.put("/fixtures/x.bin", b"x".to_vec());
    let mirror = format!("https://fixtures.garrison.test={}", fx.url("/fixtures"));
    // Plain HTTP allowed, private addresses not: the loopback mirror is refused.
    let g = Garrison::start_with_env(&[
        ("GARRISON_INSTALL_MIRRORS", &mirror),
        ("GARRISON_INSTALL_ALLOW_HTTP", "true"),
    ])
    .await;
    let t = json!({
        "id": "fetch", "name": "Fetch", "game": "test",
        "ports": [{"name": "game", "default": 28400}],
        "startup": {"command": ["/bin/true"], "stop": {"type": "signal", "signal": "SIGTERM"}, "stop_timeout_secs": 5},
        "variables": [{"key": "url", "name": "URL", "default": "https://fixtures.garrison.test/x.bin"}],
        "install": [{"type": "download", "url": "{{url}}", "dest": "x.bin"}]
    });
    let (st, v) = g.call("POST", "/api/templates", Some(t)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let v = g
        .create(json!({"name": "Fetch", "template": "fetch", "port": free_port()}))
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    let install = install_outcome(&g, &id).await;
    assert_eq!(install["state"], "failed", "{install}");
    assert!(
        install["error"]
            .as_str()
            .unwrap()
            .contains("private or loopback"),
        "{install}"
    );
    // a user-set URL pointing at the node itself is refused the same way
    for url in [
        "https://127.0.0.1:9/x",
        "https://[::1]/x",
        "https://localhost/x",
    ] {
        let (st, v) = g
            .call(
                "PATCH",
                &format!("/api/servers/{id}/startup"),
                Some(json!({"variables": {"url": url}})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        g.call("POST", &format!("/api/servers/{id}/reinstall"), None)
            .await;
        let install = install_outcome(&g, &id).await;
        assert_eq!(install["state"], "failed", "{url}: {install}");
        assert!(
            install["error"]
                .as_str()
                .unwrap()
                .contains("private or loopback"),
            "{url}: {install}"
        );
    }
    assert!(fx.seen().is_empty(), "nothing reached the fixture server");
}

#[tokio::test]
async fn extra_ports_are_reserved_and_memory_limits_respect_the_game() {
    let s = setup().await;
    let g = &s.g;
    let port = free_port();
    let v = g
        .create(json!({"name": "V1", "template": "valheim", "port": port,
            "variables": {"password": "secret123"}}))
        .await;
    let first = v["id"].as_str().unwrap().to_owned();
    // the query port (+1) belongs to the first server
    let (st, v) = g
        .call(
            "POST",
            "/api/servers",
            Some(
                json!({"name": "V2", "template": "valheim", "port": port + 1,
                "variables": {"password": "secret123"}}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["field"], "port");
    assert!(
        v["error"]["message"].as_str().unwrap().contains(&first),
        "{v}"
    );
    let (st, v) = g
        .call(
            "POST",
            "/api/servers",
            Some(json!({"name": "V3", "template": "valheim", "port": 65535,
                "variables": {"password": "secret123"}})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["field"], "port");
    // below the game's minimum memory
    let (st, v) = g
        .call(
            "POST",
            "/api/servers",
            Some(
                json!({"name": "Small", "template": "minecraft-vanilla", "port": free_port(),
                "limits": {"memory_mb": 512}}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["field"], "limits.memory_mb");
    let (st, v) = g
        .call(
            "PATCH",
            &format!("/api/servers/{first}"),
            Some(json!({"limits": {"memory_mb": 1024}})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["field"], "limits.memory_mb");
}

#[tokio::test]
async fn a_client_joining_mid_install_is_told_the_step_and_the_open_prompt() {
    let s = setup().await;
    let g = &s.g;
    let t = json!({
        "id": "signin", "name": "Sign-in", "game": "test",
        "ports": [{"name": "game", "default": 28500}],
        "startup": {"command": ["/bin/true"], "stop": {"type": "signal", "signal": "SIGTERM"}, "stop_timeout_secs": 5},
        "env": {"PATH": "/usr/bin:/bin"},
        "prompts": [{"url_regex": "(https://\\S+/device/verify\\S*)", "code_regex": "code:\\s+([A-Z0-9-]+)", "message": "Sign in"}],
        "install": [{"type": "command", "shell": true, "timeout_secs": 120,
            "command": ["echo 'Visit https://oauth.accounts.hytale.com/oauth2/device/verify?user_code=LATE-1234'; echo 'Authorization code: LATE-1234'; sleep 60"]}]
    });
    let (st, v) = g.call("POST", "/api/templates", Some(t)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let v = g
        .create(json!({"name": "Late", "template": "signin", "port": free_port()}))
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    g.wait_log(&id, "Authorization code: LATE-1234", T).await;
    // This client was not there when it happened. (The line can be in the console a
    // moment before the event pump has passed the prompt on: ask again until then.)
    let deadline = std::time::Instant::now() + T;
    let hello = loop {
        let mut ws = g.ws(&id).await;
        let hello = ws.until(T, |m| m["event"] == "hello").await;
        if !hello["data"]["prompt"].is_null() || std::time::Instant::now() > deadline {
            break hello;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let d = &hello["data"];
    assert_eq!(d["state"], "installing", "{hello}");
    assert_eq!(d["install"]["phase"], "step", "{hello}");
    assert_eq!(d["install"]["kind"], "command");
    assert_eq!(d["install"]["steps"], 1);
    assert_eq!(d["prompt"]["code"], "LATE-1234", "{hello}");
    let lines = g.logs(&id, 50).await;
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[Garrison] install step 1 of 1: run ")),
        "the step shows in the console: {lines:?}"
    );
    g.call("POST", &format!("/api/servers/{id}/install/cancel"), None)
        .await;
    let install = install_outcome(g, &id).await;
    assert_eq!(install["state"], "cancelled");
    // after the install the prompt is gone
    let mut ws = g.ws(&id).await;
    let hello = ws.until(T, |m| m["event"] == "hello").await;
    assert!(hello["data"]["prompt"].is_null(), "{hello}");
    assert!(hello["data"]["install"].is_null(), "{hello}");
}
