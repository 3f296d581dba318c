//! A wire-level Amazon Bedrock Runtime simulator.
//!
//! It serves `Converse` (`POST /model/{modelId}/converse`), `InvokeModel`
//! (`POST /model/{modelId}/invoke`, including Titan Image Generator v2 and Nova
//! Canvas image generation), an OpenAI-compatible `POST /v1/chat/completions`,
//! and counters on `GET /_sim/stats` (`POST /_sim/reset` zeroes them). Real AWS
//! SDK clients work against it unchanged when pointed at it with
//! `AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://127.0.0.1:PORT` and any credentials.
//!
//! Answers are deterministic: the same request and the same seed give the same
//! body. Requests-per-minute and tokens-per-minute quotas, per-token latency
//! and seeded fault injection make it usable for load and resilience tests.
//!
//! Wire conventions:
//! - Bedrock errors carry the error type in the `x-amzn-ErrorType` header and
//!   `{"message": "..."}` as the body (400 `ValidationException`, 429
//!   `ThrottlingException`, 500 `InternalServerException`, 503
//!   `ServiceUnavailableException`); every Bedrock answer has an
//!   `x-amzn-RequestId` header.
//! - OpenAI errors use `{"error": {"message", "type", "param", "code"}}`;
//!   throttling answers 429 with `type` `rate_limit_exceeded` and `retry-after`.
//! - A request reserves its input tokens plus its output limit against the
//!   tokens-per-minute bucket when admitted; the unused part is refunded after
//!   the answer. Faults are drawn per admitted request from the seed and the
//!   request's position since start (or the last `/_sim/reset`).
//!
//! Latency per kind of call: a request that forces a tool call (Converse
//! `toolConfig.toolChoice` `any` or `tool`, the Anthropic or OpenAI `tool_choice`
//! equivalents) or asks for a JSON Schema answer is a *plan* call, an `InvokeModel` on
//! an image model is an *image* call, and every other request is a *text* call (a tool
//! offered with `auto` choice does not count: the model may answer in prose). Each kind
//! has its own fixed latency ([`Config::latency_text_ms`], [`Config::latency_plan_ms`],
//! [`Config::latency_image_ms`]), [`Config::latency_ms`] when unset. The latency counts
//! from admission: the sim's own work on the answer (rendering a picture) happens within
//! it, as a model's does, and only a render slower than the latency makes the answer later.
//! Successful answers name their kind in the `x-sim-call-kind` header.
//!
//! A request any of whose strings contains [`Config::refuse_containing`] is refused the way
//! Bedrock's content filters refuse it, every time: Converse answers 200 with `stopReason`
//! `content_filtered`, `InvokeModel` (image models included) and chat completions answer 400
//! (`ValidationException`, `invalid_request_error`). It is how a test sees a permanent failure.
//!
//! `GET /_sim/stats` returns `requests`, `ok`, `throttled`,
//! `validation_errors`, `refused`, `injected_failures`, `injected_by_kind`
//! (`internal_server_error`, `service_unavailable`, `malformed_body`),
//! `tokens_in`, `tokens_out`, `converse`, `invoke`, `chat`, `images`,
//! `in_flight`, `in_flight_max` and `by_kind` (for `text`, `plan` and `image`:
//! `calls`, the admitted calls of that kind, and `latency_ms`, the fixed latency they
//! were given in total). `GET /_sim/calls` returns the quota's decisions in order,
//! `{"calls": [{"at_ms", "kind", "outcome", "reserved_tokens"}]}`: when (Unix
//! milliseconds) each call was admitted or throttled, what kind it was and the tokens it
//! reserved, so a run's admissions can be laid against its budget over time.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sim = bedrock_sim::start(bedrock_sim::Config::default()).await?;
//! println!("AWS_ENDPOINT_URL_BEDROCK_RUNTIME={}", sim.endpoint_url());
//! # Ok(())
//! # }
//! ```

mod bedrock;
mod engine;
mod error;
mod images;
mod openai;
mod picture;
mod quota;
mod rng;
mod schema_gen;
mod server;
mod stats;
mod text;
mod tokens;

use clap::Parser;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use engine::CallKind;
pub use error::THROTTLING_MESSAGE;

