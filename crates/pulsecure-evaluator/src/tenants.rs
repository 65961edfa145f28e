//! Fair shares between the identities an evaluator serves: a token bucket per identity on
//! cache misses, since each miss decompresses a stored key (about 0.4 s of CPU) before the
//! request is evaluated.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Cache misses allowed at once before the rate applies.
const BURST: f64 = 4.0;

/// A per-identity limit on cache misses.
#[derive(Debug)]
pub struct MissLimiter {
    per_second: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl MissLimiter {
    /// `per_minute` misses per identity, after a burst of a few (0: no limit).
    pub fn new(per_minute: u32) -> Self {
        MissLimiter {
            per_second: f64::from(per_minute) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take one miss for `who`, or say how long until one is available.
    pub fn check(&self, who: &str) -> Result<(), Duration> {
        self.check_at(who, Instant::now())
    }

    fn check_at(&self, who: &str, now: Instant) -> Result<(), Duration> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Identities are few (certificates of one CA, local users); forget idle full ones.
        if buckets.len() > 4096 {
            let per_second = self.per_second;
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * per_second < BURST
            });
        }
        let (tokens, at) = buckets.entry(who.to_string()).or_insert((BURST, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(BURST);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate_per_identity() {
        let limiter = MissLimiter::new(6); // one every 10 s
        let t0 = Instant::now();
        for _ in 0..4 {
            assert!(limiter.check_at("spki:a", t0).is_ok());
        }
        let wait = limiter.check_at("spki:a", t0).expect_err("burst used");
        assert!(wait <= Duration::from_secs(10) && wait > Duration::from_secs(9));
        // Another identity has its own bucket.
        assert!(limiter.check_at("spki:b", t0).is_ok());
        assert!(limiter
            .check_at("spki:a", t0 + Duration::from_secs(10))
            .is_ok());
        assert!(MissLimiter::new(0).check_at("x", t0).is_ok());
    }
}
