//! Connection limits: new connections per IP per minute (a bounded map) and signed-in
//! sessions per panel user.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Addresses tracked at once. When full, expired windows are dropped first, then the
/// oldest window.
const MAX_TRACKED: usize = 16_384;
const WINDOW: Duration = Duration::from_secs(60);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The key an address is counted under: IPv4 addresses one by one, IPv6 by /64 (one
/// host usually holds a whole /64).
fn bucket(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
        }
        v4 => v4,
    }
}

/// Fixed one-minute windows per address.
pub struct IpRateLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl IpRateLimiter {
    pub fn new(per_minute: u32) -> IpRateLimiter {
        IpRateLimiter {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Count one connection from `ip`; false when it is over the limit.
    pub fn allow(&self, ip: IpAddr) -> bool {
        self.allow_at(ip, Instant::now())
    }

    fn allow_at(&self, ip: IpAddr, now: Instant) -> bool {
        let key = bucket(ip);
        let mut windows = lock(&self.windows);
        if !windows.contains_key(&key) && windows.len() >= MAX_TRACKED {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
            if windows.len() >= MAX_TRACKED
                && let Some(oldest) = windows
                    .iter()
                    .min_by_key(|(_, (start, _))| *start)
                    .map(|(k, _)| *k)
            {
                windows.remove(&oldest);
            }
        }
        let entry = windows.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        if entry.1 >= self.per_minute {
            return false;
        }
        entry.1 += 1;
        true
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        lock(&self.windows).len()
    }
}

/// Signed-in sessions per user id.
#[derive(Default)]
pub struct UserSessions {
    counts: Arc<Mutex<HashMap<String, u32>>>,
}

/// One counted session; dropping it frees the slot.
pub struct SessionSlot {
    counts: Arc<Mutex<HashMap<String, u32>>>,
    user_id: String,
}

impl UserSessions {
    pub fn try_acquire(&self, user_id: &str, max: u32) -> Option<SessionSlot> {
        let mut counts = lock(&self.counts);
        let n = counts.entry(user_id.to_owned()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(SessionSlot {
            counts: self.counts.clone(),
            user_id: user_id.to_owned(),
        })
    }

    #[cfg(test)]
    fn count(&self, user_id: &str) -> u32 {
        lock(&self.counts).get(user_id).copied().unwrap_or(0)
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut counts = lock(&self.counts);
        if let Some(n) = counts.get_mut(&self.user_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.user_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_window() {
        let l = IpRateLimiter::new(3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        assert!(l.allow_at(a, t0));
        assert!(l.allow_at(a, t0));
        assert!(l.allow_at(a, t0));
        assert!(!l.allow_at(a, t0));
        assert!(l.allow_at(b, t0));
        assert!(l.allow_at(a, t0 + WINDOW));
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let l = IpRateLimiter::new(1);
        let t0 = Instant::now();
        assert!(l.allow_at("2001:db8::1".parse().unwrap(), t0));
        assert!(!l.allow_at("2001:db8::2".parse().unwrap(), t0));
        assert!(l.allow_at("2001:db8:0:1::1".parse().unwrap(), t0));
        assert!(l.allow_at("192.0.2.1".parse().unwrap(), t0));
        assert!(!l.allow_at("::ffff:192.0.2.1".parse().unwrap(), t0));
    }

    #[test]
    fn map_stays_bounded() {
        let l = IpRateLimiter::new(5);
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED as u32 + 100) {
            assert!(l.allow_at(IpAddr::from(i.to_be_bytes()), t0));
        }
        assert!(l.tracked() <= MAX_TRACKED);
    }

    #[test]
    fn sessions_per_user() {
        let s = UserSessions::default();
        let a = s.try_acquire("u", 2).unwrap();
        let _b = s.try_acquire("u", 2).unwrap();
        assert!(s.try_acquire("u", 2).is_none());
        assert!(s.try_acquire("v", 2).is_some());
        drop(a);
        assert_eq!(s.count("u"), 1);
        assert!(s.try_acquire("u", 2).is_some());
    }
}
