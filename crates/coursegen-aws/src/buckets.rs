//! The token-bucket arithmetic of the quota, and where the buckets live.
//!
//! One algorithm serves every backend: a token bucket holding at most its capacity and
//! refilled continuously at `per_sec`, kept in the form of the generic cell rate algorithm
//! (GCRA). A bucket is one number, its *theoretical arrival time* `tat` (wall-clock
//! milliseconds since the Unix epoch): the moment the bucket would be full again if nothing
//! more were taken. With `T = 1000 / per_sec` milliseconds per unit and the tolerance
//! `τ = capacity × T`, the bucket holds `min(capacity, (now + τ − tat) / T)`:
//!
//! * taking `a` units sets `tat = max(tat, now) + a × T`, admitted when the result is at most
//!   `now + τ` (the bucket held `a`); otherwise the wait is the difference;
//! * giving `a` back is `tat − a × T`, giving a negative amount (a call used more than it
//!   reserved) is a debt later takers wait for; a `tat` in the past is a full bucket, so
//!   refunds beyond the capacity are cut automatically;
//! * a clock behind the last writer's sees less in the bucket, never more: skew makes the
//!   budget stricter, never looser.
//!
//! Because a take is "add to one number, on condition that it lies in a range", a shared
//! store does it in a single conditional write without reading first. [`BucketStore`] is where
//! the numbers live:
//!
//! * [`LocalBuckets`]: in this process (the embedded run, tests);
//! * [`crate::dynamo::DynamoBuckets`]: DynamoDB items shared by every process that names the
//!   same table (every Lambda instance, every execution).
//!
//! Time comes from the quota's [`crate::quota::Clock`], so processes on different hosts agree
//! on it up to clock skew.

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

/// The outcome of [`BucketSpec::admit`]: where the bucket's `tat` moves to, or how long until
/// the amount would be admitted.
pub type Admit = Result<f64, Duration>;

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

    /// Milliseconds of refill per unit (`T`).
    pub fn ms_per_unit(&self) -> f64 {
        1000.0 / self.per_sec.max(1e-9)
    }

    /// How far ahead of now `tat` may run (`τ`, the capacity in milliseconds of refill).
    pub fn tolerance_ms(&self) -> f64 {
        self.capacity * self.ms_per_unit()
    }

    /// What `amount` (clamped) costs in milliseconds of refill.
    pub fn cost_ms(&self, amount: f64) -> f64 {
        self.clamp(amount) * self.ms_per_unit()
    }

    /// What the bucket holds at `now_ms` when its `tat` is `tat` (`None`: nobody has taken from
    /// it, a full bucket). Negative while in debt.
    pub fn level(&self, tat: Option<f64>, now_ms: u64) -> f64 {
        match tat {
            None => self.capacity,
            Some(tat) => ((now_ms as f64 + self.tolerance_ms() - tat) / self.ms_per_unit()).min(self.capacity),
        }
    }

    /// Take `amount` (clamped) at `now_ms` from a bucket at `tat`: the new `tat`, or how long
    /// until the bucket holds the amount (rounded up to the next millisecond, plus one, so a
    /// wake-up never lands just short of the refill).
    pub fn admit(&self, tat: Option<f64>, amount: f64, now_ms: u64) -> Admit {
        self.admit_ahead(tat, amount, now_ms, 0.0).map(|(next, _)| next)
    }

    /// Like [`BucketSpec::admit`], but also admitting a take the bucket will hold within
    /// `horizon_ms`: the new `tat` and how long the call must wait before it starts (zero when
    /// the bucket holds the amount now). A refusal's wait is until the take falls within the
    /// horizon.
    pub fn admit_ahead(
        &self,
        tat: Option<f64>,
        amount: f64,
        now_ms: u64,
        horizon_ms: f64,
    ) -> Result<(f64, Duration), Duration> {
        let now = now_ms as f64;
        let next = tat.map_or(now, |t| t.max(now)) + self.cost_ms(amount);
        let over = next - now - self.tolerance_ms();
        if over <= horizon_ms + 1e-6 {
            Ok((next, self.start_delay(next, now_ms)))
        } else {
            Err(rounded_up(over - horizon_ms))
        }
    }

    /// How long after `now_ms` a take that moved the bucket's `tat` to `tat` may start: zero
    /// when the bucket held the amount, else until the refill covers it.
    pub fn start_delay(&self, tat: f64, now_ms: u64) -> Duration {
        rounded_up(tat - now_ms as f64 - self.tolerance_ms())
    }

    /// The `tat` after giving back `amount` (negative: charging a debt). A bucket nobody has
    /// taken from is full and stays so.
    pub fn given(&self, tat: Option<f64>, amount: f64) -> Option<f64> {
        tat.map(|t| t - amount * self.ms_per_unit())
    }
}

