//! Bedrock providers over the wire, against the Bedrock simulator (and, for answers the
//! simulator never gives, a tiny Converse server) on loopback.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{governor, request, sdk_config, sim_stats, validate_against_schema, visual_plan_schema};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use coursegen_aws::bedrock::{bedrock_client, BedrockImage, BedrockText, PNG_SIGNATURE};
use coursegen_aws::quota::QuotaConfig;
use coursegen_core::model::{ImageModel, ImageRequest, TextModel, TextTask};
use serde_json::{json, Value};

const TEXT_MODEL: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";

async fn sim(config: bedrock_sim::Config) -> bedrock_sim::RunningSim {
    bedrock_sim::start(config).await.expect("simulator starts")
}

fn text_model(endpoint: &str, model: &str, quota: QuotaConfig, budget: Duration) -> BedrockText {
    BedrockText::new(bedrock_client(&sdk_config(endpoint)), model, governor("bedrock", quota, budget))
}

#[tokio::test]
async fn converse_returns_text_and_usage() {
    let sim = sim(bedrock_sim::Config::default()).await;
    let model = text_model(&sim.endpoint_url(), TEXT_MODEL, QuotaConfig::default(), Duration::from_secs(30));
    let req = request(TextTask::Lesson, "module 1 lesson 1", "Write a lesson about Kubernetes pods.", None);
    let out = model.generate(&req).await.unwrap();
    assert!(!out.text.trim().is_empty());
    assert!(out.structured.is_none());
    assert!(out.usage.input_tokens > 0 && out.usage.output_tokens > 0, "{:?}", out.usage);
    assert_eq!(out.usage.calls, 1);
    assert_eq!(model.id().to_string(), format!("bedrock:{TEXT_MODEL}"));
    let stats = sim_stats(&sim.endpoint_url()).await;
    assert_eq!(stats["converse"], 1);
    assert_eq!(stats["tokens_out"], out.usage.output_tokens);
}

#[tokio::test]
async fn forced_tool_use_yields_a_value_valid_against_the_schema() {
    let sim = sim(bedrock_sim::Config { seed: 11, ..Default::default() }).await;
    for model_id in [TEXT_MODEL, "amazon.nova-pro-v1:0"] {
        let model = text_model(&sim.endpoint_url(), model_id, QuotaConfig::default(), Duration::from_secs(30));
        let schema = visual_plan_schema();
        let req = request(
            TextTask::VisualPlan,
            "module 2 lesson 3",
            "Plan the visuals of this lesson.",
            Some(schema.clone()),
        );
        let out = model.generate(&req).await.unwrap();
        let value = out.structured.expect("structured value");
        validate_against_schema(&schema, &value).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&out.text).unwrap(), value);
        assert_eq!(out.usage.calls, 1, "valid on the first turn, no repair");
    }
    assert_eq!(sim_stats(&sim.endpoint_url()).await["validation_errors"], 0);
}

