//! Rate limits (a token bucket per token and per client address) and failed-login
//! throttling (an address with too many failures is refused for the rest of the window).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Buckets kept before idle ones are forgotten.
const MAX_KEYS: usize = 100_000;

/// A token bucket per key: `rate` requests per second, `burst` at once.
#[derive(Debug)]
pub struct RateLimiter<K> {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// A limiter; `rate` 0 allows everything.
    pub fn new(rate: u32, burst: u32) -> Self {
        RateLimiter {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `key`'s bucket; false when it is empty.
    pub fn allow(&self, key: &K) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let now = Instant::now();
        let mut b = self.buckets.lock();
        if b.len() >= MAX_KEYS && !b.contains_key(key) {
            // Forget full (idle) buckets first: they hold no information.
            let full = self.burst;
            let rate = self.rate;
            b.retain(|_, (tokens, at)| {
                (*tokens + now.duration_since(*at).as_secs_f64() * rate) < full
            });
        }
        let (tokens, at) = b.entry(key.clone()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Failed authentications per address within a window.
#[derive(Debug)]
pub struct FailureThrottle {
    limit: u32,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl FailureThrottle {
    /// A throttle; `limit` 0 never refuses.
    pub fn new(limit: u32, window: Duration) -> Self {
        FailureThrottle {
            limit,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `ip` is refused now (too many failures in its current window).
    pub fn blocked(&self, ip: IpAddr) -> bool {
        if self.limit == 0 {
            return false;
        }
        let f = self.failures.lock();
        f.get(&ip)
            .is_some_and(|(n, since)| *n >= self.limit && since.elapsed() < self.window)
    }

    /// Records a failure from `ip`.
    pub fn fail(&self, ip: IpAddr) {
        if self.limit == 0 {
            return;
        }
        let now = Instant::now();
        let mut f = self.failures.lock();
        if f.len() >= MAX_KEYS {
            let window = self.window;
            f.retain(|_, (_, since)| now.duration_since(*since) < window);
        }
        let e = f.entry(ip).or_insert((0, now));
        if now.duration_since(e.1) >= self.window {
            *e = (0, now);
        }
        e.0 = e.0.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refuses() {
        let l = RateLimiter::new(1, 3);
        assert!((0..3).all(|_| l.allow(&"a")));
        assert!(!l.allow(&"a"));
        assert!(l.allow(&"b"), "keys have their own buckets");
        assert!((0..1000).all(|_| RateLimiter::new(0, 1).allow(&"a")));
    }

    #[test]
    fn failures_block_an_address() {
        let t = FailureThrottle::new(2, Duration::from_secs(60));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        t.fail(ip);
        assert!(!t.blocked(ip));
        t.fail(ip);
        assert!(t.blocked(ip));
        assert!(!t.blocked("10.0.0.2".parse().unwrap()));
    }
}
