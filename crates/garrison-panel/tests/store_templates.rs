//! Servers' description, limits and install outcome, stored templates and template
//! repositories, on SQLite and (with `GARRISON_TEST_POSTGRES_URL`) PostgreSQL.

use garrison_panel::store::{InstallState, InstallStatus, Limits, ServerRecord, StoreError};
use garrison_proto::{RestartPolicy, ServerId, ServerState};
use std::collections::BTreeMap;

#[macro_use]
mod common;
use common::*;

both_backends!(
    server_settings_and_install_status,
    templates_crud,
    repository_sync_replaces_its_templates
);

fn server(id: &str, template: &str) -> ServerRecord {
    ServerRecord {
        id: ServerId::from(id),
        name: id.into(),
        template: template.into(),
        port: 3979,
        variables: BTreeMap::new(),
        auto_start: false,
        restart: RestartPolicy::default(),
        state: ServerState::Offline,
        state_changed_at: 1,
        last_exit: None,
        node: "local".into(),
        owner_id: None,
        created_at: 1,
        updated_at: 1,
        description: String::new(),
        limits: Limits::default(),
        install: None,
        restore: None,
    }
}

async fn server_settings_and_install_status(db: &TestDb) {
    let store = db.open().await;
    let mut s = server("s1", "openttd");
    store.insert_server(&s).await.unwrap();
    assert_eq!(store.get_server(&s.id).await.unwrap().unwrap(), s);
    s.description = "Friday night 🚂".into();
    s.limits = Limits {
        memory_mb: 4096,
        disk_mb: 0,
        cpu_percent: 200,
        backups: Some(3),
        backup_mb: None,
    };
    store.update_server(&s).await.unwrap();
    let running = InstallStatus {
        state: InstallState::Running,
        started_at: 10,
        finished_at: None,
        error: None,
    };
    store.set_install_status(&s.id, &running).await.unwrap();
    let got = store.get_server(&s.id).await.unwrap().unwrap();
    assert_eq!(got.description, "Friday night 🚂");
    assert_eq!(got.limits.memory_mb, 4096);
    assert_eq!(got.install, Some(running));
    // update_server never touches the install outcome
    store.update_server(&s).await.unwrap();
    let failed = InstallStatus {
        state: InstallState::Failed,
        started_at: 10,
        finished_at: Some(20),
        error: Some("step 1 of 2 (download): checksum mismatch".into()),
    };
    store.set_install_status(&s.id, &failed).await.unwrap();
    let got = store.get_server(&s.id).await.unwrap().unwrap();
    assert_eq!(got.install, Some(failed));
    // a server that is gone is not an error
    store
        .set_install_status(
            &ServerId::from("nope"),
            &InstallStatus {
                state: InstallState::Succeeded,
                started_at: 1,
                finished_at: Some(2),
                error: None,
            },
        )
        .await
        .unwrap();
}

async fn templates_crud(db: &TestDb) {
    let store = db.open().await;
    assert!(store.list_templates().await.unwrap().is_empty());
    store
        .put_template("a", r#"{"id":"a"}"#, "custom")
        .await
        .unwrap();
    store
        .put_template("b", r#"{"id":"b"}"#, "import")
        .await
        .unwrap();
    let first = store.list_templates().await.unwrap();
    assert_eq!(first.len(), 2);
    store
        .put_template("a", r#"{"id":"a","v":2}"#, "custom")
        .await
        .unwrap();
    let again = store.list_templates().await.unwrap();
    assert_eq!(again[0].body, r#"{"id":"a","v":2}"#);
    assert_eq!(again[0].created_at, first[0].created_at);
    store.insert_server(&server("s", "a")).await.unwrap();
    assert_eq!(store.servers_using_template("a").await.unwrap(), 1);
    assert_eq!(store.servers_using_template("b").await.unwrap(), 0);
    assert!(store.delete_template("b").await.unwrap());
    assert!(!store.delete_template("b").await.unwrap());
}

async fn repository_sync_replaces_its_templates(db: &TestDb) {
    let store = db.open().await;
    let repo = store
        .add_template_repo("/srv/templates", "dir")
        .await
        .unwrap();
    let e = store
        .add_template_repo("/srv/templates", "dir")
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    store.put_template("mine", "{}", "custom").await.unwrap();
    let rows = |ids: &[&str]| -> Vec<(String, String)> {
        ids.iter()
            .map(|i| ((*i).to_owned(), format!("{{\"id\":\"{i}\"}}")))
            .collect()
    };
    let foreign = store
        .replace_repo_templates(&repo.id, &rows(&["x", "y", "mine"]))
        .await
        .unwrap();
    assert_eq!(
        foreign,
        vec!["mine".to_owned()],
        "a custom template is not taken over"
    );
    let r = store.get_template_repo(&repo.id).await.unwrap().unwrap();
    assert_eq!(r.template_count, 2);
    assert!(r.synced_at.is_some());
    // y is in use; the next sync no longer has x or y
    store.insert_server(&server("uses-y", "y")).await.unwrap();
    store
        .replace_repo_templates(&repo.id, &rows(&["z"]))
        .await
        .unwrap();
    let mut ids: Vec<String> = store
        .list_templates()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["mine", "y", "z"]);
    store
        .repo_sync_failed(&repo.id, "git failed")
        .await
        .unwrap();
    let r = store.get_template_repo(&repo.id).await.unwrap().unwrap();
    assert_eq!(r.sync_error.as_deref(), Some("git failed"));
    assert_eq!(store.list_template_repos().await.unwrap().len(), 1);
    // removing the repository removes its templates
    assert!(store.delete_template_repo(&repo.id).await.unwrap());
    let ids: Vec<String> = store
        .list_templates()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, vec!["mine"]);
}