#[tokio::test]
async fn quota_many_concurrent_calls_all_succeed_through_throttling() {
    // The simulator admits 240 requests per minute (a burst of 240, then 4 per second); 260
    // concurrent calls outrun it, get throttled, back off and all finish.
    let sim = sim(bedrock_sim::Config { rpm: Some(240), ..Default::default() }).await;
    let model = Arc::new(text_model(
        &sim.endpoint_url(),
        TEXT_MODEL,
        QuotaConfig { max_concurrency: Some(32), ..Default::default() },
        Duration::from_secs(60),
    ));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..260 {
        let model = model.clone();
        tasks.push(tokio::spawn(async move {
            let req = request(TextTask::Lesson, &format!("module 1 lesson {i}"), "Write a short lesson.", None);
            let mut req = req;
            req.max_tokens = 64;
            model.generate(&req).await
        }));
    }
    for t in tasks {
        t.await.unwrap().expect("every call succeeds");
    }
    let stats = sim_stats(&sim.endpoint_url()).await;
    assert!(stats["throttled"].as_u64().unwrap() > 0, "{stats}");
    assert_eq!(stats["ok"], 260, "{stats}");
    let q = model.governor().quota().snapshot();
    assert!(q.throttles > 0 && q.in_flight == 0, "{q:?}");
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_local_budget_below_the_service_quota_avoids_throttles() {
    let sim = sim(bedrock_sim::Config { rpm: Some(240), ..Default::default() }).await;
    let model = Arc::new(text_model(
        &sim.endpoint_url(),
        TEXT_MODEL,
        QuotaConfig { requests_per_minute: Some(200), max_concurrency: Some(32), ..Default::default() },
        Duration::from_secs(60),
    ));
    let mut tasks = Vec::new();
    for i in 0..215 {
        let model = model.clone();
        tasks.push(tokio::spawn(async move {
            let mut req = request(TextTask::Lesson, &format!("lesson {i}"), "Write a short lesson.", None);
            req.max_tokens = 64;
            model.generate(&req).await
        }));
    }
    for t in tasks {
        t.await.unwrap().expect("every call succeeds");
    }
    let stats = sim_stats(&sim.endpoint_url()).await;
    assert_eq!(stats["throttled"], 0, "{stats}");
    assert_eq!(stats["ok"], 215, "{stats}");
}

#[tokio::test]
async fn a_too_short_deadline_raises_throttling_exception() {
    let sim = sim(bedrock_sim::Config { rpm: Some(1), ..Default::default() }).await;
    let model = text_model(&sim.endpoint_url(), TEXT_MODEL, QuotaConfig::default(), Duration::from_secs(60));
    let req = request(TextTask::Lesson, "module 4 lesson 2", "Write a lesson.", None);
    model.generate(&req).await.unwrap();
    let started = Instant::now();
    let model = model.with_deadline(Instant::now() + Duration::from_millis(1_500));
    let err = model.generate(&req).await.unwrap_err();
    assert_eq!(err.error_type(), "ThrottlingException", "{err}");
    assert!(err.to_string().contains("module 4 lesson 2"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3), "stopped at the deadline: {:?}", started.elapsed());
    assert!(sim_stats(&sim.endpoint_url()).await["throttled"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn server_errors_and_malformed_bodies_are_retried() {
    let sim = sim(bedrock_sim::Config { fail_rate: 0.4, seed: 3, ..Default::default() }).await;
    let model = text_model(&sim.endpoint_url(), TEXT_MODEL, QuotaConfig::default(), Duration::from_secs(60));
    let schema = visual_plan_schema();
    for i in 0..12 {
        let req = request(TextTask::VisualPlan, &format!("lesson {i}"), "Plan visuals.", Some(schema.clone()));
        let out = model.generate(&req).await.unwrap();
        validate_against_schema(&schema, out.structured.as_ref().unwrap()).unwrap();
    }
    let stats = sim_stats(&sim.endpoint_url()).await;
    let kinds = &stats["injected_by_kind"];
    assert!(stats["injected_failures"].as_u64().unwrap() >= 3, "{stats}");
    assert!(kinds["malformed_body"].as_u64().unwrap() >= 1, "{stats}");
    assert!(
        kinds["internal_server_error"].as_u64().unwrap() + kinds["service_unavailable"].as_u64().unwrap() >= 1,
        "{stats}"
    );
}

#[tokio::test]
async fn validation_errors_fail_at_once_with_the_services_message() {
    let sim = sim(bedrock_sim::Config::default()).await;
    let model = text_model(&sim.endpoint_url(), TEXT_MODEL, QuotaConfig::default(), Duration::from_secs(30));
    let mut req = request(TextTask::LabGuide, "lab 01-01-01", "Write a lab.", None);
    req.max_tokens = 1_000_000;
    let err = model.generate(&req).await.unwrap_err();
    assert_eq!(err.error_type(), "ModelError", "{err}");
    let msg = err.to_string();
    assert!(msg.contains("LabWriter") && msg.contains("lab 01-01-01"), "{msg}");
    assert_eq!(sim_stats(&sim.endpoint_url()).await["requests"], 1, "not retried");
}

#[tokio::test]
async fn images_come_back_as_png_bytes_of_a_valid_size() {
    let sim = sim(bedrock_sim::Config::default()).await;
    let client = bedrock_client(&sdk_config(&sim.endpoint_url()));
    for (model_id, (w, h)) in
        [("amazon.nova-canvas-v1:0", (1280, 720)), ("amazon.titan-image-generator-v2:0", (1024, 1024))]
    {
        let model = BedrockImage::new(
            client.clone(),
            model_id,
            governor("bedrock", QuotaConfig::default(), Duration::from_secs(30)),
        )
        .unwrap();
        let req = ImageRequest {
            visual_id: "02-03-01".into(),
            prompt: format!("An isometric illustration of a Kubernetes cluster. {}", "Detail. ".repeat(300)),
            width: w,
            height: h,
            seed: 42,
        };
        let img = model.generate(&req).await.unwrap();
        assert!(img.bytes.starts_with(PNG_SIGNATURE));
        assert_eq!((img.content_type.as_str(), img.extension.as_str()), ("image/png", "png"));
        let width = u32::from_be_bytes(img.bytes[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(img.bytes[20..24].try_into().unwrap());
        assert!(width % 16 == 0 && height % 16 == 0 && width >= 320 && height >= 320, "{model_id}: {width}x{height}");
    }
    assert_eq!(sim_stats(&sim.endpoint_url()).await["images"], 2);
    let err = BedrockImage::new(
        client,
        "stability.sd3-large-v1:0",
        governor("bedrock", QuotaConfig::default(), Duration::from_secs(1)),
    )
    .unwrap_err();
    assert_eq!(err.error_type(), "ConfigError");
}

/// How the tiny Converse server answers.
#[derive(Clone, Copy, PartialEq)]
enum Script {
    /// Always an invalid tool input.
    AlwaysInvalid,
    /// Reject a specific tool choice like models without that feature do; valid otherwise.
    RejectSpecificToolChoice,
}

#[derive(Clone)]
struct Scripted {
    script: Script,
    bodies: Arc<Mutex<Vec<Value>>>,
}

fn converse_answer(input: Value) -> Value {
    json!({
        "output": {"message": {"role": "assistant", "content": [
            {"toolUse": {"toolUseId": "tooluse_1", "name": "submit_result", "input": input}}
        ]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 100, "outputTokens": 20, "totalTokens": 120},
        "metrics": {"latencyMs": 5}
    })
}

async fn scripted_converse(State(s): State<Scripted>, body: axum::body::Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.bodies.lock().unwrap().push(body.clone());
    let invalid = json!({"visuals": [{"id": "01-01-01", "kind": "photo"}]});
    let valid = json!({"visuals": [{"id": "01-01-01", "kind": "diagram", "description": "Pod lifecycle"}]});
    let answer = match s.script {
        Script::AlwaysInvalid => converse_answer(invalid),
        Script::RejectSpecificToolChoice => {
            if body.pointer("/toolConfig/toolChoice/tool").is_some() {
                let mut headers = HeaderMap::new();
                headers.insert("x-amzn-ErrorType", "ValidationException".parse().unwrap());
                let msg = json!({"message": "This model doesn't support the toolConfig.toolChoice.tool field. Remove toolConfig.toolChoice.tool and try again."});
                return (StatusCode::BAD_REQUEST, headers, msg.to_string()).into_response();
            }
            converse_answer(valid)
        }
    };
    ([("content-type", "application/json")], answer.to_string()).into_response()
}

async fn scripted_server(script: Script) -> (SocketAddr, Arc<Mutex<Vec<Value>>>) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/model/{model}/converse", post(scripted_converse))
        .with_state(Scripted { script, bodies: bodies.clone() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, bodies)
}

#[tokio::test]
async fn an_invalid_structured_answer_is_returned_after_one_call_for_the_caller_to_repair() {
    let (addr, bodies) = scripted_server(Script::AlwaysInvalid).await;
    let model = text_model(&format!("http://{addr}"), TEXT_MODEL, QuotaConfig::default(), Duration::from_secs(30));
    let req = request(TextTask::VisualPlan, "module 3 lesson 2", "Plan the visuals.", Some(visual_plan_schema()));
    let out = model.generate(&req).await.unwrap();
    let value = out.structured.expect("the tool input, unvalidated");
    assert_eq!(value["visuals"][0]["kind"], "photo");
    assert_eq!(serde_json::from_str::<Value>(&out.text).unwrap(), value);
    let problems = validate_against_schema(&visual_plan_schema(), &value).unwrap_err();
    assert!(problems.iter().any(|p| p.contains("description")), "{problems:?}");
    assert_eq!((out.usage.calls, out.usage.input_tokens, out.usage.output_tokens), (1, 100, 20));
    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "the provider never repairs: the stage's loop does");
    let first = &bodies[0];
    assert_eq!(first["toolConfig"]["tools"][0]["toolSpec"]["name"], "submit_result");
    assert_eq!(first["toolConfig"]["toolChoice"]["tool"]["name"], "submit_result");
    assert_eq!(first["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["required"], json!(["visuals"]));
    assert_eq!(first["inferenceConfig"]["maxTokens"], 800);
    assert_eq!(first["system"][0]["text"], "You write course material for DevOps engineers.");
    assert_eq!(first["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_model_without_specific_tool_choice_falls_back_and_remembers() {
    let (addr, bodies) = scripted_server(Script::RejectSpecificToolChoice).await;
    let model = text_model(
        &format!("http://{addr}"),
        "meta.llama3-70b-instruct-v1:0",
        QuotaConfig::default(),
        Duration::from_secs(30),
    );
    let req = request(TextTask::LabPlan, "course", "Plan the labs.", Some(visual_plan_schema()));
    model.generate(&req).await.unwrap();
    model.generate(&req).await.unwrap();
    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 3, "one rejection, then the working mode is remembered");
    assert!(bodies[1].pointer("/toolConfig/toolChoice/any").is_some(), "{}", bodies[1]);
    assert!(bodies[2].pointer("/toolConfig/toolChoice/any").is_some());
}
