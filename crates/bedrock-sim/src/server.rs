//! Routing, the shared request pipeline (quota, faults, latency) and state.

use crate::error::{ApiError, Flavor};
use crate::quota::{Admission, Quota};
use crate::rng::{mix, Rng};
use crate::stats::{FaultKind, Operation, Stats};
use crate::CallKind;
use crate::{bedrock, openai, Config};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Largest accepted request body.
const BODY_LIMIT: usize = 32 * 1024 * 1024;

/// Shared simulator state.
pub(crate) struct AppState {
    pub config: Config,
    pub stats: Stats,
    quota: Mutex<Quota>,
    fault_seq: AtomicU64,
    request_seq: AtomicU64,
}

/// The body of a successful answer and its output token count.
pub(crate) struct Rendered {
    pub body: Vec<u8>,
    pub output_tokens: u64,
}

/// A validated request, ready to be admitted and answered.
pub(crate) struct Plan {
    /// Estimated input tokens.
    pub input_tokens: u64,
    /// Output tokens reserved against the tokens-per-minute quota.
    pub max_output: u64,
    /// Images the answer will contain.
    pub images: u64,
    /// The kind of call, which picks its latency.
    pub kind: CallKind,
    /// Whether rendering is CPU-heavy and belongs on the blocking pool.
    pub blocking: bool,
    /// Produces the answer body.
    pub render: Box<dyn FnOnce() -> Rendered + Send>,
}

impl AppState {
    pub(crate) fn new(config: Config) -> Self {
        Self {
            quota: Mutex::new(Quota::new(config.rpm, config.tpm)),
            config,
            stats: Stats::default(),
            fault_seq: AtomicU64::new(0),
            request_seq: AtomicU64::new(0),
        }
    }

    fn quota(&self) -> MutexGuard<'_, Quota> {
        self.quota.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn next_fault(&self) -> Option<FaultKind> {
        if self.config.fail_rate <= 0.0 {
            return None;
        }
        let n = self.fault_seq.fetch_add(1, Ordering::SeqCst);
        let mut rng = Rng::new(mix(self.config.seed ^ 0x5eed_fa17, n));
        if !rng.chance(self.config.fail_rate) {
            return None;
        }
        Some(match rng.below(3) {
            0 => FaultKind::InternalServer,
            1 => FaultKind::ServiceUnavailable,
            _ => FaultKind::MalformedBody,
        })
    }

    fn request_id(&self) -> String {
        let n = self.request_seq.fetch_add(1, Ordering::SeqCst);
        Rng::new(mix(self.config.seed ^ 0x0e0e_1d1d, n)).uuid()
    }

    fn reset(&self) {
        self.stats.reset();
        self.quota().reset();
        self.fault_seq.store(0, Ordering::SeqCst);
        self.request_seq.store(0, Ordering::SeqCst);
    }
}

fn with_request_id(mut response: Response, flavor: Flavor, id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(id) {
        let name = match flavor {
            Flavor::Bedrock => "x-amzn-RequestId",
            Flavor::OpenAi => "x-request-id",
        };
        response.headers_mut().insert(name, value);
    }
    response
}

