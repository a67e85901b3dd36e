//! Schedules in the store, on SQLite and (with `GARRISON_TEST_POSTGRES_URL`)
//! PostgreSQL: a slot is claimed by exactly one of many racing claimers, a slot whose
//! previous run still holds the lease is recorded as skipped, "run now" waits for the
//! lease, finishing releases it, a restart interrupts what was running, and old history
//! is pruned.

use garrison_panel::schedules::{MissedPolicy, Targets, Task, TaskAction, Trigger};
use garrison_panel::store::{
    Claim, RunCause, RunState, ScheduleSpec, Store, TaskOutcome, TaskState,
};
use garrison_proto::ServerId;

#[macro_use]
mod common;
use common::*;

both_backends!(
    one_claim_per_slot,
    busy_slots_are_skipped_and_manual_runs_wait,
    restart_interrupts_and_prune_keeps_recent,
);

fn spec() -> ScheduleSpec {
    ScheduleSpec {
        name: "nightly".into(),
        targets: Targets::default(),
        trigger: Trigger::Interval { secs: 60 },
        enabled: true,
        only_when_online: false,
        missed: MissedPolicy::Skip,
        tasks: vec![Task {
            action: TaskAction::Delay,
            power: None,
            command: None,
            name: None,
            ignore: Vec::new(),
            locked: false,
            state: None,
            console: None,
            secs: Some(1),
            continue_on_failure: false,
            timeout_secs: None,
        }],
    }
}

async fn schedule(store: &Store, due: i64) -> String {
    store
        .insert_schedule(None, &spec(), Some(due), None, 1_000)
        .await
        .unwrap()
        .id
}

async fn one_claim_per_slot(db: &TestDb) {
    let store = db.open().await;
    let id = schedule(&store, 60_000).await;
    let due = store.due_schedules(60_000).await.unwrap();
    assert_eq!(due.len(), 1);
    assert!(store.due_schedules(59_999).await.unwrap().is_empty());
    // Eight claimers race for the same slot (two panels, a retry, …): one wins.
    let mut tasks = Vec::new();
    for n in 0..8 {
        let store = store.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            store
                .claim_slot(
                    &id,
                    60_000,
                    Some(120_000),
                    RunCause::Scheduled,
                    &format!("owner-{n}"),
                    200_000,
                    60_001,
                )
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Claim::Run(run) => {
                won += 1;
                assert_eq!(run.due_at, Some(60_000));
                assert_eq!(run.state, RunState::Running);
            }
            Claim::Lost => {}
            Claim::Busy => panic!("the slot moved on before the lease was taken"),
        }
    }
    assert_eq!(won, 1);
    let runs = store.list_runs(&id, 10, None).await.unwrap();
    assert_eq!(runs.len(), 1);
    let s = store.get_schedule(&id).await.unwrap().unwrap();
    assert_eq!(s.next_run_at, Some(120_000));
    assert_eq!(s.lease_until, Some(200_000));
    // The same slot again: gone.
    assert!(matches!(
        store
            .claim_slot(
                &id,
                60_000,
                Some(120_000),
                RunCause::Scheduled,
                "x",
                1,
                60_002
            )
            .await
            .unwrap(),
        Claim::Lost
    ));
}

