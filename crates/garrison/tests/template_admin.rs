//! Template management through the API and the CLI: create, replace, delete, export
//! and import (our TOML and JSON, and real published Pterodactyl/Pelican eggs, with the
//! import report), and template repositories (a local directory and a git URL) synced
//! from the API and by `garrison template sync` while the panel runs.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn egg(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../garrison-egg/tests/fixtures/eggs")
        .join(name);
    std::fs::read_to_string(p).unwrap()
}

const MINIMAL_TOML: &str = r#"
id = "tiny"
name = "Tiny"
game = "demo"
category = "test"
ports = [{ name = "game", default = 28200 }]

[startup]
command = ["{{garrison}}", "demo-server", "--port", "{{port}}"]
done = [{ contains = "Done! Demo server ready" }]
stop = { type = "command", command = "stop" }
stop_timeout_secs = 5

[env]
PATH = "/usr/bin:/bin"

[[variables]]
key = "greeting"
name = "Greeting"
default = "hi"
rules = { max_length = 10 }
"#;

async fn import(g: &Garrison, body: Value) -> (StatusCode, Value) {
    g.call("POST", "/api/templates/import", Some(body)).await
}

#[tokio::test]
async fn real_eggs_import_with_a_report_and_docker_eggs_are_refused_on_a_native_node() {
    let g = Garrison::start().await;
    // dry run: converted and checked, nothing saved
    let (s, v) = import(
        &g,
        json!({"content": egg("ptero-egg-paper.json"), "dry_run": true}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["saved"], false);
    assert_eq!(v["format"], "egg");
    assert_eq!(v["report"]["format"], "PTDL_v2");
    assert_eq!(v["report"]["requires_docker"], true);
    let t = &v["template"];
    assert_eq!(t["name"], "Paper");
    assert_eq!(t["startup"]["shell"], true);
    assert!(
        t["startup"]["command"][0]
            .as_str()
            .unwrap()
            .contains("{{SERVER_JARFILE}}")
    );
    assert_eq!(
        t["startup"]["stop"],
        json!({"type": "command", "command": "stop"})
    );
    assert_eq!(t["startup"]["done"][0]["contains"], ")! For help, type ");
    let jar = t["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["key"] == "SERVER_JARFILE")
        .unwrap();
    assert_eq!(jar["rules"]["required"], true);
    assert!(t["config_files"][0]["set"].to_string().contains("{{port}}"));
    let (_, list) = g.call("GET", "/api/templates", None).await;
    assert!(
        !list.to_string().contains("\"Paper\""),
        "a dry run saves nothing"
    );

    // saved under an id of our choice
    let (s, v) = import(
        &g,
        json!({"content": egg("ptero-egg-paper.json"), "id": "paper-egg"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["saved"], true);
    assert_eq!(v["template"]["id"], "paper-egg");
    assert_eq!(v["template"]["origin"], "custom");
    let (s, v) = g.call("GET", "/api/templates/paper-egg", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // the same id again is a conflict unless replacing
    let (s, v) = import(
        &g,
        json!({"content": egg("ptero-egg-paper.json"), "id": "paper-egg"}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, v) = import(
        &g,
        json!({"content": egg("ptero-egg-paper.json"), "id": "paper-egg", "replace": true}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // its install needs a container: no server from it on this native node
    let (s, v) = g
        .call(
            "POST",
            "/api/servers",
            Some(json!({"name": "Paper egg", "template": "paper-egg", "port": free_port()})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["field"], "template");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("Docker"),
        "{v}"
    );

    // a Pelican YAML egg, and a SteamCMD egg
    let (s, v) = import(
        &g,
        json!({"content": egg("pelican-egg-vanilla-minecraft.yaml")}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(
        v["report"]["format"].as_str().unwrap().starts_with("PLCN"),
        "{v}"
    );
    let (s, v) = import(&g, json!({"content": egg("ptero-egg-team-fortress2.json")})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["report"]["format"], "PTDL_v1");
    assert!(
        v["template"]["startup"]["command"][0]
            .as_str()
            .unwrap()
            .contains("{{port}}")
    );

    // bad input: named, nothing saved
    for (content, field) in [
        ("this is not a template", "content"),
        (
            "{\"meta\": {\"version\": \"PTDL_v9\"}, \"name\": \"x\"}",
            "content",
        ),
        ("{\"id\": \"x\"}", "content"),
    ] {
        let (s, v) = import(&g, json!({"content": content})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{content}: {v}");
        assert_eq!(v["error"]["field"], field, "{v}");
    }
    let (s, v) = import(
        &g,
        json!({"content": MINIMAL_TOML.replace("id = \"tiny\"", "id = \"Not An Id\"")}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["field"], "template");
    // an upload over the import limit is 413
    let big = "x".repeat(1024 * 1024 + 10);
    let (s, v) = import(&g, json!({"content": big})).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
}

#[tokio::test]
async fn templates_are_created_exported_imported_replaced_and_deleted() {
    let g = Garrison::start().await;
    let (s, v) = import(&g, json!({"content": MINIMAL_TOML})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["format"], "toml");
    // export as TOML, import that elsewhere under a new id: the same template
    let r = g
        .http
        .get(g.url("/api/templates/tiny/export"))
        .bearer_auth(&g.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("tiny.toml")
    );
    let exported = r.text().await.unwrap();
    let (s, v) = import(&g, json!({"content": exported, "id": "tiny-copy"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, a) = g.call("GET", "/api/templates/tiny", None).await;
    let (_, b) = g.call("GET", "/api/templates/tiny-copy", None).await;
    let strip = |mut v: Value| {
        v["id"] = Value::Null;
        v
    };
    assert_eq!(strip(a.clone()), strip(b));
    let (s, _) = g
        .call("GET", "/api/templates/tiny/export?format=json", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = g
        .call("GET", "/api/templates/tiny/export?format=xml", None)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");

    // a server from it, then a replaced template applies from its next start
    let v = g
        .create(json!({"name": "Tiny", "template": "tiny", "port": free_port()}))
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    // what GET returned goes back as it is (its `origin` is ignored)
    let mut t = a.clone();
    t["variables"][0]["rules"]["max_length"] = json!(20);
    let (s, v) = g.call("PUT", "/api/templates/tiny", Some(t.clone())).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = g
        .call(
            "PATCH",
            &format!("/api/servers/{id}/startup"),
            Some(json!({"variables": {"greeting": "fifteen letters"}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "the new rule holds: {v}");
    // the id in the body must match the path
    let (s, v) = g
        .call("PUT", "/api/templates/tiny-copy", Some(t.clone()))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // a broken template is refused with the reason
    let mut broken = t.clone();
    broken["startup"]["command"] = json!(["run", "{{nope}}"]);
    let (s, v) = g.call("PUT", "/api/templates/tiny", Some(broken)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("nope"),
        "{v}"
    );
    // unknown fields are refused
    let mut extra = t.clone();
    extra["surprise"] = json!(1);
    let (s, v) = g.call("PUT", "/api/templates/tiny", Some(extra)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    // delete: not built-ins, not while in use
    let (s, v) = g.call("DELETE", "/api/templates/demo", None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, v) = g
        .call(
            "PUT",
            "/api/templates/demo",
            Some({
                let mut d = t.clone();
                d["id"] = json!("demo");
                d
            }),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, v) = g.call("DELETE", "/api/templates/tiny", None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, _) = g.call("DELETE", "/api/templates/tiny-copy", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = g.call("GET", "/api/templates/tiny-copy", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // stored templates survive a restart
    let mut g = g;
    g.restart().await;
    let (s, v) = g.call("GET", "/api/templates/tiny", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["variables"][0]["rules"]["max_length"], 20);
}

fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.email=t@example.com",
            "-c",
            "user.name=t",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn template_ids(g: &Garrison) -> Vec<String> {
    let (_, v) = g.call("GET", "/api/templates", None).await;
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn template_repositories_sync_from_a_directory_and_git_and_the_cli() {
    let g = Garrison::start().await;
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(repo.path().join("minecraft")).unwrap();
    std::fs::write(repo.path().join("tiny.toml"), MINIMAL_TOML).unwrap();
    std::fs::write(
        repo.path().join("minecraft/egg-paper.json"),
        egg("ptero-egg-paper.json"),
    )
    .unwrap();
    std::fs::write(repo.path().join("broken.toml"), "id = 3").unwrap();
    std::fs::write(repo.path().join("README.md"), "not a template").unwrap();
    let (s, v) = g
        .call(
            "POST",
            "/api/template-repos",
            Some(json!({"location": repo.path().to_str().unwrap()})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["repo"]["kind"], "dir");
    let imported: Vec<&str> = v["sync"]["imported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(imported, vec!["paper", "tiny"], "{v}");
    let skipped = v["sync"]["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{v}");
    assert_eq!(skipped[0][0], "broken.toml");
    assert_eq!(v["repo"]["template_count"], 2);
    let rid = v["repo"]["id"].as_str().unwrap().to_owned();
    assert!(template_ids(&g).await.contains(&"tiny".to_owned()));
    // the same location twice is a conflict; a relative path is refused
    let (s, _) = g
        .call(
            "POST",
            "/api/template-repos",
            Some(json!({"location": repo.path().to_str().unwrap()})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, v) = g
        .call(
            "POST",
            "/api/template-repos",
            Some(json!({"location": "templates"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["field"], "location");

    // The CLI syncs while the panel runs; the panel picks the change up by itself.
    std::fs::write(
        repo.path().join("second.toml"),
        MINIMAL_TOML.replace("id = \"tiny\"", "id = \"second\""),
    )
    .unwrap();
    std::fs::remove_file(repo.path().join("tiny.toml")).unwrap();
    let mut cli = std::process::Command::new(garrison_bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("GARRISON_") {
            cli.env_remove(k);
        }
    }
    let out = cli
        .args(["template", "sync", "--data-dir"])
        .arg(g.data_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("second"), "{printed}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let ids = template_ids(&g).await;
        if ids.contains(&"second".to_owned()) && !ids.contains(&"tiny".to_owned()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "panel did not reload: {ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // a git repository (file:// URL), synced again after a new commit
    let src = tempfile::tempdir().unwrap();
    git(src.path(), &["init", "-q"]);
    std::fs::write(
        src.path().join("git-one.toml"),
        MINIMAL_TOML.replace("id = \"tiny\"", "id = \"git-one\""),
    )
    .unwrap();
    git(src.path(), &["add", "."]);
    git(src.path(), &["commit", "-qm", "one"]);
    let url = format!("file://{}", src.path().display());
    let (s, v) = g
        .call(
            "POST",
            "/api/template-repos",
            Some(json!({"location": url})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["repo"]["kind"], "git");
    assert_eq!(v["sync"]["imported"], json!(["git-one"]), "{v}");
    let git_rid = v["repo"]["id"].as_str().unwrap().to_owned();
    std::fs::write(
        src.path().join("git-two.toml"),
        MINIMAL_TOML.replace("id = \"tiny\"", "id = \"git-two\""),
    )
    .unwrap();
    git(src.path(), &["add", "."]);
    git(src.path(), &["commit", "-qm", "two"]);
    let (s, v) = g
        .call("POST", &format!("/api/template-repos/{git_rid}/sync"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["sync"]["imported"], json!(["git-one", "git-two"]), "{v}");
    // a repository that cannot be fetched records why
    std::fs::remove_dir_all(src.path().join(".git")).unwrap();
    let (s, v) = g
        .call("POST", &format!("/api/template-repos/{git_rid}/sync"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["error"].as_str().unwrap().contains("git"), "{v}");
    assert!(v["repo"]["sync_error"].is_string(), "{v}");
    let (s, v) = g.call("GET", "/api/template-repos", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v.as_array().unwrap().len(), 2);

    // in use: the repository stays until its servers go
    let sv = g
        .create(json!({"name": "From repo", "template": "second", "port": free_port()}))
        .await;
    let (s, v) = g
        .call("DELETE", &format!("/api/template-repos/{rid}"), None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let sid = sv["id"].as_str().unwrap();
    g.wait_state(sid, "offline", Duration::from_secs(30)).await;
    let (s, _) = g.call("DELETE", &format!("/api/servers/{sid}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = g
        .call("DELETE", &format!("/api/template-repos/{rid}"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let ids = template_ids(&g).await;
    assert!(!ids.contains(&"second".to_owned()), "{ids:?}");
    assert!(ids.contains(&"git-one".to_owned()));
}
