//! Throttling of failed authentication, per client address and per account.
//!
//! Owns a fixed-window failure counter kept in this process's memory: after `limit` failures
//! within `window`, further attempts from that address (or for that account) are refused
//! with a retry delay until the window ends. Nobody is locked out for longer than one window.
//! The counters are per instance on purpose: they slow down guessing and leak nothing, and a
//! shared counter would put a database write on every failed attempt.

use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Most keys remembered per map; beyond this, expired windows are swept, and if none are
/// expired the oldest window is dropped (bounded memory under a flood of addresses).
const MAX_KEYS: usize = 100_000;

/// Failure counters for client addresses and accounts.
#[derive(Debug)]
pub struct FailureThrottle {
    limit: u32,
    window: Duration,
    addresses: Mutex<Windows<IpAddr>>,
    accounts: Mutex<Windows<String>>,
}

#[derive(Debug)]
struct Windows<K> {
    map: HashMap<K, (Instant, u32)>,
}

impl<K: Hash + Eq + Clone> Windows<K> {
    fn new() -> Self {
        Self { map: HashMap::new() }
    }

    /// Seconds until `key` may try again, if it is over the limit.
    fn blocked(&self, key: &K, limit: u32, window: Duration, now: Instant) -> Option<Duration> {
        let (start, count) = self.map.get(key)?;
        let end = *start + window;
        (*count >= limit && now < end).then(|| end - now)
    }

    fn record(&mut self, key: &K, window: Duration, now: Instant) {
        if self.map.len() >= MAX_KEYS && !self.map.contains_key(key) {
            self.map.retain(|_, (start, _)| now < *start + window);
            if self.map.len() >= MAX_KEYS
                && let Some(oldest) =
                    self.map.iter().min_by_key(|(_, (start, _))| *start).map(|(k, _)| k.clone())
            {
                self.map.remove(&oldest);
            }
        }
        let entry = self.map.entry(key.clone()).or_insert((now, 0));
        if now >= entry.0 + window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

impl FailureThrottle {
    /// At most `limit` failures per `window`, per address and per account.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: limit.max(1),
            window,
            addresses: Mutex::new(Windows::new()),
            accounts: Mutex::new(Windows::new()),
        }
    }

    /// How long the caller must wait before trying again, if it is throttled.
    pub fn retry_after(&self, address: IpAddr, account: Option<&str>) -> Option<Duration> {
        let now = Instant::now();
        let by_address = lock(&self.addresses).blocked(&address, self.limit, self.window, now);
        let by_account = account.and_then(|a| {
            lock(&self.accounts).blocked(&a.to_owned(), self.limit, self.window, now)
        });
        by_address.max(by_account)
    }

    /// Counts one failed attempt.
    pub fn record_failure(&self, address: IpAddr, account: Option<&str>) {
        let now = Instant::now();
        lock(&self.addresses).record(&address, self.window, now);
        if let Some(account) = account {
            lock(&self.accounts).record(&account.to_owned(), self.window, now);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the counters inconsistent in a way that
    // matters; keep serving.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn blocks_after_the_limit_per_address_and_per_account() {
        let t = FailureThrottle::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(t.retry_after(A, Some("ci")), None);
            t.record_failure(A, Some("ci"));
        }
        let wait = t.retry_after(A, None).expect("address blocked");
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(50));
        assert!(t.retry_after(B, Some("ci")).is_some(), "the account is blocked from anywhere");
        assert_eq!(t.retry_after(B, Some("other")), None, "others are not");
    }

    #[test]
    fn the_window_ends() {
        let t = FailureThrottle::new(1, Duration::from_millis(50));
        t.record_failure(A, None);
        assert!(t.retry_after(A, None).is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(t.retry_after(A, None), None);
        t.record_failure(A, None);
        assert!(t.retry_after(A, None).is_some(), "a new window counts again");
    }

    #[test]
    fn memory_stays_bounded() {
        let mut w: Windows<u32> = Windows::new();
        let now = Instant::now();
        for i in 0..(MAX_KEYS as u32 + 10) {
            w.record(&i, Duration::from_secs(60), now);
        }
        assert!(w.map.len() <= MAX_KEYS);
    }
}
