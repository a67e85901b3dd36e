//! User accounts: admin management, sessions, disabling (which ends sessions, keys and
//! open consoles), and the `garrison user` CLI against a running panel.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

async fn get_with_cookie(g: &Garrison, cookie: &str, path: &str) -> StatusCode {
    g.http
        .get(g.url(path))
        .session(cookie)
        .send()
        .await
        .unwrap()
        .status()
}

async fn make_user(g: &Garrison, name: &str) -> String {
    let (s, v) = g
        .call(
            "POST",
            "/api/admin/users",
            Some(json!({"username": name, "password": "a long password"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn admins_manage_users_and_bad_input_is_refused() {
    let g = Garrison::start().await;
    let (s, v) = g
        .call(
            "POST",
            "/api/admin/users",
            Some(json!({"username": "alice", "password": "a long password", "email": "alice@example.com"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["email"], "alice@example.com");
    assert_eq!(v["disabled"], false);
    let alice = v["id"].as_str().unwrap().to_owned();

    for (body, field) in [
        (
            json!({"username": "alice", "password": "a long password"}),
            "username",
        ),
        (
            json!({"username": "bob", "password": "a long password", "email": "alice@example.com"}),
            "email",
        ),
        (
            json!({"username": "bob", "password": "a long password", "email": "not-an-email"}),
            "email",
        ),
        (
            json!({"username": "bob smith", "password": "a long password"}),
            "username",
        ),
        (
            json!({"username": "x'; DROP TABLE users; --", "password": "a long password"}),
            "username",
        ),
        (json!({"username": "bob", "password": "short"}), "password"),
        (
            json!({"username": "b".repeat(33), "password": "a long password"}),
            "username",
        ),
    ] {
        let (s, v) = g.call("POST", "/api/admin/users", Some(body.clone())).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert_eq!(v["error"]["field"], field, "{body}: {v}");
    }
    let (_, list) = g.call("GET", "/api/admin/users", None).await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["admin", "alice"],
        "a refused create left a user behind"
    );

    // Edit: partial; an admin cannot lock themselves out.
    let (s, v) = g
        .call(
            "PATCH",
            &format!("/api/admin/users/{alice}"),
            Some(json!({"email": null})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["email"], Value::Null);
    assert_eq!(v["username"], "alice");
    let (_, me) = g.call("GET", "/api/account", None).await;
    let me = me["id"].as_str().unwrap().to_owned();
    let (s, v) = g
        .call(
            "PATCH",
            &format!("/api/admin/users/{me}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, _) = g
        .call("DELETE", &format!("/api/admin/users/{me}"), None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = g
        .call(
            "PATCH",
            "/api/admin/users/nope",
            Some(json!({"is_admin": true})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // A user who owned a server is deleted: the server stays, owned by nobody.
    let v = g
        .create(json!({"name": "alices", "template": "demo", "port": free_port(), "owner": alice}))
        .await;
    let server = v["id"].as_str().unwrap().to_owned();
    let (s, _) = g
        .call("DELETE", &format!("/api/admin/users/{alice}"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, v) = g.call("GET", &format!("/api/servers/{server}"), None).await;
    assert_eq!(v["owner"], Value::Null, "{v}");
    assert!(g.login("alice", "a long password").await.is_err());
}

#[tokio::test]
async fn sessions_are_listed_revoked_and_end_on_password_change_or_disable() {
    let g = Garrison::start().await;
    let bob = make_user(&g, "bob").await;
    let c1 = g.login("bob", "a long password").await.unwrap();
    let c2 = g.login("bob", "a long password").await.unwrap();
    let r = g
        .http
        .get(g.url("/api/account/sessions"))
        .session(&c1)
        .send()
        .await
        .unwrap();
    let sessions: Value = r.json().await.unwrap();
    assert_eq!(sessions.as_array().unwrap().len(), 2, "{sessions}");
    let current: Vec<&Value> = sessions
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["current"] == true)
        .collect();
    assert_eq!(current.len(), 1);
    let other = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap();
    let r = g
        .http
        .delete(g.url(&format!(
            "/api/account/sessions/{}",
            other["id"].as_str().unwrap()
        )))
        .session(&c1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        get_with_cookie(&g, &c2, "/api/account").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_with_cookie(&g, &c1, "/api/account").await,
        StatusCode::OK
    );

    // A password change ends every other session, not this one.
    let c3 = g.login("bob", "a long password").await.unwrap();
    let r = g
        .http
        .post(g.url("/api/account/password"))
        .session(&c1)
        .json(&json!({"current_password": "a long password", "new_password": "another long one"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        get_with_cookie(&g, &c3, "/api/account").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_with_cookie(&g, &c1, "/api/account").await,
        StatusCode::OK
    );

    // Disabling: sessions, keys and open consoles end; login is refused.
    let r = g
        .http
        .post(g.url("/api/account/api-keys"))
        .session(&c1)
        .json(&json!({"name": "bobs"}))
        .send()
        .await
        .unwrap();
    let key = r.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let v = g
        .create(json!({"name": "bobs", "template": "demo", "port": free_port(), "owner": bob}))
        .await;
    let server = v["id"].as_str().unwrap().to_owned();
    let mut ws = ws_with_key(&g, &server, &key).await;
    ws.until(Duration::from_secs(10), |f| f["event"] == "console.history")
        .await;
    let (s, v) = g
        .call(
            "PATCH",
            &format!("/api/admin/users/{bob}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        get_with_cookie(&g, &c1, "/api/account").await,
        StatusCode::UNAUTHORIZED
    );
    let r = g
        .http
        .get(g.url("/api/servers"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (st, _) = g.login("bob", "another long one").await.unwrap_err();
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // The console says why and closes within the recheck period.
    let closed = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match ws.next_json(Duration::from_secs(15)).await {
                Some(f) if f["event"] == "error" => break Some(f),
                Some(_) => continue,
                None => break None,
            }
        }
    })
    .await
    .expect("the console of a disabled user stayed open");
    if let Some(f) = closed {
        assert_eq!(f["data"]["code"], "unauthorized", "{f}");
    }

    // Enabled again: the password still works, the old sessions stay ended.
    let (s, _) = g
        .call(
            "PATCH",
            &format!("/api/admin/users/{bob}"),
            Some(json!({"disabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        get_with_cookie(&g, &c1, "/api/account").await,
        StatusCode::UNAUTHORIZED
    );
    g.login("bob", "another long one").await.unwrap();
}

#[tokio::test]
async fn the_user_cli_works_while_the_panel_runs() {
    let g = Garrison::start().await;
    let cli = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = std::process::Command::new(garrison_bin());
        for (k, _) in std::env::vars() {
            if k.starts_with("GARRISON_") {
                cmd.env_remove(k);
            }
        }
        cmd.arg("user")
            .args(args)
            .arg("--data-dir")
            .arg(g.data_dir());
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        {
            use std::io::Write;
            let mut input = child.stdin.take().unwrap();
            if let Some(s) = stdin {
                input.write_all(s.as_bytes()).unwrap();
            }
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (ok, out, err) = cli(
        &[
            "create",
            "--username",
            "carol",
            "--email",
            "carol@example.com",
        ],
        None,
    );
    assert!(ok, "{out}{err}");
    let pw = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .unwrap()
        .to_owned();
    let cookie = g.login("carol", &pw).await.unwrap();
    assert_eq!(
        get_with_cookie(&g, &cookie, "/api/account").await,
        StatusCode::OK
    );

    let (ok, out, err) = cli(
        &["reset-password", "--username", "carol", "--password-stdin"],
        Some("carols new password\n"),
    );
    assert!(ok, "{out}{err}");
    assert_eq!(
        get_with_cookie(&g, &cookie, "/api/account").await,
        StatusCode::UNAUTHORIZED
    );
    assert!(g.login("carol", &pw).await.is_err());
    let cookie = g.login("carol", "carols new password").await.unwrap();

    let (ok, out, err) = cli(&["disable", "--username", "carol"], None);
    assert!(ok, "{out}{err}");
    assert_eq!(
        get_with_cookie(&g, &cookie, "/api/account").await,
        StatusCode::UNAUTHORIZED
    );
    assert!(g.login("carol", "carols new password").await.is_err());
    let (ok, out, _) = cli(&["list"], None);
    assert!(ok);
    assert!(
        out.lines()
            .any(|l| l.contains("carol") && l.contains("disabled")),
        "{out}"
    );

    // Bad input: a clear message and a failing exit code.
    let (ok, _, err) = cli(&["create", "--username", "bad name"], None);
    assert!(!ok);
    assert!(err.contains("username"), "{err}");
    let (ok, _, err) = cli(
        &["create", "--username", "dave", "--password-stdin"],
        Some("short\n"),
    );
    assert!(!ok);
    assert!(err.contains("at least"), "{err}");
    let (ok, _, err) = cli(&["disable", "--username", "nobody"], None);
    assert!(!ok);
    assert!(err.contains("no user"), "{err}");
    let (ok, _, err) = cli(&["create", "--username", "carol"], None);
    assert!(!ok, "duplicate user accepted: {err}");
}

async fn ws_with_key(g: &Garrison, server: &str, key: &str) -> Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!(
        "{}/api/servers/{server}/ws",
        g.base.replace("http://", "ws://")
    );
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    let (stream, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("ws connect");
    Ws { stream }
}

#[tokio::test]
async fn self_registration_only_when_an_admin_opens_it() {
    let g = Garrison::start().await;
    let register = |body: Value| {
        let g = &g;
        async move {
            let r = g
                .http
                .post(g.url("/api/auth/register"))
                .json(&body)
                .send()
                .await
                .unwrap();
            let s = r.status();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (s, v) = register(json!({"username": "eve", "password": "a long password"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(g.login("eve", "a long password").await.is_err());

    let (s, _) = g
        .call(
            "PUT",
            "/api/admin/settings/registration",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    for (body, field) in [
        (
            json!({"username": "e ve", "password": "a long password"}),
            "username",
        ),
        (json!({"username": "eve", "password": "short"}), "password"),
        (
            json!({"username": "eve", "password": "a long password", "email": "nope"}),
            "email",
        ),
        (
            json!({"username": "admin", "password": "a long password"}),
            "username",
        ),
    ] {
        let (s, v) = register(body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert_eq!(v["error"]["field"], field, "{body}: {v}");
    }
    let (s, v) =
        register(json!({"username": "eve", "password": "a long password", "is_admin": true})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "is_admin accepted: {v}");
    let (s, v) = register(
        json!({"username": "eve", "password": "a long password", "email": "eve@example.com"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["is_admin"], false);
    let cookie = g.login("eve", "a long password").await.unwrap();
    // A new user sees no servers and may not change panel settings.
    let r = g
        .http
        .get(g.url("/api/servers"))
        .session(&cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!([]));
    let r = g
        .http
        .put(g.url("/api/admin/settings/registration"))
        .session(&cookie)
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Anonymous bodies are small.
    let big = json!({"username": "x".repeat(10_000), "password": "a long password"});
    let (s, _) = register(big.clone()).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let r = g
        .http
        .post(g.url("/api/auth/login"))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let (s, _) = g
        .call(
            "PUT",
            "/api/admin/settings/registration",
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = register(json!({"username": "mallory", "password": "a long password"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn required_two_factor_confines_sessions_without_it_to_enrolment() {
    let g = Garrison::start().await;
    make_user(&g, "bob").await;
    let cookie = g.login("bob", "a long password").await.unwrap();
    let bob_key = {
        let r = g
            .http
            .post(g.url("/api/account/api-keys"))
            .session(&cookie)
            .json(&json!({"name": "bot"}))
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()["key"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (s, _) = g
        .call(
            "PUT",
            "/api/admin/settings/require-two-factor",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    let r = g
        .http
        .get(g.url("/api/servers"))
        .session(&cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("two-factor"),
        "{v}"
    );
    // What enrolment needs still works.
    assert_eq!(
        get_with_cookie(&g, &cookie, "/api/account").await,
        StatusCode::OK
    );
    assert_eq!(
        get_with_cookie(&g, &cookie, "/api/account/2fa").await,
        StatusCode::OK
    );
    let r = g
        .http
        .post(g.url("/api/account/2fa/setup"))
        .session(&cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Keys are for programs; the requirement is about people signing in.
    let r = g
        .http
        .get(g.url("/api/servers"))
        .bearer_auth(&bob_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let (s, _) = g
        .call(
            "PUT",
            "/api/admin/settings/require-two-factor",
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        get_with_cookie(&g, &cookie, "/api/servers").await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn ssh_keys_are_checked_fingerprinted_and_session_only() {
    let g = Garrison::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id");
    let ok = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "me@test", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(ok.success());
    let public = std::fs::read_to_string(dir.path().join("id.pub")).unwrap();
    let out = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(dir.path().join("id.pub"))
        .output()
        .unwrap();
    let fingerprint = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();

    make_user(&g, "kim").await;
    let cookie = g.login("kim", "a long password").await.unwrap();
    let add = |body: Value| {
        let (g, cookie) = (&g, cookie.clone());
        async move {
            let r = g
                .http
                .post(g.url("/api/account/ssh-keys"))
                .session(&cookie)
                .json(&body)
                .send()
                .await
                .unwrap();
            let s = r.status();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (s, v) = add(json!({"name": "laptop", "public_key": public})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        v["fingerprint"],
        fingerprint.as_str(),
        "ssh-keygen says {fingerprint}"
    );
    assert_eq!(v["key_type"], "ssh-ed25519");
    let id = v["id"].as_str().unwrap().to_owned();

    for (body, field) in [
        (json!({"name": "again", "public_key": public}), "public_key"),
        (
            json!({"name": "bad", "public_key": "ssh-ed25519 not-base64!"}),
            "public_key",
        ),
        (
            json!({"name": "private", "public_key": "-----BEGIN OPENSSH PRIVATE KEY-----"}),
            "public_key",
        ),
        (json!({"name": "", "public_key": public}), "name"),
    ] {
        let (s, v) = add(body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert_eq!(v["error"]["field"], field, "{body}: {v}");
    }
    // Readable with an API key, but not changeable with one.
    let r = g
        .http
        .post(g.url("/api/account/api-keys"))
        .session(&cookie)
        .json(&json!({"name": "k"}))
        .send()
        .await
        .unwrap();
    let api_key = r.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = g
        .http
        .get(g.url("/api/account/ssh-keys"))
        .bearer_auth(&api_key)
        .send()
        .await
        .unwrap();
    let listed: Value = r.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0].get("public_key").is_none());
    let r = g
        .http
        .delete(g.url(&format!("/api/account/ssh-keys/{id}")))
        .bearer_auth(&api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Another user cannot see or remove it.
    let (_, others) = g.call("GET", "/api/account/ssh-keys", None).await;
    assert_eq!(others, json!([]));
    let r = g
        .http
        .delete(g.url(&format!("/api/account/ssh-keys/{id}")))
        .session(&cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = g
        .http
        .delete(g.url(&format!("/api/account/ssh-keys/{id}")))
        .session(&cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
