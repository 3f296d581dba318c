//! The OpenAI-compatible provider over the wire, against the simulator's chat completions API
//! (and a tiny server for a 429 with `retry-after`) on loopback.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{governor, request, sim_stats, validate_against_schema, visual_plan_schema};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use coursegen_aws::openai::{OpenAiSettings, OpenAiText, StructuredMode};
use coursegen_aws::quota::QuotaConfig;
use coursegen_core::model::{TextModel, TextTask};
use serde_json::json;

fn client(base_url: String) -> OpenAiText {
    let settings = OpenAiSettings { base_url, api_key: Some("sk-test".into()), model: "llama3.1:8b".into() };
    OpenAiText::new(settings, governor("openai", QuotaConfig::default(), Duration::from_secs(30))).unwrap()
}

#[tokio::test]
async fn chat_completions_return_text_and_usage() {
    let sim = bedrock_sim::start(bedrock_sim::Config::default()).await.unwrap();
    let model = client(format!("{}/v1", sim.endpoint_url()));
    let out = model.generate(&request(TextTask::LabGuide, "lab 01-02-01", "Write a lab guide.", None)).await.unwrap();
    assert!(!out.text.trim().is_empty());
    assert!(out.usage.input_tokens > 0 && out.usage.output_tokens > 0, "{:?}", out.usage);
    assert_eq!(model.id().to_string(), "openai:llama3.1:8b");
    assert_eq!(sim_stats(&sim.endpoint_url()).await["chat"], 1);
}

#[tokio::test]
async fn json_schema_response_format_gives_a_valid_value() {
    let sim = bedrock_sim::start(bedrock_sim::Config { seed: 5, ..Default::default() }).await.unwrap();
    let model = client(format!("{}/v1/", sim.endpoint_url()));
    let schema = visual_plan_schema();
    let out = model
        .generate(&request(TextTask::VisualPlan, "module 1 lesson 2", "Plan visuals.", Some(schema.clone())))
        .await
        .unwrap();
    validate_against_schema(&schema, out.structured.as_ref().unwrap()).unwrap();
    assert_eq!(model.structured_mode(), StructuredMode::JsonSchema);
    assert_eq!(sim_stats(&sim.endpoint_url()).await["validation_errors"], 0);
}

#[tokio::test]
async fn a_server_rejecting_json_schema_falls_back_to_tools_and_remembers() {
    let sim = bedrock_sim::start(bedrock_sim::Config { openai_no_json_schema: true, seed: 9, ..Default::default() })
        .await
        .unwrap();
    let model = client(format!("{}/v1", sim.endpoint_url()));
    let schema = visual_plan_schema();
    for i in 0..3 {
        let out = model
            .generate(&request(TextTask::VisualPlan, &format!("lesson {i}"), "Plan visuals.", Some(schema.clone())))
            .await
            .unwrap();
        validate_against_schema(&schema, out.structured.as_ref().unwrap()).unwrap();
    }
    assert_eq!(model.structured_mode(), StructuredMode::Tools);
    let stats = sim_stats(&sim.endpoint_url()).await;
    assert_eq!(stats["validation_errors"], 1, "rejected once, then the working mode is used: {stats}");
    assert_eq!(stats["ok"], 3, "{stats}");
}

#[derive(Clone)]
struct Limited {
    calls: Arc<AtomicU32>,
}

async fn limited_chat(State(s): State<Limited>, headers: axum::http::HeaderMap) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer sk-test") {
        return (axum::http::StatusCode::UNAUTHORIZED, "missing key").into_response();
    }
    if s.calls.fetch_add(1, Ordering::SeqCst) == 0 {
        let body = json!({"error": {"message": "Rate limit reached", "type": "rate_limit_exceeded", "code": "rate_limit_exceeded"}});
        return (
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1"), ("content-type", "application/json")],
            body.to_string(),
        )
            .into_response();
    }
    let body = json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
    });
    ([("content-type", "application/json")], body.to_string()).into_response()
}

