//! Failed-login counting with lockout and backoff, per key (a client network or an
//! account name).
//!
//! `attempts` failures within `window` lock the key for `lockout_base`; each further
//! lockout doubles, up to `lockout_max`. A key that stays clean for `lockout_max` after
//! its last lockout starts again from `lockout_base`. While a key is locked every
//! attempt is refused, right password or not, and refused attempts count for nothing.
//! Attempts still being checked (password hashing takes a while) count against the
//! limit too, so a burst of parallel guesses cannot slip past it.

use super::bounded::{BoundedMap, Entry};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct LoginParams {
    pub attempts: u32,
    pub window: Duration,
    pub lockout_base: Duration,
    pub lockout_max: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Failed,
    Succeeded,
    /// Neither (the request ended early, or a first factor passed and the second is
    /// still to come): only the in-flight reservation is released.
    Abandoned,
}

struct KeyState {
    failures: u32,
    window_start: Instant,
    /// Lockouts so far; the next lasts `lockout_base * 2^lockouts`.
    lockouts: u32,
    locked_until: Option<Instant>,
    in_flight: u32,
    last_active: Instant,
    max: Duration,
    window: Duration,
}

impl KeyState {
    fn failures_now(&self, now: Instant) -> u32 {
        if now.saturating_duration_since(self.window_start) >= self.window {
            0
        } else {
            self.failures
        }
    }

    fn forget_old_lockouts(&mut self, now: Instant) {
        if let Some(until) = self.locked_until
            && now >= until + self.max
        {
            self.lockouts = 0;
            self.locked_until = None;
        }
    }
}

impl Entry for KeyState {
    fn idle(&self, now: Instant) -> bool {
        self.in_flight == 0
            && self.failures_now(now) == 0
            && self.locked_until.is_none_or(|t| now >= t + self.max)
    }
    fn last_active(&self) -> Instant {
        self.last_active
    }
}

pub struct LoginThrottle {
    params: LoginParams,
    keys: Mutex<BoundedMap<KeyState>>,
}

impl LoginThrottle {
    pub fn new(params: LoginParams, max_keys: usize) -> LoginThrottle {
        LoginThrottle {
            params,
            keys: Mutex::new(BoundedMap::new(max_keys, Duration::from_secs(60))),
        }
    }

    pub fn params(&self) -> LoginParams {
        self.params
    }

    /// Reserve an attempt on every key, or refuse with the longest wait among them.
    pub fn begin(&self, keys: &[&str], now: Instant) -> Result<(), Duration> {
        let mut map = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = Duration::ZERO;
        for key in keys {
            let Some(s) = map.get_mut(key) else { continue };
            if let Some(until) = s.locked_until
                && until > now
            {
                wait = wait.max(until - now);
            } else if s.failures_now(now) + s.in_flight >= self.params.attempts {
                // Enough guesses are being checked already; ask to come back shortly.
                wait = wait.max(Duration::from_secs(1));
            }
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        for key in keys {
            let s = map.entry(key, now, || self.fresh(now));
            s.in_flight += 1;
            s.last_active = now;
        }
        Ok(())
    }

    /// Settle a reservation made by [`begin`](Self::begin). `reset_on_success` are the
    /// keys a success clears (the account, not the network). Returns the keys this
    /// failure locked, with the lockout's length.
    pub fn finish(
        &self,
        keys: &[&str],
        outcome: Outcome,
        reset_on_success: &[&str],
        now: Instant,
    ) -> Vec<(String, Duration)> {
        let mut map = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let mut locked = Vec::new();
        for key in keys {
            let s = map.entry(key, now, || self.fresh(now));
            s.in_flight = s.in_flight.saturating_sub(1);
            s.last_active = now;
            match outcome {
                Outcome::Abandoned => {}
                Outcome::Succeeded => {
                    if reset_on_success.contains(key) {
                        s.failures = 0;
                        s.lockouts = 0;
                        s.locked_until = None;
                    }
                }
                Outcome::Failed => {
                    s.forget_old_lockouts(now);
                    if s.failures_now(now) == 0 {
                        s.failures = 0;
                        s.window_start = now;
                    }
                    s.failures += 1;
                    if s.failures >= self.params.attempts {
                        let len = self.lockout_len(s.lockouts);
                        s.lockouts = s.lockouts.saturating_add(1);
                        s.locked_until = Some(now + len);
                        s.failures = 0;
                        s.window_start = now;
                        locked.push(((*key).to_owned(), len));
                    }
                }
            }
            if s.in_flight == 0 && outcome == Outcome::Succeeded && s.idle(now) {
                map.remove(key);
            }
        }
        locked
    }

    /// `lockout_base * 2^n`, at most `lockout_max`.
    pub fn lockout_len(&self, n: u32) -> Duration {
        let base = self.params.lockout_base;
        let factor = 1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX);
        base.checked_mul(factor)
            .unwrap_or(self.params.lockout_max)
            .min(self.params.lockout_max)
    }

