//! The course outline: types, parsing and validation.
//!
//! Parsing collects *every* problem with its path before failing; nothing is written by a
//! stage whose outline does not validate.

use serde::{Deserialize, Serialize};

/// Languages lessons can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    Es,
    Fr,
    De,
    Pt,
    It,
}

impl Language {
    /// All supported languages.
    pub const ALL: [Language; 6] = [Language::En, Language::Es, Language::Fr, Language::De, Language::Pt, Language::It];

    /// The ISO 639-1 code.
    pub fn code(&self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Es => "es",
            Language::Fr => "fr",
            Language::De => "de",
            Language::Pt => "pt",
            Language::It => "it",
        }
    }

    /// Parse an ISO 639-1 code (case-insensitive).
    pub fn from_code(code: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|l| l.code().eq_ignore_ascii_case(code.trim()))
    }

    /// The language's own name, for prompts.
    pub fn name(&self) -> &'static str {
        match self {
            Language::En => "English",
            Language::Es => "Spanish",
            Language::Fr => "French",
            Language::De => "German",
            Language::Pt => "Portuguese",
            Language::It => "Italian",
        }
    }
}

/// A whole outline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outline {
    pub course: Course,
    pub modules: Vec<Module>,
}

/// Course-level facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Course {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub language: Language,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(default)]
    pub audience: Vec<String>,
    #[serde(default)]
    pub prerequisites: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_duration_minutes: Option<u32>,
    #[serde(default)]
    pub learning_outcomes: Vec<String>,
}

/// One module (numbered from 1 in outline order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Module {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_minutes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bloom_level: Option<String>,
    pub lessons: Vec<Lesson>,
}

/// One lesson (numbered from 1 within its module).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lesson {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_minutes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bloom_level: Option<String>,
    #[serde(default)]
    pub topics: Vec<Item>,
    #[serde(default)]
    pub lab_activities: Vec<Item>,
}

/// A topic or a lab activity: written as a plain string or as `{title, duration_minutes, bloom_level}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_minutes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bloom_level: Option<String>,
}

impl Outline {
    /// Module `n` (1-based).
    pub fn module(&self, n: u32) -> Option<&Module> {
        self.modules.get((n as usize).checked_sub(1)?)
    }
    /// Lesson `l` (1-based) of module `m` (1-based).
    pub fn lesson(&self, m: u32, l: u32) -> Option<&Lesson> {
        self.module(m)?.lessons.get((l as usize).checked_sub(1)?)
    }
}

/// Limits enforced on every outline.
pub mod limits {
    /// Largest outline file accepted, in bytes.
    pub const MAX_BYTES: usize = 1024 * 1024;
    pub const MAX_MODULES: usize = 200;
    pub const MAX_LESSONS_PER_MODULE: usize = 50;
    pub const MAX_TOPICS_PER_LESSON: usize = 30;
    pub const MAX_LAB_ACTIVITIES_PER_LESSON: usize = 30;
    pub const MAX_TITLE_CHARS: usize = 200;
    pub const MAX_TEXT_CHARS: usize = 4000;
    pub const MAX_DEPTH: usize = 32;
}