#[tokio::test]
async fn a_429_is_retried_after_the_servers_retry_after() {
    let calls = Arc::new(AtomicU32::new(0));
    let app =
        Router::new().route("/v1/chat/completions", post(limited_chat)).with_state(Limited { calls: calls.clone() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let model = client(format!("http://{addr}/v1"));
    let started = Instant::now();
    let out = model.generate(&request(TextTask::Lesson, "module 1 lesson 1", "Say hello.", None)).await.unwrap();
    assert_eq!(out.text, "Hello.");
    assert_eq!((out.usage.input_tokens, out.usage.output_tokens), (9, 2));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(started.elapsed() >= Duration::from_secs(1), "waited for retry-after: {:?}", started.elapsed());
}

/// A server that supports neither `response_format` json_schema nor tools, like some local
/// model servers: it answers in prose with JSON inside, invalid the second time it answers.
#[derive(Clone)]
struct Plain {
    bodies: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

async fn plain_chat(State(s): State<Plain>, body: axum::body::Bytes) -> Response {
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let n = {
        let mut bodies = s.bodies.lock().unwrap();
        bodies.push(body.clone());
        bodies.len()
    };
    let reject = |param: &str, message: &str| {
        let err = json!({"error": {"message": message, "type": "invalid_request_error", "param": param, "code": null}});
        (axum::http::StatusCode::BAD_REQUEST, [("content-type", "application/json")], err.to_string()).into_response()
    };
    if body.get("response_format").is_some() {
        return reject("response_format", "response_format is not supported by this server");
    }
    if body.get("tools").is_some() {
        return reject("tools", "tools are not supported by this model");
    }
    let content = if n == 4 {
        "Here is the plan: {\"visuals\": [{\"id\": \"01-01-01\", \"kind\": \"sketch\"}]}".to_string()
    } else {
        "```json\n{\"visuals\": [{\"id\": \"01-01-01\", \"kind\": \"diagram\", \"description\": \"Pod lifecycle\"}]}\n```"
            .to_string()
    };
    let answer = json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 25, "total_tokens": 75}
    });
    ([("content-type", "application/json")], answer.to_string()).into_response()
}

#[tokio::test]
async fn a_server_without_schema_or_tools_support_gets_prompt_json_one_call_per_request() {
    let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let app =
        Router::new().route("/v1/chat/completions", post(plain_chat)).with_state(Plain { bodies: bodies.clone() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let model = client(format!("http://{addr}/v1"));
    let req = request(TextTask::VisualPlan, "module 1 lesson 1", "Plan visuals.", Some(visual_plan_schema()));
    let out = model.generate(&req).await.unwrap();
    assert_eq!(out.structured.as_ref().unwrap()["visuals"][0]["kind"], "diagram");
    assert_eq!(model.structured_mode(), StructuredMode::Prompt);
    assert_eq!((out.usage.calls, out.usage.input_tokens), (1, 50));
    {
        let bodies = bodies.lock().unwrap();
        assert_eq!(bodies.len(), 3, "json_schema rejected, tools rejected, prompt mode answered");
        let system = bodies[2]["messages"][0]["content"].as_str().unwrap();
        assert!(system.contains("JSON Schema") && system.contains("\"visuals\""), "{system}");
    }
    // The next call starts in prompt mode; its invalid answer is returned as it is (the caller
    // validates and repairs), after exactly one call.
    let out = model.generate(&req).await.unwrap();
    assert_eq!(out.usage.calls, 1);
    assert_eq!(out.structured.as_ref().unwrap()["visuals"][0]["kind"], "sketch");
    let bodies = bodies.lock().unwrap();
    assert_eq!(bodies.len(), 4);
    assert!(bodies[3].get("response_format").is_none() && bodies[3].get("tools").is_none());
}

async fn get_secret_value(headers: axum::http::HeaderMap, body: axum::body::Bytes) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if target != "secretsmanager.GetSecretValue"
        || body["SecretId"] != "arn:aws:secretsmanager:us-east-1:123456789012:secret:openai"
    {
        let err = json!({"__type": "ResourceNotFoundException", "message": "Secrets Manager can't find the specified secret."});
        return (
            axum::http::StatusCode::BAD_REQUEST,
            [("content-type", "application/x-amz-json-1.1")],
            err.to_string(),
        )
            .into_response();
    }
    let answer = json!({
        "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:openai",
        "Name": "openai",
        "VersionId": "v1",
        "SecretString": "{\"OPENAI_API_KEY\": \"sk-from-secret\"}",
        "VersionStages": ["AWSCURRENT"],
        "CreatedDate": 1.7e9
    });
    ([("content-type", "application/x-amz-json-1.1")], answer.to_string()).into_response()
}

#[tokio::test]
async fn the_api_key_is_read_from_secrets_manager() {
    let app = Router::new().route("/", post(get_secret_value));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let sdk = crate::support::sdk_config(&format!("http://{addr}"));
    let key =
        coursegen_aws::config::read_secret_key(&sdk, "arn:aws:secretsmanager:us-east-1:123456789012:secret:openai")
            .await
            .unwrap();
    assert_eq!(key, "sk-from-secret");
    let err =
        coursegen_aws::config::read_secret_key(&sdk, "arn:aws:secretsmanager:us-east-1:123456789012:secret:other")
            .await
            .unwrap_err();
    assert_eq!(err.error_type(), "ConfigError");
    assert!(err.to_string().contains("OPENAI_API_KEY_SECRET_ARN"), "{err}");
}
