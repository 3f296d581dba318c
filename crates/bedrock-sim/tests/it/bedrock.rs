//! Converse and InvokeModel over loopback HTTP.

use crate::support::{assert_valid, converse_body, Sim, CLAUDE};
use base64::Engine as _;
use bedrock_sim::Config;
use serde_json::{json, Value};

#[tokio::test]
async fn converse_text_answer_has_bedrock_shape() {
    let sim = Sim::new(Config::default()).await;
    let resp = sim.post(CLAUDE, &converse_body("Explain Rust ownership and borrowing for beginners", 2000)).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.header("content-type").as_deref(), Some("application/json"));
    assert!(resp.header("x-amzn-requestid").is_some());
    let body = resp.json();
    assert_eq!(body["output"]["message"]["role"], "assistant");
    let text = body["output"]["message"]["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("# "), "{text}");
    assert!(text.contains("\n- "), "has a bullet list: {text}");
    assert_eq!(body["stopReason"], "end_turn");
    let usage = &body["usage"];
    let (i, o, t) = (
        usage["inputTokens"].as_u64().unwrap(),
        usage["outputTokens"].as_u64().unwrap(),
        usage["totalTokens"].as_u64().unwrap(),
    );
    assert!(i > 0 && o > 0);
    assert_eq!(i + o, t);
    assert_eq!(o, (text.chars().count() as u64).div_ceil(4));
    assert!(body["metrics"]["latencyMs"].is_u64());
}

#[tokio::test]
async fn converse_is_deterministic_per_seed() {
    let a = Sim::new(Config { seed: 9, ..Config::default() }).await;
    let b = Sim::new(Config { seed: 9, ..Config::default() }).await;
    let c = Sim::new(Config { seed: 10, ..Config::default() }).await;
    let body = converse_body("Describe photosynthesis in plants", 1000);
    let ra = a.post(CLAUDE, &body).await.text;
    let rb = b.post(CLAUDE, &body).await.text;
    let rc = c.post(CLAUDE, &body).await.text;
    assert_eq!(ra, rb);
    assert_ne!(ra, rc);
}

#[tokio::test]
async fn converse_respects_max_tokens_and_visual_tags() {
    let sim = Sim::new(Config::default()).await;
    let body = sim.post(CLAUDE, &converse_body("Write a long essay about volcanoes", 5)).await.json();
    assert_eq!(body["stopReason"], "max_tokens");
    assert_eq!(body["usage"]["outputTokens"], 5);
    let text = body["output"]["message"]["content"][0]["text"].as_str().unwrap();
    assert!(text.chars().count() <= 20);

    let prompt = "Write a lesson on tides in about 300 words. Mark figures with [VISUAL: description] tags.";
    let body = sim.post(CLAUDE, &converse_body(prompt, 4000)).await.json();
    let text = body["output"]["message"]["content"][0]["text"].as_str().unwrap();
    let visuals = text.lines().filter(|l| l.starts_with("[VISUAL: ") && l.ends_with(']')).count();
    assert!((3..=5).contains(&visuals), "{text}");
}

fn lesson_schema() -> Value {
    json!({
        "type": "object",
        "required": ["title", "objectives", "difficulty", "minutes", "quiz", "published"],
        "additionalProperties": false,
        "properties": {
            "title": {"type": "string", "minLength": 10, "maxLength": 60},
            "objectives": {"type": "array", "minItems": 3, "maxItems": 5,
                           "items": {"type": "string", "minLength": 5}},
            "difficulty": {"type": "string", "enum": ["beginner", "intermediate", "advanced"]},
            "minutes": {"type": "integer", "minimum": 5, "maximum": 90},
            "score": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
            "published": {"type": "boolean"},
            "quiz": {"type": "array", "minItems": 2, "items": {"$ref": "#/$defs/question"}},
            "tags": {"type": ["array", "null"], "items": {"type": "string"}, "uniqueItems": true}
        },
        "$defs": {
            "question": {
                "type": "object",
                "required": ["prompt", "choices", "answer"],
                "properties": {
                    "prompt": {"type": "string"},
                    "choices": {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "string"}},
                    "answer": {"type": "integer", "minimum": 0, "maximum": 3}
                }
            }
        }
    })
}

