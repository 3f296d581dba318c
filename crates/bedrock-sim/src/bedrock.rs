//! Bedrock Runtime `Converse` and `InvokeModel` request parsing and answers.

use crate::engine::{self, Answer, CallKind, GenRequest, Generated, Stop, Structured, ToolChoice, ToolDef};
use crate::error::ApiError;
use crate::rng::{fnv1a, mix, Rng};
use crate::server::{reported_latency, Plan, Rendered};
use crate::tokens::{estimate, json_chars, leaf_chars, tokens_for_chars};
use crate::{images, openai, Config};
use serde_json::{json, Map, Value};

/// Whether a model id names an image generation model.
pub(crate) fn is_image_model(model_id: &str) -> bool {
    let id = model_id.to_ascii_lowercase();
    id.contains("titan-image") || id.contains("nova-canvas")
}

/// Parses a JSON request body that must be an object.
pub(crate) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::validation(
            "Malformed input request: #: expected type: JSONObject, please reformat your input and try again.",
        )),
        Err(e) => Err(ApiError::validation(format!(
            "Malformed input request: {e}, please reformat your input and try again."
        ))),
    }
}

/// A seed for one request: the simulator seed mixed with the model and body. The body is
/// hashed with its object keys sorted: clients may serialise maps in any order (the AWS SDK's
/// `Document` is a hash map, so a tool's input schema comes out in a different key order in
/// every process), and the same request must get the same answer.
pub(crate) fn request_seed(config: &Config, model_id: &str, body: &Map<String, Value>) -> u64 {
    let canonical = crate::schema_gen::sorted_keys(&Value::Object(body.clone())).to_string();
    mix(config.seed, mix(fnv1a(model_id.as_bytes()), fnv1a(canonical.as_bytes())))
}

fn constraint(path: &str, value: &Value, rule: &str) -> ApiError {
    ApiError::validation(format!(
        "1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: {rule}"
    ))
}

/// Reads an optional positive token limit, checking it against the configured ceiling.
pub(crate) fn max_tokens_field(
    map: &Map<String, Value>,
    key: &str,
    path: &str,
    config: &Config,
) -> Result<Option<u64>, ApiError> {
    let Some(value) = map.get(key) else {
        return Ok(None);
    };
    if value.is_null() {
        return Ok(None);
    }
    let n = match value.as_i64() {
        Some(n) if n >= 1 => n as u64,
        Some(_) => return Err(constraint(path, value, "Member must have value greater than or equal to 1")),
        None => {
            if value.as_u64().is_some() {
                u64::MAX
            } else {
                return Err(constraint(path, value, "Member must be an integer"));
            }
        }
    };
    if n > config.max_tokens_limit {
        let limit = config.max_tokens_limit;
        return Err(ApiError::validation(format!(
            "The maximum tokens you requested exceeds the model limit of {limit}. Try again with a maximum tokens value that is lower than {limit}."
        )));
    }
    Ok(Some(n))
}

/// Checks an optional number lies in `lo..=hi`.
pub(crate) fn ranged(map: &Map<String, Value>, key: &str, path: &str, lo: f64, hi: f64) -> Result<(), ApiError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(value) => match value.as_f64() {
            Some(v) if (lo..=hi).contains(&v) => Ok(()),
            _ => Err(constraint(path, value, &format!("Member must have value between {lo} and {hi}"))),
        },
    }
}

fn valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Text of a Converse content block list (text blocks and tool results).
fn converse_text(content: &[Value]) -> (String, bool) {
    let mut parts = Vec::new();
    let mut tool_result = false;
    for block in content {
        if let Some(text) = block.get("text").and_then(Value::as_str) {
            parts.push(text.to_string());
        }
        if let Some(result) = block.get("toolResult") {
            tool_result = true;
            if let Some(items) = result.get("content").and_then(Value::as_array) {
                for item in items {
                    if let Some(text) = item.get("text").and_then(Value::as_str) {
                        parts.push(text.to_string());
                    } else if let Some(json) = item.get("json") {
                        parts.push(json.to_string());
                    }
                }
            }
        }
    }
    (parts.join("\n"), tool_result)
}