async fn busy_slots_are_skipped_and_manual_runs_wait(db: &TestDb) {
    let store = db.open().await;
    let id = schedule(&store, 60_000).await;
    let Claim::Run(first) = store
        .claim_slot(
            &id,
            60_000,
            Some(120_000),
            RunCause::Scheduled,
            "me",
            500_000,
            60_000,
        )
        .await
        .unwrap()
    else {
        panic!("first claim")
    };
    // The next slot comes while the first run holds the lease.
    let busy = store
        .claim_slot(
            &id,
            120_000,
            Some(180_000),
            RunCause::Scheduled,
            "me",
            500_000,
            120_000,
        )
        .await
        .unwrap();
    assert!(matches!(busy, Claim::Busy), "{busy:?}");
    assert!(
        store
            .claim_manual(&id, "me", 600_000, 130_000)
            .await
            .unwrap()
            .is_none(),
        "run now waits for the lease"
    );
    let outcome = TaskOutcome {
        index: 0,
        action: TaskAction::Delay,
        server: ServerId::from("s"),
        state: TaskState::Succeeded,
        started_at: 60_000,
        finished_at: 61_000,
        output: Some("ok".into()),
        error: None,
    };
    store
        .save_run_progress(&first.id, std::slice::from_ref(&outcome))
        .await
        .unwrap();
    store
        .finish_run(
            &first.id,
            &id,
            "me",
            RunState::Succeeded,
            std::slice::from_ref(&outcome),
            None,
            140_000,
        )
        .await
        .unwrap();
    let s = store.get_schedule(&id).await.unwrap().unwrap();
    assert_eq!(s.lease_until, None);
    assert_eq!(s.last_outcome, Some(RunState::Succeeded));
    assert_eq!(s.next_run_at, Some(180_000));
    let manual = store
        .claim_manual(&id, "me", 600_000, 150_000)
        .await
        .unwrap()
        .expect("free again");
    assert_eq!(manual.due_at, None);
    assert_eq!(manual.cause, RunCause::Manual);
    // A finish by someone who does not hold the lease does not release it.
    store
        .finish_run(
            &manual.id,
            &id,
            "someone else",
            RunState::Failed,
            &[],
            Some("x"),
            151_000,
        )
        .await
        .unwrap();
    assert!(
        store
            .get_schedule(&id)
            .await
            .unwrap()
            .unwrap()
            .lease_until
            .is_some()
    );

    let runs = store.list_runs(&id, 10, None).await.unwrap();
    let states: Vec<_> = runs.iter().map(|r| (r.due_at, r.state)).collect();
    assert_eq!(
        states,
        [
            (None, RunState::Failed),
            (Some(120_000), RunState::Skipped),
            (Some(60_000), RunState::Succeeded),
        ]
    );
    assert_eq!(runs[2].tasks, vec![outcome]);
    assert!(runs[1].error.as_deref().unwrap().contains("still going"));
    // Pages: newest first, `before` is the cursor.
    let page = store.list_runs(&id, 2, None).await.unwrap();
    let rest = store
        .list_runs(&id, 2, Some(page[1].started_at))
        .await
        .unwrap();
    assert_eq!(page.len() + rest.len(), 3);
}

async fn restart_interrupts_and_prune_keeps_recent(db: &TestDb) {
    let store = db.open().await;
    let id = schedule(&store, 60_000).await;
    let Claim::Run(run) = store
        .claim_slot(
            &id,
            60_000,
            Some(120_000),
            RunCause::Scheduled,
            "old",
            900_000,
            60_000,
        )
        .await
        .unwrap()
    else {
        panic!("claim")
    };
    assert_eq!(store.interrupt_runs(70_000).await.unwrap(), 1);
    let r = store.get_run(&run.id).await.unwrap().unwrap();
    assert_eq!(r.state, RunState::Interrupted);
    assert_eq!(r.finished_at, Some(70_000));
    let s = store.get_schedule(&id).await.unwrap().unwrap();
    assert_eq!(s.lease_until, None);
    assert_eq!(s.last_outcome, Some(RunState::Interrupted));
    // Skipping a missed slot records why, once.
    assert!(
        store
            .skip_slot(&id, 120_000, Some(180_000), 200_000, "missed")
            .await
            .unwrap()
    );
    assert!(
        !store
            .skip_slot(&id, 120_000, Some(180_000), 200_000, "missed")
            .await
            .unwrap()
    );
    assert_eq!(store.list_runs(&id, 10, None).await.unwrap().len(), 2);
    assert_eq!(store.prune_runs(100_000).await.unwrap(), 1);
    let left = store.list_runs(&id, 10, None).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].due_at, Some(120_000));
    assert!(store.delete_schedule(&id).await.unwrap());
    assert!(store.get_run(&left[0].id).await.unwrap().is_none());
}
