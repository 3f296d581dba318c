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
//! * a take admitted ahead of the refill (a shared store admits up to a horizon ahead, so
//!   waiting callers queue instead of racing) gets a [`Turn`]: when it may start, and how much
//!   had been given back to the bucket when it was taken. Whatever is given back while it
//!   waits would have let it start that much sooner, and every turn in the queue moves sooner
//!   by the same amount, so the queue keeps its order and nothing is counted twice (see
//!   [`Turn`]);
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
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// Every amount was taken.
    Taken,
    /// Every amount was taken ahead of the refill: the call may start when its turn comes (a
    /// shared store admits a little ahead, so waiting callers queue instead of racing).
    TakenAhead(Turn),
    /// Nothing was taken; try again after this long.
    Wait(Duration),
}

impl Admission {
    /// Every amount taken, for a call whose turn is `turn`: [`Admission::Taken`] when it has
    /// come already at `now_ms`.
    pub fn at(turn: Turn, now_ms: u64) -> Self {
        if turn.delay(now_ms).is_zero() {
            Admission::Taken
        } else {
            Admission::TakenAhead(turn)
        }
    }
}

/// When a take admitted ahead of the refill may start: for every bucket of the take, the
/// moment the bucket covers it and how much had been given back to the bucket when it was
/// taken (its *given* total, in milliseconds of refill, which only grows).
///
/// A take's turn in one bucket is `tat − τ`, with `tat` just after the take: the takes
/// before it and the refunds given back before it are in that `tat`. A refund given back while
/// it waits lowers `tat` for the takes that follow, and would have lowered this one's too had
/// it come first; [`Turn::advance`] moves the turn sooner by everything given back since it
/// was taken. Every queued turn moves by the same amount, so their order holds, and a take
/// made after the refund already had it in its `tat`: at any moment the takes that have
/// started together cost no more than the refill, the capacity and the refunds so far, as
/// without moving.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Turn {
    buckets: Vec<BucketTurn>,
}

/// One bucket's part of a [`Turn`].
#[derive(Debug, Clone, PartialEq)]
struct BucketTurn {
    key: String,
    /// When the bucket covers the take (Unix milliseconds).
    at_ms: f64,
    /// The bucket's given total when last looked at.
    given_ms: f64,
}

impl Turn {
    /// A turn at `now_ms + delay`, for no bucket in particular (a store that cannot tell); like
    /// every turn, its [`Turn::delay`] adds a millisecond.
    pub fn after(now_ms: u64, delay: Duration) -> Self {
        let mut turn = Turn::default();
        turn.push("", now_ms as f64 + delay.as_secs_f64() * 1000.0, 0.0);
        turn
    }

    /// Adds bucket `key`'s part: the take was left at `tat` in a bucket of shape `spec` whose
    /// given total was then `given_ms`.
    pub fn bucket(&mut self, key: &str, spec: BucketSpec, tat: f64, given_ms: f64) {
        self.push(key, tat - spec.tolerance_ms(), given_ms);
    }

    fn push(&mut self, key: &str, at_ms: f64, given_ms: f64) {
        self.buckets.push(BucketTurn { key: key.to_string(), at_ms, given_ms });
    }

    /// Adds every bucket of `other` (a take spanning several items of a store).
    pub fn extend(&mut self, other: Turn) {
        self.buckets.extend(other.buckets);
    }