/// A parsed Converse-shaped request (also used by Nova's native `InvokeModel` body).
struct ConverseLike {
    gen: GenRequest,
    input_tokens: u64,
}

fn parse_converse_like(
    model_id: &str,
    body: &Map<String, Value>,
    config: &Config,
    max_token_keys: &[&str],
) -> Result<ConverseLike, ApiError> {
    let (messages, uses_tools) = converse_messages(body)?;
    if let Some(system) = body.get("system") {
        if !system.is_array() {
            return Err(constraint("system", system, "Member must be a list"));
        }
    }
    let max_tokens = inference_config(body, config, max_token_keys)?;
    let (tools, choice) = tool_config(body, uses_tools)?;

    let last_user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|m| m.get("content").and_then(Value::as_array));
    let (prompt, after_tool_result) = last_user.map(|c| converse_text(c)).unwrap_or_default();
    let chars = leaf_chars(body.get("system").unwrap_or(&Value::Null))
        + leaf_chars(&Value::Array(messages.clone()))
        + body.get("toolConfig").map(json_chars).unwrap_or(0);
    Ok(ConverseLike {
        gen: GenRequest {
            prompt,
            after_tool_result,
            max_tokens: max_tokens.unwrap_or(config.default_max_tokens),
            tools,
            choice,
            structured: Structured::Prose,
            seed: request_seed(config, model_id, body),
        },
        input_tokens: tokens_for_chars(chars).max(1),
    })
}

const MUST_START_WITH_USER: &str =
    "A conversation must start with a user message. Try again with a conversation that starts with a user message.";

/// The conversation, checked to start with the user and alternate roles, and whether any
/// message carries tool use or tool result blocks.
fn converse_messages(body: &Map<String, Value>) -> Result<(&Vec<Value>, bool), ApiError> {
    let messages = match body.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(Value::Array(_)) => return Err(ApiError::validation(MUST_START_WITH_USER)),
        Some(other) => return Err(constraint("messages", other, "Member must be a list")),
        None => {
            return Err(ApiError::validation(
                "1 validation error detected: Value null at 'messages' failed to satisfy constraint: Member must not be null",
            ))
        }
    };
    let mut previous: Option<&str> = None;
    let mut uses_tools = false;
    for (i, message) in messages.iter().enumerate() {
        let role = match message.get("role").and_then(Value::as_str) {
            Some(r @ ("user" | "assistant")) => r,
            _ => {
                return Err(constraint(
                    &format!("messages.{}.member.role", i + 1),
                    message.get("role").unwrap_or(&Value::Null),
                    "Member must satisfy enum value set: [user, assistant]",
                ))
            }
        };
        if i == 0 && role != "user" {
            return Err(ApiError::validation(MUST_START_WITH_USER));
        }
        if previous == Some(role) {
            return Err(ApiError::validation(
                "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.",
            ));
        }
        previous = Some(role);
        let Some(content) = message.get("content").and_then(Value::as_array) else {
            return Err(constraint(
                &format!("messages.{}.member.content", i + 1),
                message.get("content").unwrap_or(&Value::Null),
                "Member must not be null",
            ));
        };
        uses_tools |= content.iter().any(|b| b.get("toolUse").is_some() || b.get("toolResult").is_some());
    }
    Ok((messages, uses_tools))
}

