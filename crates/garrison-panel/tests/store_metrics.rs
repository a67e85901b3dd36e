//! Metrics history in the store, on SQLite and (with `GARRISON_TEST_POSTGRES_URL`)
//! PostgreSQL: batch writes, roll-ups into minutes and hours (averages, maxima, sample
//! counts, each period once), retention per resolution, and series reads.

use garrison_panel::store::{MetricSample, RES_HOUR, RES_MINUTE, RES_RAW};

#[macro_use]
mod common;
use common::*;

both_backends!(batches_rollups_and_retention);

fn sample(target: &str, at: i64, cpu: f64, memory: u64, players: Option<u32>) -> MetricSample {
    MetricSample {
        target: target.into(),
        at,
        cpu: Some(cpu),
        memory: Some(memory),
        disk: Some(1000),
        players,
        ..MetricSample::default()
    }
}

async fn batches_rollups_and_retention(db: &TestDb) {
    let store = db.open().await;
    // 1,000 servers, one sample each: one batch.
    let base = 10 * RES_HOUR;
    let batch: Vec<_> = (0..1000)
        .map(|n| sample(&format!("s{n}"), base, 1.0, 100, None))
        .collect();
    assert_eq!(store.insert_samples(&batch).await.unwrap(), 1000);
    // The same samples again are left out.
    assert_eq!(store.insert_samples(&batch[..10]).await.unwrap(), 0);

    // One server over two minutes: 6 samples per minute.
    for (i, at) in (0..12).map(|i| (i, base + 10_000 * i)) {
        if i == 0 {
            continue; // already written in the batch
        }
        let s = sample("s0", at, i as f64, 100 + i as u64, Some(i as u32));
        store.insert_samples(&[s]).await.unwrap();
    }
    let raw = store
        .metric_series("s0", RES_RAW, base, base + RES_HOUR, 100)
        .await
        .unwrap();
    assert_eq!(raw.len(), 12);
    assert_eq!(raw[3].cpu, Some(3.0));
    assert_eq!(raw[3].players, Some(3.0));

    let rolled = store
        .rollup_metrics(RES_RAW, RES_MINUTE, base, base + 2 * RES_MINUTE)
        .await
        .unwrap();
    assert_eq!(rolled, 1000 + 1, "one row per server per minute");
    // Rolling the same period again changes nothing.
    assert_eq!(
        store
            .rollup_metrics(RES_RAW, RES_MINUTE, base, base + 2 * RES_MINUTE)
            .await
            .unwrap(),
        0
    );
    let minutes = store
        .metric_series("s0", RES_MINUTE, base, base + RES_HOUR, 100)
        .await
        .unwrap();
    assert_eq!(minutes.len(), 2);
    let first = &minutes[0];
    assert_eq!(first.at, base);
    assert_eq!(first.samples, 6);
    // cpu 1 (from the batch), 1, 2, 3, 4, 5
    assert!((first.cpu.unwrap() - 16.0 / 6.0).abs() < 1e-9, "{first:?}");
    assert_eq!(first.cpu_max, Some(5.0));
    assert_eq!(first.memory_max, Some(105));
    assert_eq!(first.players_max, Some(5));
    assert_eq!(minutes[1].samples, 6);
    assert_eq!(minutes[1].cpu_max, Some(11.0));

    let hours = store
        .rollup_metrics(RES_MINUTE, RES_HOUR, base, base + RES_HOUR)
        .await
        .unwrap();
    assert_eq!(hours, 1000, "one row per server per hour");
    let h = store
        .metric_series("s0", RES_HOUR, base, base + RES_HOUR, 10)
        .await
        .unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].samples, 12);
    assert_eq!(h[0].cpu_max, Some(11.0));

    // Retention: raw rows go first, the averages stay.
    assert_eq!(
        store.prune_metrics(RES_RAW, base + RES_HOUR).await.unwrap(),
        1011
    );
    assert!(
        store
            .metric_series("s0", RES_RAW, 0, i64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .metric_series("s0", RES_MINUTE, 0, i64::MAX, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(store.delete_metrics("s0").await.unwrap(), 3);
    assert!(
        store
            .metric_series("s0", RES_HOUR, 0, i64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
