//! Latency per kind of call: how a request is classified as text, plan or image, and that the
//! configured latency of its kind is the one applied (read from `/_sim/stats` and the answer's
//! own metrics, never from a clock).

use crate::support::{converse_body, Sim, CLAUDE};
use bedrock_sim::{CallKind, Cli, Config};
use clap::Parser;
use serde_json::{json, Value};

const TITAN_V2: &str = "/model/amazon.titan-image-generator-v2%3A0/invoke";
const OPENAI: &str = "/v1/chat/completions";

/// Distinct small latencies so every total in the stats names the kind it came from.
fn per_kind() -> Config {
    Config {
        latency_ms: 1,
        latency_text_ms: Some(3),
        latency_plan_ms: Some(5),
        latency_image_ms: Some(7),
        ..Config::default()
    }
}

fn with_tool(choice: Option<Value>) -> Value {
    let mut body = converse_body("Plan the visuals of a lesson on the water cycle", 2000);
    let mut tool_config = json!({
        "tools": [{"toolSpec": {
            "name": "emit_visual_plan",
            "description": "Return the visual plan",
            "inputSchema": {"json": {"type": "object", "required": ["visuals"],
                                     "properties": {"visuals": {"type": "array", "items": {"type": "string"}}}}}
        }}]
    });
    if let Some(choice) = choice {
        tool_config["toolChoice"] = choice;
    }
    body["toolConfig"] = tool_config;
    body
}

fn image_body() -> Value {
    json!({
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {"text": "A lighthouse at dusk"},
        "imageGenerationConfig": {"numberOfImages": 1, "width": 384, "height": 576, "seed": 1}
    })
}

async fn kind_of(sim: &Sim, path: &str, body: &Value) -> String {
    let resp = sim.post(path, body).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    resp.header("x-sim-call-kind").expect("the answer names its kind")
}

fn by_kind(stats: &Value, kind: &str) -> (u64, u64) {
    let k = &stats["by_kind"][kind];
    (k["calls"].as_u64().unwrap(), k["latency_ms"].as_u64().unwrap())
}

#[tokio::test]
async fn converse_with_a_forced_tool_is_a_plan_call_and_prose_is_a_text_call() {
    let sim = Sim::new(per_kind()).await;
    assert_eq!(kind_of(&sim, CLAUDE, &converse_body("Write the lesson on the water cycle", 500)).await, "text");
    assert_eq!(kind_of(&sim, CLAUDE, &with_tool(Some(json!({"tool": {"name": "emit_visual_plan"}})))).await, "plan");
    assert_eq!(kind_of(&sim, CLAUDE, &with_tool(Some(json!({"any": {}})))).await, "plan");
    // A tool on offer that the model may ignore does not make the request structured.
    assert_eq!(kind_of(&sim, CLAUDE, &with_tool(Some(json!({"auto": {}})))).await, "text");
    assert_eq!(kind_of(&sim, CLAUDE, &with_tool(None)).await, "text");
    assert_eq!(kind_of(&sim, TITAN_V2, &image_body()).await, "image");

    let stats = sim.stats().await;
    assert_eq!(by_kind(&stats, "text"), (3, 9));
    assert_eq!(by_kind(&stats, "plan"), (2, 10));
    assert_eq!(by_kind(&stats, "image"), (1, 7));
}

#[tokio::test]
async fn converse_metrics_report_the_latency_of_the_kind() {
    let sim = Sim::new(per_kind()).await;
    let text = sim.post(CLAUDE, &converse_body("Write the lesson", 300)).await.json();
    assert_eq!(text["metrics"]["latencyMs"], 3);
    let plan = sim.post(CLAUDE, &with_tool(Some(json!({"any": {}})))).await.json();
    assert_eq!(plan["metrics"]["latencyMs"], 5);
}

#[tokio::test]
async fn openai_forced_function_and_json_schema_are_plan_calls() {
    let sim = Sim::new(per_kind()).await;
    let messages = json!([{"role": "user", "content": "Plan the visuals of the lesson"}]);
    let prose = json!({"model": "gpt-4o-mini", "messages": messages});
    assert_eq!(kind_of(&sim, OPENAI, &prose).await, "text");
    let forced = json!({
        "model": "gpt-4o-mini", "messages": messages,
        "tools": [{"type": "function", "function": {"name": "emit", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "emit"}}
    });
    assert_eq!(kind_of(&sim, OPENAI, &forced).await, "plan");
    let schema = json!({
        "model": "gpt-4o-mini", "messages": messages,
        "response_format": {"type": "json_schema", "json_schema": {"name": "plan", "schema": {"type": "object"}}}
    });
    assert_eq!(kind_of(&sim, OPENAI, &schema).await, "plan");
    let stats = sim.stats().await;
    assert_eq!(by_kind(&stats, "text"), (1, 3));
    assert_eq!(by_kind(&stats, "plan"), (2, 10));
}

#[tokio::test]
async fn unset_kinds_fall_back_to_the_common_latency_and_reset_zeroes_them() {
    let sim = Sim::new(Config { latency_ms: 2, latency_plan_ms: Some(11), ..Config::default() }).await;
    kind_of(&sim, CLAUDE, &converse_body("Write the lesson", 300)).await;
    kind_of(&sim, CLAUDE, &with_tool(Some(json!({"any": {}})))).await;
    kind_of(&sim, TITAN_V2, &image_body()).await;
    let stats = sim.stats().await;
    assert_eq!(by_kind(&stats, "text"), (1, 2));
    assert_eq!(by_kind(&stats, "plan"), (1, 11));
    assert_eq!(by_kind(&stats, "image"), (1, 2));
    let stats = sim.reset().await;
    for kind in CallKind::ALL {
        assert_eq!(by_kind(&stats, kind.as_str()), (0, 0), "{}", kind.as_str());
    }
}

#[tokio::test]
async fn throttled_calls_get_no_latency() {
    let sim = Sim::new(Config { rpm: Some(1), ..per_kind() }).await;
    kind_of(&sim, CLAUDE, &converse_body("Write the lesson", 300)).await;
    assert_eq!(sim.post(CLAUDE, &converse_body("Write the lesson", 300)).await.status, 429);
    assert_eq!(by_kind(&sim.stats().await, "text"), (1, 3));
}

#[test]
fn command_line_latencies_default_to_latency_ms() {
    let cli = Cli::parse_from(["bedrock-sim", "--latency-ms", "100", "--latency-plan-ms", "250"]);
    let config = cli.config();
    assert_eq!(config.latency_for(CallKind::Text), 100);
    assert_eq!(config.latency_for(CallKind::Plan), 250);
    assert_eq!(config.latency_for(CallKind::Image), 100);
    let cli = Cli::parse_from(["bedrock-sim", "--latency-text-ms", "5", "--latency-image-ms", "9"]);
    let config = cli.config();
    assert_eq!((config.latency_text_ms, config.latency_plan_ms, config.latency_image_ms), (Some(5), None, Some(9)));
    assert_eq!(config.latency_for(CallKind::Plan), 0);
}
