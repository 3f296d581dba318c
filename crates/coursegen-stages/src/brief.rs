//! The structured facts each prompt is rendered from (`TextRequest::brief`). Remote models see
//! the rendered prompt; the offline provider builds its drafts from these.

use serde::{Deserialize, Serialize};

/// Course-level facts every brief carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CourseFacts {
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub level: Option<String>,
    #[serde(default)]
    pub audience: Vec<String>,
    #[serde(default)]
    pub prerequisites: Vec<String>,
}

/// One lesson of the module plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PlanEntry {
    pub lesson_number: u32,
    pub title: String,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub topics: Vec<String>,
}

/// The brief of one lesson (`TextTask::Lesson`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LessonBrief {
    pub language: String,
    pub course: CourseFacts,
    pub module_number: u32,
    pub module_title: String,
    #[serde(default)]
    pub module_summary: Option<String>,
    pub lesson_number: u32,
    pub title: String,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub duration_minutes: Option<u32>,
    #[serde(default)]
    pub bloom_level: Option<String>,
    #[serde(default)]
    pub topics: Vec<String>,
    #[serde(default)]
    pub lab_activities: Vec<String>,
    /// Every lesson of the module: the shared context.
    #[serde(default)]
    pub module_plan: Vec<PlanEntry>,
    pub target_words: u32,
}

/// One visual to plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct VisualToPlan {
    pub index: u32,
    pub description: String,
}

/// The brief of one lesson's visual plan (`TextTask::VisualPlan`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct VisualPlanBrief {
    pub language: String,
    pub course_title: String,
    pub module_number: u32,
    pub module_title: String,
    pub lesson_number: u32,
    pub lesson_title: String,
    pub visuals: Vec<VisualToPlan>,
}

/// One lab to plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LabToPlan {
    pub lab_id: String,
    pub title: String,
    pub module_title: String,
    pub lesson_title: String,
    #[serde(default)]
    pub topics: Vec<String>,
    #[serde(default)]
    pub duration_minutes: Option<u32>,
    #[serde(default)]
    pub bloom_level: Option<String>,
}

/// The brief of a lab plan (`TextTask::LabPlan`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LabPlanBrief {
    pub language: String,
    pub course: CourseFacts,
    pub labs: Vec<LabToPlan>,
}

/// The brief of one lab guide (`TextTask::LabGuide`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LabGuideBrief {
    pub language: String,
    pub course: CourseFacts,
    pub lab_id: String,
    pub title: String,
    pub module_title: String,
    pub lesson_title: String,
    #[serde(default)]
    pub duration_minutes: Option<u32>,
    #[serde(default)]
    pub bloom_level: Option<String>,
    #[serde(default)]
    pub objectives: Vec<String>,
    #[serde(default)]
    pub prerequisites: Vec<String>,
    #[serde(default)]
    pub topics: Vec<String>,
}

impl LabGuideBrief {
    /// The brief of the guide of `spec` (its objectives and prerequisites as the lab plan
    /// gives them), in `language`, for the course `course`.
    pub(crate) fn of(
        spec: &coursegen_core::contracts::LabSpec,
        language: coursegen_core::Language,
        course: CourseFacts,
    ) -> Self {
        Self {
            language: language.code().to_string(),
            course,
            lab_id: spec.lab_id.clone(),
            title: spec.title.clone(),
            module_title: spec.module_title.clone(),
            lesson_title: spec.lesson_title.clone(),
            duration_minutes: spec.duration_minutes,
            bloom_level: spec.bloom_level.clone(),
            objectives: spec.objectives.clone(),
            prerequisites: spec.prerequisites.clone(),
            topics: spec.topics.clone(),
        }
    }
}

impl CourseFacts {
    /// The facts of an outline's course.
    pub fn of(course: &coursegen_core::Course) -> CourseFacts {
        CourseFacts {
            title: course.title.clone(),
            description: course.description.clone(),
            level: course.level.clone(),
            audience: course.audience.clone(),
            prerequisites: course.prerequisites.clone(),
        }
    }
}

/// `a, b, c`, or `fallback` when empty.
pub(crate) fn list_or(items: &[String], fallback: &str) -> String {
    if items.is_empty() {
        fallback.to_string()
    } else {
        items.join(", ")
    }
}

/// The brief of one lesson's quiz (`TextTask::Quiz`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct QuizBrief {
    pub language: String,
    pub course_title: String,
    pub module_number: u32,
    pub module_title: String,
    pub lesson_number: u32,
    pub lesson_title: String,
    /// The lesson's topics from the outline.
    #[serde(default)]
    pub topics: Vec<String>,
    /// Topics of the course's other lessons (wrong options for offline drafts).
    #[serde(default)]
    pub other_topics: Vec<String>,
    /// Titles of the course's other modules.
    #[serde(default)]
    pub other_modules: Vec<String>,
    /// The lesson's text without its figure placeholders.
    pub lesson_text: String,
}