/// `ms` milliseconds (zero when not positive) rounded up to the next millisecond, plus one, so
/// a wake-up never lands just short of the refill.
fn rounded_up(ms: f64) -> Duration {
    if ms <= 1e-6 {
        Duration::ZERO
    } else {
        Duration::from_millis((ms.ceil() as u64).saturating_add(1))
    }
}

/// One amount to take from one bucket.
#[derive(Debug, Clone, Copy)]
pub struct Take<'a> {
    /// The bucket's key (`<model id or inference profile>#<requests|tokens|images>`).
    pub key: &'a str,
    /// The bucket's shape, from the caller's configuration.
    pub spec: BucketSpec,
    /// How much to take (clamped to the capacity when taken).
    pub amount: f64,
}

/// The answer to [`BucketStore::take`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Every amount was taken.
    Taken,
    /// Every amount was taken ahead of the refill: the call may start after this long (a
    /// shared store admits a little ahead, so waiting callers queue instead of racing).
    TakenAhead(Duration),
    /// Nothing was taken; try again after this long.
    Wait(Duration),
}

impl Admission {
    /// Every amount taken, for a call that may start after `delay`.
    pub fn after(delay: Duration) -> Self {
        if delay.is_zero() {
            Admission::Taken
        } else {
            Admission::TakenAhead(delay)
        }
    }
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
/// [`BucketSpec`], so a store holds each bucket's `tat`, not its configuration.
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
    /// How long a caller whose take was refused with [`Admission::Wait`]`(refused_for)` sleeps
    /// before it asks again. An in-process store wakes its waiters on every refund and sees
    /// every take, so the wait it computed is exact (the default). A shared store answers for
    /// other processes too: their refunds come back without this process hearing of them, and
    /// every caller refused at the same moment was told the same wait (see
    /// [`crate::dynamo::DynamoBuckets`]).
    fn wait_before_asking_again(&self, refused_for: Duration) -> Duration {
        refused_for
    }
}

/// Buckets held in this process: the embedded run's budget, and the reference the shared
/// store is tested against.
#[derive(Debug, Default)]
pub struct LocalBuckets {
    tats: Mutex<HashMap<String, f64>>,
    /// How far ahead of the refill a take is admitted (0: only what the buckets hold now).
    ahead_ms: f64,
}

