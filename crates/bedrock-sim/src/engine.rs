//! The answer engine shared by every API shape.

use crate::rng::Rng;
use crate::schema_gen;
use crate::text::{self, salient_keywords};
use crate::tokens::estimate;
use serde_json::{json, Value};

/// A tool the model may call, with the JSON Schema of its input.
#[derive(Debug, Clone)]
pub struct ToolDef {
    /// Tool name.
    pub name: String,
    /// JSON Schema of the tool input.
    pub schema: Value,
}

/// How the request constrains tool use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides: the simulator calls a tool whose name the prompt mentions.
    Auto,
    /// The model must call some tool.
    Any,
    /// The model must call this tool.
    Tool(String),
    /// The model must not call tools.
    None,
}

/// Which latency a request gets: the simulator tells the three kinds of model
/// call coursegen makes apart by the request alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// Free text, such as a lesson: any text request that does not force structure.
    Text,
    /// A structured answer, such as a visual plan: a request that forces a tool call
    /// (Converse `toolChoice` `any` or `tool`, Anthropic and OpenAI `tool_choice` naming a
    /// tool or requiring one) or asks for a JSON Schema answer (OpenAI `response_format`).
    Plan,
    /// Image generation (`InvokeModel` on an image model).
    Image,
}

impl CallKind {
    /// Every kind, in the order `/_sim/stats` lists them.
    pub const ALL: [CallKind; 3] = [CallKind::Text, CallKind::Plan, CallKind::Image];

    /// The name used in `/_sim/stats` and the `x-sim-call-kind` header.
    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Text => "text",
            CallKind::Plan => "plan",
            CallKind::Image => "image",
        }
    }
}

/// What kind of text the answer should be.
#[derive(Debug, Clone)]
pub enum Structured {
    /// Free Markdown prose.
    Prose,
    /// A JSON document valid against this schema.
    JsonSchema(Value),
    /// Some JSON object.
    JsonObject,
}

/// A normalized generation request.
#[derive(Debug, Clone)]
pub struct GenRequest {
    /// Text of the last user turn.
    pub prompt: String,
    /// Whether the last turn carried tool results (then `Auto` answers in text).
    pub after_tool_result: bool,
    /// Output token limit.
    pub max_tokens: u64,
    /// Tools on offer.
    pub tools: Vec<ToolDef>,
    /// Tool choice.
    pub choice: ToolChoice,
    /// Kind of text answer.
    pub structured: Structured,
    /// Seed derived from the request and the simulator seed.
    pub seed: u64,
}

/// The content of an answer.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A text answer.
    Text(String),
    /// A call of `tools[index]` with this input.
    ToolCall {
        /// Index into [`GenRequest::tools`].
        index: usize,
        /// Tool input generated from the tool's schema.
        input: Value,
    },
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Natural end of the answer.
    EndTurn,
    /// The answer is a tool call.
    ToolUse,
    /// The output limit was reached.
    MaxTokens,
}

/// A generated answer.
#[derive(Debug, Clone)]
pub struct Generated {
    /// Content.
    pub answer: Answer,
    /// Stop reason.
    pub stop: Stop,
    /// Estimated output tokens.
    pub output_tokens: u64,
}

impl GenRequest {
    /// The kind of call: [`CallKind::Plan`] when the request forces a tool call on a
    /// tool it offers or asks for a JSON Schema answer, [`CallKind::Text`] otherwise. A
    /// tool merely on offer (`auto`) does not make a request structured: the model may
    /// answer it in prose.
    pub fn call_kind(&self) -> CallKind {
        let forced_tool = !self.tools.is_empty() && matches!(self.choice, ToolChoice::Any | ToolChoice::Tool(_));
        if forced_tool || matches!(self.structured, Structured::JsonSchema(_)) {
            CallKind::Plan
        } else {
            CallKind::Text
        }
    }

    fn chosen_tool(&self, rng: &mut Rng) -> Option<usize> {
        if self.tools.is_empty() {
            return None;
        }
        match &self.choice {
            ToolChoice::None => None,
            ToolChoice::Tool(name) => self.tools.iter().position(|t| &t.name == name),
            ToolChoice::Any => Some(rng.below(self.tools.len() as u64) as usize),
            ToolChoice::Auto => {
                if self.after_tool_result {
                    return None;
                }
                let prompt = self.prompt.to_lowercase();
                self.tools.iter().position(|t| {
                    let name = t.name.to_lowercase();
                    prompt.contains(&name) || prompt.contains(&name.replace('_', " "))
                })
            }
        }
    }
}

/// Produces the answer for a request.
pub fn generate(req: &GenRequest) -> Generated {
    let mut rng = Rng::new(req.seed);
    let words = salient_keywords(&req.prompt);
    if let Some(index) = req.chosen_tool(&mut rng) {
        let schema = req.tools.get(index).map(|t| t.schema.clone()).unwrap_or(Value::Null);
        let input = schema_gen::generate(&schema, &mut rng, &words);
        let tokens = estimate(&input.to_string()).max(1);
        if tokens > req.max_tokens {
            return Generated {
                answer: Answer::ToolCall { index, input: json!({}) },
                stop: Stop::MaxTokens,
                output_tokens: req.max_tokens,
            };
        }
        return Generated { answer: Answer::ToolCall { index, input }, stop: Stop::ToolUse, output_tokens: tokens };
    }
    let mut body = match &req.structured {
        Structured::Prose => text::markdown(&req.prompt, &mut rng),
        Structured::JsonSchema(schema) => schema_gen::generate(schema, &mut rng, &words).to_string(),
        Structured::JsonObject => {
            let schema = json!({
                "type": "object",
                "required": ["title", "summary", "points"],
                "properties": {
                    "title": {"type": "string"},
                    "summary": {"type": "string"},
                    "points": {"type": "array", "minItems": 3, "maxItems": 5, "items": {"type": "string"}}
                }
            });
            schema_gen::generate(&schema, &mut rng, &words).to_string()
        }
    };
    let truncated = text::truncate_chars(&mut body, req.max_tokens.saturating_mul(4));
    let output_tokens = estimate(&body);
    Generated {
        answer: Answer::Text(body),
        stop: if truncated { Stop::MaxTokens } else { Stop::EndTurn },
        output_tokens,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(choice: ToolChoice, max_tokens: u64) -> GenRequest {
        GenRequest {
            prompt: "Please call lookup_weather for Paris".into(),
            after_tool_result: false,
            max_tokens,
            tools: vec![ToolDef {
                name: "lookup_weather".into(),
                schema: json!({"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}),
            }],
            choice,
            structured: Structured::Prose,
            seed: 5,
        }
    }

    #[test]
    fn auto_calls_mentioned_tool() {
        let g = generate(&req(ToolChoice::Auto, 1000));
        assert_eq!(g.stop, Stop::ToolUse);
        let g = generate(&req(ToolChoice::None, 1000));
        assert!(matches!(g.answer, Answer::Text(_)));
    }

    #[test]
    fn max_tokens_bounds_text() {
        let g = generate(&req(ToolChoice::None, 3));
        assert_eq!(g.stop, Stop::MaxTokens);
        assert_eq!(g.output_tokens, 3);
        let g = generate(&req(ToolChoice::Any, 1));
        assert_eq!(g.stop, Stop::MaxTokens);
    }
}
