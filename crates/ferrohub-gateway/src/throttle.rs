//! Refusing addresses that keep failing authentication (hostile case C14: 1,000 bad CONNECTs
//! a second from one IP must not cost the server, nor the devices connecting from elsewhere).
//!
//! Each address may fail authentication `max_failures` times per `window`; past that, its new
//! connections are closed as soon as they are accepted, before any TLS work, for `block_for`.
//! Other addresses are unaffected. The table is bounded: when full, expired entries are
//! dropped, and if it is still full the newest address is not tracked (fail open rather than
//! grow).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses tracked at once.
const MAX_TRACKED: usize = 16_384;

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    pub max_failures: u32,
    pub window: Duration,
    pub block_for: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            max_failures: 20,
            window: Duration::from_secs(1),
            block_for: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    window_start: Instant,
    failures: u32,
    blocked_until: Option<Instant>,
}

/// Authentication failures per address.
#[derive(Debug, Default)]
pub struct AuthThrottle {
    policy: ThrottlePolicy,
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

impl AuthThrottle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// True when connections from `ip` are refused right now.
    pub fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(&ip)
            .and_then(|e| e.blocked_until)
            .is_some_and(|until| now < until)
    }

    /// Records one failed authentication from `ip`.
    pub fn record_failure(&self, ip: IpAddr, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if !entries.contains_key(&ip) && entries.len() >= MAX_TRACKED {
            let policy = self.policy;
            entries.retain(|_, e| {
                now.duration_since(e.window_start) < policy.window
                    || e.blocked_until.is_some_and(|u| now < u)
            });
            if entries.len() >= MAX_TRACKED {
                return;
            }
        }
        let entry = entries.entry(ip).or_insert(Entry {
            window_start: now,
            failures: 0,
            blocked_until: None,
        });
        if now.duration_since(entry.window_start) >= self.policy.window {
            entry.window_start = now;
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        if entry.failures > self.policy.max_failures {
            entry.blocked_until = Some(now + self.policy.block_for);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn an_address_is_blocked_after_too_many_failures_in_the_window_and_released_later() {
        let t = AuthThrottle::new(ThrottlePolicy {
            max_failures: 3,
            window: Duration::from_secs(1),
            block_for: Duration::from_secs(10),
        });
        let now = Instant::now();
        for _ in 0..3 {
            t.record_failure(ip(1), now);
        }
        assert!(!t.is_blocked(ip(1), now), "at the limit, not past it");
        t.record_failure(ip(1), now);
        assert!(t.is_blocked(ip(1), now));
        assert!(!t.is_blocked(ip(2), now), "other addresses are unaffected");
        assert!(!t.is_blocked(ip(1), now + Duration::from_secs(10)));
    }

    #[test]
    fn failures_spread_over_windows_do_not_block() {
        let t = AuthThrottle::new(ThrottlePolicy {
            max_failures: 3,
            window: Duration::from_secs(1),
            block_for: Duration::from_secs(10),
        });
        let start = Instant::now();
        for i in 0..20 {
            t.record_failure(ip(1), start + Duration::from_millis(500 * i));
        }
        assert!(!t.is_blocked(ip(1), start + Duration::from_secs(10)));
    }
}
