//! The audit log through HTTP: actions leave entries with actor, IP, how they signed in
//! and the server; `/api/servers/{id}/activity` and `/api/admin/audit` filter and page
//! them; the admin stats and health answer their shapes.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;

const PASSWORD: &str = "a long password";

fn check_via(e: &Value, want: Option<&str>) {
    let ok = match want {
        Some(w) => e["via"] == w,
        None => e["via"].is_null(),
    };
    assert!(ok, "via should be {want:?}: {e}");
}

async fn get_as(g: &Garrison, cookie: Option<&str>, path: &str) -> (StatusCode, Value) {
    match cookie {
        Some(_) => {
            let a = g.send_with_cookie("GET", path, cookie, None).await;
            (a.status, a.body)
        }
        None => g.call("GET", path, None).await,
    }
}

/// Every entry of a log (admin's key), walking the pages `limit` at a time.
async fn walk(g: &Garrison, base: &str, limit: u32) -> Vec<Value> {
    let sep = if base.contains('?') { '&' } else { '?' };
    let mut out = Vec::new();
    let mut before: Option<i64> = None;
    for _ in 0..1000 {
        let mut path = format!("{base}{sep}limit={limit}");
        if let Some(b) = before {
            path.push_str(&format!("&before={b}"));
        }
        let (s, v) = g.call("GET", &path, None).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
        let entries = v["entries"].as_array().unwrap();
        assert!(entries.len() <= limit as usize);
        out.extend(entries.iter().cloned());
        match v["next"].as_i64() {
            Some(n) => {
                assert_eq!(entries.len(), limit as usize, "a full page before `next`");
                before = Some(n);
            }
            None => {
                assert!(v["next"].is_null());
                return out;
            }
        }
    }
    panic!("pagination of {base} does not end");
}

fn find<'a>(entries: &'a [Value], action: &str) -> &'a Value {
    entries
        .iter()
        .find(|e| e["action"] == action)
        .unwrap_or_else(|| panic!("no {action} entry in {entries:#?}"))
}