async fn sleep_ms(ms: u64) {
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// Waits until `ms` milliseconds after `start`: the answer's latency counts from admission, so
/// the sim's own rendering (a picture's CPU) is part of it, as a model's work is part of its
/// latency, instead of adding to it.
async fn sleep_until_ms_after(start: tokio::time::Instant, ms: u64) {
    tokio::time::sleep_until(start + Duration::from_millis(ms)).await;
}

/// Runs a model request through validation, quota, fault injection, rendering
/// and simulated latency.
pub(crate) async fn run(
    state: &AppState,
    op: Operation,
    flavor: Flavor,
    plan: impl FnOnce(&Config) -> Result<Plan, ApiError>,
) -> Response {
    let _in_flight = state.stats.begin(op);
    let request_id = state.request_id();
    let fail = |e: ApiError| with_request_id(e.into_flavored(flavor), flavor, &request_id);
    let plan = match plan(&state.config) {
        Ok(plan) => plan,
        Err(err) => {
            tracing::debug!(message = %err.message, "rejected request");
            state.stats.validation_error();
            return fail(err);
        }
    };
    let reservation = plan.input_tokens.saturating_add(plan.max_output);
    let admission = state.quota().try_admit(reservation);
    state.stats.decided(plan.kind, admission == Admission::Granted, reservation);
    if let Admission::Throttled { retry_after_secs } = admission {
        tracing::debug!(reservation, retry_after_secs, "throttled request");
        state.stats.throttled();
        return fail(ApiError::throttling(retry_after_secs));
    }
    let admitted = tokio::time::Instant::now();
    let fault = state.next_fault();
    if let Some(kind @ (FaultKind::InternalServer | FaultKind::ServiceUnavailable)) = fault {
        let latency = state.config.latency_for(plan.kind);
        state.stats.latency(plan.kind, latency);
        sleep_ms(latency).await;
        state.quota().refund(reservation);
        tracing::debug!(?kind, "injected fault");
        state.stats.injected(kind);
        let err = if kind == FaultKind::InternalServer { ApiError::internal() } else { ApiError::unavailable() };
        return fail(err);
    }
    let rendered = if plan.blocking {
        match tokio::task::spawn_blocking(plan.render).await {
            Ok(rendered) => rendered,
            Err(_) => {
                state.quota().refund(reservation);
                return fail(ApiError::internal());
            }
        }
    } else {
        (plan.render)()
    };
    let latency = state.config.latency_for(plan.kind);
    state.stats.latency(plan.kind, latency);
    sleep_until_ms_after(admitted, reported_latency(&state.config, plan.kind, rendered.output_tokens)).await;
    state.quota().refund(plan.max_output.saturating_sub(rendered.output_tokens));
    let mut body = rendered.body;
    if fault == Some(FaultKind::MalformedBody) {
        body.truncate(body.len() / 2);
        state.stats.injected(FaultKind::MalformedBody);
        state.stats.tokens(plan.input_tokens, rendered.output_tokens);
    } else {
        state.stats.ok(plan.input_tokens, rendered.output_tokens);
        state.stats.images(plan.images);
    }
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert(CALL_KIND_HEADER, HeaderValue::from_static(plan.kind.as_str()));
    with_request_id(response, flavor, &request_id)
}

/// The header of a successful answer that names its [`CallKind`].
pub(crate) const CALL_KIND_HEADER: &str = "x-sim-call-kind";

/// The answer latency of a call of this kind with this many output tokens, also reported
/// in response metrics.
pub(crate) fn reported_latency(config: &Config, kind: CallKind, output_tokens: u64) -> u64 {
    config.latency_for(kind).saturating_add(config.ms_per_token.saturating_mul(output_tokens))
}

/// The message Bedrock sends when its content filters block a request.
pub(crate) const BLOCKED_MESSAGE: &str = "This request has been blocked by our content filters.";

/// Whether `--refuse-containing` applies: some string of the JSON body contains the text.
fn refused(config: &Config, body: &[u8]) -> bool {
    fn contains(v: &serde_json::Value, text: &str) -> bool {
        match v {
            serde_json::Value::String(s) => s.contains(text),
            serde_json::Value::Array(items) => items.iter().any(|i| contains(i, text)),
            serde_json::Value::Object(map) => map.values().any(|i| contains(i, text)),
            _ => false,
        }
    }
    match config.refuse_containing.as_deref().filter(|t| !t.is_empty()) {
        Some(text) => serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| contains(&v, text)),
        None => false,
    }
}

/// A refused request: a Converse answer stopped by the content filter, else a 400.
fn refuse(state: &AppState, op: Operation, flavor: Flavor) -> Response {
    let _in_flight = state.stats.begin(op);
    state.stats.refused();
    let request_id = state.request_id();
    let response = if op == Operation::Converse {
        let body = serde_json::json!({
            "output": { "message": { "role": "assistant", "content": [{ "text": BLOCKED_MESSAGE }] } },
            "stopReason": "content_filtered",
            "usage": { "inputTokens": 0, "outputTokens": 0, "totalTokens": 0 },
            "metrics": { "latencyMs": 0 },
        });
        let mut response = (StatusCode::OK, body.to_string()).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    } else {
        ApiError::validation(BLOCKED_MESSAGE).into_flavored(flavor)
    };
    with_request_id(response, flavor, &request_id)
}

async fn converse(State(state): State<Arc<AppState>>, Path(model_id): Path<String>, body: Bytes) -> Response {
    if refused(&state.config, &body) {
        return refuse(&state, Operation::Converse, Flavor::Bedrock);
    }
    run(&state, Operation::Converse, Flavor::Bedrock, |config| bedrock::converse_plan(&model_id, &body, config)).await
}

async fn invoke(State(state): State<Arc<AppState>>, Path(model_id): Path<String>, body: Bytes) -> Response {
    if refused(&state.config, &body) {
        return refuse(&state, Operation::Invoke, Flavor::Bedrock);
    }
    run(&state, Operation::Invoke, Flavor::Bedrock, |config| bedrock::invoke_plan(&model_id, &body, config)).await
}

async fn chat(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    if refused(&state.config, &body) {
        return refuse(&state, Operation::Chat, Flavor::OpenAi);
    }
    run(&state, Operation::Chat, Flavor::OpenAi, |config| openai::chat_plan(&body, config)).await
}

async fn stats(State(state): State<Arc<AppState>>) -> Response {
    json_response(state.stats.snapshot())
}

async fn calls(State(state): State<Arc<AppState>>) -> Response {
    json_response(state.stats.timeline())
}

fn json_response(body: serde_json::Value) -> Response {
    let mut response = (StatusCode::OK, body.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

async fn reset(State(state): State<Arc<AppState>>) -> Response {
    state.reset();
    stats(State(state)).await
}

async fn fallback(uri: Uri) -> Response {
    let flavor = if uri.path().starts_with("/v1/") { Flavor::OpenAi } else { Flavor::Bedrock };
    ApiError::unknown_operation(uri.path()).into_flavored(flavor)
}

/// Builds the HTTP application.
pub(crate) fn router(config: Config) -> Router {
    let state = Arc::new(AppState::new(config));
    Router::new()
        .route("/model/{model_id}/converse", post(converse))
        .route("/model/{model_id}/invoke", post(invoke))
        .route("/v1/chat/completions", post(chat))
        .route("/chat/completions", post(chat))
        .route("/_sim/stats", get(stats))
        .route("/_sim/calls", get(calls))
        .route("/_sim/reset", post(reset))
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}