/// Checks `inferenceConfig` and returns its output limit (the last of `max_token_keys` given).
fn inference_config(
    body: &Map<String, Value>,
    config: &Config,
    max_token_keys: &[&str],
) -> Result<Option<u64>, ApiError> {
    let empty = Map::new();
    let inference = match body.get("inferenceConfig") {
        Some(Value::Object(m)) => m,
        None | Some(Value::Null) => &empty,
        Some(other) => return Err(constraint("inferenceConfig", other, "Member must be a structure")),
    };
    let mut max_tokens = None;
    for key in max_token_keys {
        if let Some(n) = max_tokens_field(inference, key, &format!("inferenceConfig.{key}"), config)? {
            max_tokens = Some(n);
        }
    }
    ranged(inference, "temperature", "inferenceConfig.temperature", 0.0, 1.0)?;
    ranged(inference, "topP", "inferenceConfig.topP", 0.0, 1.0)?;
    ranged(inference, "top_p", "inferenceConfig.top_p", 0.0, 1.0)?;
    Ok(max_tokens)
}

/// The tools of `toolConfig` and the tool choice; tool blocks in the conversation require it.
fn tool_config(body: &Map<String, Value>, uses_tools: bool) -> Result<(Vec<ToolDef>, ToolChoice), ApiError> {
    let tool_config = match body.get("toolConfig") {
        None | Some(Value::Null) if uses_tools => {
            return Err(ApiError::validation(
                "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
            ))
        }
        None | Some(Value::Null) => return Ok((Vec::new(), ToolChoice::Auto)),
        Some(Value::Object(tool_config)) => tool_config,
        Some(other) => return Err(constraint("toolConfig", other, "Member must be a structure")),
    };
    let Some(list) = tool_config.get("tools").and_then(Value::as_array) else {
        return Err(ApiError::validation(
            "1 validation error detected: Value null at 'toolConfig.tools' failed to satisfy constraint: Member must not be null",
        ));
    };
    let tools = tool_specs(list)?;
    let choice = match tool_config.get("toolChoice") {
        None | Some(Value::Null) => ToolChoice::Auto,
        Some(Value::Object(tc)) => tool_choice(tc, &tools)?,
        Some(other) => return Err(constraint("toolConfig.toolChoice", other, "Member must be a structure")),
    };
    Ok((tools, choice))
}

/// The `toolSpec` entries of `toolConfig.tools`: valid, uniquely named, at least one.
fn tool_specs(list: &[Value]) -> Result<Vec<ToolDef>, ApiError> {
    let mut tools: Vec<ToolDef> = Vec::new();
    for (i, tool) in list.iter().enumerate() {
        let Some(spec) = tool.get("toolSpec") else {
            continue;
        };
        let name = spec.get("name").and_then(Value::as_str).unwrap_or("");
        if !valid_tool_name(name) {
            return Err(constraint(
                &format!("toolConfig.tools.{}.member.toolSpec.name", i + 1),
                spec.get("name").unwrap_or(&Value::Null),
                "Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+ and have length between 1 and 64",
            ));
        }
        let schema = spec.get("inputSchema").and_then(|s| s.get("json"));
        let Some(schema @ Value::Object(_)) = schema else {
            return Err(ApiError::validation(format!(
                "The inputSchema of tool {name} must contain a JSON schema object in its json field."
            )));
        };
        if tools.iter().any(|t| t.name == name) {
            return Err(ApiError::validation(format!("The toolConfig contains more than one tool named {name}.")));
        }
        tools.push(ToolDef { name: name.to_string(), schema: schema.clone() });
    }
    if tools.is_empty() {
        return Err(ApiError::validation("The toolConfig field must contain at least one tool specification."));
    }
    Ok(tools)
}

/// `toolConfig.toolChoice`: exactly one of `auto`, `any` or a defined `tool`.
fn tool_choice(tc: &Map<String, Value>, tools: &[ToolDef]) -> Result<ToolChoice, ApiError> {
    if tc.contains_key("any") {
        Ok(ToolChoice::Any)
    } else if tc.contains_key("auto") {
        Ok(ToolChoice::Auto)
    } else if let Some(tool) = tc.get("tool") {
        let name = tool.get("name").and_then(Value::as_str).unwrap_or("");
        if !tools.iter().any(|t| t.name == name) {
            return Err(ApiError::validation(format!(
                "The tool {name} specified in toolChoice is not defined in toolConfig.tools."
            )));
        }
        Ok(ToolChoice::Tool(name.to_string()))
    } else {
        Err(ApiError::validation("toolChoice must contain exactly one of auto, any or tool."))
    }
}

