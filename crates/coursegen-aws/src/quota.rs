//! Quota discipline shared by every model call of a model.
//!
//! * [`Quota`] holds the budget: a requests-per-minute and a tokens-per-minute token bucket
//!   (each holding one minute's worth, refilled continuously, like Bedrock's own quotas) are the
//!   admission control. The buckets live in a [`BucketStore`]: in this process
//!   ([`LocalBuckets`], the embedded run) or in a DynamoDB table every process shares
//!   ([`crate::dynamo::DynamoBuckets`], `QUOTA_TABLE`); both run the same arithmetic
//!   ([`crate::buckets::BucketSpec::admit`], GCRA). Buckets are keyed by the model id or inference profile
//!   the calls use ([`BucketKeys`]). The number of calls in flight is local to the process and
//!   is not a fixed cap; it is the smallest of three limits:
//!   - an adaptive (AIMD) limit that starts at [`UNQUOTED_START_CONCURRENCY`] and only backs
//!     off on throttles: a throttle halves it (never below one), a success adds `1/limit`;
//!   - with a quota configured, the limit the quota implies (Little's law): the requests per
//!     second it sustains (from RPM, and from TPM over the average tokens per call) × the
//!     observed call latency × [`QUOTA_HEADROOM`], but never below the burst the buckets still
//!     admit (as far as this process last saw them), so a fan-out within the minute's burst is
//!     not held back; before the first call finishes nothing is known, and the buckets alone
//!     admit;
//!   - an optional explicit ceiling ([`QuotaConfig::max_concurrency`]).
//! * A call reserves its input tokens plus `max_tokens` × the model's output burndown factor
//!   up front, as Bedrock does when a request starts, and gives back the unused part once the
//!   real usage is known ([`Permit::succeed`], [`Quota::charge`]).
//! * [`Governor::run`] drives one call: acquire a permit, attempt, classify the failure, back
//!   off with full jitter, and stop at the call's deadline with [`StageError::Throttling`] (when
//!   the last failure was a throttle) or [`StageError::Model`]. A bucket store that cannot be
//!   reached fails the call with the retryable [`StageError::Store`].
//!
//! Time comes from a [`Clock`] so tests can drive backoff without waiting ([`ManualClock`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use coursegen_core::error::{StageError, StageResult};
use rand::Rng;
use tokio::sync::Notify;
use tracing::Instrument;

pub use crate::buckets::{Admission, BucketError, BucketSpec, BucketStore, LocalBuckets, Take, Turn};

/// A boxed, sendable future, as returned by [`Clock::sleep`].
pub type SleepFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The source of time for quota buckets, backoff and deadlines.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> Instant;
    /// The current wall-clock time in milliseconds since the Unix epoch (bucket refills, which
    /// processes sharing a bucket must agree on).
    fn unix_millis(&self) -> u64;
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> SleepFuture;
}

/// The real clock: `Instant::now()`, `SystemTime::now()` and `tokio::time::sleep`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

/// Milliseconds since the Unix epoch by the system clock (0 before 1970).
fn system_unix_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis().min(u128::from(u64::MAX)) as u64).unwrap_or(0)
}

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn unix_millis(&self) -> u64 {
        system_unix_millis()
    }
    fn sleep(&self, duration: Duration) -> SleepFuture {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock for tests: `sleep` returns at once after advancing the clock by the requested
/// duration, and every requested sleep is recorded. Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<ManualState>>,
}

#[derive(Debug)]
struct ManualState {
    start: Instant,
    start_ms: u64,
    now: Instant,
    sleeps: Vec<Duration>,
}

impl ManualClock {
    /// A clock starting at the current real instant and wall-clock time.
    pub fn new() -> Self {
        Self::starting_at(system_unix_millis())
    }
    /// A clock whose wall-clock time starts at `unix_millis` (tests of skewed clocks).
    pub fn starting_at(unix_millis: u64) -> Self {
        let now = Instant::now();
        Self { inner: Arc::new(Mutex::new(ManualState { start: now, start_ms: unix_millis, now, sleeps: Vec::new() })) }
    }
    /// Move the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut s = self.lock();
        s.now = later(s.now, by);
    }
    /// Every duration passed to `sleep`, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }
    fn lock(&self) -> MutexGuard<'_, ManualState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.lock().now
    }
    fn unix_millis(&self) -> u64 {
        let s = self.lock();
        let elapsed = s.now.saturating_duration_since(s.start).as_millis().min(u128::from(u64::MAX)) as u64;
        s.start_ms.saturating_add(elapsed)
    }
    fn sleep(&self, duration: Duration) -> SleepFuture {
        {
            let mut s = self.lock();
            s.now = later(s.now, duration);
            s.sleeps.push(duration);
        }
        Box::pin(tokio::task::yield_now())
    }
}

/// `t + d`, with `d` capped at ten years so the sum never overflows.
fn later(t: Instant, d: Duration) -> Instant {
    const TEN_YEARS: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
    t.checked_add(d.min(TEN_YEARS)).unwrap_or(t)
}

/// Where the adaptive in-flight limit starts: high enough not to bind a 10-module course's
/// fan-out (30 lessons, their visual plans and images), so only throttles bring it down.
pub const UNQUOTED_START_CONCURRENCY: u32 = 64;

/// The adaptive limit never grows past this without an explicit ceiling (a guard against
/// unbounded growth, not a budget).
pub const ADAPTIVE_LIMIT_GUARD: u32 = 1024;

/// How far above "requests per second × latency" the quota-derived in-flight limit sits, so
/// latency jitter does not leave allowed requests unused.
pub const QUOTA_HEADROOM: f64 = 1.5;

/// Weight of the newest observation in the moving averages of latency and tokens per call.
const EWMA_WEIGHT: f64 = 0.2;

/// The shortest wait between two tries at the buckets, so a store that answers "wait 0" (a
/// shared bucket under heavy contention) cannot spin.
const MIN_BUCKET_WAIT: Duration = Duration::from_millis(1);

/// The shortest wait for a turn taken ahead that is worth a look at the buckets on the way
/// (see [`Quota::wait_for_turn`]).
const MIN_WAIT_WORTH_A_LOOK: Duration = Duration::from_millis(100);

/// The most looks at the buckets on the way to one turn (see [`Quota::wait_for_turn`]).
const MAX_LOOKS_PER_TURN: u32 = 6;

/// Budget settings of one [`Quota`].
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaConfig {
    /// Requests per minute; `None` for no request budget.
    pub requests_per_minute: Option<u32>,
    /// Tokens (input + output × [`QuotaConfig::output_burndown`]) per minute; `None` for no
    /// token budget.
    pub tokens_per_minute: Option<u64>,
    /// An optional explicit ceiling on calls in flight (at least 1). `None` (the default): the
    /// quota and the throttles decide (see the module docs).
    pub max_concurrency: Option<u32>,
    /// How many tokens of the per-minute budget one output token uses (Bedrock counts the
    /// output of some models several times); at least 1, default 1.
    pub output_burndown: u32,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        Self { requests_per_minute: None, tokens_per_minute: None, max_concurrency: None, output_burndown: 1 }
    }
}

/// The keys of a quota's buckets in its [`BucketStore`]: `<model id or inference profile>#<kind>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BucketKeys {
    /// The request bucket (`…#requests` for a text model, `…#images` for an image model).
    pub requests: String,
    /// The token bucket (`…#tokens`).
    pub tokens: String,
}

impl BucketKeys {
    /// The buckets of text model `model` (a model id, inference profile id or ARN).
    pub fn text(model: &str) -> Self {
        Self { requests: format!("{model}#requests"), tokens: format!("{model}#tokens") }
    }
    /// The buckets of image model `model`.
    pub fn image(model: &str) -> Self {
        Self { requests: format!("{model}#images"), tokens: format!("{model}#tokens") }
    }
}

/// What this process knows of the bucket levels, for the in-flight limit.
#[derive(Debug, Clone, Copy, Default)]
struct Levels {
    requests: Option<f64>,
    tokens: Option<f64>,
}

#[derive(Debug)]
struct State {
    rpm: Option<BucketSpec>,
    tpm: Option<BucketSpec>,
    /// The AIMD limit.
    limit: f64,
    /// The AIMD limit's upper bound: the explicit ceiling, or [`ADAPTIVE_LIMIT_GUARD`].
    max: f64,
    /// The explicit ceiling, if any.
    ceiling: Option<u32>,
    /// Moving average of the seconds a successful call held its permit.
    latency: Option<f64>,
    /// Moving average of the tokens a successful call used.
    tokens_per_call: Option<f64>,
    in_flight: u32,
    epoch: u64,
    throttles: u64,
    successes: u64,
}

impl State {
    /// Requests per second the configured quota sustains, if there is a quota (and, for a
    /// token quota, once the tokens per call are known).
    fn quota_rate(&self) -> Option<f64> {
        let rpm = self.rpm.map(|b| b.per_sec);
        let tpm = match (self.tpm, self.tokens_per_call) {
            (Some(b), Some(t)) if t > 0.0 => Some(b.per_sec / t),
            _ => None,
        };
        [rpm, tpm].into_iter().flatten().reduce(f64::min)
    }

