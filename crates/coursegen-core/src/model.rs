//! The model ports: text (lessons, plans, lab guides) and images (illustrations).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

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
}

impl TextTask {
    /// The stage name used in errors and logs.
    pub fn stage(&self) -> &'static str {
        match self {
            TextTask::Lesson => "ContentGen",
            TextTask::VisualPlan => "VisualPlanner",
            TextTask::LabPlan => "LabPlanner",
            TextTask::LabGuide => "LabWriter",
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
    /// The parsed structured answer when `json_schema` was set (already validated by the caller).
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