async fn new_user(g: &Garrison, name: &str) -> String {
    let (s, v) = g
        .call(
            "POST",
            "/api/admin/users",
            Some(json!({"username": name, "password": PASSWORD})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn actions_are_recorded_with_actor_ip_via_and_server() {
    let g = Garrison::start().await;
    let (_, me) = g.call("GET", "/api/account", None).await;
    let admin_id = me["id"].as_str().unwrap().to_owned();
    let (_, keys) = g.call("GET", "/api/account/api-keys", None).await;
    let key_id = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "tests")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key_via = format!("key:{key_id}");

    let a = g.create_demo("audited", json!({})).await;
    let b = g.create_demo("other", json!({})).await;
    let (s, v) = g.power(&a, "start").await;
    assert!(s.is_success(), "{v}");
    g.wait_state(&a, "running", Duration::from_secs(30)).await;
    let (s, v) = g.command(&a, "players").await;
    assert!(s.is_success(), "{v}");
    let (s, v) = g.power(&a, "stop").await;
    assert!(s.is_success(), "{v}");
    g.wait_state(&a, "offline", Duration::from_secs(30)).await;

    // A session makes and deletes a key; a login fails.
    let cookie = g.login("admin", ADMIN_PASSWORD).await.unwrap();
    let made = g
        .json_with_cookie(
            "POST",
            "/api/account/api-keys",
            Some(&cookie),
            json!({"name": "short-lived"}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let made_id = made.body["id"].as_str().unwrap().to_owned();
    let gone = g
        .send_with_cookie(
            "DELETE",
            &format!("/api/account/api-keys/{made_id}"),
            Some(&cookie),
            None,
        )
        .await;
    assert!(gone.status.is_success(), "{}", gone.body);
    let (s, _) = g.login("admin", "not the password").await.unwrap_err();
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let all = walk(&g, "/api/admin/audit", 200).await;
    let ats: Vec<i64> = all.iter().map(|e| e["at"].as_i64().unwrap()).collect();
    assert!(
        ats.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {ats:?}"
    );
    for e in &all {
        for field in [
            "id", "at", "user_id", "username", "via", "ip", "server", "action", "target", "detail",
        ] {
            assert!(e.get(field).is_some(), "{field} missing from {e}");
        }
    }
    let by_admin = |e: &Value| {
        assert_eq!(e["user_id"], admin_id.as_str(), "{e}");
        assert_eq!(e["username"], "admin", "{e}");
        assert_eq!(e["ip"], "127.0.0.1", "{e}");
    };
    for action in [
        "server.create",
        "server.power.start",
        "server.command",
        "server.power.stop",
    ] {
        let e = find(&all, action);
        by_admin(e);
        check_via(e, Some(&key_via));
    }
    let created: Vec<&Value> = all
        .iter()
        .filter(|e| e["action"] == "server.create")
        .collect();
    assert_eq!(created.len(), 2);
    assert_eq!(created[0]["server"], b.as_str(), "newest first");
    assert_eq!(created[1]["server"], a.as_str());
    assert_eq!(find(&all, "server.command")["server"], a.as_str());
    assert_eq!(find(&all, "server.power.stop")["server"], a.as_str());

    let key_made = all
        .iter()
        .find(|e| e["action"] == "api_key.create" && e.to_string().contains(&made_id))
        .unwrap_or_else(|| panic!("no api_key.create for {made_id}: {all:#?}"));
    by_admin(key_made);
    check_via(key_made, Some("session"));
    assert!(key_made["server"].is_null());
    let key_gone = find(&all, "api_key.delete");
    by_admin(key_gone);
    check_via(key_gone, Some("session"));
    assert!(key_gone.to_string().contains(&made_id), "{key_gone}");

    let login = find(&all, "auth.login");
    by_admin(login);
    check_via(login, Some("session"));
    let failed = find(&all, "auth.login_failed");
    assert!(failed["user_id"].is_null(), "{failed}");
    assert!(failed["username"].is_null(), "{failed}");
    assert_eq!(failed["ip"], "127.0.0.1");
    check_via(failed, None);
    assert_eq!(failed["detail"]["username"], "admin");

    // Filters: action prefix, server, user, time.
    let power = walk(&g, "/api/admin/audit?action=server.power", 200).await;
    let names: Vec<&str> = power
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["server.power.stop", "server.power.start"]);
    let on_b = walk(&g, &format!("/api/admin/audit?server={b}"), 200).await;
    assert_eq!(on_b.len(), 1, "{on_b:#?}");
    assert_eq!(on_b[0]["action"], "server.create");
    let mine = walk(&g, &format!("/api/admin/audit?user_id={admin_id}"), 200).await;
    assert!(mine.iter().all(|e| e["user_id"] == admin_id.as_str()));
    assert_eq!(
        mine.len(),
        all.iter()
            .filter(|e| e["user_id"] == admin_id.as_str())
            .count()
    );
    let newest = all[0]["at"].as_i64().unwrap();
    let later = walk(&g, &format!("/api/admin/audit?from={}", newest + 1), 200).await;
    assert!(later.is_empty(), "{later:#?}");
    let up_to = walk(&g, &format!("/api/admin/audit?to={}", newest + 1), 200).await;
    assert_eq!(up_to.len(), all.len());

    // The activity of `a` holds only `a`'s entries.
    let activity = walk(&g, &format!("/api/servers/{a}/activity"), 200).await;
    assert!(
        activity.iter().all(|e| e["server"] == a.as_str()),
        "{activity:#?}"
    );
    let names: Vec<&str> = activity
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "server.power.stop",
            "server.command",
            "server.power.start",
            "server.create"
        ]
    );
    let (s, v) = g
        .call("GET", "/api/servers/no-such-server/activity", None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
}

#[tokio::test]
async fn activity_needs_activity_read() {
    let g = Garrison::start().await;
    let owner = new_user(&g, "owner").await;
    for name in ["auditor", "helper", "stranger"] {
        new_user(&g, name).await;
    }
    let a = g.create_demo("shared", json!({"owner": owner})).await;
    for (name, perms) in [("auditor", json!(["activity.read"])), ("helper", json!([]))] {
        let (s, v) = g
            .call(
                "POST",
                &format!("/api/servers/{a}/users"),
                Some(json!({"username": name, "permissions": perms})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let path = format!("/api/servers/{a}/activity");
    for (name, want) in [
        ("owner", StatusCode::OK),
        ("auditor", StatusCode::OK),
        ("helper", StatusCode::FORBIDDEN),
        ("stranger", StatusCode::NOT_FOUND),
    ] {
        let cookie = g.login(name, PASSWORD).await.unwrap();
        let (s, v) = get_as(&g, Some(&cookie), &path).await;
        assert_eq!(s, want, "{name}: {v}");
        if s == StatusCode::OK {
            let names: Vec<&str> = v["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["action"].as_str().unwrap())
                .collect();
            assert_eq!(
                names,
                [
                    "server.subuser.create",
                    "server.subuser.create",
                    "server.create"
                ],
                "{name}"
            );
            assert!(v["next"].is_null());
        }
        // Only admins read the whole log.
        let (s, _) = get_as(&g, Some(&cookie), "/api/admin/audit").await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{name}");
    }
    let anon = g.send_with_cookie("GET", &path, None, None).await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
    let anon = g
        .send_with_cookie("GET", "/api/admin/audit", None, None)
        .await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn pages_walk_every_entry_once_and_bad_filters_are_refused() {
    let g = Garrison::start().await;
    let a = g.create_demo("paged", json!({})).await;
    let b = g.create_demo("elsewhere", json!({})).await;
    for i in 0..24 {
        let id = if i % 3 == 0 { &b } else { &a };
        let (s, v) = g
            .call(
                "PATCH",
                &format!("/api/servers/{id}"),
                Some(json!({"auto_start": i % 2 == 0})),
            )
            .await;
        assert!(s.is_success(), "{v}");
    }
    let everything = walk(&g, "/api/admin/audit", 200).await;
    assert!(everything.len() >= 26, "{}", everything.len());
    for (base, total) in [
        ("/api/admin/audit".to_owned(), everything.len()),
        (format!("/api/servers/{a}/activity"), 17),
        (format!("/api/servers/{b}/activity"), 9),
        (
            format!("/api/admin/audit?server={a}&action=server.update"),
            16,
        ),
    ] {
        for limit in [1, 4, 7, 50] {
            let got = walk(&g, &base, limit).await;
            assert_eq!(got.len(), total, "{base} limit {limit}");
            let ids: HashSet<&str> = got.iter().map(|e| e["id"].as_str().unwrap()).collect();
            assert_eq!(ids.len(), total, "duplicates in {base} limit {limit}");
        }
    }
    let (_, v) = g.call("GET", "/api/admin/audit", None).await;
    // Default page size 50.
    assert_eq!(
        v["entries"].as_array().unwrap().len(),
        everything.len().min(50)
    );
    assert_eq!(v["next"].is_null(), everything.len() <= 50);

    let activity = format!("/api/servers/{a}/activity");
    for (path, field) in [
        ("/api/admin/audit?limit=0", "limit"),
        ("/api/admin/audit?limit=201", "limit"),
        ("/api/admin/audit?limit=lots", "limit"),
        ("/api/admin/audit?before=-3", "before"),
        ("/api/admin/audit?before=", "before"),
        ("/api/admin/audit?from=yesterday", "from"),
        ("/api/admin/audit?to=1.5", "to"),
        ("/api/admin/audit?from=10&to=5", "to"),
        ("/api/admin/audit?action=", "action"),
        ("/api/admin/audit?user_id=", "user_id"),
        ("/api/admin/audit?server=", "server"),
        ("/api/admin/audit?limit=5&limit=6", "limit"),
        (&format!("{activity}?limit=1000"), "limit"),
        (&format!("{activity}?from=-1"), "from"),
    ] {
        let (s, v) = g.call("GET", path, None).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {v}");
        assert_eq!(v["error"]["field"], field, "{path}: {v}");
    }
    for (path, field) in [
        ("/api/admin/audit?sort=asc", "sort"),
        ("/api/admin/audit?limit=5&cursor=9", "cursor"),
        (&format!("{activity}?server={b}"), "server"),
    ] {
        let (s, v) = g.call("GET", path, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {v}");
        assert_eq!(v["error"]["code"], "unknown_field", "{path}: {v}");
        assert_eq!(v["error"]["field"], field, "{path}: {v}");
    }
    // Values that look like SQL are only values.
    let (s, v) = g
        .call(
            "GET",
            "/api/admin/audit?action=x%27%3B%20DROP%20TABLE%20audit_log%3B%20--",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["entries"], json!([]));
    assert_eq!(
        walk(&g, "/api/admin/audit", 200).await.len(),
        everything.len()
    );
}

#[tokio::test]
async fn admin_stats_and_health() {
    let g = Garrison::start().await;
    new_user(&g, "someone").await;
    let a = g.create_demo("one", json!({})).await;
    g.create_demo("two", json!({})).await;
    let (s, v) = g.power(&a, "start").await;
    assert!(s.is_success(), "{v}");
    g.wait_state(&a, "running", Duration::from_secs(30)).await;

    let (s, v) = g.call("GET", "/api/admin/stats", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["users"], 2, "{v}");
    assert_eq!(v["admins"], 1, "{v}");
    assert_eq!(v["servers"], 2, "{v}");
    assert_eq!(v["nodes"], 1, "{v}");
    let by_state = v["servers_by_state"].as_object().unwrap();
    for state in [
        "offline",
        "installing",
        "starting",
        "running",
        "stopping",
        "crashed",
    ] {
        assert!(by_state[state].is_u64(), "{state}: {v}");
    }
    assert_eq!(
        by_state.values().map(|n| n.as_u64().unwrap()).sum::<u64>(),
        2
    );
    assert_eq!(by_state["running"], 1, "{v}");
    assert_eq!(by_state["offline"], 1, "{v}");

    let (s, v) = g.call("GET", "/api/admin/health", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["database"]["backend"], "sqlite", "{v}");
    assert_eq!(v["database"]["ok"], true, "{v}");
    assert!(v["database"]["latency_ms"].as_f64().unwrap() >= 0.0, "{v}");
    assert_eq!(v["nodes"], json!([{"id": "local", "ok": true}]));
    let disk = &v["disk"];
    assert_eq!(disk["ok"], true, "{v}");
    assert!(
        disk["path"]
            .as_str()
            .unwrap()
            .starts_with(&g.data_dir().display().to_string()),
        "{v}"
    );
    let total = disk["total_bytes"].as_u64().unwrap();
    let free = disk["free_bytes"].as_u64().unwrap();
    assert!(total > 0 && free <= total, "{v}");

    // Admin only.
    new_user(&g, "plain").await;
    let cookie = g.login("plain", PASSWORD).await.unwrap();
    for path in ["/api/admin/stats", "/api/admin/health"] {
        let (s, _) = get_as(&g, Some(&cookie), path).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }
    g.power(&a, "kill").await;
}
