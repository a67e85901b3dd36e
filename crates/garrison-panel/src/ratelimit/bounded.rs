//! A map of per-key limiter state that never grows past a fixed number of keys.
//!
//! Idle entries (whose removal changes no decision) are swept at most once per
//! `sweep_every`, and when the map is full before an insert. If it is still nearly full
//! after dropping the idle ones, the least recently active entries go, down to 90 % of
//! the cap, so the sorting cost is paid once per tenth of the cap, not per insert.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// State kept per key.
pub(crate) trait Entry {
    /// Dropping this entry now would change no future decision.
    fn idle(&self, now: Instant) -> bool;
    /// Older entries are evicted first when the map is full of live ones.
    fn last_active(&self) -> Instant;
}

pub(crate) struct BoundedMap<V> {
    map: HashMap<String, V>,
    cap: usize,
    sweep_every: Duration,
    last_sweep: Instant,
}

impl<V: Entry> BoundedMap<V> {
    pub(crate) fn new(cap: usize, sweep_every: Duration) -> Self {
        BoundedMap {
            map: HashMap::new(),
            cap: cap.max(1),
            sweep_every,
            last_sweep: Instant::now(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.map.get_mut(key)
    }

    pub(crate) fn remove(&mut self, key: &str) {
        self.map.remove(key);
    }

    /// The entry for `key`, made by `new` when absent (evicting first if full).
    pub(crate) fn entry(&mut self, key: &str, now: Instant, new: impl FnOnce() -> V) -> &mut V {
        if now.saturating_duration_since(self.last_sweep) >= self.sweep_every {
            self.sweep(now);
        }
        if self.map.len() >= self.cap && !self.map.contains_key(key) {
            self.make_room(now);
        }
        self.map.entry(key.to_owned()).or_insert_with(new)
    }

    fn sweep(&mut self, now: Instant) {
        self.map.retain(|_, v| !v.idle(now));
        self.last_sweep = now;
    }

    fn make_room(&mut self, now: Instant) {
        self.sweep(now);
        let target = self.cap - self.cap / 10 - 1;
        if self.map.len() <= target {
            return;
        }
        let mut by_age: Vec<(Instant, String)> = self
            .map
            .iter()
            .map(|(k, v)| (v.last_active(), k.clone()))
            .collect();
        by_age.sort_unstable();
        let excess = self.map.len() - target;
        for (_, k) in by_age.into_iter().take(excess) {
            self.map.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct E {
        until: Instant,
        seen: Instant,
    }

    impl Entry for E {
        fn idle(&self, now: Instant) -> bool {
            now >= self.until
        }
        fn last_active(&self) -> Instant {
            self.seen
        }
    }

    #[test]
    fn never_exceeds_the_cap_and_evicts_idle_then_oldest() {
        let t0 = Instant::now();
        let mut m = BoundedMap::new(100, Duration::from_secs(3600));
        // Live entries only: the oldest go first.
        for i in 0..1000u64 {
            let now = t0 + Duration::from_millis(i);
            m.entry(&format!("k{i}"), now, || E {
                until: now + Duration::from_secs(60),
                seen: now,
            });
            assert!(m.len() <= 100, "{} keys", m.len());
        }
        assert!(m.get_mut("k999").is_some());
        assert!(m.get_mut("k0").is_none());
        // Once they are idle, filling the map drops them all rather than live ones.
        let later = t0 + Duration::from_secs(120);
        for i in 0..20 {
            m.entry(&format!("fresh{i}"), later, || E {
                until: later + Duration::from_secs(1),
                seen: later,
            });
        }
        assert!(m.len() <= 20, "{}", m.len());
        assert!(m.get_mut("fresh0").is_some() && m.get_mut("fresh19").is_some());
    }

    #[test]
    fn periodic_sweep_drops_idle_entries_below_the_cap() {
        let t0 = Instant::now();
        let mut m = BoundedMap::new(1000, Duration::from_secs(10));
        for i in 0..50 {
            m.entry(&format!("k{i}"), t0, || E {
                until: t0 + Duration::from_secs(1),
                seen: t0,
            });
        }
        assert_eq!(m.len(), 50);
        let later = t0 + Duration::from_secs(11);
        m.entry("x", later, || E {
            until: later + Duration::from_secs(1),
            seen: later,
        });
        assert_eq!(m.len(), 1);
    }
}