/// Simulator behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Fixed latency added to every answer, in milliseconds, unless its kind has its own.
    pub latency_ms: u64,
    /// Fixed latency of a text call (a lesson), in milliseconds (`None`: `latency_ms`).
    pub latency_text_ms: Option<u64>,
    /// Fixed latency of a plan call (a structured answer: a forced tool call or a JSON
    /// Schema answer, such as a visual plan), in milliseconds (`None`: `latency_ms`).
    pub latency_plan_ms: Option<u64>,
    /// Fixed latency of an image call, in milliseconds (`None`: `latency_ms`).
    pub latency_image_ms: Option<u64>,
    /// Extra latency per output token, in milliseconds.
    pub ms_per_token: u64,
    /// Requests-per-minute quota (`None`: unlimited).
    pub rpm: Option<u64>,
    /// Tokens-per-minute quota (`None`: unlimited).
    pub tpm: Option<u64>,
    /// Probability in `0..=1` of injecting a fault into an admitted request.
    pub fail_rate: f64,
    /// Seed for generated content and fault decisions.
    pub seed: u64,
    /// Reject OpenAI `response_format` of type `json_schema` with HTTP 400.
    pub openai_no_json_schema: bool,
    /// Output token limit used when a request sets none.
    pub default_max_tokens: u64,
    /// Largest output token limit a request may ask for.
    pub max_tokens_limit: u64,
    /// Refuse, as a content filter would, every request with a string containing this text.
    pub refuse_containing: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            latency_text_ms: None,
            latency_plan_ms: None,
            latency_image_ms: None,
            ms_per_token: 0,
            rpm: None,
            tpm: None,
            fail_rate: 0.0,
            seed: 0,
            openai_no_json_schema: false,
            default_max_tokens: 4096,
            max_tokens_limit: 65_536,
            refuse_containing: None,
        }
    }
}

impl Config {
    /// The fixed latency of a call of this kind: its own latency when set, else `latency_ms`.
    pub fn latency_for(&self, kind: CallKind) -> u64 {
        match kind {
            CallKind::Text => self.latency_text_ms,
            CallKind::Plan => self.latency_plan_ms,
            CallKind::Image => self.latency_image_ms,
        }
        .unwrap_or(self.latency_ms)
    }

    /// Checks the values are usable.
    pub fn validate(&self) -> Result<(), SimError> {
        if !(0.0..=1.0).contains(&self.fail_rate) {
            return Err(SimError::InvalidConfig(format!("fail rate {} is not between 0 and 1", self.fail_rate)));
        }
        if self.rpm == Some(0) || self.tpm == Some(0) {
            return Err(SimError::InvalidConfig("rpm and tpm must be at least 1 when given".to_string()));
        }
        if self.default_max_tokens == 0 || self.default_max_tokens > self.max_tokens_limit {
            return Err(SimError::InvalidConfig(
                "default max tokens must be between 1 and the max tokens limit".to_string(),
            ));
        }
        Ok(())
    }
}

/// Errors starting the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listen address is not a loopback address and `--allow-non-loopback` was not given.
    #[error("refusing to listen on non-loopback address {0}; pass --allow-non-loopback to allow it")]
    NonLoopback(SocketAddr),
    /// The listen address could not be resolved.
    #[error("cannot resolve listen address {0}")]
    Resolve(String),
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// Binding or serving failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Refuses non-loopback addresses unless explicitly allowed.
pub fn check_listen_addr(addr: SocketAddr, allow_non_loopback: bool) -> Result<(), SimError> {
    if addr.ip().is_loopback() || allow_non_loopback {
        Ok(())
    } else {
        Err(SimError::NonLoopback(addr))
    }
}

/// Why a `--fail-rate` value is rejected.
#[derive(Debug, thiserror::Error)]
enum FailRateError {
    #[error(transparent)]
    NotANumber(#[from] std::num::ParseFloatError),
    #[error("must be between 0 and 1")]
    OutOfRange,
}

fn parse_fail_rate(s: &str) -> Result<f64, FailRateError> {
    let v: f64 = s.parse()?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(FailRateError::OutOfRange)
    }
}

/// Command-line arguments of the `bedrock-sim` binary.
#[derive(Debug, Clone, Parser)]
#[command(name = "bedrock-sim", version, about = "A wire-level Amazon Bedrock Runtime simulator")]
pub struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Allow listening on a non-loopback address.
    #[arg(long)]
    pub allow_non_loopback: bool,
    /// Fixed latency added to every answer, in milliseconds, unless its kind has its own.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Fixed latency of a text call, in milliseconds (default: --latency-ms). A text call is
    /// any text request that is not a plan call, such as a lesson.
    #[arg(long, value_name = "MS")]
    pub latency_text_ms: Option<u64>,
    /// Fixed latency of a plan call, in milliseconds (default: --latency-ms). A plan call is a
    /// structured request, such as a visual plan: a Converse request whose toolConfig forces a
    /// tool call (toolChoice any or tool; auto does not count), the Anthropic or OpenAI
    /// tool_choice equivalents, or an OpenAI json_schema response_format.
    #[arg(long, value_name = "MS")]
    pub latency_plan_ms: Option<u64>,
    /// Fixed latency of an image call (InvokeModel on an image model), in milliseconds
    /// (default: --latency-ms).
    #[arg(long, value_name = "MS")]
    pub latency_image_ms: Option<u64>,
    /// Extra latency per output token, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub ms_per_token: u64,
    /// Requests-per-minute quota (unlimited when absent).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub rpm: Option<u64>,
    /// Tokens-per-minute quota (unlimited when absent).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub tpm: Option<u64>,
    /// Probability (0..1) of injecting a 500, a 503 or a truncated 200 body.
    #[arg(long, default_value_t = 0.0, value_parser = parse_fail_rate)]
    pub fail_rate: f64,
    /// Seed for generated content and fault decisions.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Reject OpenAI `response_format` json_schema requests with HTTP 400.
    #[arg(long)]
    pub openai_no_json_schema: bool,
    /// Output token limit used when a request sets none.
    #[arg(long, default_value_t = 4096)]
    pub default_max_tokens: u64,
    /// Largest output token limit a request may ask for.
    #[arg(long, default_value_t = 65_536)]
    pub max_tokens_limit: u64,
    /// Refuse every request whose prompt contains TEXT, as Bedrock's content filters do: Converse
    /// answers with stopReason content_filtered, InvokeModel (image models) with HTTP 400
    /// ValidationException, chat completions with HTTP 400. Every time, never retried away.
    #[arg(long, value_name = "TEXT", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub refuse_containing: Option<String>,
}

