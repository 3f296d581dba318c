//! The OpenAI-compatible `POST /v1/chat/completions` endpoint.

use crate::bedrock::{max_tokens_field, ranged, request_seed};
use crate::engine::{self, Answer, GenRequest, Stop, Structured, ToolChoice, ToolDef};
use crate::error::ApiError;
use crate::rng::{mix, Rng};
use crate::server::{Plan, Rendered};
use crate::tokens::{json_chars, leaf_chars, tokens_for_chars};
use crate::Config;
use serde_json::{json, Map, Value};

/// The `created` timestamp of every completion (fixed so answers are reproducible).
const CREATED: u64 = 1_735_689_600;

fn invalid(message: impl Into<String>, param: &'static str) -> ApiError {
    ApiError::validation(message).with_param(param)
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
        }
        _ => String::new(),
    }
}

/// Plans a chat completion from the raw request body.
pub(crate) fn chat_plan(body: &[u8], config: &Config) -> Result<Plan, ApiError> {
    let map = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        _ => {
            return Err(invalid(
                "We could not parse the JSON body of your request. The body must be a JSON object.",
                "body",
            ))
        }
    };
    let model = match map.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => return Err(invalid("Missing required parameter: 'model'.", "model")),
    };
    chat_plan_from_map(&map, config, &model)
}

/// Plans a chat completion from a parsed body; `model` is echoed in the answer. Checks run
/// in the service's order, so the first problem is the one reported.
pub(crate) fn chat_plan_from_map(map: &Map<String, Value>, config: &Config, model: &str) -> Result<Plan, ApiError> {
    if map.get("stream").and_then(Value::as_bool) == Some(true) {
        return Err(invalid("Streaming is not supported by the simulator; send 'stream': false.", "stream"));
    }
    let messages = messages(map)?;
    let max_tokens = max_tokens(map, config)?;
    ranged(map, "temperature", "temperature", 0.0, 2.0).map_err(|e| e.with_param("temperature"))?;
    ranged(map, "top_p", "top_p", 0.0, 1.0).map_err(|e| e.with_param("top_p"))?;
    let n = choice_count(map)?;
    let structured = response_format(map, config, messages)?;
    let tools = tools(map)?;
    let (choice, forced_named) = tool_choice(map, &tools)?;

    let prompt = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(|m| content_text(m.get("content").unwrap_or(&Value::Null)))
        .unwrap_or_default();
    let after_tool_result = messages.last().and_then(|m| m.get("role")).and_then(Value::as_str) == Some("tool");
    let chars = leaf_chars(&Value::Array(messages.clone()))
        + map.get("tools").map(json_chars).unwrap_or(0)
        + map.get("response_format").map(json_chars).unwrap_or(0);
    let input_tokens = tokens_for_chars(chars).max(1);
    let seed = request_seed(config, model, map);
    let gen = GenRequest { prompt, after_tool_result, max_tokens, tools, choice, structured, seed };
    let model = model.to_string();
    Ok(Plan {
        input_tokens,
        max_output: max_tokens.saturating_mul(n),
        images: 0,
        kind: gen.call_kind(),
        blocking: false,
        render: Box::new(move || {
            let mut choices = Vec::new();
            let mut completion_tokens = 0;
            for index in 0..n {
                let mut variant = gen.clone();
                variant.seed = if index == 0 { seed } else { mix(seed, index) };
                let out = engine::generate(&variant);
                completion_tokens += out.output_tokens;
                choices.push(choice_json(index, &variant, &out, forced_named));
            }
            let body = json!({
                "id": format!("chatcmpl-{}", Rng::new(mix(seed, 0x7005)).alnum(29)),
                "object": "chat.completion",
                "created": CREATED,
                "model": model,
                "choices": choices,
                "usage": {
                    "prompt_tokens": input_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": input_tokens + completion_tokens,
                },
                "system_fingerprint": "fp_bedrock_sim",
            });
            Rendered { body: body.to_string().into_bytes(), output_tokens: completion_tokens }
        }),
    })
}

/// The non-empty `messages` array, each with a known role.
fn messages(map: &Map<String, Value>) -> Result<&Vec<Value>, ApiError> {
    let messages = match map.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(Value::Array(_)) => {
            return Err(invalid(
                "Invalid 'messages': empty array. Expected an array with minimum length 1.",
                "messages",
            ))
        }
        _ => return Err(invalid("Missing required parameter: 'messages'.", "messages")),
    };
    for (i, message) in messages.iter().enumerate() {
        match message.get("role").and_then(Value::as_str) {
            Some("system" | "developer" | "user" | "assistant" | "tool" | "function") => {}
            _ => {
                return Err(invalid(
                    format!("Invalid value for 'messages[{i}].role': expected one of 'system', 'developer', 'user', 'assistant', 'tool'."),
                    "messages",
                ))
            }
        }
    }
    Ok(messages)
}

/// The output limit: `max_completion_tokens` wins over `max_tokens`, else the default.
fn max_tokens(map: &Map<String, Value>, config: &Config) -> Result<u64, ApiError> {
    let mut max_tokens = None;
    for key in ["max_tokens", "max_completion_tokens"] {
        if let Some(n) = max_tokens_field(map, key, key, config).map_err(|e| e.with_param("max_tokens"))? {
            max_tokens = Some(n);
        }
    }
    Ok(max_tokens.unwrap_or(config.default_max_tokens))
}

/// How many choices to generate (`n`, 1 to 16).
fn choice_count(map: &Map<String, Value>) -> Result<u64, ApiError> {
    match map.get("n") {
        None | Some(Value::Null) => Ok(1),
        Some(v) => match v.as_u64() {
            Some(n @ 1..=16) => Ok(n),
            _ => Err(invalid("Invalid 'n': expected an integer between 1 and 16.", "n")),
        },
    }
}

