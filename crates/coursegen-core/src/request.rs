//! The generation request: which modules, which content, where. Normalised once by
//! PrepareCourse and validated against the outline before any model is called.

use serde::{Deserialize, Serialize};

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ContentType {
    #[default]
    Theory,
    Labs,
    Both,
}

impl ContentType {
    /// Parse `theory`, `labs` or `both`.
    pub fn parse(s: &str) -> Option<ContentType> {
        match s.trim().to_ascii_lowercase().as_str() {
            "theory" => Some(ContentType::Theory),
            "labs" => Some(ContentType::Labs),
            "both" => Some(ContentType::Both),
            _ => None,
        }
    }
    /// The lowercase name.
    pub fn as_str(&self) -> &'static str {
        match self {
            ContentType::Theory => "theory",
            ContentType::Labs => "labs",
            ContentType::Both => "both",
        }
    }
}

/// The request as users send it (execution input, CLI flags). Loosely typed on purpose:
/// `modules_to_generate` may be a list, `"all"` or `"1,3-5"`; everything is checked by
/// normalisation, which reports every problem with its field name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawRequest {
    /// Store key of the outline YAML.
    #[serde(default)]
    pub outline_key: Option<String>,
    /// The course folder: `[a-z0-9][a-z0-9-]{0,62}`.
    #[serde(default)]
    pub project_folder: Option<String>,
    /// `[1, 3, 4]`, `"all"` or `"1,3-5"`; default all.
    #[serde(default)]
    pub modules_to_generate: Option<serde_json::Value>,
    /// Legacy single-module form.
    #[serde(default)]
    pub module_number: Option<serde_json::Value>,
    /// `theory` (default), `labs` or `both`.
    #[serde(default)]
    pub content_type: Option<serde_json::Value>,
    /// Modules processed at once (1..=40); default every selected module, at most 40.
    #[serde(default)]
    pub max_concurrency: Option<serde_json::Value>,
    /// Lessons of one module processed at once (ContentGen's lesson calls and the visual
    /// planning Map; 1..=40); default the largest selected module's lesson count, at most 40.
    #[serde(default)]
    pub lesson_concurrency: Option<serde_json::Value>,
    /// Regenerate even what exists with the same fingerprint.
    #[serde(default)]
    pub force: Option<serde_json::Value>,
}

/// The normalised request every later stage receives (small: numbers and keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub project_folder: String,
    pub outline_key: String,
    /// Selected module numbers, ascending, unique, each within the outline.
    pub modules: Vec<u32>,
    pub content_type: ContentType,
    pub max_concurrency: u32,
    /// Lessons of one module processed at once (see [`RawRequest::lesson_concurrency`]).
    pub lesson_concurrency: u32,
    pub force: bool,
}

/// Upper bound for `max_concurrency` and `lesson_concurrency`: an inline Map runs at most 40
/// iterations at once. Without a value in the request, the concurrency is estimated from the
/// course (every selected module, every lesson of the largest one, up to this bound): the model
/// quota, not the definition, decides how much of that fan-out runs at once.
pub const MAX_MAX_CONCURRENCY: u32 = 40;
