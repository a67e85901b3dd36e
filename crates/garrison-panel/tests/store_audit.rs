//! The audit log's store functions (writing with `via` and `server_id`, filtered and
//! paginated reads) and the admin counts, on SQLite and (with
//! `GARRISON_TEST_POSTGRES_URL`) PostgreSQL, each test in its own database. Uses the store
//! harness in `common`.

use garrison_panel::store::{AuditEntry, AuditQuery, NewAudit, Store};
use serde_json::json;
use std::collections::HashSet;

#[macro_use]
mod common;
use common::*;

both_backends!(
    via_server_and_username_recorded,
    filters,
    pagination_walks_every_entry_once,
    counts_and_ping,
);

fn q() -> AuditQuery {
    AuditQuery {
        limit: 50,
        ..AuditQuery::default()
    }
}

fn actions(entries: &[AuditEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.action.as_str()).collect()
}

async fn write(store: &Store, user: Option<&str>, server: Option<&str>, action: &str) {
    store
        .audit_entry(&NewAudit {
            user_id: user,
            via: user.map(|_| "session"),
            ip: Some("192.0.2.7"),
            server_id: server,
            action,
            target: server,
            detail: &json!({"n": action}),
        })
        .await
        .unwrap();
}

async fn via_server_and_username_recorded(db: &TestDb) {
    let store = db.open().await;
    let alice = store.create_user("alice", "h", false).await.unwrap();
    let bob = store.create_user("bob", "h", false).await.unwrap();
    store
        .audit_entry(&NewAudit {
            user_id: Some(&alice.id),
            via: Some("key:k-123"),
            ip: Some("2001:db8::1"),
            server_id: Some("s1"),
            action: "server.power.start",
            target: Some("s1"),
            detail: &json!({"why": "test", "list": [1, null]}),
        })
        .await
        .unwrap();
    // The old signature still works: no via; server actions file their target as the
    // server, others do not.
    store
        .audit(Some(&bob.id), "server.create", Some("s2"), None, &json!({}))
        .await
        .unwrap();
    store
        .audit(
            Some(&bob.id),
            "api_key.create",
            Some("k-9"),
            Some("192.0.2.1"),
            &json!(null),
        )
        .await
        .unwrap();
    store
        .audit(None, "serverless.thing", Some("x"), None, &json!({}))
        .await
        .unwrap();

    let all = store.query_audit(&q()).await.unwrap();
    assert_eq!(all.next, None);
    let e = &all.entries;
    assert_eq!(
        actions(e),
        [
            "serverless.thing",
            "api_key.create",
            "server.create",
            "server.power.start"
        ]
    );
    let start = &e[3];
    assert_eq!(start.user_id.as_deref(), Some(alice.id.as_str()));
    assert_eq!(start.username.as_deref(), Some("alice"));
    assert_eq!(start.via.as_deref(), Some("key:k-123"));
    assert_eq!(start.ip.as_deref(), Some("2001:db8::1"));
    assert_eq!(start.server_id.as_deref(), Some("s1"));
    assert_eq!(start.target.as_deref(), Some("s1"));
    assert_eq!(start.detail, json!({"why": "test", "list": [1, null]}));
    assert_eq!(e[2].server_id.as_deref(), Some("s2"));
    assert_eq!(e[2].via, None);
    assert_eq!(e[2].username.as_deref(), Some("bob"));
    assert_eq!(e[1].server_id, None);
    assert_eq!(e[1].target.as_deref(), Some("k-9"));
    assert_eq!(e[0].server_id, None);
    assert_eq!(e[0].user_id, None);
    assert_eq!(e[0].username, None);
    assert!(e.windows(2).all(|w| w[0].seq > w[1].seq));
    // list_audit is the same log.
    assert_eq!(store.list_audit(50).await.unwrap(), all.entries);

    // The log outlives the user: the id stays, the name goes.
    let raw = db.raw().await;
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(&alice.id)
        .execute(&raw)
        .await
        .unwrap();
    raw.close().await;
    let after = store.query_audit(&q()).await.unwrap().entries;
    assert_eq!(after[3].user_id.as_deref(), Some(alice.id.as_str()));
    assert_eq!(after[3].username, None);
    store.close().await;
}