/// The answer's shape from `response_format`.
fn response_format(map: &Map<String, Value>, config: &Config, messages: &[Value]) -> Result<Structured, ApiError> {
    let Some(format) = map.get("response_format").filter(|f| !f.is_null()) else {
        return Ok(Structured::Prose);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(Structured::Prose),
        Some("json_object") => {
            let all_text = messages
                .iter()
                .map(|m| content_text(m.get("content").unwrap_or(&Value::Null)))
                .collect::<Vec<_>>()
                .join("\n");
            if !all_text.to_lowercase().contains("json") {
                return Err(invalid(
                    "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
                    "messages",
                ));
            }
            Ok(Structured::JsonObject)
        }
        Some("json_schema") => json_schema_format(format, config).map(Structured::JsonSchema),
        _ => Err(invalid(
            "Invalid value for 'response_format.type': expected one of 'text', 'json_object', 'json_schema'.",
            "response_format",
        )),
    }
}

/// The schema of a `json_schema` response format (an object schema when none is given).
fn json_schema_format(format: &Value, config: &Config) -> Result<Value, ApiError> {
    if config.openai_no_json_schema {
        return Err(invalid(
            "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.",
            "response_format",
        ));
    }
    let Some(spec) = format.get("json_schema").and_then(Value::as_object) else {
        return Err(invalid("Missing required parameter: 'response_format.json_schema'.", "response_format"));
    };
    match spec.get("name").and_then(Value::as_str) {
        Some(name) if valid_name(name) => {}
        _ => {
            return Err(invalid(
                "Invalid 'response_format.json_schema.name': expected a string matching ^[a-zA-Z0-9_-]{1,64}$.",
                "response_format",
            ))
        }
    }
    match spec.get("schema") {
        None | Some(Value::Null) => Ok(json!({"type": "object"})),
        Some(s @ Value::Object(_)) => Ok(s.clone()),
        Some(_) => Err(invalid("Invalid 'response_format.json_schema.schema': expected an object.", "response_format")),
    }
}

/// The function tools offered, with their parameter schemas.
fn tools(map: &Map<String, Value>) -> Result<Vec<ToolDef>, ApiError> {
    let list = match map.get("tools") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(invalid("Invalid 'tools': expected an array.", "tools")),
    };
    list.iter()
        .enumerate()
        .map(|(i, tool)| {
            let function = tool.get("function");
            let name = function.and_then(|f| f.get("name")).and_then(Value::as_str).unwrap_or("");
            if tool.get("type").and_then(Value::as_str) != Some("function") || !valid_name(name) {
                return Err(invalid(
                    format!(
                        "Invalid 'tools[{i}]': expected a function tool with a name matching ^[a-zA-Z0-9_-]{{1,64}}$."
                    ),
                    "tools",
                ));
            }
            let schema = match function.and_then(|f| f.get("parameters")) {
                None | Some(Value::Null) => json!({"type": "object", "properties": {}}),
                Some(s @ Value::Object(_)) => s.clone(),
                Some(_) => {
                    return Err(invalid(
                        format!("Invalid 'tools[{i}].function.parameters': expected an object."),
                        "tools",
                    ))
                }
            };
            Ok(ToolDef { name: name.to_string(), schema })
        })
        .collect()
}

/// The tool choice, and whether it forces one named function (which finishes with `stop`).
fn tool_choice(map: &Map<String, Value>, tools: &[ToolDef]) -> Result<(ToolChoice, bool), ApiError> {
    let Some(tc) = map.get("tool_choice").filter(|tc| !tc.is_null()) else {
        return Ok((ToolChoice::Auto, false));
    };
    if tools.is_empty() {
        return Err(invalid(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
            "tool_choice",
        ));
    }
    match tc {
        Value::String(s) if s == "auto" => Ok((ToolChoice::Auto, false)),
        Value::String(s) if s == "none" => Ok((ToolChoice::None, false)),
        Value::String(s) if s == "required" => Ok((ToolChoice::Any, false)),
        Value::Object(_) => {
            let name = tc.get("function").and_then(|f| f.get("name")).and_then(Value::as_str).unwrap_or("");
            if !tools.iter().any(|t| t.name == name) {
                return Err(invalid(
                    format!("Invalid value for 'tool_choice': no function named '{name}' was specified in the 'tools' parameter."),
                    "tool_choice",
                ));
            }
            Ok((ToolChoice::Tool(name.to_string()), true))
        }
        _ => Err(invalid(
            "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or a named function.",
            "tool_choice",
        )),
    }
}

/// One entry of `choices`: the assistant message and its finish reason.
fn choice_json(index: u64, variant: &GenRequest, out: &engine::Generated, forced_named: bool) -> Value {
    let (message, finish) = match &out.answer {
        Answer::Text(text) => (
            json!({ "role": "assistant", "content": text, "refusal": null }),
            if out.stop == Stop::MaxTokens { "length" } else { "stop" },
        ),
        Answer::ToolCall { index: tool, input } => {
            let name = variant.tools.get(*tool).map(|t| t.name.as_str()).unwrap_or("");
            let id = format!("call_{}", Rng::new(mix(variant.seed, 0x7004)).alnum(24));
            let finish = match out.stop {
                Stop::MaxTokens => "length",
                _ if forced_named => "stop",
                _ => "tool_calls",
            };
            let call = json!({
                "id": id,
                "type": "function",
                "function": { "name": name, "arguments": input.to_string() },
            });
            (json!({ "role": "assistant", "content": null, "tool_calls": [call], "refusal": null }), finish)
        }
    };
    json!({ "index": index, "message": message, "logprobs": null, "finish_reason": finish })
}