fn stop_reason(stop: Stop) -> &'static str {
    match stop {
        Stop::EndTurn => "end_turn",
        Stop::ToolUse => "tool_use",
        Stop::MaxTokens => "max_tokens",
    }
}

fn converse_content(gen: &GenRequest, out: &Generated) -> Value {
    match &out.answer {
        Answer::Text(text) => json!([{ "text": text }]),
        Answer::ToolCall { index, input } => {
            let name = gen.tools.get(*index).map(|t| t.name.as_str()).unwrap_or("");
            let id = format!("tooluse_{}", Rng::new(mix(gen.seed, 0x7001)).alnum(22));
            json!([{ "toolUse": { "toolUseId": id, "name": name, "input": input } }])
        }
    }
}

/// Plans a `POST /model/{modelId}/converse` request.
pub(crate) fn converse_plan(model_id: &str, body: &[u8], config: &Config) -> Result<Plan, ApiError> {
    if is_image_model(model_id) {
        return Err(ApiError::validation(
            "This action doesn't support the model that you provided. Try again with a supported text or chat model.",
        ));
    }
    let body = parse_object(body)?;
    let parsed = parse_converse_like(model_id, &body, config, &["maxTokens"])?;
    let input_tokens = parsed.input_tokens;
    let config = config.clone();
    Ok(text_plan(input_tokens, parsed.gen, move |gen, out| {
        let mut body = converse_answer(gen, out, input_tokens);
        let latency = reported_latency(&config, gen.call_kind(), out.output_tokens);
        body.insert("metrics".into(), json!({ "latencyMs": latency }));
        Value::Object(body)
    }))
}

/// The answer fields Converse and Nova's native format share: the message, the stop
/// reason and the token usage.
fn converse_answer(gen: &GenRequest, out: &Generated, input_tokens: u64) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("output".into(), json!({ "message": { "role": "assistant", "content": converse_content(gen, out) } }));
    body.insert("stopReason".into(), json!(stop_reason(out.stop)));
    body.insert(
        "usage".into(),
        json!({
            "inputTokens": input_tokens,
            "outputTokens": out.output_tokens,
            "totalTokens": input_tokens + out.output_tokens,
        }),
    );
    body
}

fn text_plan(
    input_tokens: u64,
    gen: GenRequest,
    shape: impl FnOnce(&GenRequest, &Generated) -> Value + Send + 'static,
) -> Plan {
    let max_output = gen.max_tokens;
    Plan {
        input_tokens,
        max_output,
        images: 0,
        kind: gen.call_kind(),
        blocking: false,
        render: Box::new(move || {
            let out = engine::generate(&gen);
            let body = shape(&gen, &out);
            Rendered { body: body.to_string().into_bytes(), output_tokens: out.output_tokens }
        }),
    }
}

fn prose(prompt: String, max_tokens: u64, seed: u64) -> GenRequest {
    GenRequest {
        prompt,
        after_tool_result: false,
        max_tokens,
        tools: Vec::new(),
        choice: ToolChoice::None,
        structured: Structured::Prose,
        seed,
    }
}

/// Text of an Anthropic `content` (string or block list).
fn anthropic_text(content: &Value) -> (String, bool) {
    match content {
        Value::String(s) => (s.clone(), false),
        Value::Array(blocks) => {
            let mut parts = Vec::new();
            let mut tool_result = false;
            for block in blocks {
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        if let Some(t) = block.get("text").and_then(Value::as_str) {
                            parts.push(t.to_string());
                        }
                    }
                    Some("tool_result") => {
                        tool_result = true;
                        if let Some(c) = block.get("content") {
                            parts.push(anthropic_text(c).0);
                        }
                    }
                    _ => {}
                }
            }
            (parts.join("\n"), tool_result)
        }
        _ => (String::new(), false),
    }
}

