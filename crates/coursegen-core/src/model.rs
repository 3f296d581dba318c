//! The model ports: text (lessons, plans, lab guides) and images (illustrations).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::StageResult;

/// Which stage asks, so providers can pick per-stage limits and errors can name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TextTask {
    /// Write one lesson (Markdown with `[VISUAL: ...]` tags).
    Lesson,
    /// Plan one lesson's visuals (structured output).
    VisualPlan,
    /// Plan the labs of the selected modules (structured output).
    LabPlan,
    /// Write one lab guide (Markdown).
    LabGuide,
    /// Write one lesson's quiz (structured output).
    Quiz,
}

impl TextTask {
    /// The stage name used in errors and logs.
    pub fn stage(&self) -> &'static str {
        match self {
            TextTask::Lesson => "ContentGen",
            TextTask::VisualPlan => "VisualPlanner",
            TextTask::LabPlan => "LabPlanner",
            TextTask::LabGuide => "LabWriter",
            TextTask::Quiz => "QuizWriter",
        }
    }
}

/// One request to a text model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TextRequest {
    pub task: TextTask,
    /// What the request is about, for errors and logs (`module 2 lesson 3`).
    pub subject: String,
    pub system: String,
    pub prompt: String,
    pub max_tokens: u32,
    pub temperature: f32,
    /// When set, the answer must be a JSON value valid against this schema
    /// (forced tool use on Bedrock, `response_format` on OpenAI-compatible servers).
    pub json_schema: Option<serde_json::Value>,
    /// The structured facts the prompt was rendered from (outline section, module plan).
    /// Offline providers build their drafts from it; remote models only see `prompt`.
    pub brief: serde_json::Value,
}

/// Tokens used by one or more calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub calls: u64,
}

impl Usage {
    /// Add another usage to this one.
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.calls += other.calls;
    }
}

/// A text model's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TextResponse {
    /// The text (Markdown), or the JSON text when structured output was asked for.
    pub text: String,
    /// The structured answer as the provider parsed it when `json_schema` was set; not yet
    /// validated (the stages' repair loop checks it against the schema and repairs once).
    pub structured: Option<serde_json::Value>,
    pub usage: Usage,
}

/// Provider and model identity, recorded in fingerprints and the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelId {
    pub provider: String,
    pub model: String,
}

impl std::fmt::Display for ModelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.provider, self.model)
    }
}

/// A text model. Implementations retry transient failures themselves and raise
/// `StageError::Throttling` / `StageError::Model` when they cannot go on.
#[async_trait]
pub trait TextModel: Send + Sync {
    fn id(&self) -> ModelId;
    async fn generate(&self, request: &TextRequest) -> StageResult<TextResponse>;
}

/// One request to an image model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRequest {
    /// The visual id (`MM-LL-NN`), for errors and deterministic seeds.
    pub visual_id: String,
    pub prompt: String,
    pub width: u32,
    pub height: u32,
    pub seed: u32,
}

/// A generated image.
#[derive(Debug, Clone)]
pub struct ImageResponse {
    pub bytes: Vec<u8>,
    /// `image/png` or `image/svg+xml`.
    pub content_type: String,
    /// File extension without the dot: `png` or `svg`.
    pub extension: String,
}

/// An image model.
#[async_trait]
pub trait ImageModel: Send + Sync {
    fn id(&self) -> ModelId;
    async fn generate(&self, request: &ImageRequest) -> StageResult<ImageResponse>;
}

/// Find the first JSON object or array in `text`: the whole text when it parses, else a fenced
/// code block, else the first balanced `{...}` / `[...]` that parses. Models asked for JSON in
/// the prompt often wrap it in prose or Markdown fences.
pub fn extract_json(text: &str) -> Option<Value> {
    let trimmed = text.trim();
    if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
        if v.is_object() || v.is_array() {
            return Some(v);
        }
    }
    if let Some(v) = fenced_json(trimmed) {
        return Some(v);
    }
    let bytes = trimmed.as_bytes();
    for (start, &b) in bytes.iter().enumerate() {
        if b != b'{' && b != b'[' {
            continue;
        }
        if let Some(end) = balanced_end(&bytes[start..]) {
            if let Some(slice) = trimmed.get(start..start + end) {
                if let Ok(v) = serde_json::from_str::<Value>(slice) {
                    return Some(v);
                }
            }
        }
    }
    None
}

fn fenced_json(text: &str) -> Option<Value> {
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let body_start = after.find('\n').map(|i| i + 1).unwrap_or(after.len());
        let body = &after[body_start..];
        let close = body.find("```")?;
        if let Ok(v) = serde_json::from_str::<Value>(body[..close].trim()) {
            if v.is_object() || v.is_array() {
                return Some(v);
            }
        }
        rest = &body[close + 3..];
    }
    None
}

/// Length of the balanced JSON-looking prefix of `bytes` (which starts with `{` or `[`),
/// respecting strings and escapes; `None` when it never closes.
fn balanced_end(bytes: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extraction_finds_json_in_prose_and_fences() {
        assert_eq!(extract_json(r#" {"a": 1} "#), Some(json!({"a": 1})));
        assert_eq!(extract_json("Here you go:\n```json\n{\"a\": [1, 2]}\n```\nThanks"), Some(json!({"a": [1, 2]})));
        assert_eq!(
            extract_json(r#"Sure! {"msg": "brace } inside \" string", "n": {"m": 2}} trailing {"#),
            Some(json!({"msg": "brace } inside \" string", "n": {"m": 2}}))
        );
        assert_eq!(extract_json("{not json} then [1,2]"), Some(json!([1, 2])));
        assert_eq!(extract_json("no json here"), None);
        assert_eq!(extract_json("\"just a string\""), None);
        assert_eq!(extract_json("}}}]]{{{["), None);
        assert_eq!(extract_json("```\nunterminated"), None);
    }
}