    /// Requests the buckets would admit at once now (the burst left): the request bucket's
    /// level, and the token bucket's level over the tokens per call; `None` without a quota.
    fn burst_left(&self, levels: Levels) -> Option<f64> {
        let rpm = self.rpm.and(levels.requests);
        let tpm = match (self.tpm.and(levels.tokens), self.tokens_per_call) {
            (Some(l), Some(t)) if t > 0.0 => Some(l / t),
            _ => None,
        };
        [rpm, tpm].into_iter().flatten().reduce(f64::min).map(|r| r.max(0.0))
    }

    /// The in-flight limit the quota implies: the sustained rate × observed latency × headroom
    /// (rounded up, at least 1), but never below the burst the buckets still admit (they are
    /// the admission control; the limit only stops calls piling up once the burst is spent);
    /// `None` without a quota or before the first call finished.
    fn quota_limit(&self, levels: Levels) -> Option<f64> {
        let (rate, latency) = (self.quota_rate()?, self.latency?);
        // Rounded up, ignoring floating-point noise (6.000000001 is 6).
        let sustained = (rate * latency * QUOTA_HEADROOM - 1e-6).ceil().max(1.0);
        Some(sustained.max(self.burst_left(levels).unwrap_or(0.0).floor()))
    }

    /// Calls allowed in flight now: the smallest of the AIMD limit, the quota's limit and the
    /// explicit ceiling.
    fn allowed(&self, levels: Levels) -> u32 {
        let mut allowed = self.limit;
        if let Some(q) = self.quota_limit(levels) {
            allowed = allowed.min(q);
        }
        if let Some(c) = self.ceiling {
            allowed = allowed.min(f64::from(c));
        }
        (allowed.floor() as u32).max(1)
    }

    /// Fold one successful call (held its permit `latency` seconds, used `tokens`) into the
    /// moving averages.
    fn observe(&mut self, latency: f64, tokens: f64) {
        let ewma = |old: Option<f64>, new: f64| Some(old.map_or(new, |o| o + EWMA_WEIGHT * (new - o)));
        self.latency = ewma(self.latency, latency);
        self.tokens_per_call = ewma(self.tokens_per_call, tokens);
    }
}

/// A point-in-time view of a [`Quota`], for logs and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaSnapshot {
    /// The current adaptive (AIMD) concurrency limit (fractional).
    pub concurrency_limit: f64,
    /// The in-flight limit the quota implies, once a call's latency has been observed.
    pub quota_limit: Option<f64>,
    /// Calls allowed in flight now (the smallest of the limits, at least 1).
    pub allowed_in_flight: u32,
    /// Moving average of a successful call's latency (permit held), in seconds.
    pub observed_latency_seconds: Option<f64>,
    /// Calls holding a permit now.
    pub in_flight: u32,
    /// Tokens left in the tokens-per-minute bucket, if there is one (for a shared store: as
    /// this process last saw it).
    pub tokens_available: Option<f64>,
    /// Requests left in the requests-per-minute bucket, if there is one (as for tokens).
    pub requests_available: Option<f64>,
    /// Throttles reported so far.
    pub throttles: u64,
    /// Successes reported so far.
    pub successes: u64,
}

/// Why [`Quota::acquire`] gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcquireError {
    /// The budget could not admit the call before the deadline.
    Deadline,
    /// The bucket store could not be read or written: the call is not admitted.
    Store(BucketError),
}

/// The budget of one model (see the module docs).
#[derive(Debug)]
pub struct Quota {
    clock: Arc<dyn Clock>,
    store: Arc<dyn BucketStore>,
    keys: BucketKeys,
    rpm: Option<BucketSpec>,
    tpm: Option<BucketSpec>,
    output_burndown: u32,
    state: Mutex<State>,
    /// Signalled when a call gives up its in-flight slot.
    slot_freed: Notify,
    /// Signalled when tokens come back to the token bucket.
    budget_back: Notify,
}

impl Quota {
    /// A new budget using `clock`, its buckets in this process.
    pub fn new(config: &QuotaConfig, clock: Arc<dyn Clock>) -> Arc<Self> {
        Self::with_store(config, clock, Arc::new(LocalBuckets::new()), BucketKeys::text("local"))
    }

    /// A new budget using `clock`, its buckets `keys` in `store` (shared with every other
    /// process using the same store and keys).
    pub fn with_store(
        config: &QuotaConfig,
        clock: Arc<dyn Clock>,
        store: Arc<dyn BucketStore>,
        keys: BucketKeys,
    ) -> Arc<Self> {
        let ceiling = config.max_concurrency.map(|c| c.max(1));
        let max = f64::from(ceiling.unwrap_or(ADAPTIVE_LIMIT_GUARD));
        let rpm = config.requests_per_minute.map(|r| BucketSpec::per_minute(f64::from(r)));
        let tpm = config.tokens_per_minute.map(|t| BucketSpec::per_minute(t as f64));
        let state = State {
            rpm,
            tpm,
            limit: f64::from(UNQUOTED_START_CONCURRENCY).min(max),
            max,
            ceiling,
            latency: None,
            tokens_per_call: None,
            in_flight: 0,
            epoch: 0,
            throttles: 0,
            successes: 0,
        };
        Arc::new(Self {
            clock,
            store,
            keys,
            rpm,
            tpm,
            output_burndown: config.output_burndown.max(1),
            state: Mutex::new(state),
            slot_freed: Notify::new(),
            budget_back: Notify::new(),
        })
    }

    /// The in-process budget registered under `name` for this process, created with `config`
    /// (and the real clock) on first use. Every client of the same model shares it, however
    /// many times it is built; later configs for the same name are ignored.
    pub fn shared(name: &str, config: &QuotaConfig) -> Arc<Self> {
        Self::registered(name, || Quota::new(config, Arc::new(TokioClock)))
    }

    /// Like [`Quota::shared`], with the buckets `keys` in `store` (the DynamoDB table every
    /// process shares); registered under `name` and the store's description.
    pub fn shared_in(name: &str, config: &QuotaConfig, store: Arc<dyn BucketStore>, keys: BucketKeys) -> Arc<Self> {
        let registered_as = format!("{name} @ {}", store.describe());
        Self::registered(&registered_as, || Quota::with_store(config, Arc::new(TokioClock), store, keys))
    }

    fn registered(name: &str, create: impl FnOnce() -> Arc<Quota>) -> Arc<Self> {
        static REGISTRY: OnceLock<Mutex<HashMap<String, Arc<Quota>>>> = OnceLock::new();
        let registry = REGISTRY.get_or_init(|| Mutex::new(HashMap::new()));
        let mut map = registry.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(name.to_string()).or_insert_with(create).clone()
    }

    /// The clock this budget runs on.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// The tokens a call counts against the token budget: its input plus its output ×
    /// [`QuotaConfig::output_burndown`]. Used for the reservation (input estimate,
    /// `max_tokens`) and for the settlement (the real usage).
    pub fn charge(&self, input_tokens: u64, output_tokens: u64) -> u64 {
        input_tokens.saturating_add(output_tokens.saturating_mul(u64::from(self.output_burndown)))
    }

