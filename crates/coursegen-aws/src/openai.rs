//! Text generation through an OpenAI-compatible chat completions endpoint (OpenAI, Ollama,
//! vLLM, llama.cpp server, ...).
//!
//! Structured output tries, in order, and remembers per client what the server accepted:
//! 1. `response_format: {type: json_schema, json_schema: {name, schema, strict}}`;
//! 2. when the server rejects that (HTTP 400 naming `response_format` / `json_schema`): one
//!    forced function tool (`tools` + `tool_choice`);
//! 3. when tools are rejected too: the schema in the prompt and the first JSON value of the
//!    answer.
//!
//! One call per request: the caller validates the answer and makes the single repair call.

use std::fmt;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use coursegen_core::error::{StageError, StageResult};
use coursegen_core::model::{ModelId, TextModel, TextRequest, TextResponse, Usage};
use serde_json::{json, Value};

use crate::json::{estimate_tokens, extract_json};
use crate::quota::{CallInfo, Failure, Governor};
use crate::structured::{answer_in_best_mode, check_request_schema, structured_response, Attempt, Ladder, ModeCell};

/// The default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// The default model.
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";
/// The function / schema name used for structured output.
pub const STRUCTURED_NAME: &str = "submit_result";

/// Connection settings of an OpenAI-compatible server.
#[derive(Clone, PartialEq, Eq)]
pub struct OpenAiSettings {
    /// Base URL up to and including the API version, e.g. `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    /// Bearer token; `None` for servers that need none (a local Ollama).
    pub api_key: Option<String>,
    /// Model name sent in each request.
    pub model: String,
}

impl fmt::Debug for OpenAiSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiSettings")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .finish()
    }
}

/// How structured output is requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StructuredMode {
    /// `response_format` of type `json_schema`.
    JsonSchema,
    /// A forced function tool whose parameters are the schema.
    Tools,
    /// The schema in the prompt; the first JSON value of the answer is taken.
    Prompt,
}

impl Ladder for StructuredMode {
    const ORDER: &'static [Self] = &[StructuredMode::JsonSchema, StructuredMode::Tools, StructuredMode::Prompt];
}

/// A text model behind an OpenAI-compatible chat completions endpoint.
#[derive(Clone)]
pub struct OpenAiText {
    http: reqwest::Client,
    settings: OpenAiSettings,
    governor: Governor,
    mode: ModeCell<StructuredMode>,
}

impl fmt::Debug for OpenAiText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiText")
            .field("settings", &self.settings)
            .field("mode", &self.structured_mode())
            .finish_non_exhaustive()
    }
}

/// One parsed chat answer.
struct Answer {
    content: Option<String>,
    /// The arguments of the first tool call.
    tool_arguments: Option<String>,
    finish_reason: String,
    usage: Usage,
}

enum CallOutcome {
    Answer(Answer),
    /// HTTP 400/422: the server refused the request; its message and `param`.
    Rejected {
        message: String,
        param: Option<String>,
    },
}

