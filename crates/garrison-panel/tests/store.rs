//! The store suite, written once and run against both backends.
//!
//! SQLite always runs, in a temp dir. PostgreSQL runs when `GARRISON_TEST_POSTGRES_URL`
//! is set (an account allowed to `CREATE DATABASE`); each test creates its own uniquely
//! named database and drops it afterwards, so tests run in parallel and repeat cleanly.
//! With `CI` set and no URL the PostgreSQL tests fail instead of skipping.

use garrison_panel::store::{
    BackupRecord, BackupState, InstallState, Limits, RestoreStatus, ServerRecord, Store,
    StoreError, now_millis,
};
use garrison_proto::{ExitInfo, RestartPolicy, ServerId, ServerState, StatusEvent};
use serde_json::json;
use std::collections::BTreeMap;

#[macro_use]
mod common;
use common::*;

#[test]
pub fn with_database_rewrites_path_only() {
    assert_eq!(
        with_database("postgres://u:p@h:5432/old", "new"),
        "postgres://u:p@h:5432/new"
    );
    assert_eq!(
        with_database("postgres://u:p@h/old?sslmode=disable", "new"),
        "postgres://u:p@h/new?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "new"), "postgres://h/new");
}

both_backends!(
    migrations_apply_on_reopen,
    concurrent_open,
    users,
    sessions,
    api_keys,
    servers_crud,
    update_server_never_clobbers_state,
    transitions_and_history,
    delete_cascades_history,
    audit_newest_first,
    settings_round_trip,
    data_persists_across_reopen,
    corrupt_rows_are_reported,
    concurrent_writers,
    subusers_and_ownership,
    limited_api_keys,
    users_disable_idle_and_session_list,
    ssh_keys_per_user,
    backups_lifecycle,
);

// ---- fixtures ---------------------------------------------------------------------------

fn server(id: &str, created_at: i64) -> ServerRecord {
    let mut variables = BTreeMap::new();
    variables.insert("MAX_PLAYERS".to_owned(), "16".to_owned());
    variables.insert(
        "MOTD".to_owned(),
        "héllo \"world\"; DROP TABLE x; --".to_owned(),
    );
    ServerRecord {
        id: ServerId::from(id),
        name: format!("server {id}"),
        template: "openttd".into(),
        port: 3979,
        variables,
        auto_start: true,
        restart: RestartPolicy {
            enabled: true,
            max_restarts: 5,
            window_secs: 300,
            backoff_secs: 2,
        },
        state: ServerState::Offline,
        state_changed_at: created_at,
        last_exit: None,
        node: "local".into(),
        owner_id: None,
        created_at,
        updated_at: created_at,
        description: "A \"quoted\" description\non two lines".into(),
        limits: Limits {
            memory_mb: 2048,
            disk_mb: 10_240,
            cpu_percent: 150,
            backups: None,
            backup_mb: Some(2048),
        },
        install: None,
        restore: None,
    }
}

fn status(id: &str, previous: ServerState, state: ServerState, at: i64) -> StatusEvent {
    StatusEvent {
        server: ServerId::from(id),
        state,
        previous,
        at,
        reason: None,
        exit: None,
    }
}

fn crash_exit() -> ExitInfo {
    ExitInfo {
        code: Some(1),
        signal: None,
        last_lines: vec!["loading map".into(), "segfault ☠".into()],
    }
}

// ---- tests ------------------------------------------------------------------------------

async fn migrations_apply_on_reopen(db: &TestDb) {
    let store = db.open().await;
    store.create_user("alice", "h", true).await.unwrap();
    store.close().await;
    // Reopening re-runs the migration check: nothing to apply, no error.
    let store = db.open().await;
    store.close().await;
    let store = db.open().await;
    assert_eq!(store.count_users().await.unwrap(), 1);
    let raw = db.raw().await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations")
        .fetch_one(&raw)
        .await
        .unwrap();
    // One row per migration file, each applied once.
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .count();
    assert_eq!(n, files as i64);
    raw.close().await;
    store.close().await;
    if let Kind::Sqlite { dir } = &db.kind {
        assert!(dir.path().join("data/db/garrison.db").is_file());
    }
}

async fn concurrent_open(db: &TestDb) {
    let (a, b, c) = tokio::join!(
        Store::open(&db.url),
        Store::open(&db.url),
        Store::open(&db.url)
    );
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    a.create_user("x", "h", false).await.unwrap();
    assert_eq!(b.count_users().await.unwrap(), 1);
    assert!(matches!(
        c.create_user("x", "h", false).await,
        Err(StoreError::Conflict(_))
    ));
    if let Kind::Sqlite { dir } = &db.kind {
        // WAL journal mode: the -wal file exists while the database is open.
        assert!(dir.path().join("data/db/garrison.db-wal").exists());
    }
    a.close().await;
    b.close().await;
    c.close().await;
}

async fn users(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(store.count_users().await.unwrap(), 0);
    let before = now_millis();
    let admin = store
        .create_user("admin", "$argon2id$hash1", true)
        .await
        .unwrap();
    assert_eq!(admin.id.len(), 36, "uuid text: {}", admin.id);
    assert!(admin.created_at >= before);
    let bob = store
        .create_user("bob", "$argon2id$hash2", false)
        .await
        .unwrap();
    assert_ne!(admin.id, bob.id);
    assert_eq!(store.count_users().await.unwrap(), 2);

    match store.create_user("admin", "other", false).await {
        Err(StoreError::Conflict(msg)) => assert!(msg.contains("username"), "{msg}"),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(store.count_users().await.unwrap(), 2);
    // Exact match: a different case is a different user.
    store.create_user("Admin", "h", false).await.unwrap();

    let got = store.user_by_username("admin").await.unwrap().unwrap();
    assert_eq!(got, admin);
    assert!(got.is_admin);
    let got = store.user_by_id(&bob.id).await.unwrap().unwrap();
    assert_eq!(got, bob);
    assert!(!got.is_admin);
    assert_eq!(store.user_by_username("nobody").await.unwrap(), None);
    assert_eq!(store.user_by_id("nope").await.unwrap(), None);

    store
        .set_password_hash(&bob.id, "$argon2id$new")
        .await
        .unwrap();
    assert_eq!(
        store
            .user_by_id(&bob.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "$argon2id$new"
    );
    assert!(matches!(
        store.set_password_hash("missing", "x").await,
        Err(StoreError::NotFound)
    ));
    store.close().await;
}

async fn sessions(db: &TestDb) {
    let store = db.open().await;
    let u = store.create_user("u", "h", false).await.unwrap();
    store.create_session("hash-a", &u.id, 1_000).await.unwrap();
    store.create_session("hash-b", &u.id, 2_000).await.unwrap();
    store.create_session("hash-c", &u.id, 3_000).await.unwrap();

    assert_eq!(
        store.session_user("hash-a", 999).await.unwrap(),
        Some(u.clone())
    );
    // Expired exactly at expires_at.
    assert_eq!(store.session_user("hash-a", 1_000).await.unwrap(), None);
    assert_eq!(store.session_user("unknown", 0).await.unwrap(), None);

    assert!(matches!(
        store.create_session("hash-a", &u.id, 5_000).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_session("hash-x", "no-such-user", 5_000).await,
        Err(StoreError::NotFound)
    ));

    assert_eq!(store.delete_expired_sessions(2_000).await.unwrap(), 2);
    assert_eq!(store.delete_expired_sessions(2_000).await.unwrap(), 0);
    assert_eq!(
        store.session_user("hash-c", 2_500).await.unwrap(),
        Some(u.clone())
    );
    store.delete_session("hash-c").await.unwrap();
    store.delete_session("hash-c").await.unwrap(); // idempotent
    assert_eq!(store.session_user("hash-c", 2_500).await.unwrap(), None);
    store.close().await;
}

async fn api_keys(db: &TestDb) {
    let store = db.open().await;
    let u = store.create_user("u", "h", false).await.unwrap();
    let other = store.create_user("other", "h", false).await.unwrap();
    let k1 = store
        .create_api_key(&u.id, "ci", "gsk_ab12", "sha-1")
        .await
        .unwrap();
    let k2 = store
        .create_api_key(&u.id, "backup", "gsk_cd34", "sha-2")
        .await
        .unwrap();
    assert_eq!(k1.last_used_at, None);
    assert_eq!(k1.user_id, u.id);
    assert!(matches!(
        store.create_api_key(&u.id, "dup", "gsk_x", "sha-1").await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_api_key("ghost", "k", "gsk_x", "sha-9").await,
        Err(StoreError::NotFound)
    ));

    let listed = store.list_api_keys(&u.id).await.unwrap();
    assert_eq!(listed, vec![k1.clone(), k2.clone()]);
    assert!(store.list_api_keys(&other.id).await.unwrap().is_empty());

    assert_eq!(store.api_key_user("sha-unknown", 10).await.unwrap(), None);

    let (key, user) = store.api_key_user("sha-1", 100_000).await.unwrap().unwrap();
    assert_eq!(user, u);
    assert_eq!(key.id, k1.id);
    assert_eq!(key.last_used_at, Some(100_000));
    let stored = |keys: Vec<garrison_panel::store::ApiKey>, id: &str| {
        keys.into_iter().find(|k| k.id == id).unwrap().last_used_at
    };
    assert_eq!(
        stored(store.list_api_keys(&u.id).await.unwrap(), &k1.id),
        Some(100_000)
    );

    // Within a minute: not rewritten.
    let (key, _) = store.api_key_user("sha-1", 130_000).await.unwrap().unwrap();
    assert_eq!(key.last_used_at, Some(100_000));
    assert_eq!(
        stored(store.list_api_keys(&u.id).await.unwrap(), &k1.id),
        Some(100_000)
    );
    // A minute later: rewritten.
    let (key, _) = store.api_key_user("sha-1", 160_000).await.unwrap().unwrap();
    assert_eq!(key.last_used_at, Some(160_000));
    assert_eq!(
        stored(store.list_api_keys(&u.id).await.unwrap(), &k1.id),
        Some(160_000)
    );
    // Untouched key stays unused.
    assert_eq!(
        stored(store.list_api_keys(&u.id).await.unwrap(), &k2.id),
        None
    );

    // Only the owner can delete.
    assert!(!store.delete_api_key(&other.id, &k1.id).await.unwrap());
    assert!(store.delete_api_key(&u.id, &k1.id).await.unwrap());
    assert!(!store.delete_api_key(&u.id, &k1.id).await.unwrap());
    assert_eq!(store.api_key_user("sha-1", 200_000).await.unwrap(), None);
    assert_eq!(store.list_api_keys(&u.id).await.unwrap(), vec![k2]);
    store.close().await;
}

async fn servers_crud(db: &TestDb) {
    let store = db.open().await;
    assert!(store.list_servers().await.unwrap().is_empty());
    // Inserted out of creation order; listed by created_at, then id.
    let b = server("bbbb", 2_000);
    let a = server("aaaa", 1_000);
    let c = server("cccc", 2_000);
    store.insert_server(&b).await.unwrap();
    store.insert_server(&c).await.unwrap();
    store.insert_server(&a).await.unwrap();
    assert!(matches!(
        store.insert_server(&a).await,
        Err(StoreError::Conflict(_))
    ));

    assert_eq!(store.get_server(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(
        store.get_server(&ServerId::from("zzzz")).await.unwrap(),
        None
    );
    let ids: Vec<String> = store
        .list_servers()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id.0)
        .collect();
    assert_eq!(ids, ["aaaa", "bbbb", "cccc"]);

    let mut changed = a.clone();
    changed.name = "renamed".into();
    changed.template = "minetest".into();
    changed.port = 65535;
    changed.variables.insert("NEW".into(), String::new());
    changed.variables.remove("MAX_PLAYERS");
    changed.auto_start = false;
    changed.restart = RestartPolicy {
        enabled: false,
        max_restarts: 0,
        window_secs: 1,
        backoff_secs: 0,
    };
    changed.updated_at = 5_000;
    store.update_server(&changed).await.unwrap();
    assert_eq!(
        store.get_server(&a.id).await.unwrap(),
        Some(changed.clone())
    );

    let missing = server("nope", 1);
    assert!(matches!(
        store.update_server(&missing).await,
        Err(StoreError::NotFound)
    ));

    assert!(store.delete_server(&b.id).await.unwrap());
    assert!(!store.delete_server(&b.id).await.unwrap());
    assert_eq!(store.get_server(&b.id).await.unwrap(), None);
    assert_eq!(store.list_servers().await.unwrap(), vec![changed, c]);
    store.close().await;
}

async fn update_server_never_clobbers_state(db: &TestDb) {
    let store = db.open().await;
    let s = server("s1", 1_000);
    store.insert_server(&s).await.unwrap();
    store
        .record_transition(&status(
            "s1",
            ServerState::Offline,
            ServerState::Starting,
            2_000,
        ))
        .await
        .unwrap();
    let mut crash = status("s1", ServerState::Starting, ServerState::Crashed, 3_000);
    crash.exit = Some(crash_exit());
    store.record_transition(&crash).await.unwrap();

    // The caller's copy is stale: it still says offline, no exit.
    let mut stale = s.clone();
    stale.name = "new name".into();
    stale.updated_at = 4_000;
    stale.node = "elsewhere".into();
    stale.created_at = 9_999;
    store.update_server(&stale).await.unwrap();

    let got = store.get_server(&s.id).await.unwrap().unwrap();
    assert_eq!(got.name, "new name");
    assert_eq!(got.updated_at, 4_000);
    assert_eq!(got.state, ServerState::Crashed);
    assert_eq!(got.state_changed_at, 3_000);
    assert_eq!(got.last_exit, Some(crash_exit()));
    assert_eq!(got.node, "local");
    assert_eq!(got.created_at, 1_000);
    store.close().await;
}

async fn transitions_and_history(db: &TestDb) {
    let store = db.open().await;
    store.insert_server(&server("s1", 1_000)).await.unwrap();
    store.insert_server(&server("s2", 1_000)).await.unwrap();
    let id = ServerId::from("s1");

    let mut steps = [
        status("s1", ServerState::Offline, ServerState::Starting, 2_000),
        status("s1", ServerState::Starting, ServerState::Running, 2_000), // same millisecond
        status("s1", ServerState::Running, ServerState::Crashed, 3_000),
        status("s1", ServerState::Crashed, ServerState::Starting, 4_000),
    ];
    steps[0].reason = Some("start requested".into());
    steps[2].reason = Some("exited with code 1".into());
    steps[2].exit = Some(crash_exit());
    for (i, ev) in steps.iter().enumerate() {
        store.record_transition(ev).await.unwrap();
        let got = store.get_server(&id).await.unwrap().unwrap();
        assert_eq!(got.state, ev.state, "after step {i}");
        assert_eq!(got.state_changed_at, ev.at);
    }
    // The exit stays recorded after the later transition without exit info.
    let got = store.get_server(&id).await.unwrap().unwrap();
    assert_eq!(got.last_exit, Some(crash_exit()));
    // Other servers untouched.
    let other = store
        .get_server(&ServerId::from("s2"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other.state, ServerState::Offline);
    assert!(store.state_history(&other.id, 10).await.unwrap().is_empty());

    let history = store.state_history(&id, 100).await.unwrap();
    assert_eq!(history.len(), 4);
    let expected: Vec<_> = steps.iter().rev().collect();
    for (h, ev) in history.iter().zip(expected) {
        assert_eq!(h.server, ev.server);
        assert_eq!(h.from, ev.previous);
        assert_eq!(h.to, ev.state);
        assert_eq!(h.at, ev.at);
        assert_eq!(h.reason, ev.reason);
        assert_eq!(h.exit, ev.exit);
    }
    let latest = store.state_history(&id, 2).await.unwrap();
    assert_eq!(latest, history[..2].to_vec());
    assert!(store.state_history(&id, 0).await.unwrap().is_empty());

    // A transition for a deleted (or never created) server writes nothing.
    store
        .record_transition(&status(
            "ghost",
            ServerState::Offline,
            ServerState::Starting,
            5_000,
        ))
        .await
        .unwrap();
    assert!(
        store
            .state_history(&ServerId::from("ghost"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.get_server(&ServerId::from("ghost")).await.unwrap(),
        None
    );
    store.close().await;
}

async fn delete_cascades_history(db: &TestDb) {
    let store = db.open().await;
    let s = server("s1", 1_000);
    store.insert_server(&s).await.unwrap();
    store
        .record_transition(&status(
            "s1",
            ServerState::Offline,
            ServerState::Starting,
            2_000,
        ))
        .await
        .unwrap();
    store
        .record_transition(&status(
            "s1",
            ServerState::Starting,
            ServerState::Offline,
            3_000,
        ))
        .await
        .unwrap();
    assert_eq!(store.state_history(&s.id, 10).await.unwrap().len(), 2);
    assert!(store.delete_server(&s.id).await.unwrap());
    assert!(store.state_history(&s.id, 10).await.unwrap().is_empty());

    let raw = db.raw().await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM server_state_history")
        .fetch_one(&raw)
        .await
        .unwrap();
    assert_eq!(n, 0);
    raw.close().await;

    // Same id again starts with a clean slate.
    store.insert_server(&s).await.unwrap();
    assert!(store.state_history(&s.id, 10).await.unwrap().is_empty());
    store.close().await;
}

async fn audit_newest_first(db: &TestDb) {
    let store = db.open().await;
    assert!(store.list_audit(10).await.unwrap().is_empty());
    let before = now_millis();
    store
        .audit(
            Some("u1"),
            "user.login",
            None,
            Some("192.0.2.1"),
            &json!({}),
        )
        .await
        .unwrap();
    store
        .audit(
            Some("u1"),
            "server.create",
            Some("s1"),
            Some("2001:db8::1"),
            &json!({"name": "my server", "port": 3979, "nested": {"a": [1, 2, null]}}),
        )
        .await
        .unwrap();
    store
        .audit(None, "server.crash", Some("s1"), None, &json!(null))
        .await
        .unwrap();

    let all = store.list_audit(10).await.unwrap();
    let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["server.crash", "server.create", "user.login"]);
    assert!(all.iter().all(|e| e.at >= before && e.at <= now_millis()));
    let ids: std::collections::HashSet<_> = all.iter().map(|e| &e.id).collect();
    assert_eq!(ids.len(), 3);

    let crash = &all[0];
    assert_eq!(crash.user_id, None);
    assert_eq!(crash.target.as_deref(), Some("s1"));
    assert_eq!(crash.ip, None);
    assert_eq!(crash.detail, json!(null));
    let create = &all[1];
    assert_eq!(create.user_id.as_deref(), Some("u1"));
    assert_eq!(create.ip.as_deref(), Some("2001:db8::1"));
    assert_eq!(
        create.detail,
        json!({"name": "my server", "port": 3979, "nested": {"a": [1, 2, null]}})
    );

    let two = store.list_audit(2).await.unwrap();
    assert_eq!(two, all[..2].to_vec());
    store.close().await;
}

async fn settings_round_trip(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(store.get_setting("panel.name").await.unwrap(), None);
    store
        .put_setting("panel.name", &json!("Garrison"))
        .await
        .unwrap();
    let complex = json!({"allow_private": false, "hosts": ["a", "b"], "n": 1.5});
    store.put_setting("webhooks", &complex).await.unwrap();
    assert_eq!(
        store.get_setting("panel.name").await.unwrap(),
        Some(json!("Garrison"))
    );
    assert_eq!(store.get_setting("webhooks").await.unwrap(), Some(complex));
    // Overwrite.
    store
        .put_setting("panel.name", &json!({"v": 2}))
        .await
        .unwrap();
    assert_eq!(
        store.get_setting("panel.name").await.unwrap(),
        Some(json!({"v": 2}))
    );
    store.close().await;
}

async fn data_persists_across_reopen(db: &TestDb) {
    let store = db.open().await;
    let user = store
        .create_user("keep", "$argon2id$x", true)
        .await
        .unwrap();
    store
        .create_session("sess", &user.id, i64::MAX)
        .await
        .unwrap();
    let key = store
        .create_api_key(&user.id, "k", "gsk_1", "keyhash")
        .await
        .unwrap();
    let s = server("persist", 1_000);
    store.insert_server(&s).await.unwrap();
    let mut crash = status("persist", ServerState::Running, ServerState::Crashed, 2_000);
    crash.exit = Some(crash_exit());
    store.record_transition(&crash).await.unwrap();
    store
        .audit(
            Some(&user.id),
            "server.create",
            Some("persist"),
            None,
            &json!({"a": 1}),
        )
        .await
        .unwrap();
    store.put_setting("k", &json!([1, 2, 3])).await.unwrap();
    store.close().await;
    drop(store);

    let store = db.open().await;
    assert_eq!(
        store.user_by_id(&user.id).await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(
        store.session_user("sess", now_millis()).await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(store.list_api_keys(&user.id).await.unwrap(), vec![key]);
    let got = store.get_server(&s.id).await.unwrap().unwrap();
    assert_eq!(got.state, ServerState::Crashed);
    assert_eq!(got.last_exit, Some(crash_exit()));
    assert_eq!(got.variables, s.variables);
    assert_eq!(got.restart, s.restart);
    assert_eq!(store.state_history(&s.id, 10).await.unwrap().len(), 1);
    let audit = store.list_audit(10).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].detail, json!({"a": 1}));
    assert_eq!(
        store.get_setting("k").await.unwrap(),
        Some(json!([1, 2, 3]))
    );
    store.close().await;
}

async fn corrupt_rows_are_reported(db: &TestDb) {
    let store = db.open().await;
    store.insert_server(&server("bad-json", 1)).await.unwrap();
    store.insert_server(&server("bad-state", 2)).await.unwrap();
    store.insert_server(&server("bad-port", 3)).await.unwrap();
    store.put_setting("bad", &json!(1)).await.unwrap();

    let raw = db.raw().await;
    for sql in [
        "UPDATE servers SET variables = '{not json' WHERE id = 'bad-json'",
        "UPDATE servers SET state = 'exploded' WHERE id = 'bad-state'",
        "UPDATE servers SET port = 70000 WHERE id = 'bad-port'",
        "UPDATE settings SET value = 'nope' WHERE key = 'bad'",
    ] {
        sqlx::query(sql).execute(&raw).await.unwrap();
    }
    raw.close().await;

    for id in ["bad-json", "bad-state", "bad-port"] {
        match store.get_server(&ServerId::from(id)).await {
            Err(StoreError::Corrupt(msg)) => assert!(!msg.is_empty()),
            other => panic!("{id}: expected Corrupt, got {other:?}"),
        }
    }
    assert!(matches!(
        store.list_servers().await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.get_setting("bad").await,
        Err(StoreError::Corrupt(_))
    ));
    store.close().await;
}

async fn concurrent_writers(db: &TestDb) {
    let store = db.open().await;
    let mut tasks = Vec::new();
    for n in 0..6 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("srv{n}");
            store.insert_server(&server(&id, n)).await.unwrap();
            let mut from = ServerState::Offline;
            for i in 0..20 {
                let to = if from == ServerState::Offline {
                    ServerState::Starting
                } else {
                    ServerState::Offline
                };
                store
                    .record_transition(&status(&id, from, to, i))
                    .await
                    .unwrap();
                store
                    .audit(None, "server.power", Some(&id), None, &json!({"i": i}))
                    .await
                    .unwrap();
                from = to;
            }
            let history = store.state_history(&ServerId(id), 100).await.unwrap();
            assert_eq!(history.len(), 20);
            assert!(history.windows(2).all(|w| w[0].at > w[1].at));
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.list_audit(1000).await.unwrap().len(), 120);
    store.close().await;
}

/// Compile-time check: the store and its futures can cross threads (axum handlers and
/// spawned tasks need that).
#[allow(dead_code)]
fn store_is_send_and_sync(s: &Store, ev: &StatusEvent, rec: &ServerRecord) {
    fn send<T: Send>(_: T) {}
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<Store>();
    send(Store::open(""));
    send(s.record_transition(ev));
    send(s.insert_server(rec));
    send(s.api_key_user("", 0));
    send(s.audit(None, "", None, None, &serde_json::Value::Null));
    send(garrison_panel::auth::crypto::hash_password(String::new()));
}

async fn subusers_and_ownership(db: &TestDb) {
    use garrison_proto::Permission;
    let store = db.open().await;
    let owner = store.create_user("owner", "h", false).await.unwrap();
    let friend = store.create_user("friend", "h", false).await.unwrap();
    let stranger = store.create_user("stranger", "h", false).await.unwrap();
    let mut a = server("a", 1);
    a.owner_id = Some(owner.id.clone());
    store.insert_server(&a).await.unwrap();
    store.insert_server(&server("b", 2)).await.unwrap();
    assert_eq!(
        store.get_server(&a.id).await.unwrap().unwrap().owner_id,
        Some(owner.id.clone())
    );

    let perms = [Permission::ControlStart, Permission::ControlConsole];
    store.add_subuser(&a.id, &friend.id, &perms).await.unwrap();
    assert!(matches!(
        store.add_subuser(&a.id, &friend.id, &perms).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.subuser_permissions(&a.id, &friend.id).await.unwrap(),
        Some(perms.to_vec())
    );
    assert_eq!(
        store
            .subuser_permissions(&a.id, &stranger.id)
            .await
            .unwrap(),
        None
    );
    let ids = |v: Vec<ServerRecord>| v.into_iter().map(|s| s.id.0).collect::<Vec<_>>();
    assert_eq!(ids(store.servers_for_user(&owner.id).await.unwrap()), ["a"]);
    assert_eq!(
        ids(store.servers_for_user(&friend.id).await.unwrap()),
        ["a"]
    );
    assert!(
        store
            .servers_for_user(&stranger.id)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(
        store
            .set_subuser_permissions(&a.id, &friend.id, &[Permission::ControlStop])
            .await
            .unwrap()
    );
    let listed = store.list_subusers(&a.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].username, "friend");
    assert_eq!(listed[0].permissions, vec![Permission::ControlStop]);
    assert!(
        !store
            .set_subuser_permissions(&a.id, &stranger.id, &[])
            .await
            .unwrap()
    );
    assert!(store.remove_subuser(&a.id, &friend.id).await.unwrap());
    assert!(!store.remove_subuser(&a.id, &friend.id).await.unwrap());

    // Deleting the server takes its subusers along.
    store.add_subuser(&a.id, &friend.id, &perms).await.unwrap();
    assert!(store.delete_server(&a.id).await.unwrap());
    assert!(store.servers_for_user(&friend.id).await.unwrap().is_empty());
    store.close().await;
}

async fn limited_api_keys(db: &TestDb) {
    use garrison_panel::store::KeyLimits;
    use garrison_proto::Permission;
    let store = db.open().await;
    let u = store.create_user("u", "h", false).await.unwrap();
    let limits = KeyLimits {
        permissions: Some(vec![Permission::ServerRead, Permission::ControlStart]),
        allowed_ips: Some(vec!["10.0.0.0/8".into()]),
        expires_at: Some(1_000),
    };
    let k = store
        .create_limited_api_key(&u.id, "bot", "gsk_x", "sha-l", &limits)
        .await
        .unwrap();
    assert_eq!(k.permissions, limits.permissions);
    let (key, _) = store.api_key_user("sha-l", 999).await.unwrap().unwrap();
    assert_eq!(key.permissions, limits.permissions);
    assert_eq!(key.allowed_ips, limits.allowed_ips);
    assert_eq!(key.expires_at, Some(1_000));
    // Expired keys do not authenticate.
    assert_eq!(store.api_key_user("sha-l", 1_000).await.unwrap(), None);
    store.close().await;
}

async fn users_disable_idle_and_session_list(db: &TestDb) {
    use garrison_panel::store::UserChanges;
    let store = db.open().await;
    let u = store.create_user("u", "h", false).await.unwrap();
    let v = store.create_user("v", "h", false).await.unwrap();
    // Emails are unique when set; several users may have none.
    let changed = store
        .update_user(
            &u.id,
            &UserChanges {
                email: Some(Some("u@example.com".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.email.as_deref(), Some("u@example.com"));
    assert!(matches!(
        store
            .update_user(
                &v.id,
                &UserChanges {
                    email: Some(Some("u@example.com".into())),
                    ..Default::default()
                }
            )
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .update_user(
                &v.id,
                &UserChanges {
                    username: Some("u".into()),
                    ..Default::default()
                }
            )
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.update_user("ghost", &UserChanges::default()).await,
        Err(StoreError::NotFound)
    ));

    // Sessions: idle expiry counts from the last use, which is recorded.
    let (s1h, s2h, s3h) = ("a1".repeat(32), "b2".repeat(32), "c3".repeat(32));
    store.create_session(&s1h, &u.id, i64::MAX).await.unwrap();
    store.create_session(&s2h, &u.id, i64::MAX).await.unwrap();
    store
        .set_session_origin(&s1h, Some("10.1.2.3"), Some("curl"))
        .await
        .unwrap();
    let listed = store.list_sessions(&u.id, 0).await.unwrap();
    assert_eq!(listed.len(), 2);
    let s1 = listed
        .iter()
        .find(|s| s.ip.as_deref() == Some("10.1.2.3"))
        .unwrap();
    assert_eq!(s1.user_agent.as_deref(), Some("curl"));
    assert_eq!(s1.id.len(), 16);
    let created = s1.created_at;
    assert!(
        store
            .session_user_idle(&s1h, created + 1_000, Some(5_000))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store
            .session_user_idle(&s1h, created + 5_000, Some(5_000))
            .await
            .unwrap(),
        None
    );
    // A use more than a minute after the start moves the idle window along.
    assert!(
        store
            .session_user_idle(&s2h, created + 61_000, Some(100_000))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .session_user_idle(&s2h, created + 150_000, Some(100_000))
            .await
            .unwrap()
            .is_some()
    );

    assert!(store.delete_session_by_id(&u.id, &s1.id).await.unwrap());
    assert!(
        !store
            .delete_session_by_id(&v.id, &listed[0].id)
            .await
            .unwrap(),
        "another user's session"
    );
    assert!(!store.delete_session_by_id(&u.id, "zz").await.unwrap());

    // Disabling ends sessions and stops keys.
    store
        .create_api_key(&u.id, "k", "gsk_u", "sha-u")
        .await
        .unwrap();
    store
        .update_user(
            &u.id,
            &UserChanges {
                disabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(store.list_sessions(&u.id, 0).await.unwrap().is_empty());
    assert_eq!(store.api_key_user("sha-u", 1).await.unwrap(), None);
    store.create_session(&s3h, &u.id, i64::MAX).await.unwrap();
    assert_eq!(store.session_user(&s3h, 1).await.unwrap(), None);
    assert!(store.user_by_id(&u.id).await.unwrap().unwrap().disabled);
    assert!(store.delete_user(&u.id).await.unwrap());
    assert!(!store.delete_user(&u.id).await.unwrap());
    store.close().await;
}

async fn ssh_keys_per_user(db: &TestDb) {
    let store = db.open().await;
    let u = store.create_user("u", "h", false).await.unwrap();
    let v = store.create_user("v", "h", false).await.unwrap();
    let k = store
        .add_ssh_key(
            &u.id,
            "laptop",
            "ssh-ed25519",
            "ssh-ed25519 AAAA me",
            "SHA256:abc",
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .add_ssh_key(
                &u.id,
                "again",
                "ssh-ed25519",
                "ssh-ed25519 AAAA me",
                "SHA256:abc"
            )
            .await,
        Err(StoreError::Conflict(_))
    ));
    // Another user may register the same key.
    store
        .add_ssh_key(
            &v.id,
            "shared",
            "ssh-ed25519",
            "ssh-ed25519 AAAA me",
            "SHA256:abc",
        )
        .await
        .unwrap();
    assert_eq!(store.list_ssh_keys(&u.id).await.unwrap(), vec![k.clone()]);
    assert!(
        !store.delete_ssh_key(&v.id, &k.id).await.unwrap(),
        "another user's key"
    );
    assert!(store.delete_ssh_key(&u.id, &k.id).await.unwrap());
    assert!(store.list_ssh_keys(&u.id).await.unwrap().is_empty());
    // Keys go with their user.
    assert!(store.delete_user(&v.id).await.unwrap());
    assert!(store.list_ssh_keys(&v.id).await.unwrap().is_empty());
    store.close().await;
}

fn backup(id: &str, server: &str, created_at: i64) -> BackupRecord {
    BackupRecord {
        id: id.into(),
        server_id: ServerId::from(server),
        name: format!("Backup {id} ✓"),
        state: BackupState::Creating,
        storage: garrison_proto::StorageKind::Local,
        compression: garrison_proto::CompressionKind::Zstd,
        ignore: vec!["*.log".into(), "cache/".into()],
        locked: false,
        size: None,
        sha256: None,
        manifest_sha256: None,
        files: None,
        bytes: None,
        integrity: None,
        verified_at: None,
        error: None,
        created_by: None,
        created_at,
        completed_at: None,
    }
}

async fn backups_lifecycle(db: &TestDb) {
    let store = db.open().await;
    let s = server("s1", 1_000);
    store.insert_server(&s).await.unwrap();
    for (id, at) in [("b1", 10), ("b2", 20), ("b3", 30)] {
        store.insert_backup(&backup(id, "s1", at)).await.unwrap();
    }
    assert!(matches!(
        store.insert_backup(&backup("b1", "s1", 40)).await,
        Err(StoreError::Conflict(_))
    ));
    let listed: Vec<String> = store
        .list_backups(&s.id)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(listed, ["b3", "b2", "b1"], "newest first");
    let result = garrison_proto::BackupResult {
        storage: garrison_proto::StorageKind::S3,
        compression: garrison_proto::CompressionKind::Gzip,
        digest: garrison_proto::BackupDigest {
            size: 5_000_000_000,
            sha256: "ab".repeat(32),
            manifest_sha256: "cd".repeat(32),
        },
        files: 12,
        bytes: 9_000_000_000,
    };
    assert!(store.finish_backup("b1", &result).await.unwrap());
    // Only a creating backup can finish or end: a late event changes nothing.
    assert!(!store.finish_backup("b1", &result).await.unwrap());
    assert!(
        !store
            .end_backup("b1", BackupState::Failed, Some("late"))
            .await
            .unwrap()
    );
    let b1 = store.get_backup(&s.id, "b1").await.unwrap().unwrap();
    assert_eq!(b1.state, BackupState::Ready);
    assert_eq!(b1.digest(), Some(result.digest.clone()));
    assert_eq!(
        (b1.storage, b1.files, b1.bytes),
        (result.storage, Some(12), Some(9_000_000_000))
    );
    assert_eq!(b1.ignore, ["*.log", "cache/"]);
    assert!(b1.completed_at.is_some());
    assert!(
        store
            .get_backup(&ServerId::from("other"), "b1")
            .await
            .unwrap()
            .is_none()
    );

    store.set_backup_locked("b1", true).await.unwrap();
    store
        .set_backup_integrity("b1", garrison_proto::Integrity::Corrupt)
        .await
        .unwrap();
    let b1 = store.get_backup(&s.id, "b1").await.unwrap().unwrap();
    assert!(b1.locked);
    assert_eq!(b1.integrity, Some(garrison_proto::Integrity::Corrupt));
    assert!(b1.verified_at.is_some());

    assert!(
        store
            .end_backup("b2", BackupState::Cancelled, None)
            .await
            .unwrap()
    );
    let usage = store.backup_usage(&s.id).await.unwrap();
    assert_eq!(
        (usage.count, usage.bytes),
        (2, 5_000_000_000),
        "b1 ready + b3 creating"
    );

    // A restart fails what was still being made.
    let cut = store.fail_interrupted_backups().await.unwrap();
    assert_eq!(
        cut.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(),
        ["b3"]
    );
    let b3 = store.get_backup(&s.id, "b3").await.unwrap().unwrap();
    assert_eq!(b3.state, BackupState::Failed);
    assert!(b3.error.unwrap().contains("interrupted"));
    assert!(store.fail_interrupted_backups().await.unwrap().is_empty());

    let restore = RestoreStatus {
        backup: "b1".into(),
        state: InstallState::Running,
        started_at: 50,
        finished_at: None,
        error: None,
    };
    store
        .set_restore_status(&s.id, Some(&restore))
        .await
        .unwrap();
    assert_eq!(
        store.get_server(&s.id).await.unwrap().unwrap().restore,
        Some(restore)
    );

    assert!(store.delete_backup_row("b2").await.unwrap());
    assert!(!store.delete_backup_row("b2").await.unwrap());
    // Deleting the server takes its backups' rows with it.
    assert!(store.delete_server(&s.id).await.unwrap());
    assert!(store.list_backups(&s.id).await.unwrap().is_empty());
    store.close().await;
}