    fn fresh(&self, now: Instant) -> KeyState {
        KeyState {
            failures: 0,
            window_start: now,
            lockouts: 0,
            locked_until: None,
            in_flight: 0,
            last_active: now,
            max: self.params.lockout_max,
            window: self.params.window,
        }
    }

    pub fn tracked_keys(&self) -> usize {
        self.keys.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(
            LoginParams {
                attempts: 3,
                window: 60 * S,
                lockout_base: 60 * S,
                lockout_max: 3600 * S,
            },
            1000,
        )
    }

    /// One failed attempt on `key`; returns the lockout it caused, if any.
    fn fail(t: &LoginThrottle, key: &str, now: Instant) -> Result<Option<Duration>, Duration> {
        t.begin(&[key], now)?;
        Ok(t.finish(&[key], Outcome::Failed, &[], now)
            .first()
            .map(|(_, d)| *d))
    }

    #[test]
    fn lockout_doubles_up_to_the_max_and_refuses_even_good_attempts() {
        let t = throttle();
        let mut now = Instant::now();
        let mut lengths = Vec::new();
        for _round in 0..8 {
            assert_eq!(fail(&t, "u", now), Ok(None));
            assert_eq!(fail(&t, "u", now), Ok(None));
            let len = fail(&t, "u", now).unwrap().expect("third failure locks");
            lengths.push(len.as_secs());
            // Locked: refused with the time left, whatever the password would be.
            assert_eq!(t.begin(&["u"], now), Err(len));
            assert_eq!(t.begin(&["u"], now + len - S), Err(S));
            now += len;
        }
        assert_eq!(lengths, [60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }

    #[test]
    fn success_resets_the_account_and_old_lockouts_are_forgotten() {
        let t = throttle();
        let now = Instant::now();
        fail(&t, "u", now).unwrap();
        fail(&t, "u", now).unwrap();
        t.begin(&["u"], now).unwrap();
        t.finish(&["u"], Outcome::Succeeded, &["u"], now);
        assert_eq!(t.tracked_keys(), 0, "a clean success leaves nothing behind");
        fail(&t, "u", now).unwrap();
        fail(&t, "u", now).unwrap();
        assert_eq!(fail(&t, "u", now), Ok(Some(60 * S)));

        // Failures outside the window do not add up.
        let t = throttle();
        fail(&t, "u", now).unwrap();
        fail(&t, "u", now).unwrap();
        let later = now + 61 * S;
        assert_eq!(fail(&t, "u", later), Ok(None));
        assert_eq!(fail(&t, "u", later), Ok(None));

        // A second lockout soon after the first doubles; one after lockout_max clean
        // starts from the base again.
        let t = throttle();
        for _ in 0..3 {
            let _ = fail(&t, "u", now);
        }
        let t1 = now + 60 * S;
        for _ in 0..2 {
            fail(&t, "u", t1).unwrap();
        }
        assert_eq!(fail(&t, "u", t1), Ok(Some(120 * S)));
        let t2 = t1 + 120 * S + 3600 * S;
        for _ in 0..2 {
            fail(&t, "u", t2).unwrap();
        }
        assert_eq!(fail(&t, "u", t2), Ok(Some(60 * S)));
    }

    #[test]
    fn parallel_attempts_count_before_they_finish_and_abandoned_ones_are_released() {
        let t = throttle();
        let now = Instant::now();
        for _ in 0..3 {
            t.begin(&["ip", "u"], now).unwrap();
        }
        assert_eq!(t.begin(&["ip", "u"], now), Err(S));
        assert_eq!(
            t.begin(&["ip", "other"], now),
            Err(S),
            "the network is busy"
        );
        for _ in 0..3 {
            t.finish(&["ip", "u"], Outcome::Abandoned, &[], now);
        }
        assert!(t.begin(&["ip", "u"], now).is_ok());
    }

    #[test]
    fn many_account_names_stay_within_the_key_bound() {
        let t = LoginThrottle::new(throttle().params(), 500);
        let now = Instant::now();
        for i in 0..10_000 {
            let key = format!("user:{i}");
            let _ = fail(&t, &key, now);
        }
        assert!(t.tracked_keys() <= 500, "{}", t.tracked_keys());
    }
}
