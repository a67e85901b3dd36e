//! The two-factor store functions on SQLite and (with `GARRISON_TEST_POSTGRES_URL`)
//! PostgreSQL, each test in its own database. Uses the store harness in `common`.

use garrison_panel::store::StoreError;

#[macro_use]
mod common;
use common::*;

both_backends!(
    enrolment_lifecycle,
    replay_and_recovery_codes,
    missing_users
);

async fn enrolment_lifecycle(db: &TestDb) {
    let store = db.open().await;
    let u = store.create_user("alice", "hash", false).await.unwrap();
    assert!(store.two_factor(&u.id).await.unwrap().is_none());

    store
        .put_pending_two_factor(&u.id, "SECRETA")
        .await
        .unwrap();
    // A pending secret may be replaced.
    store
        .put_pending_two_factor(&u.id, "SECRETB")
        .await
        .unwrap();
    let tf = store.two_factor(&u.id).await.unwrap().unwrap();
    assert_eq!(tf.secret, "SECRETB");
    assert!(!tf.enabled);
    assert_eq!(tf.last_step, None);
    // Steps are not accepted while pending.
    assert!(!store.accept_totp_step(&u.id, 5).await.unwrap());

    // Enabling needs the pending secret that was shown.
    let e = store
        .enable_two_factor(&u.id, "SECRETA", 10, &["h1".into()])
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    let hashes: Vec<String> = (0..10).map(|i| format!("hash{i}")).collect();
    store
        .enable_two_factor(&u.id, "SECRETB", 10, &hashes)
        .await
        .unwrap();
    let tf = store.two_factor(&u.id).await.unwrap().unwrap();
    assert!(tf.enabled);
    assert_eq!(tf.last_step, Some(10));
    assert!(tf.enabled_at.is_some());
    assert_eq!(store.recovery_codes_left(&u.id).await.unwrap(), 10);

    // Enabled: no new pending secret, no second enable.
    let e = store
        .put_pending_two_factor(&u.id, "SECRETC")
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    let e = store
        .enable_two_factor(&u.id, "SECRETB", 11, &[])
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    assert_eq!(
        store.two_factor(&u.id).await.unwrap().unwrap().secret,
        "SECRETB"
    );

    assert!(store.disable_two_factor(&u.id).await.unwrap());
    assert!(store.two_factor(&u.id).await.unwrap().is_none());
    assert_eq!(store.recovery_codes_left(&u.id).await.unwrap(), 0);
    assert!(!store.disable_two_factor(&u.id).await.unwrap());

    // Enable without setup.
    let e = store
        .enable_two_factor(&u.id, "SECRETB", 12, &[])
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound), "{e:?}");
    store.close().await;
}

async fn replay_and_recovery_codes(db: &TestDb) {
    let store = db.open().await;
    let u = store.create_user("bob", "hash", false).await.unwrap();
    let other = store.create_user("carol", "hash", false).await.unwrap();
    store.put_pending_two_factor(&u.id, "S").await.unwrap();
    store
        .enable_two_factor(&u.id, "S", 100, &["r1".into(), "r2".into()])
        .await
        .unwrap();

    assert!(!store.accept_totp_step(&u.id, 99).await.unwrap());
    assert!(!store.accept_totp_step(&u.id, 100).await.unwrap());
    assert!(store.accept_totp_step(&u.id, 101).await.unwrap());
    assert!(!store.accept_totp_step(&u.id, 101).await.unwrap());
    assert!(store.accept_totp_step(&u.id, 103).await.unwrap());
    assert!(!store.accept_totp_step(&u.id, 102).await.unwrap());
    assert_eq!(
        store.two_factor(&u.id).await.unwrap().unwrap().last_step,
        Some(103)
    );
    // Another user's enrolment state is separate.
    assert!(!store.accept_totp_step(&other.id, 200).await.unwrap());

    // Concurrent uses of one step: exactly one wins.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = store.clone();
        let id = u.id.clone();
        tasks.push(tokio::spawn(
            async move { s.accept_totp_step(&id, 104).await },
        ));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);

    assert!(!store.use_recovery_code(&other.id, "r1").await.unwrap());
    assert!(store.use_recovery_code(&u.id, "r1").await.unwrap());
    assert!(!store.use_recovery_code(&u.id, "r1").await.unwrap());
    assert_eq!(store.recovery_codes_left(&u.id).await.unwrap(), 1);
    assert!(!store.use_recovery_code(&u.id, "r3").await.unwrap());
    store.close().await;
}

async fn missing_users(db: &TestDb) {
    let store = db.open().await;
    let e = store
        .put_pending_two_factor("no-such-user", "S")
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound), "{e:?}");
    assert!(store.two_factor("no-such-user").await.unwrap().is_none());
    assert!(!store.accept_totp_step("no-such-user", 1).await.unwrap());
    assert!(!store.use_recovery_code("no-such-user", "x").await.unwrap());
    store.close().await;
}
