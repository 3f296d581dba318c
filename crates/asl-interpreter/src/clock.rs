//! Time as the executor sees it: a real clock, or a fake one whose sleeps return at once so
//! tests can check waits and retry back-off exactly.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::sync::watch;

/// The source of time for an execution: timestamps, `Wait` states, retry back-off and task
/// timeouts all go through it.
#[async_trait]
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// Waits for `d` (a `Wait` state or a retry back-off).
    async fn sleep(&self, d: Duration);

    /// Completes once `d` has elapsed since the call, without being a requested sleep of its
    /// own; used to enforce `TimeoutSeconds`. Defaults to [`Clock::sleep`].
    async fn timer(&self, d: Duration) {
        self.sleep(d).await;
    }
}

/// The real wall clock; sleeps use the tokio timer.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// A virtual clock for tests. [`Clock::sleep`] returns immediately, moves virtual time
/// forward by the requested duration and records it (see [`FakeClock::sleeps`]). Timers used
/// for `TimeoutSeconds` complete only once virtual time reaches their deadline, either
/// through other sleeps or through [`FakeClock::advance`].
#[derive(Debug)]
pub struct FakeClock {
    now: watch::Sender<SystemTime>,
    sleeps: Mutex<Vec<Duration>>,
}

impl FakeClock {
    /// A fake clock starting at `start`.
    pub fn new(start: SystemTime) -> Self {
        let (now, _) = watch::channel(start);
        Self { now, sleeps: Mutex::new(Vec::new()) }
    }

    /// A fake clock starting at 2024-01-01T00:00:00Z.
    pub fn at_default_start() -> Self {
        Self::new(UNIX_EPOCH + Duration::from_secs(1_704_067_200))
    }

    /// Moves virtual time forward by `d` without recording a sleep; fires due timers.
    pub fn advance(&self, d: Duration) {
        self.now.send_modify(|now| *now = now.checked_add(d).unwrap_or(*now));
    }

    /// Every duration passed to [`Clock::sleep`] so far, in call order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.sleeps.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Total virtual time elapsed through sleeps and advances since `start`.
    pub fn elapsed_since(&self, start: SystemTime) -> Duration {
        self.now().duration_since(start).unwrap_or_default()
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        Self::at_default_start()
    }
}

#[async_trait]
impl Clock for FakeClock {
    fn now(&self) -> SystemTime {
        *self.now.borrow()
    }

    async fn sleep(&self, d: Duration) {
        if let Ok(mut sleeps) = self.sleeps.lock() {
            sleeps.push(d);
        }
        self.advance(d);
        tokio::task::yield_now().await;
    }

    async fn timer(&self, d: Duration) {
        let mut rx = self.now.subscribe();
        let start = *rx.borrow_and_update();
        let Some(deadline) = start.checked_add(d) else {
            // A deadline past the end of representable time is never reached.
            return std::future::pending::<()>().await;
        };
        loop {
            if *rx.borrow_and_update() >= deadline {
                return;
            }
            if rx.changed().await.is_err() {
                // The sender lives as long as the clock; without it time can never advance.
                std::future::pending::<()>().await;
            }
        }
    }
}