    /// Where the buckets live (`in-process`, `dynamodb table …`).
    pub fn store_name(&self) -> String {
        self.store.describe()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bucket levels as this process knows them.
    fn levels(&self) -> Levels {
        let now_ms = self.clock.unix_millis();
        Levels {
            requests: self.rpm.and_then(|spec| self.store.peek(&self.keys.requests, spec, now_ms)),
            tokens: self.tpm.and_then(|spec| self.store.peek(&self.keys.tokens, spec, now_ms)),
        }
    }

    /// A view of the current state.
    pub fn snapshot(&self) -> QuotaSnapshot {
        let levels = self.levels();
        let s = self.lock();
        QuotaSnapshot {
            concurrency_limit: s.limit,
            quota_limit: s.quota_limit(levels),
            allowed_in_flight: s.allowed(levels),
            observed_latency_seconds: s.latency,
            in_flight: s.in_flight,
            tokens_available: self.tpm.and(levels.tokens),
            requests_available: self.rpm.and(levels.requests),
            throttles: s.throttles,
            successes: s.successes,
        }
    }

    /// An in-flight slot if one is free now, with the AIMD epoch it was taken under.
    fn try_slot(self: &Arc<Self>) -> Option<Slot> {
        let levels = self.levels();
        let mut s = self.lock();
        if s.in_flight >= s.allowed(levels) {
            return None;
        }
        s.in_flight += 1;
        Some(Slot { quota: self.clone(), epoch: s.epoch, armed: true })
    }

    /// Wait until the budget admits a call reserving `tokens`, or give up when that cannot
    /// happen before `deadline` or the bucket store fails.
    pub async fn acquire(self: &Arc<Self>, tokens: u64, deadline: Instant) -> Result<Permit, AcquireError> {
        let reserved = self.tpm.map_or(0.0, |spec| spec.clamp(tokens as f64));
        let mut takes = Vec::with_capacity(2);
        if let Some(spec) = self.rpm {
            takes.push(Take { key: &self.keys.requests, spec, amount: 1.0 });
        }
        if let Some(spec) = self.tpm {
            takes.push(Take { key: &self.keys.tokens, spec, amount: reserved });
        }
        // Where the wait went, for the debug log: slots, bucket store requests, refills.
        let mut waits = AcquireWaits::default();
        loop {
            let slot_freed = self.slot_freed.notified();
            let budget_back = self.budget_back.notified();
            tokio::pin!(slot_freed);
            tokio::pin!(budget_back);
            slot_freed.as_mut().enable();
            budget_back.as_mut().enable();
            let wait = match self.try_slot() {
                None => None,
                Some(slot) => {
                    // A store's waits count from the moment it was asked (`asked`), not from
                    // its answer: a slow answer must not push the call's turn later.
                    let asked = self.clock.now();
                    let admission = if takes.is_empty() {
                        Ok(Admission::Taken)
                    } else {
                        waits.store_requests += 1;
                        self.store.take(&takes, self.clock.unix_millis()).await
                    };
                    let since_asked = self.clock.now().saturating_duration_since(asked);
                    waits.store += since_asked;
                    match admission {
                        Ok(Admission::Taken) => {
                            waits.log(reserved);
                            return Ok(slot.into_permit(reserved, self.clock.now()));
                        }
                        Ok(Admission::TakenAhead(mut turn)) => {
                            // Taken ahead of the refill: start when the turn comes (counted
                            // from when the store was asked), holding the slot. A turn past the
                            // deadline gives everything back.
                            let d = turn.delay(self.clock.unix_millis());
                            if later(self.clock.now(), d) > deadline {
                                let now_ms = self.clock.unix_millis();
                                for t in &takes {
                                    if let Err(e) = self.store.give(t.key, t.spec, t.spec.clamp(t.amount), now_ms).await
                                    {
                                        tracing::warn!(store = %self.store.describe(), error = %e, "could not give back a take");
                                    }
                                }
                                return Err(AcquireError::Deadline);
                            }
                            self.wait_for_turn(&mut turn, &mut waits).await;
                            waits.log(reserved);
                            return Ok(slot.into_permit(reserved, self.clock.now()));
                        }
                        Ok(Admission::Wait(d)) => {
                            let again = self.store.wait_before_asking_again(d).saturating_sub(since_asked);
                            Some(again.max(MIN_BUCKET_WAIT))
                        }
                        Err(e) => {
                            tracing::warn!(store = %self.store.describe(), error = %e, "quota buckets unavailable");
                            return Err(AcquireError::Store(e));
                        }
                    }
                }
            };
            let now = self.clock.now();
            if now >= deadline {
                return Err(AcquireError::Deadline);
            }
            match wait {
                // Waiting for a bucket to refill is waiting for time to pass (or a refund).
                Some(d) => {
                    if later(now, d) > deadline {
                        return Err(AcquireError::Deadline);
                    }
                    tokio::select! {
                        _ = &mut budget_back => {}
                        _ = self.clock.sleep(d) => {}
                    }
                    waits.refill += self.clock.now().saturating_duration_since(now);
                }
                // Waiting for a concurrency slot is waiting for another call to finish: a real
                // event, bounded by the time left.
                None => {
                    tokio::select! {
                        _ = &mut slot_freed => {}
                        _ = tokio::time::sleep(deadline.saturating_duration_since(now)) => {}
                    }
                    waits.slot += self.clock.now().saturating_duration_since(now);
                }
            }
        }
    }

    /// Sleeps until `turn` comes. On a store that can tell what was given back to its buckets
    /// since the take (other calls' unused reservations), looks on the way: what came back
    /// moves the turn sooner (see [`Turn`]). How fast refunds come back depends on the calls
    /// in flight (a visual plan gives back 60 % of its reservation, a lesson 35 %): from
    /// nothing at a course's start to more than the refill rate. So the first look is a third
    /// of the way, and every later one where the turn would fall if refunds kept coming at the
    /// rate seen so far, at most [`MAX_LOOKS_PER_TURN`] times, and never for the last
    /// [`MIN_WAIT_WORTH_A_LOOK`].
    async fn wait_for_turn(&self, turn: &mut Turn, waits: &mut AcquireWaits) {
        let mut looks = if self.store.moves_turns() { 0 } else { MAX_LOOKS_PER_TURN };
        let taken = self.clock.now();
        let first = turn.delay(self.clock.unix_millis());
        loop {
            let d = turn.delay(self.clock.unix_millis());
            if d.is_zero() {
                return;
            }
            if looks >= MAX_LOOKS_PER_TURN || d < MIN_WAIT_WORTH_A_LOOK {
                self.clock.sleep(d).await;
                waits.ahead += d;
                return;
            }
            let part = if looks == 0 {
                d / 3
            } else {
                // Moved so far, per unit of time waited: the turn falls where the time left
                // meets what keeps coming back at that rate (looking again two thirds of the
                // way when nothing came back yet).
                let waited = self.clock.now().saturating_duration_since(taken).as_secs_f64();
                let moved = (first.as_secs_f64() - waited - d.as_secs_f64()).max(0.0);
                d.div_f64(1.0 + moved / waited.max(1e-3)).min(d.mul_f64(2.0 / 3.0))
            }
            .max(MIN_WAIT_WORTH_A_LOOK / 2);
            self.clock.sleep(part).await;
            waits.ahead += part;
            looks += 1;
            let asked = self.clock.now();
            waits.store_requests += 1;
            if let Err(e) = self.store.look_again(turn).await {
                // The turn stands as it was taken; only the chance to start sooner is lost.
                tracing::debug!(store = %self.store.describe(), error = %e, "could not look at the buckets again");
            }
            waits.store += self.clock.now().saturating_duration_since(asked);
        }
    }

    async fn settle(&self, permit: &Permit, outcome: Outcome) {
        let now = self.clock.now();
        let refund = match outcome {
            Outcome::Success { used_tokens } => permit.reserved - used_tokens as f64,
            Outcome::Throttled | Outcome::Failed => permit.reserved,
        };
        {
            let mut s = self.lock();
            match outcome {
                Outcome::Success { used_tokens } => {
                    s.successes += 1;
                    s.limit = (s.limit + 1.0 / s.limit).min(s.max);
                    s.observe(now.saturating_duration_since(permit.acquired).as_secs_f64(), used_tokens as f64);
                }
                Outcome::Throttled => {
                    s.throttles += 1;
                    // Only the first throttle among calls started under the same limit shrinks
                    // it, so one burst of rejections halves the limit once, not once per call.
                    if permit.epoch == s.epoch {
                        s.limit = (s.limit * 0.5).max(1.0);
                        s.epoch += 1;
                    }
                }
                Outcome::Failed => {}
            }
        }
        tracing::debug!(reserved = permit.reserved, refund, "quota settled the call");
        if let Some(spec) = self.tpm {
            if refund != 0.0 {
                if let Err(e) = self.store.give(&self.keys.tokens, spec, refund, self.clock.unix_millis()).await {
                    // The call itself is over; a lost refund only leaves the budget stricter.
                    tracing::warn!(store = %self.store.describe(), error = %e, refund, "could not return tokens");
                }
                self.budget_back.notify_waiters();
            }
        }
    }

    fn release(&self) {
        {
            let mut s = self.lock();
            s.in_flight = s.in_flight.saturating_sub(1);
        }
        self.slot_freed.notify_waiters();
    }
}

/// Where one [`Quota::acquire`] spent its wait, for the debug log.
#[derive(Debug, Default)]
struct AcquireWaits {
    /// Waiting for an in-flight slot.
    slot: Duration,
    /// In requests to the bucket store.
    store: Duration,
    /// Requests to the bucket store.
    store_requests: u32,
    /// Waiting for the buckets to refill (or a refund) before asking again.
    refill: Duration,
    /// Sleeping until the turn of a take admitted ahead of the refill.
    ahead: Duration,
}

impl AcquireWaits {
    fn log(&self, reserved: f64) {
        tracing::debug!(
            slot_ms = self.slot.as_millis() as u64,
            store_ms = self.store.as_millis() as u64,
            store_requests = self.store_requests,
            refill_ms = self.refill.as_millis() as u64,
            ahead_ms = self.ahead.as_millis() as u64,
            reserved,
            "quota admitted the call"
        );
    }
}

/// An in-flight slot taken while the buckets are asked; given back if they do not admit (or
/// the acquire is cancelled meanwhile), else turned into a [`Permit`].
struct Slot {
    quota: Arc<Quota>,
    epoch: u64,
    armed: bool,
}

impl Slot {
    fn into_permit(mut self, reserved: f64, acquired: Instant) -> Permit {
        self.armed = false;
        Permit { quota: self.quota.clone(), reserved, epoch: self.epoch, acquired }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.armed {
            self.quota.release();
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Success { used_tokens: u64 },
    Throttled,
    Failed,
}

/// The right to run one call; report how it went with one of the consuming methods. Dropping it
/// unreported (a cancelled call) frees the concurrency slot and keeps the reservation spent.
#[derive(Debug)]
pub struct Permit {
    quota: Arc<Quota>,
    reserved: f64,
    epoch: u64,
    acquired: Instant,
}

impl Permit {
    /// Tokens reserved for this call.
    pub fn reserved_tokens(&self) -> u64 {
        self.reserved as u64
    }
    /// The call succeeded using `used_tokens` (as [`Quota::charge`] counts them): refund the
    /// unused reservation (or charge the excess) and raise the concurrency limit a little.
    pub async fn succeed(self, used_tokens: u64) {
        self.quota.clone().settle(&self, Outcome::Success { used_tokens }).await;
    }
    /// The service throttled the call: refund the tokens and halve the concurrency limit.
    pub async fn throttled(self) {
        self.quota.clone().settle(&self, Outcome::Throttled).await;
    }
    /// The call failed for another reason: refund the tokens, leave the limit alone.
    pub async fn failed(self) {
        self.quota.clone().settle(&self, Outcome::Failed).await;
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.quota.release();
    }
}

/// How one attempt failed, as far as retrying is concerned.
#[derive(Debug)]
pub enum Failure {
    /// The service throttled the call (HTTP 429, `ThrottlingException`,
    /// `ServiceQuotaExceededException`); retry after a backoff, at least `retry_after` when given.
    Throttled {
        /// The service's message.
        message: String,
        /// The wait the service asked for (`retry-after`), if any.
        retry_after: Option<Duration>,
    },
    /// A transient failure: 5xx, timeout, connection error, malformed body. Retried.
    Transient {
        /// What went wrong.
        message: String,
    },
    /// A failure retrying cannot fix (validation, access denied, bad configuration).
    Fatal(StageError),
}

impl Failure {
    fn message(&self) -> String {
        match self {
            Failure::Throttled { message, .. } | Failure::Transient { message } => message.clone(),
            Failure::Fatal(e) => e.to_string(),
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            Failure::Throttled { .. } => "throttled",
            Failure::Transient { .. } => "transient",
            Failure::Fatal(_) => "fatal",
        }
    }
}

/// Retry settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// The first backoff ceiling; it doubles per retry.
    pub base_delay: Duration,
    /// The largest backoff ceiling.
    pub max_delay: Duration,
    /// How long one call may take in total, retries and waits included.
    pub budget: Duration,
    /// How long one attempt may take before it counts as a timeout (and is retried).
    pub attempt_timeout: Duration,
    /// Most attempts per call, whatever the time left.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            budget: Duration::from_secs(600),
            attempt_timeout: Duration::from_secs(300),
            max_attempts: 100,
        }
    }
}