impl OpenAiText {
    /// A client for `settings`, with calls run under `governor`. Fails with
    /// [`StageError::Config`] when the HTTP client cannot be built.
    pub fn new(settings: OpenAiSettings, governor: Governor) -> StageResult<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| StageError::Config(format!("OPENAI_BASE_URL: cannot build the HTTP client: {e}")))?;
        Ok(Self { http, settings, governor, mode: ModeCell::new() })
    }

    /// The same client, whose calls (retries included) finish by `deadline`.
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.governor = self.governor.with_deadline(deadline);
        self
    }

    /// The structured-output mode currently in use (it only ever steps down).
    pub fn structured_mode(&self) -> StructuredMode {
        self.mode.get()
    }

    fn url(&self) -> String {
        format!("{}/chat/completions", self.settings.base_url.trim_end_matches('/'))
    }

    async fn call(&self, request: &TextRequest, body: &Value, reserve_tokens: u64) -> StageResult<CallOutcome> {
        let info = CallInfo { stage: request.task.stage(), subject: &request.subject, reserve_tokens };
        self.governor
            .run(info, || {
                let mut builder = self.http.post(self.url()).json(body);
                if let Some(key) = &self.settings.api_key {
                    builder = builder.bearer_auth(key);
                }
                async move {
                    let response = builder.send().await.map_err(transport_failure)?;
                    let status = response.status().as_u16();
                    let retry_after = retry_after(response.headers());
                    let text = response.text().await.map_err(transport_failure)?;
                    if status == 200 {
                        let answer = parse_answer(&text, reserve_tokens).map_err(|message| Failure::Transient {
                            message: format!("malformed answer: {message}"),
                        })?;
                        let used = self.governor.charge(answer.usage.input_tokens, answer.usage.output_tokens);
                        return Ok((CallOutcome::Answer(answer), used));
                    }
                    let (message, param) = error_message(&text);
                    let labelled = format!("HTTP {status}: {message}");
                    match status {
                        429 => Err(Failure::Throttled { message: labelled, retry_after }),
                        400 | 422 => Ok((CallOutcome::Rejected { message, param }, 0)),
                        401 | 403 => Err(Failure::Fatal(StageError::Config(format!(
                            "OPENAI_API_KEY was refused by {}: {labelled}",
                            self.settings.base_url
                        )))),
                        404 => Err(Failure::Fatal(StageError::Config(format!(
                            "OPENAI_BASE_URL / OPENAI_MODEL: {} answered {labelled}",
                            self.url()
                        )))),
                        408 | 409 | 500..=599 => Err(Failure::Transient { message: labelled }),
                        _ => Err(Failure::Fatal(StageError::model(request.task.stage(), &request.subject, labelled))),
                    }
                }
            })
            .await
    }

    fn base_body(&self, request: &TextRequest, messages: &[Value]) -> Value {
        let temperature = if request.temperature.is_finite() { request.temperature.clamp(0.0, 2.0) } else { 0.7 };
        json!({
            "model": self.settings.model,
            "messages": messages,
            "max_tokens": request.max_tokens.max(1),
            "temperature": temperature,
        })
    }

    fn initial_messages(request: &TextRequest, system_suffix: Option<&str>) -> Vec<Value> {
        let mut system = request.system.clone();
        if let Some(s) = system_suffix {
            if !system.is_empty() {
                system.push_str("\n\n");
            }
            system.push_str(s);
        }
        let mut messages = Vec::new();
        if !system.trim().is_empty() {
            messages.push(json!({"role": "system", "content": system}));
        }
        messages.push(json!({"role": "user", "content": request.prompt}));
        messages
    }

    async fn generate_text(&self, request: &TextRequest) -> StageResult<TextResponse> {
        let stage = request.task.stage();
        let messages = Self::initial_messages(request, None);
        let body = self.base_body(request, &messages);
        let input = estimate_tokens(&request.system) + estimate_tokens(&request.prompt);
        let reserve = self.governor.charge(input, u64::from(request.max_tokens));
        match self.call(request, &body, reserve).await? {
            CallOutcome::Rejected { message, .. } => {
                Err(StageError::model(stage, &request.subject, format!("the server rejected the request: {message}")))
            }
            CallOutcome::Answer(a) => {
                let text = a.content.unwrap_or_default();
                if text.trim().is_empty() {
                    return Err(StageError::model(stage, &request.subject, "the model returned an empty answer"));
                }
                if a.finish_reason == "length" {
                    tracing::warn!(stage, subject = %request.subject, "answer cut at max_tokens");
                }
                Ok(TextResponse { text, structured: None, usage: a.usage })
            }
        }
    }

    fn structured_body(
        &self,
        request: &TextRequest,
        schema: &Value,
        mode: StructuredMode,
        messages: &[Value],
    ) -> Value {
        let mut body = self.base_body(request, messages);
        match mode {
            StructuredMode::JsonSchema => {
                body["response_format"] = json!({
                    "type": "json_schema",
                    "json_schema": {"name": STRUCTURED_NAME, "schema": schema, "strict": strict_compatible(schema)}
                });
            }
            StructuredMode::Tools => {
                body["tools"] = json!([{
                    "type": "function",
                    "function": {
                        "name": STRUCTURED_NAME,
                        "description": "Submit the result. The arguments must be valid against the parameters schema.",
                        "parameters": schema
                    }
                }]);
                body["tool_choice"] = json!({"type": "function", "function": {"name": STRUCTURED_NAME}});
            }
            StructuredMode::Prompt => {}
        }
        body
    }

    /// One answer in the best mode the server accepts; returned unvalidated (see
    /// [`crate::structured`]).
    async fn generate_structured(&self, request: &TextRequest, schema: &Value) -> StageResult<TextResponse> {
        check_request_schema(request, schema)?;
        let schema_text = schema.to_string();
        let answer = answer_in_best_mode(&self.mode, request, "the server", |mode| {
            let schema_text = &schema_text;
            async move {
                let suffix = match mode {
                    StructuredMode::Prompt => Some(format!(
                        "Answer with exactly one JSON value valid against this JSON Schema, and nothing else:\n{schema_text}"
                    )),
                    _ => None,
                };
                let messages = Self::initial_messages(request, suffix.as_deref());
                let body = self.structured_body(request, schema, mode, &messages);
                let history: u64 = messages.iter().map(|m| estimate_tokens(&m.to_string())).sum();
                let reserve =
                    self.governor.charge(history + estimate_tokens(schema_text), u64::from(request.max_tokens));
                Ok(match self.call(request, &body, reserve).await? {
                    CallOutcome::Answer(answer) => Attempt::Answered(answer),
                    CallOutcome::Rejected { message, param } => {
                        Attempt::Rejected { names_mode: rejects_mode(mode, &message, param.as_deref()), message }
                    }
                })
            }
        })
        .await?;
        let candidate = match (&answer.tool_arguments, &answer.content) {
            (Some(args), _) => serde_json::from_str::<Value>(args).ok().or_else(|| extract_json(args)),
            (None, Some(text)) => extract_json(text),
            (None, None) => None,
        };
        Ok(structured_response(candidate, answer.content.unwrap_or_default(), answer.usage))
    }
}

