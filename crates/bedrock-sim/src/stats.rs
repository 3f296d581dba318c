//! Request counters exposed on `GET /_sim/stats`.

use crate::CallKind;
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The most calls the timeline of `GET /_sim/calls` keeps (older ones are dropped first).
const TIMELINE_LIMIT: usize = 100_000;

/// One entry of the call timeline: when the quota admitted or throttled a model call.
#[derive(Debug, Clone, Copy)]
struct CallRecord {
    at_ms: u64,
    kind: CallKind,
    admitted: bool,
    reserved_tokens: u64,
}

/// The kind of fault injected into a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// HTTP 500 `InternalServerException`.
    InternalServer,
    /// HTTP 503 `ServiceUnavailableException`.
    ServiceUnavailable,
    /// HTTP 200 with a truncated JSON body.
    MalformedBody,
}

/// Which API a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Bedrock `Converse`.
    Converse,
    /// Bedrock `InvokeModel`.
    Invoke,
    /// OpenAI-compatible chat completions.
    Chat,
}

/// Monotonic counters, reset by `POST /_sim/reset`.
#[derive(Debug, Default)]
pub struct Stats {
    requests: AtomicU64,
    ok: AtomicU64,
    throttled: AtomicU64,
    validation_errors: AtomicU64,
    refused: AtomicU64,
    injected_internal: AtomicU64,
    injected_unavailable: AtomicU64,
    injected_malformed: AtomicU64,
    tokens_in: AtomicU64,
    tokens_out: AtomicU64,
    converse: AtomicU64,
    invoke: AtomicU64,
    chat: AtomicU64,
    images: AtomicU64,
    in_flight: AtomicU64,
    in_flight_max: AtomicU64,
    /// Per [`CallKind`] (in [`CallKind::ALL`] order): calls given a latency, and its total.
    kind_calls: [AtomicU64; 3],
    kind_latency_ms: [AtomicU64; 3],
    /// Admissions and throttles in order, for `GET /_sim/calls`.
    timeline: Mutex<VecDeque<CallRecord>>,
}

fn kind_index(kind: CallKind) -> usize {
    match kind {
        CallKind::Text => 0,
        CallKind::Plan => 1,
        CallKind::Image => 2,
    }
}

/// Decrements the in-flight gauge when dropped.
pub struct InFlight<'a>(&'a Stats);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Stats {
    /// Counts a new request for `op` and tracks concurrency until the guard drops.
    pub fn begin(&self, op: Operation) -> InFlight<'_> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        match op {
            Operation::Converse => &self.converse,
            Operation::Invoke => &self.invoke,
            Operation::Chat => &self.chat,
        }
        .fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.in_flight_max.fetch_max(now, Ordering::SeqCst);
        InFlight(self)
    }

    /// Counts a successful answer and its tokens.
    pub fn ok(&self, tokens_in: u64, tokens_out: u64) {
        self.ok.fetch_add(1, Ordering::SeqCst);
        self.tokens(tokens_in, tokens_out);
    }

    /// Adds token usage without counting an answer.
    pub fn tokens(&self, tokens_in: u64, tokens_out: u64) {
        self.tokens_in.fetch_add(tokens_in, Ordering::SeqCst);
        self.tokens_out.fetch_add(tokens_out, Ordering::SeqCst);
    }

    /// Records that an admitted call of this kind was given this fixed latency.
    pub fn latency(&self, kind: CallKind, latency_ms: u64) {
        self.kind_calls[kind_index(kind)].fetch_add(1, Ordering::SeqCst);
        self.kind_latency_ms[kind_index(kind)].fetch_add(latency_ms, Ordering::SeqCst);
    }

    /// Adds a call to the timeline: admitted (or throttled) now, with its token reservation.
    pub fn decided(&self, kind: CallKind, admitted: bool, reserved_tokens: u64) {
        let at_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let mut timeline = self.timeline.lock().unwrap_or_else(|p| p.into_inner());
        if timeline.len() >= TIMELINE_LIMIT {
            timeline.pop_front();
        }
        timeline.push_back(CallRecord { at_ms, kind, admitted, reserved_tokens });
    }

    /// The timeline as the JSON document served on `/_sim/calls`: every admission and throttle
    /// since start (or the last reset) in order, with its wall-clock time in Unix milliseconds.
    pub fn timeline(&self) -> Value {
        let timeline = self.timeline.lock().unwrap_or_else(|p| p.into_inner());
        let calls: Vec<Value> = timeline
            .iter()
            .map(|c| {
                json!({
                    "at_ms": c.at_ms,
                    "kind": c.kind.as_str(),
                    "outcome": if c.admitted { "admitted" } else { "throttled" },
                    "reserved_tokens": c.reserved_tokens,
                })
            })
            .collect();
        json!({ "calls": calls })
    }

    /// Counts generated images.
    pub fn images(&self, n: u64) {
        self.images.fetch_add(n, Ordering::SeqCst);
    }

    /// Counts a throttled request.
    pub fn throttled(&self) {
        self.throttled.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts a rejected, malformed request.
    pub fn validation_error(&self) {
        self.validation_errors.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts a request refused by `--refuse-containing`.
    pub fn refused(&self) {
        self.refused.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts an injected fault.
    pub fn injected(&self, kind: FaultKind) {
        match kind {
            FaultKind::InternalServer => &self.injected_internal,
            FaultKind::ServiceUnavailable => &self.injected_unavailable,
            FaultKind::MalformedBody => &self.injected_malformed,
        }
        .fetch_add(1, Ordering::SeqCst);
    }

    /// Zeroes every counter; the in-flight maximum restarts from the current load.
    pub fn reset(&self) {
        for counter in [
            &self.requests,
            &self.ok,
            &self.throttled,
            &self.validation_errors,
            &self.refused,
            &self.injected_internal,
            &self.injected_unavailable,
            &self.injected_malformed,
            &self.tokens_in,
            &self.tokens_out,
            &self.converse,
            &self.invoke,
            &self.chat,
            &self.images,
        ]
        .into_iter()
        .chain(&self.kind_calls)
        .chain(&self.kind_latency_ms)
        {
            counter.store(0, Ordering::SeqCst);
        }
        self.in_flight_max.store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
        self.timeline.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The counters as the JSON document served on `/_sim/stats`.
    pub fn snapshot(&self) -> Value {
        let get = |c: &AtomicU64| c.load(Ordering::SeqCst);
        let internal = get(&self.injected_internal);
        let unavailable = get(&self.injected_unavailable);
        let malformed = get(&self.injected_malformed);
        let mut by_kind = Map::new();
        for kind in CallKind::ALL {
            let i = kind_index(kind);
            by_kind.insert(
                kind.as_str().to_string(),
                json!({ "calls": get(&self.kind_calls[i]), "latency_ms": get(&self.kind_latency_ms[i]) }),
            );
        }
        json!({
            "requests": get(&self.requests),
            "ok": get(&self.ok),
            "throttled": get(&self.throttled),
            "validation_errors": get(&self.validation_errors),
            "refused": get(&self.refused),
            "injected_failures": internal + unavailable + malformed,
            "injected_by_kind": {
                "internal_server_error": internal,
                "service_unavailable": unavailable,
                "malformed_body": malformed,
            },
            "tokens_in": get(&self.tokens_in),
            "tokens_out": get(&self.tokens_out),
            "converse": get(&self.converse),
            "invoke": get(&self.invoke),
            "chat": get(&self.chat),
            "images": get(&self.images),
            "in_flight": get(&self.in_flight),
            "in_flight_max": get(&self.in_flight_max),
            "by_kind": by_kind,
        })
    }
}