fn missing_key(key: &str) -> ApiError {
    ApiError::validation(format!(
        "Malformed input request: #: required key [{key}] not found, please reformat your input and try again."
    ))
}

fn anthropic_plan(model_id: &str, body: &Map<String, Value>, config: &Config) -> Result<Plan, ApiError> {
    if !body.contains_key("anthropic_version") {
        return Err(missing_key("anthropic_version"));
    }
    let max_tokens =
        max_tokens_field(body, "max_tokens", "max_tokens", config)?.ok_or_else(|| missing_key("max_tokens"))?;
    let messages = anthropic_messages(body)?;
    ranged(body, "temperature", "temperature", 0.0, 1.0)?;
    let tools = anthropic_tools(body)?;
    let choice = anthropic_tool_choice(body, &tools)?;
    let (prompt, after_tool_result) = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|m| m.get("content"))
        .map(anthropic_text)
        .unwrap_or_default();
    let chars = leaf_chars(body.get("system").unwrap_or(&Value::Null))
        + leaf_chars(&Value::Array(messages.clone()))
        + body.get("tools").map(json_chars).unwrap_or(0);
    let input_tokens = tokens_for_chars(chars).max(1);
    let gen = GenRequest {
        prompt,
        after_tool_result,
        max_tokens,
        tools,
        choice,
        structured: Structured::Prose,
        seed: request_seed(config, model_id, body),
    };
    let model = model_id.to_string();
    Ok(text_plan(input_tokens, gen, move |gen, out| {
        let content = match &out.answer {
            Answer::Text(text) => json!([{ "type": "text", "text": text }]),
            Answer::ToolCall { index, input } => {
                let name = gen.tools.get(*index).map(|t| t.name.as_str()).unwrap_or("");
                let id = format!("toolu_bdrk_{}", Rng::new(mix(gen.seed, 0x7002)).alnum(24));
                json!([{ "type": "tool_use", "id": id, "name": name, "input": input }])
            }
        };
        json!({
            "id": format!("msg_bdrk_{}", Rng::new(mix(gen.seed, 0x7003)).alnum(24)),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_reason(out.stop),
            "stop_sequence": null,
            "usage": { "input_tokens": input_tokens, "output_tokens": out.output_tokens },
        })
    }))
}

/// The non-empty `messages` of an Anthropic body, each from the user or the assistant.
fn anthropic_messages(body: &Map<String, Value>) -> Result<&Vec<Value>, ApiError> {
    let messages = match body.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(_) => {
            return Err(ApiError::validation(
                "Malformed input request: #/messages: expected minimum item count: 1, please reformat your input and try again.",
            ))
        }
        None => return Err(missing_key("messages")),
    };
    for message in messages {
        match message.get("role").and_then(Value::as_str) {
            Some("user" | "assistant") => {}
            _ => {
                return Err(ApiError::validation(
                    "Malformed input request: #/messages: role must be one of [user, assistant], please reformat your input and try again.",
                ))
            }
        }
    }
    Ok(messages)
}

/// The tools with an object `input_schema` (others are skipped), validly named.
fn anthropic_tools(body: &Map<String, Value>) -> Result<Vec<ToolDef>, ApiError> {
    let mut tools = Vec::new();
    for tool in body.get("tools").and_then(Value::as_array).into_iter().flatten() {
        let name = tool.get("name").and_then(Value::as_str).unwrap_or("");
        let Some(schema @ Value::Object(_)) = tool.get("input_schema") else {
            continue;
        };
        if !valid_tool_name(name) {
            return Err(ApiError::validation(format!("tools: tool name '{name}' must match ^[a-zA-Z0-9_-]{{1,64}}$")));
        }
        tools.push(ToolDef { name: name.to_string(), schema: schema.clone() });
    }
    Ok(tools)
}

