//! The permission matrix: every API route (from the panel's route list) × every kind of
//! caller gets exactly the expected kind of answer, against a real `garrison serve`.

mod common;

use common::*;
use garrison_panel::api::routes::{Needs, ROUTES};
use garrison_proto::{Permission, Scope};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Caller {
    Anonymous,
    Stranger,
    SubuserWithout,
    SubuserWith,
    Owner,
    Admin,
    NarrowKey,
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Unauthenticated,
    Forbidden,
    Hidden,
    Allowed,
}

fn outcome(s: StatusCode) -> Outcome {
    match s {
        StatusCode::UNAUTHORIZED => Outcome::Unauthenticated,
        StatusCode::FORBIDDEN => Outcome::Forbidden,
        StatusCode::NOT_FOUND => Outcome::Hidden,
        _ => Outcome::Allowed,
    }
}

/// What the caller should get for a route that needs `needs` (power = control.start).
fn expected(
    caller: Caller,
    needs: Needs,
    with: &[Permission],
    key_scope: &[Permission],
) -> Outcome {
    let perm = match needs {
        Needs::Public => return Outcome::Allowed,
        // Every caller here but the anonymous one uses an API key.
        Needs::Session(_) => {
            return if caller == Caller::Anonymous {
                Outcome::Unauthenticated
            } else {
                Outcome::Forbidden
            };
        }
        Needs::SignedIn => {
            return if caller == Caller::Anonymous {
                Outcome::Unauthenticated
            } else {
                Outcome::Allowed
            };
        }
        Needs::Permission(p) => p,
        Needs::PowerAction => Permission::ControlStart,
    };
    match caller {
        Caller::Anonymous => Outcome::Unauthenticated,
        Caller::Admin => Outcome::Allowed,
        Caller::NarrowKey if !key_scope.contains(&perm) => Outcome::Forbidden,
        _ => match perm.scope() {
            Scope::Account => Outcome::Allowed,
            Scope::Admin => Outcome::Forbidden,
            Scope::Server => match caller {
                Caller::Owner | Caller::NarrowKey => Outcome::Allowed,
                Caller::Stranger => Outcome::Hidden,
                Caller::SubuserWith if with.contains(&perm) || perm == Permission::ServerRead => {
                    Outcome::Allowed
                }
                Caller::SubuserWithout if perm == Permission::ServerRead => Outcome::Allowed,
                _ => Outcome::Forbidden,
            },
        },
    }
}