#[tokio::test]
async fn converse_forced_tool_use_validates_against_schema() {
    let sim = Sim::new(Config::default()).await;
    let schema = lesson_schema();
    for choice in [json!({"tool": {"name": "emit_lesson"}}), json!({"any": {}})] {
        let mut body = converse_body("Plan a lesson about the water cycle", 4000);
        body["toolConfig"] = json!({
            "tools": [{"toolSpec": {
                "name": "emit_lesson",
                "description": "Return the lesson plan",
                "inputSchema": {"json": schema}
            }}],
            "toolChoice": choice
        });
        let resp = sim.post(CLAUDE, &body).await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        let out = resp.json();
        assert_eq!(out["stopReason"], "tool_use");
        let content = out["output"]["message"]["content"].as_array().unwrap();
        assert_eq!(content.len(), 1);
        let tool_use = &content[0]["toolUse"];
        assert_eq!(tool_use["name"], "emit_lesson");
        assert!(tool_use["toolUseId"].as_str().unwrap().starts_with("tooluse_"));
        assert_valid(&schema, &tool_use["input"]);
    }
}

#[tokio::test]
async fn converse_tool_result_turn_answers_in_text() {
    let sim = Sim::new(Config::default()).await;
    let body = json!({
        "messages": [
            {"role": "user", "content": [{"text": "Use get_weather for Paris"}]},
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris"}}}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"json": {"temp": 21}}]}}]}
        ],
        "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}]}
    });
    let out = sim.post(CLAUDE, &body).await.json();
    assert_eq!(out["stopReason"], "end_turn");
    assert!(out["output"]["message"]["content"][0]["text"].is_string());

    let mut no_config = body.clone();
    no_config.as_object_mut().unwrap().remove("toolConfig");
    let resp = sim.post(CLAUDE, &no_config).await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.header("x-amzn-errortype").as_deref(), Some("ValidationException"));
}