/// `tool_choice` by its `type`: auto, any, none or a defined tool.
fn anthropic_tool_choice(body: &Map<String, Value>, tools: &[ToolDef]) -> Result<ToolChoice, ApiError> {
    let Some(tc) = body.get("tool_choice").filter(|tc| !tc.is_null()) else {
        return Ok(ToolChoice::Auto);
    };
    match tc.get("type").and_then(Value::as_str) {
        Some("auto") => Ok(ToolChoice::Auto),
        Some("any") => Ok(ToolChoice::Any),
        Some("none") => Ok(ToolChoice::None),
        Some("tool") => {
            let name = tc.get("name").and_then(Value::as_str).unwrap_or("");
            if !tools.iter().any(|t| t.name == name) {
                return Err(ApiError::validation(format!("tool_choice: tool '{name}' is not defined in tools")));
            }
            Ok(ToolChoice::Tool(name.to_string()))
        }
        _ => Err(ApiError::validation("tool_choice.type must be one of auto, any, tool or none")),
    }
}

fn nova_plan(model_id: &str, body: &Map<String, Value>, config: &Config) -> Result<Plan, ApiError> {
    let parsed = parse_converse_like(model_id, body, config, &["max_new_tokens", "maxTokens"])?;
    let input_tokens = parsed.input_tokens;
    Ok(text_plan(input_tokens, parsed.gen, move |gen, out| {
        let mut body = converse_answer(gen, out, input_tokens);
        if let Some(Value::Object(usage)) = body.get_mut("usage") {
            usage.insert("cacheReadInputTokenCount".into(), json!(0));
            usage.insert("cacheWriteInputTokenCount".into(), json!(0));
        }
        Value::Object(body)
    }))
}

fn titan_text_plan(model_id: &str, body: &Map<String, Value>, config: &Config) -> Result<Plan, ApiError> {
    let Some(input) = body.get("inputText").and_then(Value::as_str) else {
        return Err(missing_key("inputText"));
    };
    let empty = Map::new();
    let gen_config = body.get("textGenerationConfig").and_then(Value::as_object).unwrap_or(&empty);
    let max_tokens =
        max_tokens_field(gen_config, "maxTokenCount", "textGenerationConfig.maxTokenCount", config)?.unwrap_or(512);
    ranged(gen_config, "temperature", "textGenerationConfig.temperature", 0.0, 1.0)?;
    let input_tokens = estimate(input).max(1);
    let gen = prose(input.to_string(), max_tokens, request_seed(config, model_id, body));
    Ok(text_plan(input_tokens, gen, move |_, out| {
        let text = match &out.answer {
            Answer::Text(t) => t.clone(),
            Answer::ToolCall { .. } => String::new(),
        };
        json!({
            "inputTextTokenCount": input_tokens,
            "results": [{
                "tokenCount": out.output_tokens,
                "outputText": text,
                "completionReason": if out.stop == Stop::MaxTokens { "LENGTH" } else { "FINISH" },
            }],
        })
    }))
}

