//! The token-bucket arithmetic of the quota, and where the buckets live.
//!
//! One algorithm ([`BucketLevel`]) serves every backend: a bucket holds at most its capacity,
//! refills continuously at `per_sec`, never refills for a negative elapsed time (a clock behind
//! the last writer's), and may go negative when a call used more than it reserved (later takers
//! wait for the debt). [`BucketStore`] is where the levels live:
//!
//! * [`LocalBuckets`]: in this process (the embedded run, tests);
//! * [`crate::dynamo::DynamoBuckets`]: one DynamoDB item per bucket, shared by every process
//!   that names the same table (every Lambda instance, every execution).
//!
//! Time is wall-clock milliseconds since the Unix epoch (from the quota's
//! [`crate::quota::Clock`]), so processes on different hosts agree on it up to clock skew.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

/// The shape of one bucket: how much it holds and how fast it refills.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketSpec {
    /// The most the bucket holds (one minute's worth).
    pub capacity: f64,
    /// Refill per second.
    pub per_sec: f64,
}

impl BucketSpec {
    /// A bucket holding one minute's worth of `per_minute` (at least 1), refilled continuously.
    pub fn per_minute(per_minute: f64) -> Self {
        let capacity = per_minute.max(1.0);
        Self { capacity, per_sec: capacity / 60.0 }
    }

    /// The amount a request of `amount` actually takes: never more than the capacity, so a
    /// single huge request cannot wait forever, and never negative.
    pub fn clamp(&self, amount: f64) -> f64 {
        amount.min(self.capacity).max(0.0)
    }
}

/// A bucket's level at a moment (`last_ms`, wall-clock milliseconds since the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketLevel {
    /// What the bucket holds (negative while in debt).
    pub level: f64,
    /// When `level` was computed.
    pub last_ms: u64,
}

impl BucketLevel {
    /// A full bucket at `now_ms` (a bucket nobody has used yet).
    pub fn full(spec: BucketSpec, now_ms: u64) -> Self {
        Self { level: spec.capacity, last_ms: now_ms }
    }

    /// The level at `now_ms`: a stored level above the capacity (refunds are added without
    /// reading) is cut to it, then the elapsed time refills it. A `now_ms` before `last_ms`
    /// (this clock behind the last writer's) refills nothing and keeps `last_ms`.
    pub fn refilled(self, spec: BucketSpec, now_ms: u64) -> Self {
        let elapsed_s = now_ms.saturating_sub(self.last_ms) as f64 / 1000.0;
        let level = (self.level.min(spec.capacity) + elapsed_s * spec.per_sec).min(spec.capacity);
        Self { level, last_ms: self.last_ms.max(now_ms) }
    }

    /// How long until `amount` is available (zero when it is now).
    pub fn wait_for(&self, spec: BucketSpec, amount: f64) -> Duration {
        let deficit = spec.clamp(amount) - self.level;
        if deficit <= 0.0 {
            Duration::ZERO
        } else if spec.per_sec <= 0.0 {
            Duration::from_secs(60)
        } else {
            // Round up to the millisecond so a wake-up never lands just short of the refill.
            Duration::from_millis((((deficit / spec.per_sec) * 1000.0).ceil() as u64).saturating_add(1))
        }
    }

    /// The level after taking `amount` (clamped to the capacity).
    pub fn taken(self, spec: BucketSpec, amount: f64) -> Self {
        Self { level: self.level - spec.clamp(amount), ..self }
    }

    /// The level after giving back `amount` (negative: charging a debt), never above the
    /// capacity.
    pub fn given(self, spec: BucketSpec, amount: f64) -> Self {
        Self { level: (self.level + amount).min(spec.capacity), ..self }
    }
}

/// One amount to take from one bucket.
#[derive(Debug, Clone, Copy)]
pub struct Take<'a> {
    /// The bucket's key (`<model id or inference profile>#<requests|tokens|images>`).
    pub key: &'a str,
    /// The bucket's shape, from the caller's configuration.
    pub spec: BucketSpec,
    /// How much to take (already clamped to the capacity).
    pub amount: f64,
}

/// The answer to [`BucketStore::take`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Every amount was taken.
    Taken,
    /// Nothing was taken; try again after this long.
    Wait(Duration),
}

/// A bucket store could not be read or written (the quota table is unreachable, access is
/// denied, ...). The call is not admitted: silently skipping the budget would overrun it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quota buckets {store}, bucket {key}: {message}")]
pub struct BucketError {
    /// The store (`dynamodb table coursegen-quota`).
    pub store: String,
    /// The bucket being read or written.
    pub key: String,
    /// What went wrong.
    pub message: String,
}