#[async_trait]
impl TextModel for OpenAiText {
    fn id(&self) -> ModelId {
        ModelId { provider: "openai".into(), model: self.settings.model.clone() }
    }

    async fn generate(&self, request: &TextRequest) -> StageResult<TextResponse> {
        match &request.json_schema {
            None => self.generate_text(request).await,
            Some(schema) => self.generate_structured(request, schema).await,
        }
    }
}

fn transport_failure(e: reqwest::Error) -> Failure {
    if e.is_builder() {
        Failure::Fatal(StageError::Config(format!("OPENAI_BASE_URL: invalid request: {e}")))
    } else if e.is_timeout() {
        Failure::Transient { message: format!("timeout: {e}") }
    } else {
        Failure::Transient { message: format!("connection error: {e}") }
    }
}

/// `retry-after` (seconds) or `retry-after-ms`, capped at ten minutes.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|s| s.trim().parse::<f64>().ok());
    let d = if let Some(ms) = get("retry-after-ms") { ms / 1000.0 } else { get("retry-after")? };
    if d.is_finite() && d >= 0.0 {
        Some(Duration::from_secs_f64(d.min(600.0)))
    } else {
        None
    }
}

/// The message (and `param`) of an OpenAI-style error body; the raw text when it is not one.
fn error_message(body: &str) -> (String, Option<String>) {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let err = parsed.as_ref().and_then(|v| v.get("error"));
    let message = err
        .and_then(|e| e.get("message").and_then(Value::as_str).or_else(|| e.as_str()))
        .map(str::to_string)
        .unwrap_or_else(|| body.chars().take(500).collect());
    let param = err.and_then(|e| e.get("param")).and_then(Value::as_str).map(str::to_string);
    (message, param)
}

/// Whether a 400 says the server does not support the structured-output `mode`.
fn rejects_mode(mode: StructuredMode, message: &str, param: Option<&str>) -> bool {
    let m = message.to_ascii_lowercase();
    let p = param.unwrap_or("").to_ascii_lowercase();
    match mode {
        StructuredMode::JsonSchema => {
            m.contains("response_format")
                || m.contains("json_schema")
                || m.contains("response format")
                || p.contains("response_format")
        }
        StructuredMode::Tools => m.contains("tool") || m.contains("function") || p.contains("tool"),
        StructuredMode::Prompt => false,
    }
}

/// Whether OpenAI's strict mode accepts `schema`: every object lists all its properties as
/// required and forbids additional ones.
fn strict_compatible(schema: &Value) -> bool {
    match schema {
        Value::Object(map) => {
            let is_object = map.get("type").and_then(Value::as_str) == Some("object") || map.contains_key("properties");
            if is_object {
                if map.get("additionalProperties") != Some(&Value::Bool(false)) {
                    return false;
                }
                let props = map.get("properties").and_then(Value::as_object);
                let required: Vec<&str> = map
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if let Some(props) = props {
                    if props.keys().any(|k| !required.contains(&k.as_str())) {
                        return false;
                    }
                }
            }
            map.values().all(strict_compatible)
        }
        Value::Array(items) => items.iter().all(strict_compatible),
        _ => true,
    }
}

/// Why a 200 answer could not be read.
#[derive(Debug, thiserror::Error)]
enum AnswerError {
    #[error("not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("no choices[0]")]
    NoChoice,
    #[error("no choices[0].message")]
    NoMessage,
    #[error("the message has neither content nor tool calls")]
    Empty,
}

