//! Stage inputs and outputs: what travels in the Step Functions payload (keys and
//! small summaries, never content), and the JSON documents stages leave in the store.
//!
//! Unknown fields are accepted (forward compatibility); required fields are required.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cost::CostReport;
use crate::model::{ModelId, Usage};
use crate::request::{ContentType, RawRequest};

/// PrepareCourse input: the user's request.
pub type PrepareCourseInput = RawRequest;

/// One item of the module fan-out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleItem {
    pub module_number: u32,
    pub lesson_count: u32,
}

/// PrepareCourse output: the normalised request and the module list the Map fans out over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepareCourseOutput {
    pub project_folder: String,
    pub outline_key: String,
    pub request_key: String,
    pub content_type: ContentType,
    pub modules: Vec<ModuleItem>,
    /// Module numbers alone (for the labs branch and BookBuilder).
    pub module_numbers: Vec<u32>,
    /// Modules the Map runs at once.
    pub max_concurrency: u32,
    /// Lessons of one module run at once (ContentGen's calls, the visual planning Map).
    pub lesson_concurrency: u32,
    pub force: bool,
    pub course_title: String,
}

/// ContentGen input: one module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentGenInput {
    pub project_folder: String,
    pub outline_key: String,
    pub module_number: u32,
    #[serde(default)]
    pub force: bool,
    /// Lessons written at once, from the request (PrepareCourse's estimate when it gave none);
    /// absent: every lesson of the module at once. The function's own ceiling
    /// (`Settings::lesson_concurrency`) still applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lesson_concurrency: Option<u32>,
}

/// One written lesson, as ContentGen reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LessonRef {
    pub lesson_number: u32,
    pub title: String,
    pub key: String,
    pub words: u64,
}

/// ContentGen output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentGenOutput {
    pub module_number: u32,
    pub lesson_keys: Vec<String>,
    pub lessons: Vec<LessonRef>,
    /// Lessons whose model call was skipped because a matching output existed.
    #[serde(default)]
    pub reused: u32,
}

/// VisualPlanner input: one lesson.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisualPlannerInput {
    pub project_folder: String,
    pub module_number: u32,
    pub lesson_number: u32,
    pub lesson_key: String,
    #[serde(default)]
    pub force: bool,
}

/// VisualPlanner output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisualPlannerOutput {
    pub lesson_key: String,
    pub prompt_keys: Vec<String>,
    /// How many visuals the lesson has.
    pub visuals: u32,
    /// How many questions the lesson's quiz has (its key is `keys::quiz_key`).
    #[serde(default)]
    pub quiz_questions: u32,
}

/// ImagesGen input: one module, and exactly the prompts to render (never a folder listing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImagesGenInput {
    pub project_folder: String,
    pub module_number: u32,
    pub prompt_keys: Vec<String>,
    #[serde(default)]
    pub force: bool,
}

/// ImagesGen output: visual id → image key for this module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImagesGenOutput {
    pub module_number: u32,
    pub image_mappings: BTreeMap<String, String>,
}

/// LabPlanner input: the selected modules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabPlannerInput {
    pub project_folder: String,
    pub outline_key: String,
    pub modules: Vec<u32>,
    #[serde(default)]
    pub force: bool,
}

/// LabPlanner output: the lab ids the LabWriter Map fans out over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabPlannerOutput {
    pub plan_key: String,
    pub lab_ids: Vec<String>,
}

/// LabWriter input: one lab of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabWriterInput {
    pub project_folder: String,
    pub plan_key: String,
    pub lab_id: String,
    #[serde(default)]
    pub force: bool,
}

/// LabWriter output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabWriterOutput {
    pub lab_id: String,
    pub lab_key: String,
}

/// BookBuilder input: what this execution produced. The book also includes what earlier
/// executions produced for the same course (other modules), found under the course folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookBuilderInput {
    pub project_folder: String,
    pub outline_key: String,
    #[serde(default)]
    pub content_type: ContentType,
    #[serde(default)]
    pub all_lesson_keys: Vec<String>,
    /// One mapping object per module (a *list*: merged, never taken as one object).
    #[serde(default)]
    pub all_image_mappings: Vec<BTreeMap<String, String>>,
    #[serde(default)]
    pub lab_keys: Vec<String>,
    /// The module iterations' results, failed modules included (what their Catch recorded).
    #[serde(default)]
    pub module_results: Vec<ModuleResult>,
    /// The lab iterations' results: a lab id (a string) for a finished lab, a [`TaskFailure`]
    /// object for a lab that failed for good.
    #[serde(default)]
    pub lab_results: Vec<serde_json::Value>,
}

/// What one module iteration of the definition returns: its number and lesson count, or, when
/// a state of the module failed for good, that state, its error and cause (the Catch's record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleResult {
    pub module_number: u32,
    #[serde(default)]
    pub lesson_count: u32,
    /// The state that failed (`ContentGen`, `LessonsMap`, `ImagesGen`); `None` when the module finished.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub cause: Option<String>,
}