/// The full-jitter backoff after the `retry`-th failure (1 for the first): a uniform draw in
/// `[0, min(max_delay, base_delay * 2^(retry-1))]`, raised to `retry_after` when the service
/// asked for a wait.
pub fn backoff_delay(policy: &RetryPolicy, retry: u32, retry_after: Option<Duration>, rng: &mut impl Rng) -> Duration {
    let exp = retry.saturating_sub(1).min(30);
    let ceiling = policy.base_delay.saturating_mul(1u32 << exp).min(policy.max_delay);
    let ceiling_ms = ceiling.as_millis().min(u128::from(u64::MAX)) as u64;
    let jittered = Duration::from_millis(rng.random_range(0..=ceiling_ms));
    match retry_after {
        Some(ra) => jittered.max(ra),
        None => jittered,
    }
}

tokio::task_local! {
    static CALL_DEADLINE: Instant;
    static CALL_PHASES: RefCell<Vec<CallPhase>>;
}

/// What a governed call was doing during one [`CallPhase`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseKind {
    /// Waiting for the quota or an in-flight slot, or backing off after a throttle or failure.
    Waiting,
    /// An attempt in the model (the request on the wire until its answer or failure).
    Model,
}

/// One stretch of a governed call, on the governor's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallPhase {
    /// Waiting or in the model.
    pub kind: PhaseKind,
    /// When the stretch began.
    pub start: Instant,
    /// When it ended.
    pub end: Instant,
}

/// Run `future` and return, with its output, the phases of every governed model call it made
/// on the same task (spawned tasks are not seen), in order. Runners use it to tell time spent
/// waiting for the quota or a slot from time in model calls.
pub async fn record_call_phases<F: Future>(future: F) -> (F::Output, Vec<CallPhase>) {
    CALL_PHASES
        .scope(RefCell::new(Vec::new()), async move {
            let out = future.await;
            let phases = CALL_PHASES.try_with(RefCell::take).unwrap_or_default();
            (out, phases)
        })
        .await
}

/// Note a phase for the enclosing [`record_call_phases`], if any.
fn record_phase(kind: PhaseKind, start: Instant, end: Instant) {
    if end > start {
        let _ = CALL_PHASES.try_with(|p| p.borrow_mut().push(CallPhase { kind, start, end }));
    }
}

/// Run `future` with `deadline` as the latest finish of every model call it makes on the same
/// task (spawned tasks do not inherit it). A Lambda handler wraps its work with its invocation
/// deadline minus a safety margin, so retries stop before the function times out.
pub async fn with_call_deadline<F: Future>(deadline: Instant, future: F) -> F::Output {
    CALL_DEADLINE.scope(deadline, future).await
}

/// Values of the Lambda context's `deadline` below this are not epoch times (they would fall in
/// January 1970): local runtime emulators (`cargo lambda watch`) send the function timeout in
/// milliseconds there, and such a value is read as the time left.
const EPOCH_DEADLINE_FLOOR_MS: u64 = 1_000_000_000_000;

/// The local [`Instant`] for a wall-clock deadline in milliseconds since the Unix epoch (the
/// Lambda context's `deadline`), moved `safety_margin` earlier so retries stop while there is
/// still time to report the error. A deadline already past gives the current instant; a value
/// too small to be an epoch time (see [`EPOCH_DEADLINE_FLOOR_MS`]) counts as milliseconds left.
pub fn deadline_from_epoch_millis(deadline_ms: u64, safety_margin: Duration) -> Instant {
    let now = Instant::now();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis().min(u128::from(u64::MAX)) as u64)
        .unwrap_or(0);
    let left_ms = if deadline_ms < EPOCH_DEADLINE_FLOOR_MS { deadline_ms } else { deadline_ms.saturating_sub(now_ms) };
    let remaining = Duration::from_millis(left_ms).saturating_sub(safety_margin);
    later(now, remaining)
}

/// What one attempt's outcome means for the call.
enum Settled<T> {
    /// The call is over: its value, or an error not worth retrying.
    Done(StageResult<T>),
    /// A failure worth another attempt.
    Retry(Failure),
}

/// Return the permit to the quota according to `result` (success, throttle or failure).
async fn settle<T>(permit: Permit, result: Result<(T, u64), Failure>) -> Settled<T> {
    match result {
        Ok((value, used)) => {
            permit.succeed(used).await;
            Settled::Done(Ok(value))
        }
        Err(Failure::Fatal(e)) => {
            permit.failed().await;
            tracing::warn!(error = %e, "call failed, not retryable");
            Settled::Done(Err(e))
        }
        Err(f @ Failure::Throttled { .. }) => {
            permit.throttled().await;
            Settled::Retry(f)
        }
        Err(f) => {
            permit.failed().await;
            Settled::Retry(f)
        }
    }
}

fn task_deadline() -> Option<Instant> {
    CALL_DEADLINE.try_with(|d| *d).ok()
}

/// What a call is about, for budgeting, errors and logs.
#[derive(Debug, Clone, Copy)]
pub struct CallInfo<'a> {
    /// The stage asking (`request.task.stage()`).
    pub stage: &'a str,
    /// What the call is about (`module 2 lesson 3`).
    pub subject: &'a str,
    /// Tokens to reserve up front: [`Governor::charge`] of the input estimate and
    /// `max_tokens`.
    pub reserve_tokens: u64,
}

/// Runs calls under a [`Quota`] with retries, backoff and a deadline.
#[derive(Debug, Clone)]
pub struct Governor {
    provider: String,
    quota: Arc<Quota>,
    policy: RetryPolicy,
    deadline: Option<Instant>,
}

impl Governor {
    /// A governor for `provider` (named in throttling errors) over `quota`.
    pub fn new(provider: impl Into<String>, quota: Arc<Quota>, policy: RetryPolicy) -> Self {
        Self { provider: provider.into(), quota, policy, deadline: None }
    }

    /// The same governor, whose calls also finish by `deadline` (e.g. derived from the Lambda
    /// invocation deadline).
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The budget this governor draws on.
    pub fn quota(&self) -> &Arc<Quota> {
        &self.quota
    }

    /// The retry settings.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The tokens a call counts against the budget ([`Quota::charge`]): for the reservation,
    /// the input estimate and `max_tokens`; once answered, the real input and output.
    pub fn charge(&self, input_tokens: u64, output_tokens: u64) -> u64 {
        self.quota.charge(input_tokens, output_tokens)
    }

