//! Metrics history. The event pump hands every server's latest stats (and the player
//! counter its player count) to the [`Recorder`]; one writer task stores a sample of
//! every running server and of the node every `sample_every` in one batch, rolls raw
//! samples up into minutes and minutes into hours once each period is complete, and
//! deletes rows past each resolution's retention.

use crate::AppState;
use crate::store::{MetricSample, RES_HOUR, RES_MINUTE, RES_RAW, now_millis};
use garrison_proto::{ServerId, Stats};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The node's target name in the history (there is one node, the local one).
pub const LOCAL_NODE: &str = "local";

pub fn node_target(node: &str) -> String {
    format!("node:{node}")
}

#[derive(Debug, Clone)]
pub struct HistorySettings {
    pub sample_every: Duration,
    pub raw_retention: Duration,
    pub minute_retention: Duration,
    pub hour_retention: Duration,
}

impl Default for HistorySettings {
    /// A sample every 10 s; raw for 24 h, minutes for 7 days, hours for 90 days.
    fn default() -> Self {
        HistorySettings {
            sample_every: Duration::from_secs(10),
            raw_retention: Duration::from_secs(24 * 3600),
            minute_retention: Duration::from_secs(7 * 86_400),
            hour_retention: Duration::from_secs(90 * 86_400),
        }
    }
}

impl HistorySettings {
    /// Retention of a resolution, in millis.
    pub fn retention_millis(&self, res: i64) -> i64 {
        let d = match res {
            RES_RAW => self.raw_retention,
            RES_MINUTE => self.minute_retention,
            _ => self.hour_retention,
        };
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
    }
}

/// What the panel last heard of a running server.
#[derive(Debug, Clone, PartialEq)]
pub struct Latest {
    pub stats: Stats,
    /// When the stats arrived (unix millis).
    pub received: i64,
}

#[derive(Default)]
pub struct Recorder {
    latest: Mutex<HashMap<ServerId, Latest>>,
    host: Mutex<Option<garrison_proto::HostStats>>,
}

impl Recorder {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<ServerId, Latest>> {
        self.latest.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn stats(&self, server: &ServerId, stats: &Stats) {
        let mut map = self.map();
        // The zero sample a node sends when the process ended.
        if stats.processes == 0 && stats.uptime_secs == 0 {
            map.remove(server);
            return;
        }
        let now = now_millis();
        match map.get_mut(server) {
            Some(l) => {
                l.stats = stats.clone();
                l.received = now;
            }
            None => {
                map.insert(
                    server.clone(),
                    Latest {
                        stats: stats.clone(),
                        received: now,
                    },
                );
            }
        }
    }