/// A request for each route that is harmless when allowed (so the matrix can run every
/// caller through it): bodies that fail validation after the permission check, ids
/// that do not exist below the server, and so on.
fn sample(method: &str, path: &str) -> Option<Value> {
    let body = match (method, path) {
        ("POST", "/auth/login") => {
            json!({"username": "nobody-at-all", "password": "wrong password"})
        }
        ("POST", "/auth/login/2fa") => json!({"challenge": "none", "code": "000000"}),
        ("POST", "/auth/register") => json!({"username": "bad name!", "password": "long enough"}),
        ("PUT", "/admin/settings/registration") => json!({"enabled": true}),
        ("POST", "/account/password") => json!({"current_password": "x", "new_password": "short"}),
        ("POST", "/account/api-keys") => json!({"name": ""}),
        ("POST", "/account/ssh-keys") => json!({"name": "k", "public_key": "not a key"}),
        ("POST", "/account/2fa/enable") => json!({"code": "x"}),
        ("POST", "/account/2fa/disable") => json!({"password": "x", "code": "x"}),
        ("PUT", "/admin/settings/require-two-factor") => json!({"enabled": false}),
        ("POST", "/admin/users") => json!({"username": "bad name!", "password": "long enough"}),
        ("POST", "/servers") => json!({"name": "", "template": "demo"}),
        ("PATCH", "/servers/{id}") => json!({"auto_start": false}),
        ("POST", "/servers/{id}/power") => json!({"action": "start"}),
        ("POST", "/servers/{id}/command") => json!({"command": "players"}),
        ("POST", "/servers/{id}/users") => json!({"username": "no-such-user", "permissions": []}),
        ("PATCH", "/servers/{id}/users/{user_id}") => json!({"permissions": []}),
        ("PATCH", "/admin/users/{user_id}") => json!({"email": "a@example.com"}),
        ("POST", "/templates") | ("PUT", "/templates/{tid}") => json!({
            "id": "Bad Id", "name": "x", "game": "x", "ports": [],
            "startup": {"command": ["x"], "stop": {"type": "signal", "signal": "SIGTERM"}, "stop_timeout_secs": 5}
        }),
        ("POST", "/templates/import") => json!({"content": "not a template"}),
        ("POST", "/template-repos") => json!({"location": "relative/path"}),
        ("PATCH", "/servers/{id}/startup") => json!({"variables": {"ready_delay_ms": "x"}}),
        ("POST", "/servers/{id}/reinstall" | "/servers/{id}/install/cancel")
        | ("POST", "/template-repos/{rid}/sync") => Value::Null,
        // File routes: bodies the node refuses after the permission check (bad paths,
        // empty lists), and no `?path=` where one is needed (400).
        ("PUT", "/servers/{id}/files/content")
        | ("PATCH", "/servers/{id}/files/uploads/{upload}") => Value::Null,
        ("POST", "/servers/{id}/files/uploads") => json!({"path": "../x", "size": 1}),
        ("POST", "/servers/{id}/files/folder") => json!({"path": "../x"}),
        ("POST", "/servers/{id}/files/rename" | "/servers/{id}/files/copy") => {
            json!({"from": "../x", "to": "y"})
        }
        ("POST", "/servers/{id}/files/chmod") => json!({"path": "x", "mode": 4095}),
        ("POST", "/servers/{id}/files/delete") => json!({"paths": []}),
        ("POST", "/servers/{id}/files/compress") => json!({"paths": [], "destination": "a.tar.gz"}),
        ("POST", "/servers/{id}/files/decompress") => {
            json!({"path": "../a.zip", "destination": ""})
        }
        ("POST", "/servers/{id}/files/pull") => json!({"url": "ftp://x", "destination": "x"}),
        // Backups: a name too long (422 after the check); the rest name no backup (404).
        ("POST", "/servers/{id}/backups") => json!({"name": "x".repeat(200)}),
        ("POST", p) if p.starts_with("/servers/{id}/backups/{backup}/") => Value::Null,
        // Schedules: a nameless one (422 after the check); the rest name no schedule (404).
        ("POST", "/servers/{id}/schedules" | "/admin/schedules") => json!({"name": ""}),
        ("PATCH", "/servers/{id}/schedules/{schedule}" | "/admin/schedules/{schedule}") => {
            json!({"name": "x"})
        }
        ("POST", "/servers/{id}/schedules/{schedule}/run" | "/admin/schedules/{schedule}/run") => {
            Value::Null
        }
        (_, "/servers/{id}/ws") => return None,
        (_, "/events") => return None, // an endless stream: tests/events.rs
        // Alerts: bodies refused after the check (422), or ids that do not exist (404).
        ("POST", "/alerts/resolve") => json!({"ids": []}),
        ("POST", "/alerts/rules") | ("PUT", "/alerts/rules/{rule}") => {
            json!({"name": "", "kind": "cpu"})
        }
        ("POST", "/admin/channels") | ("PUT", "/admin/channels/{channel}") => {
            json!({"name": "", "channel": {"kind": "slack", "url": "x"}, "events": []})
        }
        ("POST", "/admin/maintenance") | ("PUT", "/admin/maintenance/{window}") => {
            json!({"name": "", "cron": "x", "duration_secs": 1})
        }
        ("POST", "/alerts/{alert}/resolve" | "/admin/channels/{channel}/test") => Value::Null,
        ("POST", "/luanti/{id}/{token}/announce") => Value::Null, // WebSocket: tested on its own below
        // Read-only; no query: the first page of the log, the counts, the health report.
        ("GET", "/servers/{id}/activity" | "/admin/audit" | "/admin/stats" | "/admin/health") => {
            Value::Null
        }
        ("GET" | "DELETE", _)
        | ("POST", "/auth/logout" | "/account/2fa/setup" | "/servers/{id}/ws-ticket") => {
            Value::Null
        }
        _ => panic!("no sample request for {method} {path}: add one to this test"),
    };
    Some(body)
}