    /// The buckets of the turn, by key.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.buckets.iter().map(|b| b.key.as_str())
    }

    /// How long after `now_ms` the turn comes (rounded up to the next millisecond, plus one).
    pub fn delay(&self, now_ms: u64) -> Duration {
        let at = self.buckets.iter().map(|b| b.at_ms).fold(f64::NEG_INFINITY, f64::max);
        rounded_up(at - now_ms as f64)
    }

    /// Bucket `key`'s given total is now `given_ms`: whatever was given back since the turn was
    /// taken (or last advanced) moves its turn in that bucket that much sooner. A smaller total
    /// (a store that lost it) moves nothing.
    pub fn advance(&mut self, key: &str, given_ms: f64) {
        for b in self.buckets.iter_mut().filter(|b| b.key == key) {
            if given_ms > b.given_ms {
                b.at_ms -= given_ms - b.given_ms;
                b.given_ms = given_ms;
            }
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
    /// Whether [`BucketStore::look_again`] can move a turn sooner (a store that knows what was
    /// given back to its buckets since a take). The default cannot.
    fn moves_turns(&self) -> bool {
        false
    }
    /// Moves `turn` sooner by what has been given back to its buckets since it was taken (see
    /// [`Turn::advance`]); for a shared store, one read. The default knows of nothing.
    async fn look_again(&self, turn: &mut Turn) -> Result<(), BucketError> {
        let _ = turn;
        Ok(())
    }
}

/// Buckets held in this process: the embedded run's budget, and the reference the shared
/// store is tested against.
#[derive(Debug, Default)]
pub struct LocalBuckets {
    cells: Mutex<Cells>,
    /// How far ahead of the refill a take is admitted (0: only what the buckets hold now).
    ahead_ms: f64,
}

/// Every bucket's `tat` and given total (see [`Turn`]), by key.
#[derive(Debug, Default)]
struct Cells {
    tats: HashMap<String, f64>,
    given: HashMap<String, f64>,
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

    fn lock(&self) -> MutexGuard<'_, Cells> {
        self.cells.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl BucketStore for LocalBuckets {
    async fn take(&self, takes: &[Take<'_>], now_ms: u64) -> Result<Admission, BucketError> {
        let mut cells = self.lock();
        let mut wait = Duration::ZERO;
        let mut next = Vec::with_capacity(takes.len());
        for t in takes {
            match t.spec.admit_ahead(cells.tats.get(t.key).copied(), t.amount, now_ms, self.ahead_ms) {
                Ok((tat, _)) => next.push(tat),
                Err(d) => wait = wait.max(d),
            }
        }
        if !wait.is_zero() {
            return Ok(Admission::Wait(wait));
        }
        let mut turn = Turn::default();
        for (t, tat) in takes.iter().zip(next) {
            cells.tats.insert(t.key.to_string(), tat);
            turn.bucket(t.key, t.spec, tat, cells.given.get(t.key).copied().unwrap_or(0.0));
        }
        Ok(Admission::at(turn, now_ms))
    }

    async fn give(&self, key: &str, spec: BucketSpec, amount: f64, _now_ms: u64) -> Result<(), BucketError> {
        let mut cells = self.lock();
        if let Some(tat) = spec.given(cells.tats.get(key).copied(), amount) {
            cells.tats.insert(key.to_string(), tat);
            // Only what comes back moves turns; a debt is for the takes that follow.
            if amount > 0.0 {
                *cells.given.entry(key.to_string()).or_default() += amount * spec.ms_per_unit();
            }
        }
        Ok(())
    }

    fn peek(&self, key: &str, spec: BucketSpec, now_ms: u64) -> Option<f64> {
        Some(spec.level(self.lock().tats.get(key).copied(), now_ms))
    }

    fn describe(&self) -> String {
        "in-process".to_string()
    }

    fn moves_turns(&self) -> bool {
        true
    }

    async fn look_again(&self, turn: &mut Turn) -> Result<(), BucketError> {
        let cells = self.lock();
        for (key, given) in &cells.given {
            turn.advance(key, *given);
        }
        Ok(())
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
    async fn a_queued_turn_moves_sooner_by_what_is_given_back_and_keeps_its_place() {
        // Admitted up to 10 s ahead; T = 10 ms a token.
        let store = LocalBuckets::ahead(10_000.0);
        let take = |amount| [Take { key: "m#tokens", spec: SPEC, amount }];
        let turn = |a: Admission| match a {
            Admission::TakenAhead(t) => t,
            other => panic!("expected a turn, got {other:?}"),
        };
        assert_eq!(store.take(&take(6_000.0), 0).await.unwrap(), Admission::Taken);
        // 500 short: 5 s of refill.
        let mut first = turn(store.take(&take(500.0), 0).await.unwrap());
        assert_eq!(first.delay(0), Duration::from_millis(5_001));
        // 200 given back (a call that used less than it reserved), then a debt of 50 (one that
        // used more): the queued turn comes 2 s sooner; the debt is for the takes that follow.
        store.give("m#tokens", SPEC, 200.0, 0).await.unwrap();
        store.give("m#tokens", SPEC, -50.0, 0).await.unwrap();
        store.look_again(&mut first).await.unwrap();
        assert_eq!(first.delay(0), Duration::from_millis(3_001));
        // A take after the refund had it already: it queues behind the first turn, by its own
        // cost (100 = 1 s) and the debt (0.5 s); looking again moves neither twice.
        let mut second = turn(store.take(&take(100.0), 0).await.unwrap());
        store.look_again(&mut second).await.unwrap();
        store.look_again(&mut first).await.unwrap();
        assert_eq!(first.delay(0), Duration::from_millis(3_001));
        assert_eq!(second.delay(0), Duration::from_millis(4_501));
        // More given back than the queue waits for: both turns are due now, and the bucket
        // holds what was taken and given back, no more (6 000 − 6 000 − 500 + 200 − 50 − 100
        // + 1 000).
        store.give("m#tokens", SPEC, 1_000.0, 0).await.unwrap();
        store.look_again(&mut first).await.unwrap();
        store.look_again(&mut second).await.unwrap();
        assert_eq!((first.delay(0), second.delay(0)), (Duration::ZERO, Duration::ZERO));
        assert_eq!(store.peek("m#tokens", SPEC, 0), Some(550.0));
        // A store that cannot tell leaves the turn as it was.
        assert!(!Unaware.moves_turns());
        let mut kept = Turn::after(0, Duration::from_millis(700));
        Unaware.look_again(&mut kept).await.unwrap();
        assert_eq!(kept.delay(0), Duration::from_millis(701));
    }

    /// A store with the trait's defaults for turns.
    #[derive(Debug)]
    struct Unaware;

    #[async_trait]
    impl BucketStore for Unaware {
        async fn take(&self, _: &[Take<'_>], _: u64) -> Result<Admission, BucketError> {
            Ok(Admission::Taken)
        }
        async fn give(&self, _: &str, _: BucketSpec, _: f64, _: u64) -> Result<(), BucketError> {
            Ok(())
        }
        fn peek(&self, _: &str, _: BucketSpec, _: u64) -> Option<f64> {
            None
        }
        fn describe(&self) -> String {
            "unaware".into()
        }
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