/// What the Catch of a lab iteration records when the lab failed for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFailure {
    pub lab_id: String,
    pub state: String,
    pub error: String,
    #[serde(default)]
    pub cause: String,
}

/// BookBuilder output: keys and counts only, never the book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookBuilderOutput {
    pub book_keys: Vec<String>,
    pub manifest_key: String,
    pub module_count: u32,
    pub lesson_count: u32,
    pub word_count: u64,
    pub image_count: u32,
    pub lab_count: u32,
    /// How many expected items are missing (details in the manifest).
    pub failed: u32,
    /// Empty when nothing is missing; else a short account of what is (the failed modules
    /// and labs, where the partial book and the manifest are): the cause of `CourseIncomplete`.
    #[serde(default)]
    pub incomplete: String,
}

/// Sidecar metadata stored at `keys::meta_key(output)` next to every generated output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputMeta {
    pub fingerprint: String,
    pub stage: String,
    pub model: ModelId,
    pub prompt_version: String,
    #[serde(default)]
    pub usage: Usage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub words: Option<u64>,
}

/// How a visual is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VisualKind {
    /// Boxes, arrows, labels, steps: rendered locally as SVG with the exact text.
    Diagram,
    /// Sent to the image model.
    Illustration,
}

/// A diagram's structure: exact labels, rendered deterministically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiagramSpec {
    /// `flow` (left to right with arrows), `steps` (numbered top to bottom), `boxes` (grid).
    pub layout: String,
    pub nodes: Vec<String>,
    /// Edges as (from index, to index, optional label).
    #[serde(default)]
    pub edges: Vec<DiagramEdge>,
}

/// An arrow between two diagram nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiagramEdge {
    pub from: usize,
    pub to: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// One planned visual, stored at `keys::prompt_key`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisualPrompt {
    /// `MM-LL-NN`, unique course-wide.
    pub id: String,
    pub module_number: u32,
    pub lesson_number: u32,
    pub kind: VisualKind,
    pub title: String,
    /// The original `[VISUAL: ...]` description.
    pub description: String,
    /// Alt text for readers who cannot see the image.
    pub alt_text: String,
    /// The image model prompt (illustrations).
    #[serde(default)]
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagram: Option<DiagramSpec>,
    pub fingerprint: String,
}

/// One lab in the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabSpec {
    /// `MM-LL-KK`.
    pub lab_id: String,
    pub module_number: u32,
    pub lesson_number: u32,
    pub index: u32,
    pub title: String,
    pub module_title: String,
    pub lesson_title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_minutes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bloom_level: Option<String>,
    pub objectives: Vec<String>,
    pub prerequisites: Vec<String>,
    /// The lesson's topics, as context for the guide.
    #[serde(default)]
    pub topics: Vec<String>,
    pub lab_key: String,
}

/// The lab plan, stored at `keys::lab_plan_key`; LabPlanner merges the selected modules into it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LabPlan {
    pub labs: Vec<LabSpec>,
    #[serde(default)]
    pub fingerprints: BTreeMap<String, String>,
}

/// `book/manifest.json`: what was made, what it cost, what failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Manifest {
    pub course_title: String,
    pub language: String,
    pub project_folder: String,
    pub modules: Vec<ManifestModule>,
    pub images: Vec<ManifestImage>,
    pub labs: Vec<ManifestLab>,
    pub models: Vec<ModelId>,
    pub usage: Usage,
    /// What the book's content cost, per stage, from the same usage as `usage` (the sidecars'
    /// tokens and images) and the price table. Absent in manifests written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostReport>,
    pub failures: Vec<ManifestFailure>,
    pub totals: ManifestTotals,
    pub book_keys: Vec<String>,
}

/// One module in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestModule {
    pub module_number: u32,
    pub title: String,
    pub lessons: Vec<ManifestLesson>,
}

/// One lesson in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestLesson {
    pub lesson_number: u32,
    pub title: String,
    pub key: String,
    pub words: u64,
    pub visuals: Vec<String>,
    /// The lesson's quiz (`keys::quiz_key`), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiz_key: Option<String>,
}

/// One image in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestImage {
    pub id: String,
    pub key: String,
    pub kind: VisualKind,
}

/// One lab guide in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestLab {
    pub lab_id: String,
    pub title: String,
    pub key: String,
    pub words: u64,
}

/// Something expected that is missing from the book.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestFailure {
    /// `module`, `lesson`, `image`, `lab`.
    pub kind: String,
    pub id: String,
    pub reason: String,
    /// The state that failed for good (`module` and `lab` failures the definition caught).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Its error name (`ModelError`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Totals in the manifest (equal to the counts of the files it lists).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ManifestTotals {
    pub modules: u32,
    pub lessons: u32,
    pub words: u64,
    pub images: u32,
    pub labs: u32,
    /// Quiz questions in the book, all lessons together.
    #[serde(default)]
    pub quiz_questions: u32,
}