async fn filters(db: &TestDb) {
    let store = db.open().await;
    write(&store, Some("u1"), Some("s1"), "server.power.start").await;
    write(&store, Some("u2"), Some("s1"), "server.power.stop").await;
    write(&store, Some("u1"), Some("s2"), "server.powerful").await;
    write(&store, Some("u1"), Some("s2"), "server.command").await;
    write(&store, Some("u2"), None, "auth.login").await;
    write(&store, None, None, "auth.login_failed").await;
    write(&store, None, None, "weird_%.name").await;
    write(&store, None, None, "weirdX%Xname").await;

    let run = |f: AuditQuery| {
        let store = store.clone();
        async move { store.query_audit(&f).await.unwrap().entries }
    };
    let by_action = |p: &str| AuditQuery {
        action_prefix: Some(p.to_owned()),
        ..q()
    };
    assert_eq!(
        actions(&run(by_action("server.power")).await),
        ["server.powerful", "server.power.stop", "server.power.start"]
    );
    assert_eq!(
        actions(&run(by_action("server.power.")).await),
        ["server.power.stop", "server.power.start"]
    );
    assert_eq!(
        actions(&run(by_action("server.power.start")).await),
        ["server.power.start"]
    );
    assert!(run(by_action("server.power.start.x")).await.is_empty());
    assert!(run(by_action("SERVER")).await.is_empty(), "case-sensitive");
    assert_eq!(
        actions(&run(by_action("auth.login")).await),
        ["auth.login_failed", "auth.login"]
    );
    // LIKE wildcards in the prefix are plain characters.
    assert_eq!(actions(&run(by_action("weird_%")).await), ["weird_%.name"]);
    assert!(
        run(by_action("'; DROP TABLE audit_log; --"))
            .await
            .is_empty()
    );

    let s1 = run(AuditQuery {
        server_id: Some("s1".into()),
        ..q()
    })
    .await;
    assert_eq!(actions(&s1), ["server.power.stop", "server.power.start"]);
    let u1_s2 = run(AuditQuery {
        server_id: Some("s2".into()),
        user_id: Some("u1".into()),
        action_prefix: Some("server.c".into()),
        ..q()
    })
    .await;
    assert_eq!(actions(&u1_s2), ["server.command"]);
    let u2 = run(AuditQuery {
        user_id: Some("u2".into()),
        ..q()
    })
    .await;
    assert_eq!(actions(&u2), ["auth.login", "server.power.stop"]);
    assert!(
        run(AuditQuery {
            server_id: Some("nope".into()),
            ..q()
        })
        .await
        .is_empty()
    );

    // Time window: from <= at < to. Spread the entries 1 s apart in write order.
    let raw = db.raw().await;
    sqlx::query("UPDATE audit_log SET at = seq * 1000")
        .execute(&raw)
        .await
        .unwrap();
    raw.close().await;
    let all = run(q()).await;
    let at = |i: usize| all[all.len() - 1 - i].at; // i-th written
    let window = run(AuditQuery {
        from: Some(at(1)),
        to: Some(at(3)),
        ..q()
    })
    .await;
    assert_eq!(actions(&window), ["server.powerful", "server.power.stop"]);
    let since = run(AuditQuery {
        from: Some(at(6)),
        ..q()
    })
    .await;
    assert_eq!(actions(&since), ["weirdX%Xname", "weird_%.name"]);
    let until = run(AuditQuery {
        to: Some(at(1)),
        ..q()
    })
    .await;
    assert_eq!(actions(&until), ["server.power.start"]);
    store.close().await;
}

async fn pagination_walks_every_entry_once(db: &TestDb) {
    let store = db.open().await;
    for i in 0..23 {
        let server = if i % 2 == 0 { "even" } else { "odd" };
        write(&store, Some("u"), Some(server), &format!("server.n{i:02}")).await;
    }
    for (filter, want) in [(None, 23usize), (Some("even"), 12), (Some("odd"), 11)] {
        for limit in [1i64, 5, 11, 12, 23, 200] {
            let mut seen = Vec::new();
            let mut before = None;
            let mut pages = 0;
            loop {
                let page = store
                    .query_audit(&AuditQuery {
                        server_id: filter.map(str::to_owned),
                        before,
                        limit,
                        ..AuditQuery::default()
                    })
                    .await
                    .unwrap();
                pages += 1;
                assert!(page.entries.len() as i64 <= limit);
                seen.extend(page.entries.iter().cloned());
                match page.next {
                    Some(cursor) => {
                        assert_eq!(page.entries.len() as i64, limit);
                        assert_eq!(Some(cursor), page.entries.last().map(|e| e.seq));
                        before = Some(cursor);
                    }
                    None => break,
                }
                assert!(pages < 100, "pagination does not end");
            }
            assert_eq!(seen.len(), want, "{filter:?} limit {limit}");
            assert_eq!(pages, want.div_ceil(limit as usize).max(1));
            let ids: HashSet<_> = seen.iter().map(|e| e.id.clone()).collect();
            assert_eq!(ids.len(), want, "duplicates with {filter:?} limit {limit}");
            assert!(seen.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
            if let Some(f) = filter {
                assert!(seen.iter().all(|e| e.server_id.as_deref() == Some(f)));
            }
        }
    }
    // Entries written while paging do not disturb older pages.
    let first = store
        .query_audit(&AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    write(&store, Some("u"), None, "server.late").await;
    let second = store
        .query_audit(&AuditQuery {
            limit: 10,
            before: first.next,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(second.entries[0].action, "server.n12");
    store.close().await;
}

async fn counts_and_ping(db: &TestDb) {
    let store = db.open().await;
    let c = store.panel_counts().await.unwrap();
    assert_eq!((c.users, c.admins, c.servers), (0, 0, 0));
    assert!(c.servers_by_state.is_empty());
    store.create_user("root", "h", true).await.unwrap();
    store.create_user("a", "h", false).await.unwrap();
    store.create_user("b", "h", false).await.unwrap();
    let raw = db.raw().await;
    for (id, state) in [("s1", "offline"), ("s2", "running"), ("s3", "offline")] {
        sqlx::query(
            "INSERT INTO servers (id, name, template, port, variables, auto_start, restart, \
             state, state_changed_at, node, created_at, updated_at) \
             VALUES ($1, $1, 'demo', 1, '{}', 0, '{}', $2, 0, 'local', 0, 0)",
        )
        .bind(id)
        .bind(state)
        .execute(&raw)
        .await
        .unwrap();
    }
    raw.close().await;
    let c = store.panel_counts().await.unwrap();
    assert_eq!((c.users, c.admins, c.servers), (3, 1, 3));
    assert_eq!(
        c.servers_by_state.into_iter().collect::<Vec<_>>(),
        [("offline".to_owned(), 2), ("running".to_owned(), 1)]
    );
    assert!(store.ping().await.unwrap() < std::time::Duration::from_secs(5));
    store.close().await;
}