#[tokio::test]
async fn converse_validation_errors() {
    let sim = Sim::new(Config::default()).await;
    let cases = vec![
        sim.post_raw(CLAUDE, "{not json").await,
        sim.post(CLAUDE, &json!({"inferenceConfig": {"maxTokens": 10}})).await,
        sim.post(CLAUDE, &json!({"messages": []})).await,
        sim.post(CLAUDE, &converse_body("hi", 0)).await,
        sim.post(CLAUDE, &converse_body("hi", 10_000_000)).await,
        sim.post(CLAUDE, &json!({"messages": [{"role": "assistant", "content": [{"text": "x"}]}]})).await,
        sim.post(
            CLAUDE,
            &json!({"messages": [
            {"role": "user", "content": [{"text": "a"}]},
            {"role": "user", "content": [{"text": "b"}]}]}),
        )
        .await,
        sim.post(
            CLAUDE,
            &json!({
            "messages": [{"role": "user", "content": [{"text": "a"}]}],
            "toolConfig": {"tools": [{"toolSpec": {"name": "t", "inputSchema": {"json": {"type": "object"}}}}],
                           "toolChoice": {"tool": {"name": "missing"}}}}),
        )
        .await,
        sim.post_raw("/model/amazon.titan-image-generator-v2%3A0/converse", converse_body("x", 5).to_string()).await,
    ];
    for resp in &cases {
        assert_eq!(resp.status, 400, "{}", resp.text);
        assert_eq!(resp.header("x-amzn-errortype").as_deref(), Some("ValidationException"));
        assert!(resp.json()["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let stats = sim.stats().await;
    assert_eq!(stats["validation_errors"], cases.len());
    assert_eq!(stats["ok"], 0);
}

#[tokio::test]
async fn model_ids_with_arn_slashes_route() {
    let sim = Sim::new(Config::default()).await;
    let path = "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse";
    let resp = sim.post(path, &converse_body("hello there", 100)).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let resp = sim.post("/model/x/converse-stream", &converse_body("hello", 10)).await;
    assert_eq!(resp.status, 404);
    assert_eq!(resp.header("x-amzn-errortype").as_deref(), Some("UnknownOperationException"));
}

/// Decodes a base64 PNG, checking it is 8-bit RGB, into (width, height, pixels).
fn decode_png(b64: &str) -> (u32, u32, Vec<u8>) {
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).expect("base64");
    let mut reader = png::Decoder::new(&bytes[..]).read_info().expect("a PNG header");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).expect("the image decodes, chunk CRCs included");
    assert_eq!((info.color_type, info.bit_depth), (png::ColorType::Rgb, png::BitDepth::Eight));
    (info.width, info.height, pixels)
}

const TITAN_V2: &str = "/model/amazon.titan-image-generator-v2%3A0/invoke";
const NOVA_CANVAS: &str = "/model/amazon.nova-canvas-v1%3A0/invoke";

fn image_body(text: &str, n: u64, width: u64, height: u64) -> Value {
    json!({
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {"text": text, "negativeText": "blurry"},
        "imageGenerationConfig": {"numberOfImages": n, "width": width, "height": height,
                                  "cfgScale": 8.0, "seed": 42, "quality": "standard"}
    })
}

#[tokio::test]
async fn invoke_image_returns_valid_pngs_of_requested_size() {
    let sim = Sim::new(Config::default()).await;
    let resp = sim.post(TITAN_V2, &image_body("A lighthouse at dusk", 2, 384, 576)).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let body = resp.json();
    assert!(body["error"].is_null());
    let images = body["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    for image in images {
        let (w, h, raw) = decode_png(image.as_str().unwrap());
        assert_eq!((w, h), (384, 576));
        assert_eq!(raw.len(), (h * 3 * w) as usize);
    }
    assert_ne!(images[0], images[1]);

    let again = sim.post(TITAN_V2, &image_body("A lighthouse at dusk", 2, 384, 576)).await;
    assert_eq!(again.text, resp.text);

    let nova = sim.post(NOVA_CANVAS, &image_body("A fox in snow", 1, 640, 320)).await;
    assert_eq!(nova.status, 200, "{}", nova.text);
    let (w, h, _) = decode_png(nova.json()["images"][0].as_str().unwrap());
    assert_eq!((w, h), (640, 320));
    assert_eq!(sim.stats().await["images"], 5);
}

#[tokio::test]
async fn invoke_image_validation() {
    let sim = Sim::new(Config::default()).await;
    let long = "x".repeat(1025);
    let mut missing_text = image_body("a", 1, 512, 512);
    missing_text["textToImageParams"].as_object_mut().unwrap().remove("text");
    let cases = [
        (TITAN_V2, missing_text),
        (TITAN_V2, image_body(&long, 1, 512, 512)),
        (TITAN_V2, image_body("a cat", 1, 500, 500)),
        (TITAN_V2, image_body("a cat", 6, 512, 512)),
        (NOVA_CANVAS, image_body("a cat", 1, 1000, 1000)),
        (NOVA_CANVAS, image_body("a cat", 1, 4096, 4096)),
        (TITAN_V2, json!({"taskType": "TEXT_IMAGE"})),
    ];
    for (path, body) in &cases {
        let resp = sim.post(path, body).await;
        assert_eq!(resp.status, 400, "{body}: {}", resp.text);
        assert_eq!(resp.header("x-amzn-errortype").as_deref(), Some("ValidationException"));
        assert!(resp.json()["message"].as_str().unwrap().contains("Malformed input request"));
    }
    let ok = sim.post(NOVA_CANVAS, &image_body(&"y".repeat(1024), 1, 320, 320)).await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn invoke_text_models_answer_native_shapes() {
    let sim = Sim::new(Config::default()).await;
    let anthropic = sim
        .post(
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke",
            &json!({
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 500,
                "system": "Be brief.",
                "messages": [{"role": "user", "content": "Summarize the French revolution"}]
            }),
        )
        .await;
    assert_eq!(anthropic.status, 200, "{}", anthropic.text);
    let body = anthropic.json();
    assert_eq!(body["type"], "message");
    assert_eq!(body["content"][0]["type"], "text");
    assert!(body["content"][0]["text"].as_str().unwrap().len() > 10);
    assert!(body["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(["end_turn", "max_tokens"].contains(&body["stop_reason"].as_str().unwrap()));

    let schema = json!({"type": "object", "required": ["n"], "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 3}}});
    let forced = sim
        .post(
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke",
            &json!({
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 500,
                "messages": [{"role": "user", "content": [{"type": "text", "text": "pick"}]}],
                "tools": [{"name": "pick", "description": "pick n", "input_schema": schema}],
                "tool_choice": {"type": "tool", "name": "pick"}
            }),
        )
        .await
        .json();
    assert_eq!(forced["stop_reason"], "tool_use");
    assert_eq!(forced["content"][0]["type"], "tool_use");
    assert_valid(&schema, &forced["content"][0]["input"]);

    let missing = sim
        .post(
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke",
            &json!({"anthropic_version": "bedrock-2023-05-31", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(missing.status, 400);

    let titan = sim
        .post(
            "/model/amazon.titan-text-express-v1/invoke",
            &json!({"inputText": "Tell me about owls", "textGenerationConfig": {"maxTokenCount": 50}}),
        )
        .await
        .json();
    assert!(titan["results"][0]["outputText"].is_string());
    assert!(titan["results"][0]["tokenCount"].as_u64().unwrap() <= 50);

    let nova = sim
        .post(
            "/model/amazon.nova-lite-v1%3A0/invoke",
            &json!({"messages": [{"role": "user", "content": [{"text": "Hello Nova"}]}],
                    "inferenceConfig": {"max_new_tokens": 300}}),
        )
        .await
        .json();
    assert!(nova["output"]["message"]["content"][0]["text"].is_string());

    let embed = sim
        .post("/model/amazon.titan-embed-text-v2%3A0/invoke", &json!({"inputText": "vector me", "dimensions": 256}))
        .await
        .json();
    assert_eq!(embed["embedding"].as_array().unwrap().len(), 256);
}
