//! A keyed GCRA limiter (the generic cell rate algorithm: a token bucket kept as one
//! timestamp per key). "N per minute" allows a burst of N at once, then one request
//! every 60/N seconds; a key whose bucket has refilled completely is idle and can be
//! dropped without changing any decision.

use super::bounded::{BoundedMap, Entry};
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Cell {
    /// Theoretical arrival time: when the bucket would be full again.
    tat: Instant,
}

impl Entry for Cell {
    fn idle(&self, now: Instant) -> bool {
        self.tat <= now
    }
    fn last_active(&self) -> Instant {
        // The earliest to refill is the cheapest to forget.
        self.tat
    }
}

pub struct RateLimiter {
    /// Time one request "costs".
    interval: Duration,
    /// How far ahead of now the bucket may be drawn: (burst - 1) intervals.
    tolerance: Duration,
    cells: Mutex<BoundedMap<Cell>>,
}

impl RateLimiter {
    /// `per_minute` requests per minute per key, all of them allowed at once.
    pub fn per_minute(per_minute: u32, max_keys: usize) -> RateLimiter {
        let n = per_minute.max(1);
        let interval = Duration::from_secs(60) / n;
        RateLimiter {
            interval,
            tolerance: interval * (n - 1),
            cells: Mutex::new(BoundedMap::new(max_keys, Duration::from_secs(60))),
        }
    }

    /// Counts one request for `key`; `Err` holds how long until one would be allowed.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut cells = self.cells.lock().unwrap_or_else(|e| e.into_inner());
        let cell = cells.entry(key, now, || Cell { tat: now });
        let tat = cell.tat.max(now);
        let ahead = tat - now;
        if ahead > self.tolerance {
            return Err(ahead - self.tolerance);
        }
        cell.tat = tat + self.interval;
        Ok(())
    }

    pub fn tracked_keys(&self) -> usize {
        self.cells.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill_at_the_rate() {
        // 60 per minute: a burst of 60, then one per second.
        let l = RateLimiter::per_minute(60, 100);
        let t0 = Instant::now();
        for i in 0..60 {
            assert!(l.check("a", t0).is_ok(), "request {i} of the burst");
        }
        let wait = l.check("a", t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        // Refused requests cost nothing.
        assert_eq!(l.check("a", t0).unwrap_err(), Duration::from_secs(1));
        assert!(l.check("a", t0 + Duration::from_millis(999)).is_err());
        assert!(l.check("a", t0 + Duration::from_secs(1)).is_ok());
        assert!(l.check("a", t0 + Duration::from_secs(1)).is_err());
        // Ten quiet seconds give ten requests back, not more.
        let t = t0 + Duration::from_secs(11);
        for _ in 0..10 {
            assert!(l.check("a", t).is_ok());
        }
        assert!(l.check("a", t).is_err());
        // Other keys have their own bucket.
        assert!(l.check("b", t0).is_ok());
        // A full minute later the whole burst is back.
        let t = t0 + Duration::from_secs(200);
        for _ in 0..60 {
            assert!(l.check("a", t).is_ok());
        }
        assert!(l.check("a", t).is_err());
    }

    #[test]
    fn tracked_keys_stay_bounded_under_a_flood_of_new_keys() {
        let l = RateLimiter::per_minute(10, 1000);
        let t0 = Instant::now();
        for i in 0..20_000u32 {
            let _ = l.check(&format!("ip:{i}"), t0 + Duration::from_micros(i.into()));
        }
        assert!(l.tracked_keys() <= 1000, "{}", l.tracked_keys());
    }
}
