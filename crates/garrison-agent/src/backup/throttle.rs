//! The I/O rate limit of a backup: a token bucket on file bytes read. It runs in the
//! blocking archive thread, so it simply sleeps there; sleeps are cut in short pieces
//! so a cancel is noticed quickly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// At most this much is allowed in a burst (and the debt slept off in one piece).
const BURST: Duration = Duration::from_millis(100);
const SLEEP_PIECE: Duration = Duration::from_millis(50);

#[derive(Debug)]
pub(crate) struct Throttle {
    rate: Option<u64>,
    /// Tokens in bytes; negative is debt to sleep off.
    tokens: f64,
    last: Instant,
    /// What the limiter did: bytes it counted and time it made the reader wait.
    pub consumed: u64,
    pub waited: Duration,
}

impl Throttle {
    /// `rate` bytes per second; `None` or 0: no limit.
    pub(crate) fn new(rate: Option<u64>) -> Throttle {
        Throttle {
            rate: rate.filter(|r| *r > 0),
            tokens: 0.0,
            last: Instant::now(),
            consumed: 0,
            waited: Duration::ZERO,
        }
    }

    /// How long the reader must wait after taking `n` bytes at `now`.
    fn debit(&mut self, n: u64, now: Instant) -> Duration {
        self.consumed += n;
        let Some(rate) = self.rate else {
            return Duration::ZERO;
        };
        let rate = rate as f64;
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        let cap = rate * BURST.as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(cap) - n as f64;
        if self.tokens >= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(-self.tokens / rate)
    }

    /// Take `n` bytes, sleeping until they fit. Returns early when `cancel` is set.
    pub(crate) fn take(&mut self, n: u64, cancel: &AtomicBool) {
        let mut wait = self.debit(n, Instant::now());
        self.waited += wait;
        while !wait.is_zero() && !cancel.load(Ordering::Relaxed) {
            let piece = wait.min(SLEEP_PIECE);
            std::thread::sleep(piece);
            wait -= piece;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_never_waits() {
        let mut t = Throttle::new(None);
        let now = Instant::now();
        assert_eq!(t.debit(1 << 30, now), Duration::ZERO);
        assert_eq!(t.consumed, 1 << 30);
    }

    #[test]
    fn limited_waits_for_the_bytes() {
        let mut t = Throttle::new(Some(1024 * 1024));
        let start = t.last;
        // 10 MiB at 1 MiB/s, read at once: about 10 s of debt.
        let w = t.debit(10 * 1024 * 1024, start);
        assert!(w >= Duration::from_millis(9900) && w <= Duration::from_millis(10_000));
        // After the debt has passed, a burst of 100 ms worth is free again.
        let later = start + Duration::from_secs(11);
        assert_eq!(t.debit(100 * 1024, later), Duration::ZERO);
        // But a further MiB is not.
        assert!(t.debit(1024 * 1024, later) > Duration::from_millis(900));
    }
}