    /// Run `attempt` until it succeeds, fails fatally, or the deadline / attempt budget is
    /// spent. Each attempt returns its value and the tokens it used.
    pub async fn run<T, F, Fut>(&self, call: CallInfo<'_>, mut attempt: F) -> StageResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(T, u64), Failure>>,
    {
        let clock = self.quota.clock();
        let start = clock.now();
        let deadline = self.call_deadline(start);
        let span =
            tracing::info_span!("model_call", provider = %self.provider, stage = call.stage, subject = call.subject);
        async move {
            let mut last: Option<Failure> = None;
            let mut attempts: u32 = 0;
            // Time spent waiting for the budget or a slot, and in the model, for the debug log.
            let (mut waited, mut in_model) = (Duration::ZERO, Duration::ZERO);
            loop {
                let asked = clock.now();
                let acquired = self.quota.acquire(call.reserve_tokens, deadline).await;
                let sent = clock.now();
                record_phase(PhaseKind::Waiting, asked, sent);
                waited += sent.saturating_duration_since(asked);
                let permit = match acquired {
                    Ok(permit) => permit,
                    Err(AcquireError::Deadline) => {
                        let waited = sent.saturating_duration_since(start);
                        return Err(self.no_capacity(call, attempts, waited, last.as_ref()));
                    }
                    Err(AcquireError::Store(e)) => return Err(self.buckets_unavailable(call, e)),
                };
                let remaining = deadline.saturating_duration_since(sent);
                attempts += 1;
                let outcome = self.attempt_once(remaining, &mut attempt).await;
                record_phase(PhaseKind::Model, sent, clock.now());
                in_model += clock.now().saturating_duration_since(sent);
                let failure = match settle(permit, outcome).await {
                    Settled::Done(result) => {
                        if result.is_ok() && attempts > 1 {
                            tracing::info!(attempts, "call succeeded after retries");
                        }
                        tracing::debug!(
                            attempts,
                            ok = result.is_ok(),
                            waited_ms = waited.as_millis() as u64,
                            model_ms = in_model.as_millis() as u64,
                            reserved_tokens = call.reserve_tokens,
                            "model call finished"
                        );
                        return result;
                    }
                    Settled::Retry(failure) => failure,
                };
                let retry_after = match &failure {
                    Failure::Throttled { retry_after, .. } => *retry_after,
                    _ => None,
                };
                let delay = backoff_delay(&self.policy, attempts, retry_after, &mut rand::rng());
                let now = clock.now();
                if attempts >= self.policy.max_attempts || later(now, delay) >= deadline {
                    tracing::warn!(attempts, kind = failure.kind(), error = %failure.message(), "giving up");
                    return Err(self.exhausted(call, attempts, now.saturating_duration_since(start), failure));
                }
                tracing::warn!(
                    attempt = attempts,
                    kind = failure.kind(),
                    delay_ms = delay.as_millis() as u64,
                    error = %failure.message(),
                    "retrying model call"
                );
                last = Some(failure);
                clock.sleep(delay).await;
                record_phase(PhaseKind::Waiting, now, clock.now());
                waited += clock.now().saturating_duration_since(now);
            }
        }
        .instrument(span)
        .await
    }

    /// When a call started at `start` must be done: the retry budget, this governor's deadline
    /// and the running task's deadline, whichever comes first.
    fn call_deadline(&self, start: Instant) -> Instant {
        [self.deadline, task_deadline()].into_iter().flatten().fold(later(start, self.policy.budget), Instant::min)
    }

    /// One attempt, cut at the attempt timeout or the `remaining` time, whichever is shorter.
    async fn attempt_once<T, F, Fut>(&self, remaining: Duration, attempt: &mut F) -> Result<(T, u64), Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(T, u64), Failure>>,
    {
        if remaining.is_zero() {
            return Err(Failure::Transient { message: "the call deadline passed".into() });
        }
        let limit = remaining.min(self.policy.attempt_timeout);
        match tokio::time::timeout(limit, attempt()).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Transient { message: format!("no answer within {:.1}s", limit.as_secs_f64()) }),
        }
    }

    /// The throttling error for a call the local budget could not admit before its deadline.
    fn no_capacity(&self, call: CallInfo<'_>, attempts: u32, waited: Duration, last: Option<&Failure>) -> StageError {
        let reason = match last {
            Some(f) => f.message(),
            None => "the local request/token budget could not admit the call".to_string(),
        };
        tracing::warn!(attempts, waited_ms = waited.as_millis() as u64, "quota wait passed the deadline");
        StageError::Throttling {
            provider: self.provider.clone(),
            message: format!(
                "{} ({}): no capacity before the deadline after {attempts} attempt(s) in {:.1}s: {reason}",
                call.stage,
                call.subject,
                waited.as_secs_f64()
            ),
        }
    }

    /// The retryable error for a call whose budget could not be consulted: admitting it
    /// anyway could overrun the quota every process shares, so the task fails and Step
    /// Functions retries it (`StoreError`).
    fn buckets_unavailable(&self, call: CallInfo<'_>, e: BucketError) -> StageError {
        tracing::error!(stage = call.stage, subject = call.subject, error = %e, "quota buckets unavailable, call not made");
        StageError::Store {
            key: format!("{}/{}", e.store, e.key),
            message: format!(
                "{} ({}): the {} quota could not be consulted, so the call was not made: {}",
                call.stage, call.subject, self.provider, e.message
            ),
        }
    }

    fn exhausted(&self, call: CallInfo<'_>, attempts: u32, elapsed: Duration, last: Failure) -> StageError {
        let summary = format!("gave up after {attempts} attempt(s) in {:.1}s", elapsed.as_secs_f64());
        match last {
            Failure::Throttled { message, .. } => StageError::Throttling {
                provider: self.provider.clone(),
                message: format!("{} ({}): {summary}: {message}", call.stage, call.subject),
            },
            Failure::Transient { message } => {
                StageError::model(call.stage, call.subject, format!("{summary}: {message}"))
            }
            Failure::Fatal(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn clock() -> (ManualClock, Arc<dyn Clock>) {
        let c = ManualClock::new();
        let dynamic: Arc<dyn Clock> = Arc::new(c.clone());
        (c, dynamic)
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            budget: Duration::from_secs(60),
            attempt_timeout: Duration::from_secs(30),
            max_attempts: 50,
        }
    }

    #[test]
    fn full_jitter_stays_within_the_exponential_ceiling() {
        let p = policy();
        let mut rng = StdRng::seed_from_u64(7);
        for retry in 1..=12u32 {
            let ceiling = (p.base_delay * 2u32.pow(retry - 1)).min(p.max_delay);
            let mut max_seen = Duration::ZERO;
            let mut min_seen = Duration::MAX;
            for _ in 0..400 {
                let d = backoff_delay(&p, retry, None, &mut rng);
                assert!(d <= ceiling, "retry {retry}: {d:?} > {ceiling:?}");
                max_seen = max_seen.max(d);
                min_seen = min_seen.min(d);
            }
            // Full jitter spreads over the whole range.
            assert!(max_seen >= ceiling.mul_f64(0.8), "retry {retry}: max {max_seen:?} of {ceiling:?}");
            assert!(min_seen <= ceiling.mul_f64(0.2), "retry {retry}: min {min_seen:?} of {ceiling:?}");
        }
        // Huge retry counts neither overflow nor exceed the cap.
        assert!(backoff_delay(&p, u32::MAX, None, &mut rng) <= p.max_delay);
        // A retry-after hint is a floor.
        for _ in 0..50 {
            assert!(backoff_delay(&p, 1, Some(Duration::from_secs(2)), &mut rng) >= Duration::from_secs(2));
        }
    }

    #[tokio::test]
    async fn aimd_halves_once_per_burst_and_grows_back_additively() {
        let (_c, dynamic) = clock();
        let q = Quota::new(&QuotaConfig { max_concurrency: Some(8), ..Default::default() }, dynamic);
        let far = Instant::now() + Duration::from_secs(3600);
        let permits: Vec<Permit> = {
            let mut v = Vec::new();
            for _ in 0..8 {
                v.push(q.acquire(0, far).await.unwrap());
            }
            v
        };
        assert_eq!(q.snapshot().in_flight, 8);
        // All eight were started under the same limit: the burst of throttles halves it once.
        for p in permits {
            p.throttled().await;
        }
        let s = q.snapshot();
        assert_eq!(s.concurrency_limit, 4.0);
        assert_eq!(s.throttles, 8);
        assert_eq!(s.in_flight, 0);
        // A later throttle (new epoch) halves again, down to the floor of 1.
        for expected in [2.0, 1.0, 1.0] {
            q.acquire(0, far).await.unwrap().throttled().await;
            assert_eq!(q.snapshot().concurrency_limit, expected);
        }
        // Successes add 1/limit each: from 1 → 2 after one, then +0.5 per success.
        q.acquire(0, far).await.unwrap().succeed(0).await;
        assert_eq!(q.snapshot().concurrency_limit, 2.0);
        q.acquire(0, far).await.unwrap().succeed(0).await;
        assert_eq!(q.snapshot().concurrency_limit, 2.5);
        for _ in 0..100 {
            q.acquire(0, far).await.unwrap().succeed(0).await;
        }
        assert_eq!(q.snapshot().concurrency_limit, 8.0, "never above the maximum");
    }

    #[tokio::test]
    async fn without_a_quota_or_ceiling_64_calls_fly_at_once_and_only_throttles_lower_the_limit() {
        let (_c, dynamic) = clock();
        let q = Quota::new(&QuotaConfig::default(), dynamic);
        let far = Instant::now() + Duration::from_secs(3600);
        assert_eq!(q.snapshot().allowed_in_flight, UNQUOTED_START_CONCURRENCY);
        let mut permits = Vec::new();
        for _ in 0..UNQUOTED_START_CONCURRENCY {
            permits.push(q.acquire(0, far).await.unwrap());
        }
        assert_eq!(q.snapshot().in_flight, 64, "a 10-module fan-out is not held back");
        assert_eq!(q.snapshot().quota_limit, None, "no quota, no quota-derived limit");
        // Successes only raise the limit (additively)...
        for p in permits.drain(..) {
            p.succeed(100).await;
        }
        assert!(q.snapshot().concurrency_limit > 64.0);
        // ... a throttle halves it.
        let before = q.snapshot().concurrency_limit;
        q.acquire(0, far).await.unwrap().throttled().await;
        assert_eq!(q.snapshot().concurrency_limit, before / 2.0);
    }

    #[tokio::test]
    async fn an_explicit_ceiling_bounds_the_in_flight_limit() {
        let (_c, dynamic) = clock();
        let q = Quota::new(&QuotaConfig { max_concurrency: Some(5), ..Default::default() }, dynamic);
        let far = Instant::now() + Duration::from_secs(3600);
        assert_eq!(q.snapshot().allowed_in_flight, 5);
        for _ in 0..50 {
            q.acquire(0, far).await.unwrap().succeed(0).await;
        }
        assert_eq!(q.snapshot().allowed_in_flight, 5, "successes never lift it past the ceiling");
    }

    #[tokio::test]
    async fn with_a_request_quota_the_in_flight_limit_is_rate_times_observed_latency_with_headroom() {
        let (c, dynamic) = clock();
        let q = Quota::new(&QuotaConfig { requests_per_minute: Some(120), ..Default::default() }, dynamic);
        let far = c.now() + Duration::from_secs(3600);
        // Nothing observed yet: the bucket alone admits.
        assert_eq!(q.snapshot().quota_limit, None);
        assert_eq!(q.snapshot().allowed_in_flight, UNQUOTED_START_CONCURRENCY);
        let p = q.acquire(0, far).await.unwrap();
        c.advance(Duration::from_secs(4));
        p.succeed(0).await;
        // While the minute's burst lasts, the limit does not hold the fan-out back.
        assert_eq!(q.snapshot().quota_limit, Some(120.0));
        assert_eq!(q.snapshot().allowed_in_flight, UNQUOTED_START_CONCURRENCY);
        drain_requests(&q, far).await;
        // Burst spent: 2 requests/s × 4 s × 1.5 headroom = 12.
        let s = q.snapshot();
        assert_eq!(s.observed_latency_seconds, Some(4.0));
        assert_eq!(s.quota_limit, Some(12.0));
        assert_eq!(s.allowed_in_flight, 12);
        let mut permits = Vec::new();
        for _ in 0..12 {
            permits.push(q.acquire(0, far).await.unwrap());
        }
        let q2 = q.clone();
        let waiter = tokio::spawn(async move {
            let p = q2.acquire(0, far).await?;
            p.succeed(0).await;
            Ok::<(), AcquireError>(())
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "the 13th call waits for a slot");
        drop(permits.pop());
        waiter.await.unwrap().unwrap();
        // Faster calls shrink the limit (moving average: 4 s → 2 s after enough 2 s calls).
        for p in permits.drain(..) {
            p.failed().await;
        }
        for _ in 0..200 {
            let p = q.acquire(0, far).await.unwrap();
            c.advance(Duration::from_secs(2));
            p.succeed(0).await;
        }
        let latency = q.snapshot().observed_latency_seconds.unwrap();
        assert!((latency - 2.0).abs() < 1e-9, "{latency}");
        drain_requests(&q, far).await;
        assert_eq!(q.snapshot().allowed_in_flight, 6);
    }

    /// Spend the request bucket's burst with cancelled calls (no latency observed).
    async fn drain_requests(q: &Arc<Quota>, far: Instant) {
        while q.snapshot().requests_available.unwrap() >= 1.0 {
            drop(q.acquire(0, far).await.unwrap());
        }
    }

    #[tokio::test]
    async fn with_a_token_quota_the_limit_uses_the_observed_tokens_per_call() {
        let (c, dynamic) = clock();
        let q = Quota::new(&QuotaConfig { tokens_per_minute: Some(60_000), ..Default::default() }, dynamic);
        let far = c.now() + Duration::from_secs(3600);
        let p = q.acquire(2_000, far).await.unwrap();
        c.advance(Duration::from_secs(4));
        p.succeed(2_000).await;
        // The bucket still admits 30 such calls at once: that burst is the limit for now.
        assert_eq!(q.snapshot().quota_limit, Some(30.0));
        // Cancelled calls (permits dropped unreported) keep their reservations spent.
        while q.snapshot().tokens_available.unwrap() >= 2_000.0 {
            drop(q.acquire(2_000, far).await.unwrap());
        }
        // Burst spent: 1,000 tokens/s ÷ 2,000 tokens per call = 0.5 calls/s; × 4 s × 1.5 = 3.
        assert_eq!(q.snapshot().quota_limit, Some(3.0));
        assert_eq!(q.snapshot().allowed_in_flight, 3);
    }

    #[tokio::test]
    async fn the_governor_records_waiting_and_model_phases_of_a_call() {
        let (c, dynamic) = clock();
        let q = Quota::new(&QuotaConfig::default(), dynamic);
        let g = Governor::new("test", q, policy());
        let n = AtomicU32::new(0);
        let start = c.now();
        let (out, phases) = record_call_phases(g.run(
            CallInfo { stage: "ContentGen", subject: "module 1 lesson 1", reserve_tokens: 0 },
            || {
                let k = n.fetch_add(1, Ordering::SeqCst);
                c.advance(Duration::from_secs(2));
                async move {
                    if k == 0 {
                        Err(Failure::Throttled {
                            message: "slow down".into(),
                            retry_after: Some(Duration::from_secs(3)),
                        })
                    } else {
                        Ok(("done", 1))
                    }
                }
            },
        ))
        .await;
        assert_eq!(out.unwrap(), "done");
        let kinds: Vec<PhaseKind> = phases.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [PhaseKind::Model, PhaseKind::Waiting, PhaseKind::Model]);
        assert_eq!(phases[0].start, start);
        assert_eq!(phases[0].end - phases[0].start, Duration::from_secs(2));
        assert_eq!(phases[1].end - phases[1].start, c.sleeps()[0]);
        assert!(phases[1].end - phases[1].start >= Duration::from_secs(3), "the backoff counts as waiting");
        assert_eq!(phases[2].start, phases[1].end);
        // Outside a recording scope nothing is kept, and nothing breaks.
        g.run(CallInfo { stage: "s", subject: "x", reserve_tokens: 0 }, || async { Ok(((), 0)) }).await.unwrap();
    }

    #[tokio::test]
    async fn the_concurrency_limit_blocks_until_a_permit_is_released() {
        let (_c, dynamic) = clock();
        let q = Quota::new(&QuotaConfig { max_concurrency: Some(1), ..Default::default() }, dynamic);
        let far = Instant::now() + Duration::from_secs(3600);
        let first = q.acquire(0, far).await.unwrap();
        let q2 = q.clone();
        let waiter = tokio::spawn(async move {
            let p = q2.acquire(0, far).await?;
            p.succeed(0).await;
            Ok::<(), AcquireError>(())
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(first);
        waiter.await.unwrap().unwrap();
        assert_eq!(q.snapshot().in_flight, 0);
    }

    #[tokio::test]
    async fn tokens_are_reserved_up_front_and_the_unused_part_refunded() {
        let (c, dynamic) = clock();
        let q = Quota::new(
            &QuotaConfig {
                tokens_per_minute: Some(6_000),
                requests_per_minute: Some(60),
                max_concurrency: Some(4),
                ..Default::default()
            },
            dynamic,
        );
        let far = c.now() + Duration::from_secs(3600);
        let p = q.acquire(4_000, far).await.unwrap();
        assert_eq!(p.reserved_tokens(), 4_000);
        assert_eq!(q.snapshot().tokens_available, Some(2_000.0));
        assert_eq!(q.snapshot().requests_available, Some(59.0));
        p.succeed(1_500).await;
        assert_eq!(q.snapshot().tokens_available, Some(4_500.0));
        // A call using more than it reserved leaves a debt.
        q.acquire(1_000, far).await.unwrap().succeed(2_000).await;
        assert_eq!(q.snapshot().tokens_available, Some(2_500.0));
        // A throttled or failed call gets its whole reservation back.
        q.acquire(2_000, far).await.unwrap().throttled().await;
        q.acquire(2_000, far).await.unwrap().failed().await;
        assert_eq!(q.snapshot().tokens_available, Some(2_500.0));
        // Not enough tokens: the acquire waits (on the manual clock) for the refill: 6000/min = 100/s.
        let before = c.now();
        let p = q.acquire(5_500, far).await.unwrap();
        let waited = c.now() - before;
        assert!(waited >= Duration::from_secs(30) && waited <= Duration::from_millis(30_100), "{waited:?}");
        p.succeed(5_500).await;
        // A reservation larger than the whole bucket is clamped to it instead of waiting forever.
        c.advance(Duration::from_secs(120));
        let p = q.acquire(1_000_000, far).await.unwrap();
        assert_eq!(p.reserved_tokens(), 6_000);
    }

    #[tokio::test]
    async fn output_tokens_count_burndown_times_in_the_reservation_and_the_settlement() {
        let (c, dynamic) = clock();
        let q = Quota::new(
            &QuotaConfig { tokens_per_minute: Some(60_000), output_burndown: 5, ..Default::default() },
            dynamic,
        );
        let g = Governor::new("bedrock", q.clone(), policy());
        let far = c.now() + Duration::from_secs(3600);
        // Reserve: 1 000 input + 800 max_tokens × 5.
        assert_eq!(g.charge(1_000, 800), 5_000);
        let p = q.acquire(g.charge(1_000, 800), far).await.unwrap();
        assert_eq!(p.reserved_tokens(), 5_000);
        assert_eq!(q.snapshot().tokens_available, Some(55_000.0));
        // Settle: 1 000 input + 200 output × 5 = 2 000 used; 3 000 come back.
        p.succeed(g.charge(1_000, 200)).await;
        assert_eq!(q.snapshot().tokens_available, Some(58_000.0));
        // A factor of 0 would make output free: it counts as 1.
        let one = Quota::new(&QuotaConfig { output_burndown: 0, ..Default::default() }, clock().1);
        assert_eq!(one.charge(10, 10), 20);
    }

    #[tokio::test]
    async fn quotas_on_one_store_share_its_buckets() {
        let (c, dynamic) = clock();
        let store: Arc<dyn BucketStore> = Arc::new(LocalBuckets::new());
        let cfg = QuotaConfig { requests_per_minute: Some(2), ..Default::default() };
        let a = Quota::with_store(&cfg, dynamic.clone(), store.clone(), BucketKeys::text("m"));
        let b = Quota::with_store(&cfg, dynamic.clone(), store.clone(), BucketKeys::text("m"));
        let other = Quota::with_store(&cfg, dynamic, store, BucketKeys::image("m"));
        let soon = c.now() + Duration::from_secs(5);
        a.acquire(0, soon).await.unwrap().succeed(0).await;
        b.acquire(0, soon).await.unwrap().succeed(0).await;
        assert_eq!(a.acquire(0, soon).await.unwrap_err(), AcquireError::Deadline, "b spent a's budget");
        assert_eq!(b.snapshot().requests_available, Some(0.0));
        other.acquire(0, soon).await.unwrap().succeed(0).await;
        assert_eq!(other.snapshot().requests_available, Some(1.0), "the image bucket is another bucket");
    }

    /// A bucket store that cannot be reached.
    #[derive(Debug)]
    struct Unreachable;

    #[async_trait::async_trait]
    impl BucketStore for Unreachable {
        async fn take(&self, takes: &[Take<'_>], _now_ms: u64) -> Result<Admission, BucketError> {
            Err(BucketError {
                store: self.describe(),
                key: takes.first().map(|t| t.key.to_string()).unwrap_or_default(),
                message: "connection refused".into(),
            })
        }
        async fn give(&self, _: &str, _: BucketSpec, _: f64, _: u64) -> Result<(), BucketError> {
            Ok(())
        }
        fn peek(&self, _: &str, _: BucketSpec, _: u64) -> Option<f64> {
            None
        }
        fn describe(&self) -> String {
            "dynamodb table gone".into()
        }
    }

    /// A shared store whose tokens another process gives back while this one waits: the first
    /// take finds the bucket empty for the next 30 s of refill; the refund lands at once.
    #[derive(Debug, Default)]
    struct RefundedElsewhere {
        takes: AtomicU32,
    }

    #[async_trait::async_trait]
    impl BucketStore for RefundedElsewhere {
        async fn take(&self, _: &[Take<'_>], _now_ms: u64) -> Result<Admission, BucketError> {
            Ok(if self.takes.fetch_add(1, Ordering::SeqCst) == 0 {
                Admission::Wait(Duration::from_secs(30))
            } else {
                Admission::Taken
            })
        }
        async fn give(&self, _: &str, _: BucketSpec, _: f64, _: u64) -> Result<(), BucketError> {
            Ok(())
        }
        fn peek(&self, _: &str, _: BucketSpec, _: u64) -> Option<f64> {
            None
        }
        fn describe(&self) -> String {
            "shared".into()
        }
        fn wait_before_asking_again(&self, refused_for: Duration) -> Duration {
            refused_for.min(Duration::from_millis(250))
        }
    }

    /// A shared store that takes `answer_after` to answer: first a refusal for 400 ms, then a
    /// take admitted to start 600 ms after it was asked. It cannot move turns.
    #[derive(Debug)]
    struct SlowToAnswer {
        clock: ManualClock,
        answer_after: Duration,
        takes: AtomicU32,
    }

    #[async_trait::async_trait]
    impl BucketStore for SlowToAnswer {
        async fn take(&self, _: &[Take<'_>], now_ms: u64) -> Result<Admission, BucketError> {
            self.clock.advance(self.answer_after);
            Ok(if self.takes.fetch_add(1, Ordering::SeqCst) == 0 {
                Admission::Wait(Duration::from_millis(400))
            } else {
                Admission::TakenAhead(Turn::after(now_ms, Duration::from_millis(600)))
            })
        }
        async fn give(&self, _: &str, _: BucketSpec, _: f64, _: u64) -> Result<(), BucketError> {
            Ok(())
        }
        fn peek(&self, _: &str, _: BucketSpec, _: u64) -> Option<f64> {
            None
        }
        fn describe(&self) -> String {
            "slow".into()
        }
    }

    /// A store admitting takes up to a second ahead, where `refund` tokens come back from
    /// another process's call just before a queued caller's first look.
    #[derive(Debug)]
    struct RefundWhileQueued {
        inner: LocalBuckets,
        refund: f64,
        looks: AtomicU32,
    }

    #[async_trait::async_trait]
    impl BucketStore for RefundWhileQueued {
        async fn take(&self, takes: &[Take<'_>], now_ms: u64) -> Result<Admission, BucketError> {
            self.inner.take(takes, now_ms).await
        }
        async fn give(&self, key: &str, spec: BucketSpec, amount: f64, now_ms: u64) -> Result<(), BucketError> {
            self.inner.give(key, spec, amount, now_ms).await
        }
        fn peek(&self, key: &str, spec: BucketSpec, now_ms: u64) -> Option<f64> {
            self.inner.peek(key, spec, now_ms)
        }
        fn describe(&self) -> String {
            "shared".into()
        }
        fn moves_turns(&self) -> bool {
            true
        }
        async fn look_again(&self, turn: &mut Turn) -> Result<(), BucketError> {
            if self.looks.fetch_add(1, Ordering::SeqCst) == 0 {
                self.inner.give("m#tokens", BucketSpec::per_minute(60_000.0), self.refund, 0).await?;
            }
            self.inner.look_again(turn).await
        }
    }

    #[tokio::test]
    async fn a_queued_call_starts_sooner_by_what_other_calls_gave_back_while_it_waited() {
        // 1 000 tokens a second: a token is a millisecond of refill.
        let waited = |refund: f64| async move {
            let cfg = QuotaConfig { tokens_per_minute: Some(60_000), ..Default::default() };
            let (c, dynamic) = clock();
            let store = Arc::new(RefundWhileQueued { inner: LocalBuckets::ahead(1_000.0), refund, looks: 0.into() });
            let q = Quota::with_store(&cfg, dynamic, store.clone(), BucketKeys::text("m"));
            let far = c.now() + Duration::from_secs(60);
            let _whole_bucket = q.acquire(60_000, far).await.unwrap();
            let asked = c.now();
            // 900 tokens short: the turn is 0.9 s away.
            q.acquire(900, far).await.unwrap().succeed(900).await;
            (c.now().saturating_duration_since(asked), store.looks.load(Ordering::SeqCst))
        };
        // 300 tokens given back by the first look, a third of the way: the turn comes 0.3 s
        // sooner, and the call starts then.
        let (elapsed, looks) = waited(300.0).await;
        assert!(elapsed >= Duration::from_millis(600) && elapsed <= Duration::from_millis(602), "{elapsed:?}");
        assert!((2..=MAX_LOOKS_PER_TURN).contains(&looks), "{looks} looks");
        // Nothing given back: it starts at its turn, having looked no more than allowed.
        let (elapsed, looks) = waited(0.0).await;
        assert!(elapsed >= Duration::from_millis(901) && elapsed <= Duration::from_millis(903), "{elapsed:?}");
        assert!((1..=MAX_LOOKS_PER_TURN).contains(&looks), "{looks} looks");
    }

    #[tokio::test]
    async fn a_slow_answer_from_the_store_does_not_push_the_calls_turn_later() {
        let (c, dynamic) = clock();
        let store = Arc::new(SlowToAnswer {
            clock: c.clone(),
            answer_after: Duration::from_millis(150),
            takes: AtomicU32::new(0),
        });
        let cfg = QuotaConfig { requests_per_minute: Some(60), ..Default::default() };
        let q = Quota::with_store(&cfg, dynamic, store.clone(), BucketKeys::text("m"));
        let asked = c.now();
        q.acquire(0, c.now() + Duration::from_secs(60)).await.unwrap().succeed(0).await;
        // Both waits count from when the store was asked: 400 − 150 ms, then 600 − 150 ms (and
        // the millisecond every turn adds, so a wake-up never lands just short of it).
        assert_eq!(c.sleeps(), [Duration::from_millis(250), Duration::from_millis(451)]);
        assert_eq!(c.now().saturating_duration_since(asked), Duration::from_millis(400 + 600 + 1));
    }

    #[tokio::test]
    async fn a_caller_waiting_on_a_shared_store_looks_again_and_sees_other_processes_refunds() {
        let (c, dynamic) = clock();
        let cfg = QuotaConfig { tokens_per_minute: Some(60_000), ..Default::default() };
        let store = Arc::new(RefundedElsewhere::default());
        let q = Quota::with_store(&cfg, dynamic, store.clone(), BucketKeys::text("m"));
        q.acquire(10_000, c.now() + Duration::from_secs(60)).await.unwrap().succeed(5_000).await;
        assert_eq!(store.takes.load(Ordering::SeqCst), 2);
        assert_eq!(c.sleeps(), [Duration::from_millis(250)], "one recheck, not the 30 s of refill");
    }

    #[tokio::test]
    async fn an_unreachable_store_fails_the_call_with_a_retryable_store_error_without_calling_the_model() {
        let (_c, dynamic) = clock();
        let cfg = QuotaConfig { requests_per_minute: Some(100), ..Default::default() };
        let q = Quota::with_store(&cfg, dynamic, Arc::new(Unreachable), BucketKeys::text("amazon.nova-lite-v1:0"));
        let g = Governor::new("bedrock", q.clone(), policy());
        let calls = AtomicU32::new(0);
        let err = g
            .run(CallInfo { stage: "ContentGen", subject: "module 1 lesson 2", reserve_tokens: 10 }, || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Ok(((), 0)) }
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 0, "no budget, no call");
        assert_eq!(err.error_type(), "StoreError");
        assert!(err.is_retryable());
        let msg = err.to_string();
        assert!(msg.contains("dynamodb table gone/amazon.nova-lite-v1:0#requests"), "{msg}");
        assert!(msg.contains("module 1 lesson 2") && msg.contains("connection refused"), "{msg}");
        assert_eq!(q.snapshot().in_flight, 0, "the slot taken while asking is given back");
        // Without any budget configured there is nothing to ask the store.
        let free = Quota::with_store(&QuotaConfig::default(), clock().1, Arc::new(Unreachable), BucketKeys::text("m"));
        free.acquire(0, Instant::now() + Duration::from_secs(1)).await.unwrap().succeed(0).await;
    }

    #[tokio::test]
    async fn acquire_gives_up_when_the_budget_cannot_admit_before_the_deadline() {
        let (c, dynamic) = clock();
        let q = Quota::new(&QuotaConfig { requests_per_minute: Some(1), ..Default::default() }, dynamic);
        let deadline = c.now() + Duration::from_secs(10);
        q.acquire(0, deadline).await.unwrap().succeed(0).await;
        assert_eq!(q.acquire(0, deadline).await.unwrap_err(), AcquireError::Deadline);
        // With a later deadline it waits for the refill (one request per minute).
        let p = q.acquire(0, c.now() + Duration::from_secs(120)).await.unwrap();
        p.succeed(0).await;
    }

    #[tokio::test]
    async fn governor_retries_throttles_with_growing_backoff_then_succeeds() {
        let (c, dynamic) = clock();
        let q = Quota::new(&QuotaConfig::default(), dynamic);
        let g = Governor::new("test", q.clone(), policy());
        let n = AtomicU32::new(0);
        let out = g
            .run(CallInfo { stage: "ContentGen", subject: "module 1 lesson 1", reserve_tokens: 10 }, || {
                let k = n.fetch_add(1, Ordering::SeqCst);
                async move {
                    match k {
                        0..=2 => Err(Failure::Throttled { message: "slow down".into(), retry_after: None }),
                        3 => Err(Failure::Transient { message: "503".into() }),
                        _ => Ok(("done", 5)),
                    }
                }
            })
            .await
            .unwrap();
        assert_eq!(out, "done");
        let sleeps = c.sleeps();
        assert_eq!(sleeps.len(), 4);
        for (i, d) in sleeps.iter().enumerate() {
            assert!(*d <= Duration::from_millis(100 * 2u64.pow(i as u32)), "sleep {i}: {d:?}");
        }
        assert_eq!(q.snapshot().in_flight, 0);
        assert!(q.snapshot().throttles >= 3);
    }

    #[tokio::test]
    async fn governor_gives_up_at_the_deadline_with_throttling_when_throttled_last() {
        let (c, dynamic) = clock();
        let q = Quota::new(&QuotaConfig::default(), dynamic);
        let mut p = policy();
        p.budget = Duration::from_secs(20);
        let g = Governor::new("bedrock", q, p);
        let start = c.now();
        let err = g
            .run(CallInfo { stage: "ContentGen", subject: "module 2 lesson 3", reserve_tokens: 0 }, || async {
                Err::<((), u64), _>(Failure::Throttled { message: "Too many requests".into(), retry_after: None })
            })
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "ThrottlingException");
        let msg = err.to_string();
        assert!(msg.contains("module 2 lesson 3") && msg.contains("Too many requests"), "{msg}");
        // No real waiting happened, and the fake time spent stayed under the budget.
        assert!(c.now() - start <= Duration::from_secs(20));
        assert!(c.sleeps().len() > 3);
    }

    #[tokio::test]
    async fn governor_reports_model_error_after_transient_failures_and_fatal_at_once() {
        let (c, dynamic) = clock();
        let q = Quota::new(&QuotaConfig::default(), dynamic);
        let mut p = policy();
        p.max_attempts = 3;
        let g = Governor::new("bedrock", q.clone(), p);
        let call = CallInfo { stage: "LabWriter", subject: "lab 01-02-03", reserve_tokens: 0 };
        let err = g
            .run(call, || async { Err::<((), u64), _>(Failure::Transient { message: "connection reset".into() }) })
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "ModelError");
        assert!(err.to_string().contains("LabWriter") && err.to_string().contains("3 attempt"), "{err}");
        assert_eq!(c.sleeps().len(), 2);

        let n = AtomicU32::new(0);
        let err = g
            .run(call, || {
                n.fetch_add(1, Ordering::SeqCst);
                async { Err::<((), u64), _>(Failure::Fatal(StageError::Config("access denied".into()))) }
            })
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "ConfigError");
        assert_eq!(n.load(Ordering::SeqCst), 1, "fatal errors are not retried");
        assert_eq!(q.snapshot().in_flight, 0);
    }

    #[tokio::test]
    async fn retry_after_is_honoured_and_explicit_and_task_deadlines_bound_the_call() {
        let (c, dynamic) = clock();
        let q = Quota::new(&QuotaConfig::default(), dynamic);
        let g = Governor::new("openai", q.clone(), policy());
        let n = AtomicU32::new(0);
        g.run(CallInfo { stage: "s", subject: "x", reserve_tokens: 0 }, || {
            let k = n.fetch_add(1, Ordering::SeqCst);
            async move {
                if k == 0 {
                    Err(Failure::Throttled { message: "429".into(), retry_after: Some(Duration::from_secs(3)) })
                } else {
                    Ok(((), 0))
                }
            }
        })
        .await
        .unwrap();
        assert!(c.sleeps()[0] >= Duration::from_secs(3));

        // An explicit deadline 1 s away stops a call whose backoff would pass it.
        let g2 = g.clone().with_deadline(c.now() + Duration::from_secs(1));
        let throttle = || async {
            Err::<((), u64), _>(Failure::Throttled { message: "429".into(), retry_after: Some(Duration::from_secs(2)) })
        };
        let err = g2.run(CallInfo { stage: "s", subject: "x", reserve_tokens: 0 }, throttle).await.unwrap_err();
        assert_eq!(err.error_type(), "ThrottlingException");
        // The same through the task-local deadline.
        let before = c.sleeps().len();
        let err = with_call_deadline(
            c.now() + Duration::from_secs(1),
            g.run(CallInfo { stage: "s", subject: "x", reserve_tokens: 0 }, throttle),
        )
        .await
        .unwrap_err();
        assert_eq!(err.error_type(), "ThrottlingException");
        assert_eq!(c.sleeps().len(), before, "gave up without sleeping past the deadline");
    }

    #[test]
    fn lambda_deadlines_become_instants_with_a_margin() {
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
        let before = Instant::now();
        let d = deadline_from_epoch_millis(now_ms + 900_000, Duration::from_secs(60));
        let left = d.saturating_duration_since(before);
        assert!(left <= Duration::from_millis(840_100) && left >= Duration::from_secs(835), "{left:?}");
        let past = deadline_from_epoch_millis(now_ms.saturating_sub(5_000), Duration::from_secs(60));
        assert!(past.saturating_duration_since(Instant::now()) < Duration::from_millis(50));
        // `cargo lambda watch` sends the function timeout (600000 ms) instead of an epoch time.
        let relative = deadline_from_epoch_millis(600_000, Duration::from_secs(20));
        let left = relative.saturating_duration_since(Instant::now());
        assert!(left > Duration::from_secs(570) && left <= Duration::from_secs(580), "{left:?}");
        let _ = deadline_from_epoch_millis(u64::MAX, Duration::ZERO);
        let _ = deadline_from_epoch_millis(0, Duration::MAX);
    }

    #[tokio::test]
    async fn shared_quota_is_one_per_name() {
        let cfg = QuotaConfig::default();
        let a = Quota::shared("unit-test-model-a", &cfg);
        let b = Quota::shared("unit-test-model-a", &QuotaConfig { max_concurrency: Some(1), ..cfg.clone() });
        let c = Quota::shared("unit-test-model-b", &cfg);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
    }
}