struct Setup {
    g: Garrison,
    server: String,
    keys: Vec<(Caller, Option<String>)>,
    with: Vec<Permission>,
    key_scope: Vec<Permission>,
}

async fn user_key(g: &Garrison, username: &str, body: Value) -> String {
    let cookie = g.login(username, "a long password").await.unwrap();
    let r = g
        .http
        .post(g.url("/api/account/api-keys"))
        .session(&cookie)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn setup() -> Setup {
    // The matrix sends more anonymous requests than the default per-network limit allows.
    let g =
        Garrison::start_with_env(&[("GARRISON_RATE_LIMIT_ANONYMOUS_PER_MINUTE", "100000")]).await;
    // Open registration, so its route answers for what it checks, not 403 for closed.
    let (s, v) = g
        .call(
            "PUT",
            "/api/admin/settings/registration",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let mut ids = std::collections::HashMap::new();
    for name in ["owner", "friend", "helper", "stranger"] {
        let (s, v) = g
            .call(
                "POST",
                "/api/admin/users",
                Some(json!({"username": name, "password": "a long password"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        ids.insert(name, v["id"].as_str().unwrap().to_owned());
    }
    let v = g
        .create(json!({"name": "shared", "template": "demo", "port": free_port(), "owner": ids["owner"]}))
        .await;
    let server = v["id"].as_str().unwrap().to_owned();
    assert_eq!(v["owner"], ids["owner"].as_str());
    g.wait_state(&server, "offline", Duration::from_secs(30))
        .await;
    // `friend` may do every server thing but delete subusers; `helper` only sees it.
    let with: Vec<Permission> = Permission::server_permissions()
        .filter(|p| *p != Permission::UserDelete)
        .collect();
    let (s, v) = g
        .call(
            "POST",
            &format!("/api/servers/{server}/users"),
            Some(json!({"username": "friend", "permissions": with})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = g
        .call(
            "POST",
            &format!("/api/servers/{server}/users"),
            Some(json!({"username": "helper", "permissions": []})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let key_scope = vec![Permission::ServerRead, Permission::ControlConsole];
    let keys = vec![
        (Caller::Anonymous, None),
        (
            Caller::Stranger,
            Some(user_key(&g, "stranger", json!({"name": "k"})).await),
        ),
        (
            Caller::SubuserWithout,
            Some(user_key(&g, "helper", json!({"name": "k"})).await),
        ),
        (
            Caller::SubuserWith,
            Some(user_key(&g, "friend", json!({"name": "k"})).await),
        ),
        (
            Caller::Owner,
            Some(user_key(&g, "owner", json!({"name": "k"})).await),
        ),
        (Caller::Admin, Some(g.key.clone())),
        (
            Caller::NarrowKey,
            Some(
                user_key(
                    &g,
                    "owner",
                    json!({"name": "narrow", "permissions": key_scope}),
                )
                .await,
            ),
        ),
    ];
    Setup {
        g,
        server,
        keys,
        with,
        key_scope,
    }
}

#[tokio::test]
async fn every_route_and_caller() {
    let s = setup().await;
    let mut failures = Vec::new();
    for route in ROUTES {
        // Deleting the server would end the matrix; checked on its own below.
        if route.path == "/servers/{id}" && route.method == "DELETE" {
            continue;
        }
        let Some(body) = sample(route.method, route.path) else {
            continue;
        };
        let path = format!(
            "/api{}",
            route
                .path
                .replace("{id}", &s.server)
                .replace("{user_id}", "no-such-user")
                .replace("{tid}", "no-such-template")
                .replace("{rid}", "no-such-repo")
                .replace("{upload}", "no-such-upload")
                .replace("{backup}", "no-such-backup")
                .replace("{schedule}", "no-such-schedule")
                .replace("{node}", "local")
                .replace("{alert}", "no-such-alert")
                .replace("{rule}", "no-such-rule")
                .replace("{channel}", "no-such-channel")
                .replace("{window}", "no-such-window")
                .replace("{token}", "no-such-token")
        );
        for (caller, key) in &s.keys {
            let method = reqwest::Method::from_bytes(route.method.as_bytes()).unwrap();
            let mut req = s.g.http.request(method, s.g.url(&path));
            if let Some(k) = key {
                req = req.bearer_auth(k);
            }
            if !body.is_null() {
                req = req.json(&body);
            }
            let status = req.send().await.unwrap().status();
            let want = expected(*caller, route.needs, &s.with, &s.key_scope);
            let got = outcome(status);
            // A 404 for a sub-resource that does not exist is still allowed; a public
            // route may refuse bad credentials (401) but never needs a permission.
            let missing_below = route.path.contains("{user_id}")
                || route.path.contains("{tid}")
                || route.path.contains("{rid}")
                || route.path.contains("{upload}")
                || route.path.contains("{backup}")
                || route.path.contains("{schedule}")
                || route.path.contains("{alert}")
                || route.path.contains("{rule}")
                || route.path.contains("{channel}")
                || route.path.contains("{window}")
                || route.path.starts_with("/account/api-keys/")
                || route.path.starts_with("/account/sessions/")
                || route.path.starts_with("/account/ssh-keys/");
            let ok = got == want
                || (want == Outcome::Allowed && got == Outcome::Hidden && missing_below)
                || (route.needs == Needs::Public && got != Outcome::Forbidden);
            if !ok {
                failures.push(format!(
                    "{caller:?} {} {}: got {status}, want {want:?}",
                    route.method, route.path
                ));
            }
        }
        // Let a started demo server settle so later requests see stable states.
        if route.path.ends_with("/power") {
            let _ = s.g.power(&s.server, "kill").await;
        }
    }
    assert!(
        failures.is_empty(),
        "permission matrix mismatches:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn delete_rights_keys_and_websocket_messages() {
    let s = setup().await;
    let key = |c: Caller| {
        s.keys
            .iter()
            .find(|(k, _)| *k == c)
            .unwrap()
            .1
            .clone()
            .unwrap()
    };
    let call = |k: String, method: &'static str, path: String, body: Option<Value>| {
        let g = &s.g;
        async move {
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let mut req = g.http.request(m, g.url(&path)).bearer_auth(k);
            if let Some(b) = body {
                req = req.json(&b);
            }
            let r = req.send().await.unwrap();
            let st = r.status();
            (st, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let server = s.server.clone();

    // The list shows each caller only what they have a role on.
    for (caller, n) in [
        (Caller::Stranger, 0),
        (Caller::SubuserWithout, 1),
        (Caller::Owner, 1),
        (Caller::Admin, 1),
    ] {
        let (_, v) = call(key(caller), "GET", "/api/servers".into(), None).await;
        assert_eq!(v.as_array().unwrap().len(), n, "{caller:?}: {v}");
    }

    // Nobody gives away what they lack; scopes are validated.
    let (st, v) = call(
        key(Caller::SubuserWith),
        "PATCH",
        format!("/api/servers/{server}/users/{}", "x"),
        Some(json!({"permissions": ["user.delete"]})),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    let (st, v) = call(
        key(Caller::Owner),
        "POST",
        format!("/api/servers/{server}/users"),
        Some(json!({"username": "stranger", "permissions": ["admin.users"]})),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (st, v) = call(
        key(Caller::Owner),
        "POST",
        format!("/api/servers/{server}/users"),
        Some(json!({"username": "stranger", "permissions": ["control.fly"]})),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // A narrow key cannot mint a wider one.
    let (st, v) = call(
        key(Caller::NarrowKey),
        "POST",
        "/api/account/api-keys".into(),
        Some(json!({"name": "wider", "permissions": ["control.kill"]})),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    // Key limits: bad ranges and past expiry are refused; an address outside the
    // allowed ranges and an expired key cannot authenticate.
    let (st, v) = call(
        key(Caller::Owner),
        "POST",
        "/api/account/api-keys".into(),
        Some(json!({"name": "k", "allowed_ips": ["300.1.1.1"]})),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["field"], "allowed_ips");
    let (st, _) = call(
        key(Caller::Owner),
        "POST",
        "/api/account/api-keys".into(),
        Some(json!({"name": "k", "expires_at": 1})),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (st, v) = call(
        key(Caller::Owner),
        "POST",
        "/api/account/api-keys".into(),
        Some(json!({"name": "elsewhere", "allowed_ips": ["10.0.0.0/8"]})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, _) = call(
        v["key"].as_str().unwrap().to_owned(),
        "GET",
        "/api/servers".into(),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, v) = call(
        key(Caller::Owner),
        "POST",
        "/api/account/api-keys".into(),
        Some(json!({"name": "here", "allowed_ips": ["127.0.0.0/8", "::1"]})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, _) = call(
        v["key"].as_str().unwrap().to_owned(),
        "GET",
        "/api/servers".into(),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);

    // A right taken away applies at once, to keys too.
    let (st, v) = call(
        key(Caller::Owner),
        "PATCH",
        format!(
            "/api/servers/{server}/users/{}",
            user_id(&s, "friend").await
        ),
        Some(json!({"permissions": ["control.start"]})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, _) = call(
        key(Caller::SubuserWith),
        "POST",
        format!("/api/servers/{server}/command"),
        Some(json!({"command": "players"})),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // The server tells each caller what they may do, for the UI to hide the rest.
    let (_, v) = call(
        key(Caller::SubuserWith),
        "GET",
        format!("/api/servers/{server}"),
        None,
    )
    .await;
    assert_eq!(
        v["permissions"],
        json!(["server.read", "control.start"]),
        "{v}"
    );
    let (_, v) = call(
        key(Caller::NarrowKey),
        "GET",
        format!("/api/servers/{server}"),
        None,
    )
    .await;
    assert_eq!(
        v["permissions"],
        json!(["server.read", "control.console"]),
        "{v}"
    );
    let (_, v) = call(
        key(Caller::Owner),
        "GET",
        format!("/api/servers/{server}"),
        None,
    )
    .await;
    assert!(v["permissions"].as_array().unwrap().len() > 20, "{v}");

    // WebSocket messages go through the same check: friend may start, not stop.
    let mut ws = ws_as(&s.g, &server, &key(Caller::SubuserWith)).await;
    ws.until(Duration::from_secs(10), |f| f["event"] == "console.history")
        .await;
    ws.send(json!({"type": "power", "action": "start"})).await;
    ws.until(Duration::from_secs(30), |f| {
        f["event"] == "server.status" && f["data"]["state"] == "running"
    })
    .await;
    ws.send(json!({"type": "power", "action": "stop"})).await;
    let err = ws
        .until(Duration::from_secs(10), |f| f["event"] == "error")
        .await;
    assert_eq!(err["data"]["code"], "forbidden", "{err}");
    ws.send(json!({"type": "command", "command": "players"}))
        .await;
    let err = ws
        .until(Duration::from_secs(10), |f| f["event"] == "error")
        .await;
    assert_eq!(err["data"]["code"], "forbidden", "{err}");
    // A stranger cannot even connect.
    let url = format!(
        "{}/api/servers/{server}/ws",
        s.g.base.replace("http://", "ws://")
    );
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", key(Caller::Stranger)).parse().unwrap(),
    );
    let err = tokio_tungstenite::connect_async(req).await.unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    s.g.power(&server, "kill").await;
    s.g.wait_state(&server, "offline", Duration::from_secs(30))
        .await;

    // Deleting a server is for admins only, owners included.
    for c in [Caller::Owner, Caller::SubuserWith, Caller::NarrowKey] {
        let (st, _) = call(key(c), "DELETE", format!("/api/servers/{server}"), None).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{c:?}");
    }
    let (st, _) = call(
        key(Caller::Stranger),
        "DELETE",
        format!("/api/servers/{server}"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = call(
        key(Caller::Admin),
        "DELETE",
        format!("/api/servers/{server}"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, v) = call(key(Caller::SubuserWith), "GET", "/api/servers".into(), None).await;
    assert_eq!(v, json!([]));
}

async fn user_id(s: &Setup, name: &str) -> String {
    let (_, v) = s.g.call("GET", "/api/admin/users", None).await;
    v.as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == name)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn ws_as(g: &Garrison, server: &str, key: &str) -> Ws {
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