fn parse_answer(body: &str, reserve_tokens: u64) -> Result<Answer, AnswerError> {
    let v: Value = serde_json::from_str(body)?;
    let choice = v.get("choices").and_then(Value::as_array).and_then(|c| c.first()).ok_or(AnswerError::NoChoice)?;
    let message = choice.get("message").ok_or(AnswerError::NoMessage)?;
    let content = message.get("content").and_then(Value::as_str).map(str::to_string);
    let tool_arguments =
        message.get("tool_calls").and_then(Value::as_array).and_then(|calls| calls.first()).and_then(|c| {
            Some(match c.get("function")?.get("arguments")? {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        });
    if content.is_none() && tool_arguments.is_none() {
        return Err(AnswerError::Empty);
    }
    let finish_reason = choice.get("finish_reason").and_then(Value::as_str).unwrap_or("").to_string();
    let usage = v.get("usage");
    // Capped so a nonsensical count can never overflow a sum.
    let count = |k: &str| usage.and_then(|u| u.get(k)).and_then(Value::as_u64).map(|n| n.min(u64::from(u32::MAX)));
    let output_tokens =
        count("completion_tokens").unwrap_or_else(|| content.as_deref().map(estimate_tokens).unwrap_or_default());
    let input_tokens = count("prompt_tokens").unwrap_or(reserve_tokens.saturating_sub(output_tokens));
    Ok(Answer { content, tool_arguments, finish_reason, usage: Usage { input_tokens, output_tokens, calls: 1 } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_content_tool_calls_and_usage() {
        let a = parse_answer(
            r#"{"choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],
                "usage":{"prompt_tokens":12,"completion_tokens":3}}"#,
            100,
        )
        .unwrap();
        assert_eq!(a.content.as_deref(), Some("hi"));
        assert_eq!((a.usage.input_tokens, a.usage.output_tokens, a.usage.calls), (12, 3, 1));
        let t = parse_answer(
            r#"{"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[
                {"id":"call_1","type":"function","function":{"name":"submit_result","arguments":"{\"a\":1}"}}]},
                "finish_reason":"tool_calls"}]}"#,
            100,
        )
        .unwrap();
        assert_eq!(t.tool_arguments.as_deref(), Some(r#"{"a":1}"#));
        assert!(parse_answer("{\"choices\":[]}", 0).is_err());
        assert!(parse_answer("{\"choices\":[{\"message\":{}}]}", 0).is_err());
        assert!(parse_answer("{\"choi", 0).is_err());
    }

    #[test]
    fn mode_rejections_are_recognised() {
        let m = "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.";
        assert!(rejects_mode(StructuredMode::JsonSchema, m, None));
        assert!(rejects_mode(StructuredMode::JsonSchema, "bad value", Some("response_format")));
        assert!(!rejects_mode(StructuredMode::JsonSchema, "max_tokens is too large", Some("max_tokens")));
        assert!(rejects_mode(StructuredMode::Tools, "tools are not supported", None));
        assert!(!rejects_mode(StructuredMode::Prompt, "anything", None));
    }

    #[test]
    fn strict_mode_is_used_only_for_schemas_that_allow_it() {
        let strict = json!({"type": "object", "additionalProperties": false, "required": ["a"],
            "properties": {"a": {"type": "array", "items": {"type": "object", "additionalProperties": false,
            "required": ["b"], "properties": {"b": {"type": "string"}}}}}});
        assert!(strict_compatible(&strict));
        let loose = json!({"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}, "b": {}}});
        assert!(!strict_compatible(&loose));
        let nested_loose = json!({"type": "object", "additionalProperties": false, "required": ["a"],
            "properties": {"a": {"type": "object", "properties": {"x": {"type": "string"}}}}});
        assert!(!strict_compatible(&nested_loose));
    }

    #[test]
    fn errors_and_retry_after_are_read() {
        assert_eq!(
            error_message(r#"{"error":{"message":"nope","type":"invalid_request_error","param":"tools"}}"#),
            ("nope".to_string(), Some("tools".to_string()))
        );
        assert_eq!(error_message("plain text").0, "plain text");
        assert_eq!(error_message(r#"{"error":"flat"}"#).0, "flat");
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        let mut bad = reqwest::header::HeaderMap::new();
        bad.insert("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&bad), None);
    }

    #[test]
    fn settings_debug_hides_the_key() {
        let s = OpenAiSettings { base_url: "http://x".into(), api_key: Some("sk-secret".into()), model: "m".into() };
        assert!(!format!("{s:?}").contains("sk-secret"));
    }
}
