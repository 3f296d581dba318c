//! Requests-per-minute and tokens-per-minute token buckets.

use std::time::Instant;

/// A continuously refilled token bucket whose capacity is one minute's worth.
#[derive(Debug, Clone)]
struct Bucket {
    capacity: f64,
    tokens: f64,
    per_ms: f64,
    last: Instant,
}

impl Bucket {
    fn new(per_minute: u64, now: Instant) -> Self {
        let capacity = per_minute as f64;
        Self { capacity, tokens: capacity, per_ms: capacity / 60_000.0, last: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64() * 1000.0;
        self.tokens = (self.tokens + elapsed * self.per_ms).min(self.capacity);
        self.last = now;
    }

    /// Seconds until `amount` tokens are available (at least 1).
    fn wait_secs(&self, amount: f64) -> u64 {
        if amount > self.capacity {
            return 60;
        }
        let deficit = (amount - self.tokens).max(0.0);
        let secs = (deficit / self.per_ms / 1000.0).ceil();
        (secs as u64).clamp(1, 60)
    }
}

/// The outcome of asking the quota for room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The request may run; its reservation was taken.
    Granted,
    /// A bucket lacked capacity; nothing was taken.
    Throttled {
        /// Suggested wait before retrying, in whole seconds.
        retry_after_secs: u64,
    },
}

/// The request and token quotas. A missing bucket means "unlimited".
#[derive(Debug, Clone)]
pub struct Quota {
    rpm: Option<u64>,
    tpm: Option<u64>,
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
}

impl Quota {
    /// Creates full buckets for the given per-minute limits.
    pub fn new(rpm: Option<u64>, tpm: Option<u64>) -> Self {
        let now = Instant::now();
        Self { rpm, tpm, requests: rpm.map(|r| Bucket::new(r, now)), tokens: tpm.map(|t| Bucket::new(t, now)) }
    }

    /// Refills both buckets to capacity.
    pub fn reset(&mut self) {
        *self = Self::new(self.rpm, self.tpm);
    }

    /// Takes one request and `tokens` tokens, or nothing if either bucket lacks room.
    pub fn try_admit(&mut self, tokens: u64) -> Admission {
        let now = Instant::now();
        let mut wait = 0;
        if let Some(bucket) = self.requests.as_mut() {
            bucket.refill(now);
            if bucket.tokens < 1.0 {
                wait = wait.max(bucket.wait_secs(1.0));
            }
        }
        if let Some(bucket) = self.tokens.as_mut() {
            bucket.refill(now);
            if bucket.tokens < tokens as f64 {
                wait = wait.max(bucket.wait_secs(tokens as f64));
            }
        }
        if wait > 0 {
            return Admission::Throttled { retry_after_secs: wait };
        }
        if let Some(bucket) = self.requests.as_mut() {
            bucket.tokens -= 1.0;
        }
        if let Some(bucket) = self.tokens.as_mut() {
            bucket.tokens -= tokens as f64;
        }
        Admission::Granted
    }

    /// Gives back `tokens` unused tokens of an earlier reservation.
    pub fn refund(&mut self, tokens: u64) {
        if let Some(bucket) = self.tokens.as_mut() {
            bucket.refill(Instant::now());
            bucket.tokens = (bucket.tokens + tokens as f64).min(bucket.capacity);
        }
    }

    /// Tokens currently available in the tokens-per-minute bucket, if limited.
    #[cfg(test)]
    fn tokens_available(&mut self) -> Option<u64> {
        let now = Instant::now();
        self.tokens.as_mut().map(|b| {
            b.refill(now);
            b.tokens.max(0.0) as u64
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpm_exhausts() {
        let mut q = Quota::new(Some(2), None);
        assert_eq!(q.try_admit(0), Admission::Granted);
        assert_eq!(q.try_admit(0), Admission::Granted);
        assert!(matches!(q.try_admit(0), Admission::Throttled { .. }));
        q.reset();
        assert_eq!(q.try_admit(0), Admission::Granted);
    }

    #[test]
    fn tpm_reserve_and_refund() {
        let mut q = Quota::new(None, Some(100));
        assert_eq!(q.try_admit(80), Admission::Granted);
        assert!(matches!(q.try_admit(30), Admission::Throttled { .. }));
        q.refund(70);
        assert_eq!(q.try_admit(30), Admission::Granted);
        assert_eq!(q.try_admit(1000), Admission::Throttled { retry_after_secs: 60 });
    }

    #[test]
    fn unlimited() {
        let mut q = Quota::new(None, None);
        for _ in 0..1000 {
            assert_eq!(q.try_admit(1_000_000), Admission::Granted);
        }
        assert_eq!(q.tokens_available(), None);
    }
}