fn prompt_plan(model_id: &str, body: &Map<String, Value>, config: &Config) -> Result<Plan, ApiError> {
    let Some(prompt) = body.get("prompt").and_then(Value::as_str) else {
        return Err(missing_key("prompt"));
    };
    let mistral = model_id.to_ascii_lowercase().contains("mistral");
    let key = if mistral { "max_tokens" } else { "max_gen_len" };
    let max_tokens = max_tokens_field(body, key, key, config)?.unwrap_or(512);
    let input_tokens = estimate(prompt).max(1);
    let gen = prose(prompt.to_string(), max_tokens, request_seed(config, model_id, body));
    Ok(text_plan(input_tokens, gen, move |_, out| {
        let text = match &out.answer {
            Answer::Text(t) => t.clone(),
            Answer::ToolCall { .. } => String::new(),
        };
        let finished = out.stop != Stop::MaxTokens;
        if mistral {
            json!({ "outputs": [{ "text": text, "stop_reason": if finished { "stop" } else { "length" } }] })
        } else {
            json!({
                "generation": text,
                "prompt_token_count": input_tokens,
                "generation_token_count": out.output_tokens,
                "stop_reason": if finished { "stop" } else { "length" },
            })
        }
    }))
}

fn embedding(text: &str, seed: u64, dims: usize, normalize: bool) -> Vec<Value> {
    let mut rng = Rng::new(mix(seed, fnv1a(text.as_bytes())));
    let raw: Vec<f64> = (0..dims).map(|_| rng.unit_f64() * 2.0 - 1.0).collect();
    let norm = raw.iter().map(|v| v * v).sum::<f64>().sqrt().max(f64::EPSILON);
    raw.into_iter()
        .map(|v| {
            let v = if normalize { v / norm } else { v };
            json!((v * 1e6).round() / 1e6)
        })
        .collect()
}

fn embed_plan(model_id: &str, body: &Map<String, Value>, config: &Config) -> Result<Plan, ApiError> {
    let seed = config.seed;
    if let Some(texts) = body.get("texts").and_then(Value::as_array) {
        let texts: Vec<String> = texts.iter().map(|t| t.as_str().unwrap_or_default().to_string()).collect();
        if texts.is_empty() || texts.len() > 96 {
            return Err(ApiError::validation(
                "Malformed input request: #/texts: expected between 1 and 96 items, please reformat your input and try again.",
            ));
        }
        let input_tokens = texts.iter().map(|t| estimate(t)).sum::<u64>().max(1);
        let id = Rng::new(request_seed(config, model_id, body)).uuid();
        return Ok(Plan {
            input_tokens,
            max_output: 0,
            images: 0,
            kind: CallKind::Text,
            blocking: false,
            render: Box::new(move || {
                let vectors: Vec<Value> = texts.iter().map(|t| Value::Array(embedding(t, seed, 1024, false))).collect();
                let body = json!({
                    "embeddings": vectors,
                    "id": id,
                    "response_type": "embeddings_floats",
                    "texts": texts,
                });
                Rendered { body: body.to_string().into_bytes(), output_tokens: 0 }
            }),
        });
    }
    let Some(input) = body.get("inputText").and_then(Value::as_str) else {
        return Err(missing_key("inputText"));
    };
    let default_dims = if model_id.contains("embed-text-v1") || model_id.contains("embed-g1") { 1536 } else { 1024 };
    let dims = match body.get("dimensions") {
        None | Some(Value::Null) => default_dims,
        Some(v) => match v.as_u64() {
            Some(d @ (256 | 384 | 512 | 1024)) => d as usize,
            _ => {
                return Err(ApiError::validation(
                    "Malformed input request: #/dimensions: must be one of 256, 384, 512 or 1024, please reformat your input and try again.",
                ))
            }
        },
    };
    let normalize = body.get("normalize").and_then(Value::as_bool).unwrap_or(true);
    let input = input.to_string();
    let input_tokens = estimate(&input).max(1);
    Ok(Plan {
        input_tokens,
        max_output: 0,
        images: 0,
        kind: CallKind::Text,
        blocking: false,
        render: Box::new(move || {
            let body = json!({
                "embedding": embedding(&input, seed, dims, normalize),
                "inputTextTokenCount": input_tokens,
            });
            Rendered { body: body.to_string().into_bytes(), output_tokens: 0 }
        }),
    })
}

