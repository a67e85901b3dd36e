//! The API's contract for bad input, auth and errors, against a real `garrison serve`.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

fn field(v: &Value) -> &str {
    v["error"]["field"].as_str().unwrap_or("")
}

async fn server_count(g: &Garrison) -> usize {
    let (s, v) = g.call("GET", "/api/servers", None).await;
    assert_eq!(s, StatusCode::OK);
    v.as_array().unwrap().len()
}

#[tokio::test]
async fn bad_input_is_refused_with_clear_errors_and_nothing_half_written() {
    let g = Garrison::start().await;
    let port = free_port();

    let (s, v) = g
        .call_raw("POST", "/api/servers", "{\"name\": \"x\", ")
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "malformed_json");

    let (s, v) = g
        .call(
            "POST",
            "/api/servers",
            Some(json!({"name": "x", "template": "demo", "colour": "red"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "unknown_field");
    assert_eq!(field(&v), "colour");

    let (s, v) = g
        .call(
            "POST",
            "/api/servers",
            Some(json!({"name": "x", "template": "minecraft-9"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(field(&v), "template");

    for bad_port in [json!(0), json!(70000), json!(-1), json!("abc")] {
        let (s, v) = g
            .call(
                "POST",
                "/api/servers",
                Some(json!({"name": "x", "template": "demo", "port": bad_port})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "port {bad_port}: {v}");
        assert_eq!(field(&v), "port", "{v}");
    }

    for bad_name in ["bad\u{7}name", "line\nbreak", "", "   ", &"n".repeat(65)] {
        let (s, v) = g
            .call(
                "POST",
                "/api/servers",
                Some(json!({"name": bad_name, "template": "demo", "port": port})),
            )
            .await;
        assert_eq!(
            s,
            StatusCode::UNPROCESSABLE_ENTITY,
            "name {bad_name:?}: {v}"
        );
        assert_eq!(field(&v), "name");
    }

    let (s, v) = g
        .call(
            "POST",
            "/api/servers",
            Some(json!({"name": "x", "template": "demo", "port": port, "variables": {"ready_delay_ms": "soon"}})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(field(&v), "variables.ready_delay_ms");

    let (s, v) = g
        .call(
            "POST",
            "/api/servers",
            Some(json!({"name": "x", "template": "demo", "port": port, "restart": {"max_restarts": 1000}})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(field(&v), "restart.max_restarts");

    // A body over the limit is refused before it is read.
    let huge = format!(
        "{{\"name\": \"{}\", \"template\": \"demo\"}}",
        "a".repeat(100_000)
    );
    let (s, v) = g.call_raw("POST", "/api/servers", &huge).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");

    assert_eq!(
        server_count(&g).await,
        0,
        "a refused create left a server behind"
    );
    assert!(
        !g.data_dir().join("servers").exists()
            || std::fs::read_dir(g.data_dir().join("servers"))
                .unwrap()
                .next()
                .is_none(),
        "a refused create left a directory behind"
    );

    // Now a good one, and bad input against it.
    let id = g.create_demo("good", json!({"port": port})).await;
    let (s, v) = g
        .call(
            "POST",
            "/api/servers",
            Some(json!({"name": "dup", "template": "demo", "port": port})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(field(&v), "port");

    let (s, v) = g
        .call(
            "PATCH",
            &format!("/api/servers/{id}"),
            Some(json!({"port": 65536})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = g
        .call(
            "PATCH",
            &format!("/api/servers/{id}"),
            Some(json!({"template": "openttd"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(field(&v), "template");
    let (s, v) = g
        .call(
            "PATCH",
            &format!("/api/servers/{id}"),
            Some(json!({"name": "tab\tname"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (_, v) = g.call("GET", &format!("/api/servers/{id}"), None).await;
    assert_eq!(v["name"], "good", "a refused PATCH changed the server");
    assert_eq!(v["port"], port);

    // PATCH is partial.
    let (s, v) = g
        .call(
            "PATCH",
            &format!("/api/servers/{id}"),
            Some(json!({"name": "renamed", "restart": {"backoff_secs": 5}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["name"], "renamed");
    assert_eq!(v["port"], port);
    assert_eq!(v["restart"]["backoff_secs"], 5);
    assert_eq!(v["restart"]["max_restarts"], 3);

    let (s, v) = g.power(&id, "explode").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(field(&v), "action");

    // Commands: only while running, one line, at most 4 KiB.
    let (s, v) = g.command(&id, "say hi").await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["state"], "offline");
    let (s, v) = g.command(&id, &"x".repeat(4097)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(field(&v), "command");
    let (s, v) = g.command(&id, "two\nlines").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");

    let (s, v) = g
        .call("GET", &format!("/api/servers/{id}/logs?lines=abc"), None)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(field(&v), "lines");
    let (s, _) = g
        .call("GET", &format!("/api/servers/{id}/logs?lines=5000"), None)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // Delete, then everything about it is 404.
    let (s, _) = g.call("DELETE", &format!("/api/servers/{id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = g.power(&id, "start").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["error"]["code"], "not_found");
    for path in ["", "/stats", "/logs", "/history"] {
        let (s, _) = g
            .call("GET", &format!("/api/servers/{id}{path}"), None)
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
    }
    let (s, _) = g.call("DELETE", &format!("/api/servers/{id}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(
        !g.data_dir().join("servers").join(&id).exists(),
        "server dir left after delete"
    );
    let (s, _) = g.call("GET", "/api/servers/nope", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = g.call("GET", "/api/no-such-route", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) = g.call("PUT", "/api/servers", Some(json!({}))).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{v}");
    assert_eq!(v["error"]["code"], "method_not_allowed");
    // Wrong content type: still the JSON error shape.
    let r = g
        .http
        .post(g.url("/api/servers"))
        .bearer_auth(&g.key)
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "unsupported_media_type");
}

#[tokio::test]
async fn auth_sessions_keys_and_tickets() {
    let g = Garrison::start().await;
    let http = reqwest::Client::new();

    let r = http.get(g.url("/api/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["database"], "sqlite");

    for path in [
        "/api/servers",
        "/api/account",
        "/api/templates",
        "/api/account/api-keys",
    ] {
        let r = http.get(g.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "unauthorized");
    }
    let r = http
        .get(g.url("/api/servers"))
        .bearer_auth("gsk_not_a_key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let (s, v) = g.login("admin", "wrong").await.unwrap_err();
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"]["code"], "invalid_credentials");
    let (s, _) = g.login("nobody-here", "wrong").await.unwrap_err();
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let cookie = g.login("admin", ADMIN_PASSWORD).await.unwrap();
    let r = http
        .get(g.url("/api/account"))
        .session(&cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["username"], "admin");
    assert_eq!(me["is_admin"], true);

    // A cookie-authenticated change from a foreign page is refused.
    let r = http
        .post(g.url("/api/account/api-keys"))
        .session(&cookie)
        .header("origin", "https://evil.example")
        .json(&json!({"name": "csrf"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A cookie write without the CSRF token (or with a wrong one) is refused too, and
    // changes nothing; reads need no token.
    let session_only = cookie
        .split("; ")
        .find(|c| c.starts_with("garrison_session="))
        .unwrap();
    for token in [None, Some("0".repeat(64))] {
        let mut req = http
            .post(g.url("/api/account/api-keys"))
            .header("cookie", &cookie)
            .json(&json!({"name": "csrf"}));
        if let Some(t) = &token {
            req = req.header("x-csrf-token", t);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "token {token:?}");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("x-csrf-token"),
            "{v}"
        );
    }
    let r = http
        .get(g.url("/api/account/api-keys"))
        .header("cookie", session_only)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let listed: Value = r.json().await.unwrap();
    assert!(
        !listed.to_string().contains("\"csrf\""),
        "a refused write went through: {listed}"
    );
    // The session cookie is HttpOnly and Lax; the CSRF cookie is readable by the page.
    let r = http
        .post(g.url("/api/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let set: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        set.iter().any(|c| c.starts_with("garrison_session=")
            && c.contains("HttpOnly")
            && c.contains("SameSite=Lax")),
        "{set:?}"
    );
    assert!(
        set.iter()
            .any(|c| c.starts_with("garrison_csrf=") && !c.contains("HttpOnly")),
        "{set:?}"
    );

    // Keys: shown once, listed without the secret, revocable.
    let r = http
        .post(g.url("/api/account/api-keys"))
        .session(&cookie)
        .json(&json!({"name": "bot"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("gsk_"));
    let r = http
        .get(g.url("/api/account/api-keys"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let list: Value = r.json().await.unwrap();
    assert!(list.to_string().contains("bot"));
    assert!(!list.to_string().contains(&key), "the secret is listed");
    let db = std::fs::read(g.data_dir().join("garrison.db")).unwrap();
    assert!(
        !String::from_utf8_lossy(&db).contains(&key),
        "the key is stored in clear"
    );
    let kid = created["id"].as_str().unwrap();
    let r = http
        .delete(g.url(&format!("/api/account/api-keys/{kid}")))
        .session(&cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = http
        .get(g.url("/api/servers"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "revoked key still works"
    );
    let (s, v) = g
        .call(
            "POST",
            "/api/account/api-keys",
            Some(json!({"name": "bad\u{1b}[31m"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");

    // Console WebSocket: refused without credentials or from a foreign origin; a
    // ticket works once.
    let id = g.create_demo("ws", json!({})).await;
    let ws_url = format!("{}/api/servers/{id}/ws", g.base.replace("http://", "ws://"));
    let err = tokio_tungstenite::connect_async(ws_url.clone())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = ws_url.clone().into_client_request().unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    req.headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    let err = tokio_tungstenite::connect_async(req).await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");

    let (s, v) = g
        .call("POST", &format!("/api/servers/{id}/ws-ticket"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let ticket = v["ticket"].as_str().unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{ws_url}?ticket={ticket}"))
        .await
        .unwrap();
    use futures_util::StreamExt;
    let first = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let hello: Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert_eq!(hello["event"], "hello");
    assert_eq!(hello["data"]["state"], "offline");
    let err = tokio_tungstenite::connect_async(format!("{ws_url}?ticket={ticket}"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("401"),
        "a ticket worked twice: {err}"
    );

    // Logout ends the session and clears both cookies.
    let r = http
        .post(g.url("/api/auth/logout"))
        .session(&cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let cleared: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        cleared.iter().any(|c| c.starts_with("garrison_session=;")),
        "{cleared:?}"
    );
    assert!(
        cleared.iter().any(|c| c.starts_with("garrison_csrf=;")),
        "{cleared:?}"
    );
    let r = http
        .get(g.url("/api/account"))
        .session(&cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// The garrison binary with no `GARRISON_*` variables from the test's environment.
fn clean_command() -> std::process::Command {
    let mut cmd = std::process::Command::new(garrison_bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("GARRISON_") {
            cmd.env_remove(k);
        }
    }
    // Never the default SFTP port: tests run side by side.
    cmd.env("GARRISON_SFTP_LISTEN", "127.0.0.1:0");
    cmd
}

#[test]
fn first_start_prints_a_one_time_password_and_bad_config_names_the_key() {
    let data = tempfile::tempdir().unwrap();
    let mut child = clean_command()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    while !printed.contains("listening on") {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "{printed}");
        printed.push_str(&line);
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
    let password = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .unwrap_or_else(|| panic!("no password printed:\n{printed}"));
    assert!(password.len() >= 16, "{password}");

    // Second start: no new password.
    let out = clean_command()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env("GARRISON_LISTN", "typo")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("GARRISON_LISTN"), "{err}");

    std::fs::write(data.path().join("garrison.toml"), "listen = 8080\n").unwrap();
    let out = clean_command()
        .args(["serve", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listen"), "{err}");

    let out = std::process::Command::new(garrison_bin())
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("serve") && help.contains("demo-server"),
        "{help}"
    );
}

#[tokio::test]
async fn password_change_and_server_stats_in_listings() {
    let g = Garrison::start().await;
    let (s, v) = g
        .call(
            "POST",
            "/api/account/password",
            Some(json!({"current_password": ADMIN_PASSWORD, "new_password": "short"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(field(&v), "new_password");
    let (s, v) = g
        .call(
            "POST",
            "/api/account/password",
            Some(json!({"current_password": "wrong", "new_password": "a new long password"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(v["error"]["code"], "invalid_credentials");
    g.login("admin", ADMIN_PASSWORD)
        .await
        .expect("a refused change kept the old password");
    let (s, v) = g
        .call(
            "POST",
            "/api/account/password",
            Some(
                json!({"current_password": ADMIN_PASSWORD, "new_password": "a new long password"}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert!(g.login("admin", ADMIN_PASSWORD).await.is_err());
    g.login("admin", "a new long password").await.unwrap();

    let id = g.create_demo("listed", json!({})).await;
    let (_, list) = g.call("GET", "/api/servers", None).await;
    assert_eq!(list[0]["id"], id.as_str());
    assert!(list[0]["stats"].is_object(), "{list}");
    assert!(list[0]["stats"]["memory_bytes"].is_u64(), "{list}");
}

#[tokio::test]
async fn web_ui_is_served_beside_the_api() {
    let g = Garrison::start().await;
    let http = reqwest::Client::new();
    let r = http.get(g.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(r.headers()["cache-control"], "no-cache");
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let index = r.text().await.unwrap();
    // No outside hosts: everything the page loads comes from Garrison.
    assert!(
        !index.contains("http://") && !index.contains("https://"),
        "{index}"
    );

    let r = http
        .get(g.url("/"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    // The UI's own routes load the app on reload.
    let r = http
        .get(g.url("/servers/some-id/console"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), index);
    let r = http.get(g.url("/no-such-file.js")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (s, v) = g.call("GET", "/api/no-such-route", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["code"], "not_found");

    // Hashed assets (present when the UI was built) are cached for good and compressed.
    if let Some(start) = index.find("/assets/") {
        let end = index[start..].find('"').unwrap() + start;
        let asset = &index[start..end];
        let r = http
            .get(g.url(asset))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{asset}");
        assert_eq!(
            r.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(r.headers()["content-encoding"], "gzip", "{asset}");
    }
}