impl LocalBuckets {
    /// An empty store: every bucket starts full on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store admitting takes up to `ahead_ms` ahead of the refill
    /// ([`Admission::TakenAhead`]), as the shared store does.
    pub fn ahead(ahead_ms: f64) -> Self {
        Self { ahead_ms, ..Self::default() }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, f64>> {
        self.tats.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl BucketStore for LocalBuckets {
    async fn take(&self, takes: &[Take<'_>], now_ms: u64) -> Result<Admission, BucketError> {
        let mut tats = self.lock();
        let mut wait = Duration::ZERO;
        let mut start = Duration::ZERO;
        let mut next = Vec::with_capacity(takes.len());
        for t in takes {
            match t.spec.admit_ahead(tats.get(t.key).copied(), t.amount, now_ms, self.ahead_ms) {
                Ok((tat, delay)) => {
                    next.push(tat);
                    start = start.max(delay);
                }
                Err(d) => wait = wait.max(d),
            }
        }
        if !wait.is_zero() {
            return Ok(Admission::Wait(wait));
        }
        for (t, tat) in takes.iter().zip(next) {
            tats.insert(t.key.to_string(), tat);
        }
        Ok(Admission::after(start))
    }

    async fn give(&self, key: &str, spec: BucketSpec, amount: f64, _now_ms: u64) -> Result<(), BucketError> {
        let mut tats = self.lock();
        if let Some(tat) = spec.given(tats.get(key).copied(), amount) {
            tats.insert(key.to_string(), tat);
        }
        Ok(())
    }

    fn peek(&self, key: &str, spec: BucketSpec, now_ms: u64) -> Option<f64> {
        Some(spec.level(self.lock().get(key).copied(), now_ms))
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
    fn the_level_refills_continuously_up_to_the_capacity() {
        // T = 10 ms a unit, τ = 60 s. A tat 50 s ahead of now: 1 000 units left.
        let tat = Some(60_000.0);
        assert_eq!(SPEC.level(tat, 10_000), 1_000.0);
        assert_eq!(SPEC.level(tat, 12_500), 1_250.0, "2.5 s refill 250");
        assert_eq!(SPEC.level(tat, 1_000_000), 6_000.0, "never above the capacity");
        assert_eq!(SPEC.level(None, 0), 6_000.0, "a bucket nobody used is full");
        // A reader whose clock is 3 s behind sees 300 less: skew makes the budget stricter.
        assert_eq!(SPEC.level(tat, 7_000), 700.0);
        // A refund past the capacity moves tat into the past: a full bucket, no more.
        assert_eq!(SPEC.level(SPEC.given(tat, 100_000.0), 10_000), 6_000.0);
    }

    #[test]
    fn takes_waits_and_refunds_follow_the_rate() {
        // 2 500 units at now = 0.
        let tat = Some(35_000.0);
        assert_eq!(SPEC.level(tat, 0), 2_500.0);
        assert_eq!(SPEC.admit(tat, 2_500.0, 0), Ok(60_000.0));
        // 3 000 short at 100/s: 30 s, rounded up by a millisecond.
        assert_eq!(SPEC.admit(tat, 5_500.0, 0), Err(Duration::from_millis(30_001)));
        // More than the capacity is clamped, so it waits for a full bucket, not forever.
        assert_eq!(SPEC.admit(tat, 1e12, 0), Err(Duration::from_millis(35_001)));
        assert_eq!(SPEC.admit(tat, 1e12, 35_000), Ok(95_000.0));
        // A take from a full bucket starts from now, not from an old tat.
        assert_eq!(SPEC.admit(Some(-5.0), 100.0, 1_000), Ok(2_000.0));
        assert_eq!(SPEC.level(SPEC.given(tat, -500.0), 0), 2_000.0, "a debt is charged");
        assert_eq!(SPEC.level(SPEC.given(Some(100_000.0), 0.0), 0), -4_000.0, "and may go below zero");
    }

    #[test]
    fn a_take_within_the_horizon_is_admitted_with_its_start_delay() {
        // 2 500 units at now = 0; 3 000 wanted: 500 short, 5 s of refill.
        let tat = Some(35_000.0);
        assert_eq!(SPEC.admit_ahead(tat, 3_000.0, 0, 5_000.0), Ok((65_000.0, Duration::from_millis(5_001))));
        assert_eq!(SPEC.admit_ahead(tat, 2_000.0, 0, 5_000.0), Ok((55_000.0, Duration::ZERO)));
        // Beyond the horizon: refused, and asked back when it falls within it.
        assert_eq!(SPEC.admit_ahead(tat, 3_000.0, 0, 1_000.0), Err(Duration::from_millis(4_001)));
        // The next taker queues behind the first one's turn.
        assert_eq!(SPEC.admit_ahead(Some(65_000.0), 100.0, 0, 7_000.0), Ok((66_000.0, Duration::from_millis(6_001))));
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