/// Plans a `POST /model/{modelId}/invoke` request, choosing the native body
/// shape from the model id and the request body.
pub(crate) fn invoke_plan(model_id: &str, body: &[u8], config: &Config) -> Result<Plan, ApiError> {
    if is_image_model(model_id) {
        return images::image_plan(model_id, body, config);
    }
    let map = parse_object(body)?;
    let id = model_id.to_ascii_lowercase();
    if id.contains("embed") {
        embed_plan(model_id, &map, config)
    } else if id.contains("anthropic") || map.contains_key("anthropic_version") {
        anthropic_plan(model_id, &map, config)
    } else if id.contains("openai.") || id.contains("gpt-oss") {
        openai::chat_plan_from_map(&map, config, model_id)
    } else if map.contains_key("messages") {
        nova_plan(model_id, &map, config)
    } else if map.contains_key("inputText") {
        titan_text_plan(model_id, &map, config)
    } else if map.contains_key("prompt") {
        prompt_plan(model_id, &map, config)
    } else {
        Err(ApiError::validation(
            "Malformed input request: the body matches no supported model request shape, please reformat your input and try again.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_request_gets_the_same_seed_whatever_its_key_order() {
        let config = Config::default();
        let a: Value = serde_json::from_str(
            r#"{"messages":[{"role":"user"}],"toolConfig":{"tools":[{"toolSpec":{"inputSchema":{"json":{"type":"object","required":["a"],"properties":{"a":{"type":"string"},"b":{"type":"integer"}}}}}}]}}"#,
        )
        .unwrap();
        let b: Value = serde_json::from_str(
            r#"{"toolConfig":{"tools":[{"toolSpec":{"inputSchema":{"json":{"properties":{"b":{"type":"integer"},"a":{"type":"string"}},"required":["a"],"type":"object"}}}}]},"messages":[{"role":"user"}]}"#,
        )
        .unwrap();
        let (Value::Object(a), Value::Object(b)) = (a, b) else { unreachable!() };
        assert_eq!(request_seed(&config, "m", &a), request_seed(&config, "m", &b));
        let mut c = a.clone();
        c.insert("messages".into(), serde_json::json!([{"role": "assistant"}]));
        assert_ne!(request_seed(&config, "m", &a), request_seed(&config, "m", &c));
        // Array order is content, not presentation.
        let mut d = a.clone();
        d.insert("order".into(), serde_json::json!([1, 2]));
        let mut e = a.clone();
        e.insert("order".into(), serde_json::json!([2, 1]));
        assert_ne!(request_seed(&config, "m", &d), request_seed(&config, "m", &e));
    }

    fn answer_keys(plan: Result<Plan, ApiError>) -> (Vec<String>, Vec<String>) {
        let rendered = (plan.expect("a valid request").render)();
        let body: Value = serde_json::from_slice(&rendered.body).expect("JSON");
        let keys = |v: &Value| v.as_object().expect("an object").keys().cloned().collect::<Vec<_>>();
        (keys(&body), keys(&body["usage"]))
    }

    #[test]
    fn converse_and_nova_answers_share_their_fields_in_order() {
        let config = Config::default();
        let request = json!({"messages": [{"role": "user", "content": [{"text": "hello"}]}]});
        let body = serde_json::to_vec(&request).unwrap();
        let (top, usage) = answer_keys(converse_plan("amazon.nova-lite-v1:0", &body, &config));
        assert_eq!(top, ["output", "stopReason", "usage", "metrics"]);
        assert_eq!(usage, ["inputTokens", "outputTokens", "totalTokens"]);
        let Value::Object(map) = request else { unreachable!() };
        let (top, usage) = answer_keys(nova_plan("amazon.nova-lite-v1:0", &map, &config));
        assert_eq!(top, ["output", "stopReason", "usage"]);
        assert_eq!(
            usage,
            ["inputTokens", "outputTokens", "totalTokens", "cacheReadInputTokenCount", "cacheWriteInputTokenCount"]
        );
    }
}
