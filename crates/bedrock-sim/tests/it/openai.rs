//! The OpenAI-compatible chat completions endpoint.

use crate::support::{assert_valid, Sim};
use bedrock_sim::Config;
use serde_json::{json, Value};

const CHAT: &str = "/v1/chat/completions";

fn chat(prompt: &str) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You write course material."},
            {"role": "user", "content": prompt}
        ],
        "max_tokens": 2000
    })
}

#[tokio::test]
async fn chat_completion_shape() {
    let sim = Sim::new(Config::default()).await;
    let resp = sim.post(CHAT, &chat("Explain recursion with an example")).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let body = resp.json();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gpt-4o-mini");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    let choice = &body["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert!(choice["message"]["content"].as_str().unwrap().starts_with("# "));
    assert_eq!(choice["finish_reason"], "stop");
    let usage = &body["usage"];
    assert_eq!(
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap(),
        usage["total_tokens"].as_u64().unwrap()
    );
    let again = sim.post(CHAT, &chat("Explain recursion with an example")).await;
    assert_eq!(again.text, resp.text);

    let mut short = chat("Write an essay");
    short["max_completion_tokens"] = json!(3);
    short.as_object_mut().unwrap().remove("max_tokens");
    let body = sim.post(CHAT, &short).await.json();
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert_eq!(body["usage"]["completion_tokens"], 3);
}

#[tokio::test]
async fn json_schema_and_json_object_formats() {
    let sim = Sim::new(Config::default()).await;
    let schema = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["modules"],
        "properties": {
            "modules": {"type": "array", "minItems": 2, "maxItems": 4, "items": {
                "type": "object",
                "additionalProperties": false,
                "required": ["title", "lessons", "hours"],
                "properties": {
                    "title": {"type": "string", "maxLength": 80},
                    "lessons": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    "hours": {"type": "number", "minimum": 0.5, "maximum": 10}
                }
            }}
        }
    });
    let mut body = chat("Outline a course on databases");
    body["response_format"] = json!({
        "type": "json_schema",
        "json_schema": {"name": "outline", "schema": schema, "strict": true}
    });
    let resp = sim.post(CHAT, &body).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let content = resp.json()["choices"][0]["message"]["content"].as_str().unwrap().to_string();
    let parsed: Value = serde_json::from_str(&content).expect("content is JSON");
    assert_valid(&schema, &parsed);

    let mut object = chat("Return JSON describing a lesson");
    object["response_format"] = json!({"type": "json_object"});
    let content =
        sim.post(CHAT, &object).await.json()["choices"][0]["message"]["content"].as_str().unwrap().to_string();
    assert!(serde_json::from_str::<Value>(&content).unwrap().is_object());

    let mut no_json_word = chat("Describe a lesson");
    no_json_word["response_format"] = json!({"type": "json_object"});
    assert_eq!(sim.post(CHAT, &no_json_word).await.status, 400);
}

#[tokio::test]
async fn function_calling() {
    let sim = Sim::new(Config::default()).await;
    let params = json!({
        "type": "object",
        "required": ["query", "limit", "sort"],
        "properties": {
            "query": {"type": "string", "minLength": 3},
            "limit": {"type": "integer", "minimum": 1, "maximum": 20},
            "sort": {"type": "string", "enum": ["asc", "desc"]}
        }
    });
    let mut body = chat("Find lessons about graphs");
    body["tools"] = json!([{"type": "function", "function": {
        "name": "search_lessons", "description": "Search", "parameters": params}}]);
    for (choice, finish) in [
        (json!({"type": "function", "function": {"name": "search_lessons"}}), "stop"),
        (json!("required"), "tool_calls"),
    ] {
        body["tool_choice"] = choice;
        let resp = sim.post(CHAT, &body).await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        let out = resp.json();
        let message = &out["choices"][0]["message"];
        assert!(message["content"].is_null());
        let call = &message["tool_calls"][0];
        assert_eq!(call["type"], "function");
        assert!(call["id"].as_str().unwrap().starts_with("call_"));
        assert_eq!(call["function"]["name"], "search_lessons");
        let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_valid(&params, &args);
        assert_eq!(out["choices"][0]["finish_reason"], finish);
    }
    body["tool_choice"] = json!("none");
    let out = sim.post(CHAT, &body).await.json();
    assert!(out["choices"][0]["message"]["content"].is_string());

    body["tool_choice"] = json!({"type": "function", "function": {"name": "nope"}});
    let resp = sim.post(CHAT, &body).await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn json_schema_fallback_flag_rejects() {
    let sim = Sim::new(Config { openai_no_json_schema: true, ..Config::default() }).await;
    let mut body = chat("Outline a course");
    body["response_format"] = json!({
        "type": "json_schema",
        "json_schema": {"name": "outline", "schema": {"type": "object"}}
    });
    let resp = sim.post(CHAT, &body).await;
    assert_eq!(resp.status, 400);
    let err = resp.json();
    assert_eq!(err["error"]["type"], "invalid_request_error");
    assert_eq!(err["error"]["param"], "response_format");
    assert!(err["error"]["message"].as_str().unwrap().contains("json_schema"));

    body["response_format"] = json!({"type": "json_object"});
    body["messages"][1]["content"] = json!("Outline a course as json");
    assert_eq!(sim.post(CHAT, &body).await.status, 200);
}

#[tokio::test]
async fn chat_throttling_uses_openai_error_shape() {
    let sim = Sim::new(Config { rpm: Some(1), ..Config::default() }).await;
    assert_eq!(sim.post(CHAT, &chat("one")).await.status, 200);
    let resp = sim.post(CHAT, &chat("two")).await;
    assert_eq!(resp.status, 429);
    let retry: u64 = resp.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    let err = resp.json();
    assert_eq!(err["error"]["type"], "rate_limit_exceeded");
    assert!(err["error"]["message"].is_string());
    assert_eq!(sim.stats().await["throttled"], 1);
}

#[tokio::test]
async fn chat_validation_errors() {
    let sim = Sim::new(Config::default()).await;
    for body in [
        "not json".to_string(),
        json!({"messages": [{"role": "user", "content": "x"}]}).to_string(),
        json!({"model": "m", "messages": []}).to_string(),
        json!({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}).to_string(),
        json!({"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}).to_string(),
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "x"}]}).to_string(),
        json!({"model": "m", "tool_choice": "auto", "messages": [{"role": "user", "content": "x"}]}).to_string(),
    ] {
        let resp = sim.post_raw(CHAT, body.clone()).await;
        assert_eq!(resp.status, 400, "{body}: {}", resp.text);
        assert_eq!(resp.json()["error"]["type"], "invalid_request_error");
    }
}