impl Cli {
    /// The simulator configuration these arguments describe.
    pub fn config(&self) -> Config {
        Config {
            latency_ms: self.latency_ms,
            latency_text_ms: self.latency_text_ms,
            latency_plan_ms: self.latency_plan_ms,
            latency_image_ms: self.latency_image_ms,
            ms_per_token: self.ms_per_token,
            rpm: self.rpm,
            tpm: self.tpm,
            fail_rate: self.fail_rate,
            seed: self.seed,
            openai_no_json_schema: self.openai_no_json_schema,
            default_max_tokens: self.default_max_tokens,
            max_tokens_limit: self.max_tokens_limit,
            refuse_containing: self.refuse_containing.clone(),
        }
    }
}

/// Serves the simulator on `listener` until the process ends.
pub async fn serve(listener: TcpListener, config: Config) -> std::io::Result<()> {
    serve_with_shutdown(listener, config, std::future::pending()).await
}

/// Serves the simulator on `listener` until `shutdown` completes, then drains
/// in-flight requests.
pub async fn serve_with_shutdown<F>(listener: TcpListener, config: Config, shutdown: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    axum::serve(listener, server::router(config)).with_graceful_shutdown(shutdown).await
}

/// A simulator running in the background of the current Tokio runtime; it
/// stops when dropped.
#[derive(Debug)]
pub struct RunningSim {
    addr: SocketAddr,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningSim {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, suitable for `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a simulator on a free loopback port in the background.
pub async fn start(config: Config) -> std::io::Result<RunningSim> {
    config.validate().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(serve(listener, config));
    Ok(RunningSim { addr, task })
}

async fn resolve(listen: &str) -> Result<SocketAddr, SimError> {
    if let Ok(addr) = listen.parse::<SocketAddr>() {
        return Ok(addr);
    }
    tokio::net::lookup_host(listen)
        .await
        .map_err(|_| SimError::Resolve(listen.to_string()))?
        .next()
        .ok_or_else(|| SimError::Resolve(listen.to_string()))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

/// Runs the binary: checks the address, binds, prints `listening on ADDR` to
/// stdout and serves until SIGINT or SIGTERM.
pub async fn run(cli: Cli) -> Result<(), SimError> {
    let config = cli.config();
    config.validate()?;
    let addr = resolve(&cli.listen).await?;
    check_listen_addr(addr, cli.allow_non_loopback)?;
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {bound}")?;
        stdout.flush()?;
    }
    tracing::info!(%bound, ?config, "bedrock-sim ready");
    serve_with_shutdown(listener, config, shutdown_signal()).await?;
    tracing::info!("bedrock-sim stopped");
    Ok(())
}

/// Sends logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_check() {
        assert!(check_listen_addr("127.0.0.1:0".parse().unwrap(), false).is_ok());
        assert!(check_listen_addr("[::1]:0".parse().unwrap(), false).is_ok());
        assert!(matches!(check_listen_addr("0.0.0.0:0".parse().unwrap(), false), Err(SimError::NonLoopback(_))));
        assert!(check_listen_addr("0.0.0.0:0".parse().unwrap(), true).is_ok());
    }

    #[test]
    fn each_kind_falls_back_to_the_common_latency() {
        let config = Config { latency_ms: 7, latency_plan_ms: Some(30), ..Config::default() };
        assert_eq!(config.latency_for(CallKind::Text), 7);
        assert_eq!(config.latency_for(CallKind::Plan), 30);
        assert_eq!(config.latency_for(CallKind::Image), 7);
    }

    #[test]
    fn refuse_containing_reaches_the_config_and_must_not_be_empty() {
        let cli = Cli::parse_from(["bedrock-sim", "--refuse-containing", "Forbidden Topic"]);
        assert_eq!(cli.config().refuse_containing.as_deref(), Some("Forbidden Topic"));
        assert!(Cli::try_parse_from(["bedrock-sim", "--refuse-containing", ""]).is_err());
        assert_eq!(Cli::parse_from(["bedrock-sim"]).config().refuse_containing, None);
    }

    #[test]
    fn config_validation() {
        assert!(Config::default().validate().is_ok());
        let bad = Config { fail_rate: 1.5, ..Config::default() };
        assert!(bad.validate().is_err());
    }
}