/// Where the quota's buckets live (see the module docs). Every method works on the caller's
/// [`BucketSpec`], so a store holds levels, not configuration.
#[async_trait]
pub trait BucketStore: Send + Sync + fmt::Debug {
    /// Take every amount of `takes` at `now_ms`, all or nothing; when any bucket is short,
    /// take nothing and say how long until all of them would admit.
    async fn take(&self, takes: &[Take<'_>], now_ms: u64) -> Result<Admission, BucketError>;
    /// Give `amount` back to bucket `key` (negative: charge a debt).
    async fn give(&self, key: &str, spec: BucketSpec, amount: f64, now_ms: u64) -> Result<(), BucketError>;
    /// The level of bucket `key` at `now_ms` as far as this process knows (for a shared store:
    /// the last level it read or wrote, refilled since); `None` when it knows nothing yet.
    fn peek(&self, key: &str, spec: BucketSpec, now_ms: u64) -> Option<f64>;
    /// A short name for logs and errors.
    fn describe(&self) -> String;
    /// How long a waiting caller may sleep before it looks at the buckets again. Other
    /// processes give back to a shared store's buckets without this process hearing of it, so
    /// a wait computed from the refill rate alone would sleep through their refunds; an
    /// in-process store wakes its waiters on every refund and needs no recheck (`None`).
    fn recheck_interval(&self) -> Option<std::time::Duration> {
        None
    }
}

/// Buckets held in this process: the embedded run's budget, and the reference the shared
/// store is tested against.
#[derive(Debug, Default)]
pub struct LocalBuckets {
    levels: Mutex<HashMap<String, BucketLevel>>,
}

impl LocalBuckets {
    /// An empty store: every bucket starts full on first use.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, BucketLevel>> {
        self.levels.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl BucketStore for LocalBuckets {
    async fn take(&self, takes: &[Take<'_>], now_ms: u64) -> Result<Admission, BucketError> {
        let mut levels = self.lock();
        let mut wait = Duration::ZERO;
        let mut refilled = Vec::with_capacity(takes.len());
        for t in takes {
            let level = levels
                .get(t.key)
                .copied()
                .unwrap_or_else(|| BucketLevel::full(t.spec, now_ms))
                .refilled(t.spec, now_ms);
            wait = wait.max(level.wait_for(t.spec, t.amount));
            refilled.push(level);
        }
        let admitted = wait.is_zero();
        for (t, level) in takes.iter().zip(refilled) {
            let level = if admitted { level.taken(t.spec, t.amount) } else { level };
            levels.insert(t.key.to_string(), level);
        }
        Ok(if admitted { Admission::Taken } else { Admission::Wait(wait) })
    }

    async fn give(&self, key: &str, spec: BucketSpec, amount: f64, now_ms: u64) -> Result<(), BucketError> {
        let mut levels = self.lock();
        let level = levels.get(key).copied().unwrap_or_else(|| BucketLevel::full(spec, now_ms));
        levels.insert(key.to_string(), level.refilled(spec, now_ms).given(spec, amount));
        Ok(())
    }

    fn peek(&self, key: &str, spec: BucketSpec, now_ms: u64) -> Option<f64> {
        let level = self.lock().get(key).copied().unwrap_or_else(|| BucketLevel::full(spec, now_ms));
        Some(level.refilled(spec, now_ms).level)
    }

    fn describe(&self) -> String {
        "in-process".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: BucketSpec = BucketSpec { capacity: 6_000.0, per_sec: 100.0 };

    #[test]
    fn refill_is_continuous_capped_and_ignores_a_clock_running_behind() {
        let b = BucketLevel { level: 1_000.0, last_ms: 10_000 };
        assert_eq!(b.refilled(SPEC, 12_500), BucketLevel { level: 1_250.0, last_ms: 12_500 });
        assert_eq!(b.refilled(SPEC, 1_000_000).level, 6_000.0, "never above the capacity");
        // A writer whose clock is 3 s ahead stored last_ms = 10 000; a reader at 7 000 refills
        // nothing and keeps the later time, so the 3 s are not counted twice.
        assert_eq!(b.refilled(SPEC, 7_000), b);
        // A stored level above the capacity (refunds are added blind) is cut at read time.
        assert_eq!(BucketLevel { level: 9_000.0, last_ms: 0 }.refilled(SPEC, 0).level, 6_000.0);
    }

    #[test]
    fn waits_takes_and_refunds_follow_the_rate() {
        let b = BucketLevel { level: 2_500.0, last_ms: 0 };
        assert_eq!(b.wait_for(SPEC, 2_500.0), Duration::ZERO);
        // 3 000 short at 100/s: 30 s, rounded up by a millisecond.
        assert_eq!(b.wait_for(SPEC, 5_500.0), Duration::from_millis(30_001));
        // More than the capacity is clamped, so it waits for a full bucket, not forever.
        assert_eq!(b.wait_for(SPEC, 1e12), Duration::from_millis(35_001));
        assert_eq!(b.taken(SPEC, 1e12).level, -3_500.0);
        assert_eq!(b.given(SPEC, 10_000.0).level, 6_000.0);
        assert_eq!(b.given(SPEC, -500.0).level, 2_000.0, "a debt is charged below zero if need be");
    }

    #[tokio::test]
    async fn local_buckets_take_all_or_nothing() {
        let store = LocalBuckets::new();
        let req = BucketSpec::per_minute(60.0);
        let both = |tokens| {
            [Take { key: "m#requests", spec: req, amount: 1.0 }, Take { key: "m#tokens", spec: SPEC, amount: tokens }]
        };
        assert_eq!(store.take(&both(4_000.0), 0).await.unwrap(), Admission::Taken);
        assert_eq!(store.peek("m#requests", req, 0), Some(59.0));
        // Tokens short: the request is not taken either.
        assert_eq!(store.take(&both(4_000.0), 0).await.unwrap(), Admission::Wait(Duration::from_millis(20_001)));
        assert_eq!(store.peek("m#requests", req, 0), Some(59.0));
        store.give("m#tokens", SPEC, 2_000.0, 0).await.unwrap();
        assert_eq!(store.take(&both(4_000.0), 0).await.unwrap(), Admission::Taken);
        assert_eq!(store.peek("m#tokens", SPEC, 0), Some(0.0));
        assert_eq!(store.peek("other", SPEC, 0), Some(6_000.0), "an unknown bucket is full");
    }
}