    /// The node's machine as last sampled.
    pub fn host(&self) -> Option<garrison_proto::HostStats> {
        self.host.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_host(&self, h: garrison_proto::HostStats) {
        *self.host.lock().unwrap_or_else(|p| p.into_inner()) = Some(h);
    }

    /// The server stopped or was deleted: nothing more to sample.
    pub fn forget(&self, server: &ServerId) {
        self.map().remove(server);
    }

    pub fn get(&self, server: &ServerId) -> Option<Latest> {
        self.map().get(server).cloned()
    }

    /// Every server heard from since `since`.
    pub fn fresh(&self, since: i64) -> Vec<(ServerId, Latest)> {
        self.map()
            .iter()
            .filter(|(_, l)| l.received >= since)
            .map(|(id, l)| (id.clone(), l.clone()))
            .collect()
    }
}

/// The raw samples of one tick; `players` counts a server's players (if counted).
pub fn samples(
    recorder: &Recorder,
    at: i64,
    max_age: i64,
    players: impl Fn(&ServerId) -> Option<u32>,
) -> Vec<MetricSample> {
    recorder
        .fresh(at - max_age)
        .into_iter()
        .map(|(id, l)| MetricSample {
            target: id.0.clone(),
            at,
            cpu: Some(l.stats.cpu_percent),
            memory: Some(l.stats.memory_bytes),
            disk: Some(l.stats.disk_bytes),
            players: players(&id),
            ..MetricSample::default()
        })
        .collect()
}

/// The periods `[from, to)` of resolution `res` that are complete at `now` given that
/// samples land up to `lag` late, looking back `window`.
fn complete(res: i64, now: i64, lag: i64, window: i64) -> (i64, i64) {
    let to = ((now - lag) / res) * res;
    let from = ((now - window) / res) * res;
    (from, to)
}

/// The writer task; ends on shutdown.
pub async fn run(state: AppState) {
    let settings = state.config.history.clone();
    let every = settings.sample_every.max(Duration::from_secs(1));
    let every_ms = i64::try_from(every.as_millis()).unwrap_or(10_000);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut shutdown = state.shutdown.clone();
    let mut last_rollup = 0;
    let mut last_prune = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = crate::shutting_down(&mut shutdown) => return,
        }
        let now = now_millis();
        // Stats arrive every couple of seconds while a server runs; older means stopped.
        let max_age = (3 * every_ms).max(30_000);
        let mut batch = samples(&state.history, now, max_age, |id| state.players.count(id));
        match state.node.host_stats().await {
            Ok(h) => {
                batch.push(MetricSample {
                    target: node_target(LOCAL_NODE),
                    at: now,
                    cpu: Some(h.cpu_percent),
                    memory: Some(h.memory_used_bytes),
                    disk: Some(h.disk_used_bytes),
                    load1: Some(h.load[0]),
                    memory_total: Some(h.memory_total_bytes),
                    disk_total: Some(h.disk_total_bytes),
                    ..MetricSample::default()
                });
                state.history.set_host(h);
            }
            Err(e) => tracing::debug!(error = %e, "no host stats this round"),
        }
        if let Err(e) = state.store.insert_samples(&batch).await {
            tracing::warn!(error = %e, rows = batch.len(), "cannot store metrics samples");
        }
        if now - last_rollup >= 30_000 {
            last_rollup = now;
            let lag = every_ms + 5_000;
            let (from, to) = complete(RES_MINUTE, now, lag, 15 * 60_000);
            if let Err(e) = state
                .store
                .rollup_metrics(RES_RAW, RES_MINUTE, from, to)
                .await
            {
                tracing::warn!(error = %e, "cannot roll up metrics into minutes");
            }
            let (from, to) = complete(RES_HOUR, now, RES_MINUTE + lag, 4 * RES_HOUR);
            if let Err(e) = state
                .store
                .rollup_metrics(RES_MINUTE, RES_HOUR, from, to)
                .await
            {
                tracing::warn!(error = %e, "cannot roll up metrics into hours");
            }
        }
        if now - last_prune >= 10 * 60_000 {
            last_prune = now;
            for res in [RES_RAW, RES_MINUTE, RES_HOUR] {
                let before = now - settings.retention_millis(res);
                if let Err(e) = state.store.prune_metrics(res, before).await {
                    tracing::warn!(error = %e, "cannot prune old metrics");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_periods_only() {
        // At 10:05:20 with 15 s lag, minutes up to 10:05:00 are complete.
        let now = 36_320_000;
        let (from, to) = complete(RES_MINUTE, now, 15_000, 10 * 60_000);
        assert_eq!(to, 36_300_000);
        assert_eq!(from, 35_700_000);
        // At 10:05:10 the minute 10:04 is not complete yet (its last sample may be late).
        let (_, to) = complete(RES_MINUTE, 36_310_000, 15_000, 60_000);
        assert_eq!(to, 36_240_000);
    }

    #[test]
    fn samples_leave_out_stopped_servers() {
        let r = Recorder::default();
        let a = ServerId::from("a");
        let b = ServerId::from("b");
        let stats = Stats {
            cpu_percent: 12.5,
            memory_bytes: 100,
            disk_bytes: 7,
            uptime_secs: 5,
            processes: 1,
            ..Stats::default()
        };
        r.stats(&a, &stats);
        r.stats(&b, &stats);
        r.forget(&b);
        let now = now_millis();
        let three = |id: &ServerId| (id.as_str() == "a").then_some(3);
        let s = samples(&r, now, 30_000, three);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].target, "a");
        assert_eq!(s[0].players, Some(3));
        assert_eq!(s[0].cpu, Some(12.5));
        assert!(samples(&r, now + 60_000, 30_000, three).is_empty(), "stale");
        r.stats(&a, &Stats::default());
        assert!(r.get(&a).is_none(), "the end-of-process sample forgets it");
    }
}
