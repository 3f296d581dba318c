//! BookBuilder: assemble the book from everything the course folder holds for the outline
//! (lessons of every module, so earlier executions count), the merged list of per-module image
//! mappings (defect 4 in ARCHITECTURE.md), and the lab guides; write the three editions and the manifest; return
//! keys and counts only (defect 5 in ARCHITECTURE.md).

use std::collections::{BTreeMap, BTreeSet};

use coursegen_book::{Book, BookAnswer, BookImage, BookLab, BookLesson, BookModule, BookQuestion, BookQuiz};
use coursegen_core::contracts::{
    BookBuilderInput, BookBuilderOutput, Manifest, ManifestFailure, ManifestImage, ManifestLab, ManifestLesson,
    ManifestModule, ManifestTotals, ModuleResult, TaskFailure, VisualKind, VisualPrompt,
};
use coursegen_core::cost::CostLedger;
use coursegen_core::fingerprint::fingerprint;
use coursegen_core::prices::{Prices, STANDARD_QUALITY};
use coursegen_core::quiz::{Question, Quiz};
use coursegen_core::{keys, BlobStore, BlobStoreExt, ContentType, ModelId, Outline, StageError, StageResult, Usage};
use serde_json::{json, Value};

use crate::common::{check_project, clip, find_tags, load_outline, read_meta_value};
use crate::images::IMAGE_EXTENSIONS;
use crate::lang::{fill, phrases, Phrases};
use crate::read_ahead::ReadAhead;
use crate::visuals::PlanRecord;
use crate::{Deps, Settings, Stage};

/// Merge the per-module mappings. The same id mapped to two different keys is an error, and
/// every key must be the image key `keys::image_key` builds for that id in this project.
fn merge_mappings(project: &str, maps: &[BTreeMap<String, String>]) -> StageResult<BTreeMap<String, String>> {
    let mut merged: BTreeMap<String, String> = BTreeMap::new();
    for (i, map) in maps.iter().enumerate() {
        for (id, key) in map {
            let path = format!("all_image_mappings[{i}].{id}");
            if keys::parse_visual_id(id).is_none() {
                return Err(StageError::request(path, format!("{id:?} is not a visual id (MM-LL-NN)")));
            }
            if !IMAGE_EXTENSIONS.iter().any(|ext| keys::image_key(project, id, ext) == *key) {
                return Err(StageError::request(
                    path,
                    format!("{key} is not an image key of {id} in project {project}"),
                ));
            }
            match merged.get(id) {
                Some(existing) if existing != key => {
                    return Err(StageError::request(
                        path,
                        format!("conflicting image mappings for visual {id}: {existing} and {key}"),
                    ));
                }
                Some(_) => {}
                None => {
                    merged.insert(id.clone(), key.clone());
                }
            }
        }
    }
    Ok(merged)
}

/// Usage, costs and models gathered from sidecars. The cost ledger is fed the same usage as
/// the manifest's `usage`, split by the stage and model each sidecar names.
#[derive(Default)]
struct Ledger {
    usage: Usage,
    models: BTreeSet<(String, String)>,
    offline_text: bool,
    cost: CostLedger,
}

impl Ledger {
    /// A sidecar's usage and model; `stage` when the sidecar names none. Returns them.
    fn record(&mut self, meta: &Value, stage: &str) -> Option<(String, ModelId, Usage)> {
        let usage = meta.get("usage").and_then(|u| serde_json::from_value::<Usage>(u.clone()).ok());
        if let Some(u) = &usage {
            self.usage.add(u);
        }
        let model = meta.get("model").and_then(|m| serde_json::from_value::<ModelId>(m.clone()).ok());
        if let Some(m) = &model {
            self.models.insert((m.provider.clone(), m.model.clone()));
        }
        let stage = meta.get("stage").and_then(Value::as_str).unwrap_or(stage).to_string();
        Some((stage, model?, usage?))
    }

    /// A text output's sidecar (a lesson, a lab guide, the lab plan), with the visual plan
    /// record a lesson's sidecar carries.
    fn record_text(&mut self, meta: &Value, stage: &str) {
        if let Some((stage, model, usage)) = self.record(meta, stage) {
            self.cost.add_text(&stage, &model, &usage);
        }
        if meta.get("model").and_then(|m| m.get("provider")).and_then(Value::as_str) == Some("offline") {
            self.offline_text = true;
        }
        if let Some(plan) = PlanRecord::in_sidecar(meta) {
            self.usage.add(&plan.usage);
            self.cost.add_text(Stage::VisualPlanner.name(), &plan.model, &plan.usage);
            self.models.insert((plan.model.provider, plan.model.model));
        }
    }

    /// An image's sidecar: each model call made one image, priced at the image's size (read
    /// from the PNG itself, else the size the stages ask for) and the quality the providers ask
    /// for. Diagrams are drawn locally and record no call.
    fn record_image(&mut self, meta: &Value, bytes: &[u8], requested: (u32, u32)) {
        if let Some((stage, model, usage)) = self.record(meta, Stage::ImagesGen.name()) {
            let (w, h) = png_size(bytes).unwrap_or(requested);
            self.cost.add_images(&stage, &model, usage.calls, w, h, STANDARD_QUALITY);
            if usage.input_tokens > 0 || usage.output_tokens > 0 {
                self.cost.add_text(&stage, &model, &Usage { calls: 0, ..usage });
            }
        }
    }
}

/// Width and height from a PNG's header (`IHDR`, right after the signature).
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes(bytes[16..20].try_into().ok()?);
    let h = u32::from_be_bytes(bytes[20..24].try_into().ok()?);
    (w > 0 && h > 0).then_some((w, h))
}

async fn read_text(store: &dyn BlobStore, key: &str) -> StageResult<Option<String>> {
    match store.get(key).await? {
        None => Ok(None),
        Some(bytes) => {
            String::from_utf8(bytes).map(Some).map_err(|e| StageError::store(key, format!("not UTF-8: {e}")))
        }
    }
}

fn failure(kind: &str, id: impl Into<String>, reason: impl Into<String>) -> ManifestFailure {
    ManifestFailure { kind: kind.to_string(), id: id.into(), reason: reason.into(), state: None, error: None }
}

/// The readable part of a Catch's cause: Lambda's `{"errorType", "errorMessage"}` gives its
/// message; anything else is taken as it is. One line, clipped.
fn readable_cause(cause: &str) -> String {
    let message = serde_json::from_str::<Value>(cause)
        .ok()
        .and_then(|v| v.get("errorMessage").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| cause.to_string());
    clip(&message.split_whitespace().collect::<Vec<_>>().join(" "), 300)
}

/// Why a part failed, as the Catch recorded it: `ModelError: the answer was blocked ...`.
fn caught_reason(error: &str, cause: &str) -> String {
    let cause = readable_cause(cause);
    if cause.is_empty() {
        error.to_string()
    } else {
        format!("{error}: {cause}")
    }
}

/// Backslash-escapes the characters that mean something inside a Markdown paragraph, so an
/// error message stays plain text in the book.
fn markdown_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\`*_[]<>!|~&#".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A lesson's or lab's stand-in: its title marked "not generated" (so the contents say so)
/// and a note saying why, where the text would stand.
fn stand_in(phrases: &Phrases, title: &str, reason: &str) -> (String, String) {
    let note = fill(phrases.not_generated_note, &[("reason", &markdown_text(reason))]);
    (format!("{title} ({})", phrases.not_generated), format!("> {note}\n"))
}

/// The failures the definition's Catch recorded: failed modules by number, failed labs by id.
fn caught_failures(input: &BookBuilderInput) -> (BTreeMap<u32, ModuleResult>, BTreeMap<String, TaskFailure>) {
    let modules = input
        .module_results
        .iter()
        .filter(|r| r.state.is_some() || r.error.is_some())
        .map(|r| (r.module_number, r.clone()))
        .collect();
    let labs = input
        .lab_results
        .iter()
        .filter_map(|v| serde_json::from_value::<TaskFailure>(v.clone()).ok())
        .map(|f| (f.lab_id.clone(), f))
        .collect();
    (modules, labs)
}

/// The modules this execution was asked for: the normalised request's, else those the lesson
/// keys name, else all.
fn selected_modules(
    project: &str,
    outline: &Outline,
    request: Option<&coursegen_core::Request>,
    lesson_keys: &[String],
) -> BTreeSet<u32> {
    if let Some(r) = request {
        return r.modules.iter().copied().collect();
    }
    let named: BTreeSet<u32> = outline
        .modules
        .iter()
        .enumerate()
        .filter(|(mi, module)| {
            module.lessons.iter().enumerate().any(|(li, lesson)| {
                lesson_keys.contains(&keys::lesson_key(project, *mi as u32 + 1, li as u32 + 1, &lesson.title))
            })
        })
        .map(|(mi, _)| mi as u32 + 1)
        .collect();
    if named.is_empty() {
        (1..=outline.modules.len() as u32).collect()
    } else {
        named
    }
}

/// What the book is built for: the outline, the merged image mappings and what was asked.
struct Plan {
    outline: Outline,
    mappings: BTreeMap<String, String>,
    selected: BTreeSet<u32>,
    wants_theory: bool,
    wants_labs: bool,
    /// Modules whose iteration failed for good, as the Catch recorded them.
    failed_modules: BTreeMap<u32, ModuleResult>,
    /// Labs whose iteration failed for good.
    failed_labs: BTreeMap<String, TaskFailure>,
    /// The size the stages ask image models for (an image whose own size cannot be read is
    /// priced at this size).
    image_size: (u32, u32),
}

/// Read the outline and the normalised request and work out what the book must contain.
async fn plan(input: &BookBuilderInput, store: &dyn BlobStore, settings: &Settings) -> StageResult<Plan> {
    let project = input.project_folder.as_str();
    let outline = load_outline(store, &input.outline_key).await?;
    let mappings = merge_mappings(project, &input.all_image_mappings)?;
    let request: Option<coursegen_core::Request> = match store.get(&keys::request_key(project)).await? {
        Some(bytes) => serde_json::from_slice(&bytes).ok(),
        None => None,
    };
    let content_type = request.as_ref().map(|r| r.content_type).unwrap_or(input.content_type);
    let mut selected = selected_modules(project, &outline, request.as_ref(), &input.all_lesson_keys);
    // A module this execution ran (failed ones included) was asked for.
    selected.extend(input.module_results.iter().map(|r| r.module_number));
    let (failed_modules, failed_labs) = caught_failures(input);
    Ok(Plan {
        outline,
        mappings,
        selected,
        failed_modules,
        failed_labs,
        image_size: (settings.image_width, settings.image_height),
        wants_theory: matches!(content_type, ContentType::Theory | ContentType::Both),
        wants_labs: matches!(content_type, ContentType::Labs | ContentType::Both),
    })
}

/// Everything gathered while walking the course folder, in outline order.
#[derive(Default)]
struct Gathered {
    ledger: Ledger,
    failures: Vec<ManifestFailure>,
    modules: Vec<BookModule>,
    manifest_modules: Vec<ManifestModule>,
    images: BTreeMap<String, BookImage>,
    manifest_images: Vec<ManifestImage>,
    labs: Vec<BookLab>,
    manifest_labs: Vec<ManifestLab>,
    /// The inputs the EPUB's modification time is derived from.
    digest: Vec<Value>,
}

impl Gathered {
    /// Every lesson of the outline that exists, with its images.
    async fn lessons(&mut self, store: &dyn BlobStore, project: &str, plan: &Plan) -> StageResult<()> {
        let mut seen_ids = BTreeSet::new();
        let phrases = phrases(plan.outline.course.language);
        for (mi, module) in plan.outline.modules.iter().enumerate() {
            let m = mi as u32 + 1;
            let expected = plan.wants_theory && plan.selected.contains(&m);
            let caught = plan.failed_modules.get(&m).filter(|_| expected);
            if let Some(f) = caught {
                let state = f.state.clone().unwrap_or_default();
                let error = f.error.clone().unwrap_or_default();
                self.failures.push(ManifestFailure {
                    reason: format!("{state} failed: {}", caught_reason(&error, f.cause.as_deref().unwrap_or(""))),
                    state: Some(state),
                    error: Some(error),
                    ..failure("module", format!("{m:02}"), "")
                });
            }
            let mut lessons = Vec::new();
            let mut manifest_lessons = Vec::new();
            for (li, lesson) in module.lessons.iter().enumerate() {
                let l = li as u32 + 1;
                let key = keys::lesson_key(project, m, l, &lesson.title);
                let Some(markdown) = read_text(store, &key).await? else {
                    if expected {
                        let why = match caught {
                            Some(f) => {
                                caught_reason(f.error.as_deref().unwrap_or(""), f.cause.as_deref().unwrap_or(""))
                            }
                            None => format!("expected at {key}, not found"),
                        };
                        let (title, note) = stand_in(phrases, &lesson.title, &why);
                        let reason = if caught.is_some() { format!("not generated: {why}") } else { why };
                        self.digest.push(json!([key, note]));
                        lessons.push(BookLesson { module_number: m, number: l, title, markdown: note, quiz: None });
                        self.failures.push(failure("lesson", format!("{m:02}-{l:02}"), reason));
                    }
                    continue;
                };
                if let Some(meta) = read_meta_value(store, &key).await? {
                    self.ledger.record_text(&meta, Stage::ContentGen.name());
                }
                self.unplanned_tags(m, l, &markdown);
                let ids: Vec<String> = coursegen_book::visual_ids(&markdown)
                    .into_iter()
                    .filter(|id| keys::parse_visual_id(id).is_some())
                    .collect();
                for id in ids.iter().filter(|id| seen_ids.insert((*id).clone())) {
                    self.image(store, project, id, plan.mappings.get(id), plan.image_size).await?;
                }
                let quiz = self.quiz(store, project, m, l).await?;
                let words = coursegen_book::word_count(&markdown);
                self.digest.push(json!([key, markdown]));
                manifest_lessons.push(ManifestLesson {
                    lesson_number: l,
                    title: lesson.title.clone(),
                    key,
                    words,
                    visuals: ids,
                    quiz_key: quiz.as_ref().map(|_| keys::quiz_key(project, m, l)),
                });
                lessons.push(BookLesson { module_number: m, number: l, title: lesson.title.clone(), markdown, quiz });
            }
            if !lessons.is_empty() {
                self.modules.push(BookModule {
                    number: m,
                    title: module.title.clone(),
                    summary: module.summary.clone(),
                    lessons,
                });
            }
            if !manifest_lessons.is_empty() {
                self.manifest_modules.push(ManifestModule {
                    module_number: m,
                    title: module.title.clone(),
                    lessons: manifest_lessons,
                });
            }
        }
        Ok(())
    }

    /// The quiz of lesson `m`-`l` for the book (its cost recorded); a failure when it is
    /// missing or unreadable.
    async fn quiz(&mut self, store: &dyn BlobStore, project: &str, m: u32, l: u32) -> StageResult<Option<BookQuiz>> {
        let key = keys::quiz_key(project, m, l);
        let Some(body) = read_text(store, &key).await? else {
            self.failures.push(failure("quiz", format!("{m:02}-{l:02}"), format!("expected at {key}, not found")));
            return Ok(None);
        };
        let quiz: Quiz = match serde_json::from_str(&body) {
            Ok(q) => q,
            Err(e) => {
                self.failures.push(failure("quiz", format!("{m:02}-{l:02}"), format!("{key} is not a quiz: {e}")));
                return Ok(None);
            }
        };
        if let Some(meta) = read_meta_value(store, &key).await? {
            self.ledger.record_text(&meta, Stage::VisualPlanner.name());
        }
        self.digest.push(json!([key, body]));
        let questions = quiz
            .questions
            .into_iter()
            .map(|q| {
                let answer = match &q {
                    Question::Choice { options, answer, .. } => {
                        BookAnswer::Choice { options: options.clone(), correct: *answer }
                    }
                    Question::TrueFalse { answer, .. } => BookAnswer::TrueFalse(*answer),
                    Question::Short { answers, .. } => BookAnswer::Short(answers.clone()),
                };
                BookQuestion { prompt: q.prompt().to_string(), answer, explanation: q.explanation().to_string() }
            })
            .collect();
        Ok(Some(BookQuiz { questions }))
    }

    /// A failure for every tag of lesson `m`-`l` that VisualPlanner has not rewritten to an id.
    fn unplanned_tags(&mut self, m: u32, l: u32, markdown: &str) {
        for tag in find_tags(markdown) {
            if keys::parse_visual_id(&tag.content).is_none() {
                self.failures.push(failure(
                    "image",
                    format!("{m:02}-{l:02}"),
                    format!("visual not planned yet: {}", crate::common::clip(&tag.content, 80)),
                ));
            }
        }
    }

    /// The image of visual `id`, or a failure naming why it is missing.
    async fn image(
        &mut self,
        store: &dyn BlobStore,
        project: &str,
        id: &str,
        mapped: Option<&String>,
        requested_size: (u32, u32),
    ) -> StageResult<()> {
        match load_image(store, project, id, mapped, requested_size, &mut self.ledger).await? {
            Ok(LoadedImage { image, kind, key }) => {
                self.digest.push(json!([key, fingerprint(&json!(image.bytes.len())), image.alt, image.caption]));
                self.manifest_images.push(ManifestImage { id: id.to_string(), key, kind });
                self.images.insert(id.to_string(), image);
            }
            Err(missing) => self.failures.push(failure("image", id, missing.to_string())),
        }
        Ok(())
    }

    /// Every lab guide of the outline that exists; the lab plan's cost when there is one.
    async fn labs(&mut self, store: &dyn BlobStore, project: &str, plan: &Plan) -> StageResult<()> {
        let phrases = phrases(plan.outline.course.language);
        for (mi, module) in plan.outline.modules.iter().enumerate() {
            let m = mi as u32 + 1;
            for (li, lesson) in module.lessons.iter().enumerate() {
                let l = li as u32 + 1;
                for (ki, activity) in lesson.lab_activities.iter().enumerate() {
                    let k = ki as u32 + 1;
                    let lab_id = keys::lab_id(m, l, k);
                    let key = keys::lab_key(project, m, l, k, &activity.title);
                    let Some(markdown) = read_text(store, &key).await? else {
                        if plan.wants_labs && plan.selected.contains(&m) {
                            let caught = plan.failed_labs.get(&lab_id);
                            let why = match caught {
                                Some(f) => caught_reason(&f.error, &f.cause),
                                None => format!("expected at {key}, not found"),
                            };
                            let (title, note) = stand_in(phrases, &activity.title, &why);
                            let reason = if caught.is_some() { format!("not generated: {why}") } else { why };
                            self.digest.push(json!([key, note]));
                            self.labs.push(BookLab { lab_id: lab_id.clone(), module_number: m, title, markdown: note });
                            self.failures.push(ManifestFailure {
                                state: caught.map(|f| f.state.clone()),
                                error: caught.map(|f| f.error.clone()),
                                ..failure("lab", lab_id, reason)
                            });
                        }
                        continue;
                    };
                    if let Some(meta) = read_meta_value(store, &key).await? {
                        self.ledger.record_text(&meta, Stage::LabWriter.name());
                    }
                    self.digest.push(json!([key, markdown]));
                    self.manifest_labs.push(ManifestLab {
                        lab_id: lab_id.clone(),
                        title: activity.title.clone(),
                        key,
                        words: coursegen_book::word_count(&markdown),
                    });
                    self.labs.push(BookLab { lab_id, module_number: m, title: activity.title.clone(), markdown });
                }
            }
        }
        if !self.labs.is_empty() {
            if let Some(meta) = read_meta_value(store, &keys::lab_plan_key(project)).await? {
                self.ledger.record_text(&meta, Stage::LabPlanner.name());
            }
        }
        Ok(())
    }
}

/// Build the book. Everything expected but missing is listed in the manifest's
/// failures and counted in `failed`; the stage itself fails only on invalid input or store errors.
pub async fn book_builder(input: BookBuilderInput, deps: &Deps) -> StageResult<BookBuilderOutput> {
    let project = input.project_folder.as_str();
    check_project(project)?;
    let store = deps.store.as_ref();
    let plan = plan(&input, store, &deps.settings).await?;
    let ahead = ReadAhead::new(store);
    read_ahead(&ahead, project, &plan).await?;
    let mut gathered = Gathered::default();
    gathered.lessons(&ahead, project, &plan).await?;
    gathered.labs(store, project, &plan).await?;
    let (book_keys, manifest) = write_book(store, project, &plan.outline, gathered, &deps.settings.prices).await?;
    let manifest_key = keys::book_manifest_key(project);
    store.put_json(&manifest_key, &manifest).await?;
    let totals = &manifest.totals;
    tracing::info!(
        project,
        modules = totals.modules,
        lessons = totals.lessons,
        images = totals.images,
        labs = totals.labs,
        failed = manifest.failures.len(),
        "book built"
    );
    let incomplete = incomplete_summary(&manifest.failures, project);
    Ok(BookBuilderOutput {
        book_keys,
        manifest_key,
        module_count: totals.modules,
        lesson_count: totals.lessons,
        word_count: totals.words,
        image_count: totals.images,
        lab_count: totals.labs,
        failed: manifest.failures.len() as u32,
        incomplete,
    })
}

/// The module a failure belongs to: the first two digits of its id (`03`, `03-02`,
/// `03-02-01`).
fn failure_module(f: &ManifestFailure) -> Option<u32> {
    f.id.get(..2).and_then(|m| m.parse().ok())
}

/// The cause of `CourseIncomplete`: every module with something missing, why when a state
/// failed for good, and where the partial book and the manifest are. Empty when complete.
fn incomplete_summary(failures: &[ManifestFailure], project: &str) -> String {
    if failures.is_empty() {
        return String::new();
    }
    let mut by_module: BTreeMap<Option<u32>, Vec<&ManifestFailure>> = BTreeMap::new();
    for f in failures {
        by_module.entry(failure_module(f)).or_default().push(f);
    }
    let parts: Vec<String> = by_module
        .iter()
        .map(|(m, fs)| {
            let name = m.map(|m| format!("module {m}")).unwrap_or_else(|| "course".to_string());
            let caught: Vec<String> = fs
                .iter()
                .filter(|f| f.state.is_some())
                .map(|f| match f.kind.as_str() {
                    "module" => clip(&f.reason, 240),
                    _ => format!("{} {}: {}", f.kind, f.id, clip(&f.reason, 200)),
                })
                .collect();
            let missing = fs.iter().filter(|f| f.kind != "module").count();
            let mut text = format!("{name}: {missing} item(s) missing");
            if !caught.is_empty() {
                text.push_str(&format!(" ({})", caught.join("; ")));
            }
            text
        })
        .collect();
    let modules: Vec<String> = by_module.keys().flatten().map(u32::to_string).collect();
    clip(
        &format!(
            "the book is incomplete: module(s) {} not complete. {}. Partial book: {}; failures listed in {}",
            if modules.is_empty() { "none".to_string() } else { modules.join(", ") },
            parts.join("; "),
            keys::book_html_key(project),
            keys::book_manifest_key(project)
        ),
        4000,
    )
}

/// Render and store the three editions; the manifest describing them (not yet stored).
async fn write_book(
    store: &dyn BlobStore,
    project: &str,
    outline: &Outline,
    gathered: Gathered,
    prices: &Prices,
) -> StageResult<(Vec<String>, Manifest)> {
    let Gathered {
        ledger,
        mut failures,
        modules,
        manifest_modules,
        images,
        mut manifest_images,
        labs,
        manifest_labs,
        digest,
    } = gathered;
    let mut book = Book {
        title: outline.course.title.clone(),
        description: outline.course.description.clone(),
        language: outline.course.language.code().to_string(),
        level: outline.course.level.clone(),
        audience: outline.course.audience.clone(),
        prerequisites: outline.course.prerequisites.clone(),
        learning_outcomes: outline.course.learning_outcomes.clone(),
        notice: ledger.offline_text.then(|| phrases(outline.course.language).notice.to_string()),
        modules,
        labs,
        images,
        identifier: format!("urn:coursegen:{project}"),
        modified: modified_time(&digest),
    };
    let Editions { markdown, html, epub, gift, scorm } =
        render_editions_dropping_bad_images(&mut book, &mut manifest_images, &mut failures)?;

    let (md_key, html_key, epub_key) =
        (keys::book_md_key(project), keys::book_html_key(project), keys::book_epub_key(project));
    // The learners' exports beside the book: every quiz for Moodle, and the LMS package.
    let (gift_key, scorm_key) = (keys::book_gift_key(project), keys::book_scorm_key(project));
    let has_gift = gift.is_some();
    futures::try_join!(
        store.put(&md_key, markdown.into_bytes(), "text/markdown; charset=utf-8"),
        store.put(&html_key, html.into_bytes(), "text/html; charset=utf-8"),
        store.put(&epub_key, epub, "application/epub+zip"),
        store.put(&scorm_key, scorm, "application/zip"),
        async {
            // A course without quizzes (labs only) has no GIFT file.
            match gift {
                Some(gift) => store.put(&gift_key, gift.into_bytes(), "text/plain; charset=utf-8").await,
                None => Ok(()),
            }
        },
    )?;
    let mut book_keys = vec![html_key, epub_key, md_key];
    if has_gift {
        book_keys.push(gift_key);
    }
    book_keys.push(scorm_key);

    let totals = ManifestTotals {
        modules: manifest_modules.len() as u32,
        lessons: manifest_modules.iter().map(|m| m.lessons.len() as u32).sum(),
        words: manifest_modules.iter().flat_map(|m| &m.lessons).map(|l| l.words).sum(),
        images: manifest_images.len() as u32,
        labs: manifest_labs.len() as u32,
        quiz_questions: book
            .modules
            .iter()
            .flat_map(|m| &m.lessons)
            .filter_map(|l| l.quiz.as_ref())
            .map(|q| q.questions.len() as u32)
            .sum(),
    };
    let manifest = Manifest {
        course_title: outline.course.title.clone(),
        language: outline.course.language.code().to_string(),
        project_folder: project.to_string(),
        modules: manifest_modules,
        images: manifest_images,
        labs: manifest_labs,
        models: ledger.models.iter().map(|(p, m)| ModelId { provider: p.clone(), model: m.clone() }).collect(),
        usage: ledger.usage,
        cost: Some(ledger.cost.report(prices)),
        failures,
        totals,
        book_keys: book_keys.clone(),
    };
    Ok((book_keys, manifest))
}

/// A found image: the book's copy, its kind and the key it was read from.
struct LoadedImage {
    image: BookImage,
    kind: VisualKind,
    key: String,
}

/// Why a visual has no image.
#[derive(Debug, thiserror::Error)]
enum MissingImage {
    /// The mapping names a key that does not exist.
    #[error("mapped to {0}, which does not exist")]
    MappedKeyAbsent(String),
    /// No mapping, and no image under any known extension.
    #[error("no image was rendered for this visual")]
    NotRendered,
}

/// Reads ahead, concurrently, what [`Gathered::lessons`] reads one object after another: every
/// lesson of the outline with its sidecar and quiz, then every picture those lessons name with
/// its sidecar and prompt.
async fn read_ahead(ahead: &ReadAhead<'_>, project: &str, plan: &Plan) -> StageResult<()> {
    let mut lesson_keys = Vec::new();
    for (mi, module) in plan.outline.modules.iter().enumerate() {
        for (li, lesson) in module.lessons.iter().enumerate() {
            let (m, l) = (mi as u32 + 1, li as u32 + 1);
            lesson_keys.push((keys::lesson_key(project, m, l, &lesson.title), keys::quiz_key(project, m, l)));
        }
    }
    ahead
        .fetch(
            lesson_keys.iter().flat_map(|(lesson, quiz)| {
                [lesson.clone(), keys::meta_key(lesson), quiz.clone(), keys::meta_key(quiz)]
            }),
        )
        .await?;
    let mut picture_keys = Vec::new();
    for (lesson, _) in &lesson_keys {
        let Some(markdown) = ahead.peek(lesson) else { continue };
        for id in coursegen_book::visual_ids(&String::from_utf8_lossy(&markdown)) {
            let Some((m, l, n)) = keys::parse_visual_id(&id) else { continue };
            for key in image_candidates(project, &id, plan.mappings.get(&id)) {
                picture_keys.push(keys::meta_key(&key));
                picture_keys.push(key);
            }
            picture_keys.push(keys::prompt_key(project, m, l, n));
        }
    }
    ahead.fetch(picture_keys).await
}

/// Where an image may be: the mapped key, else `keys::image_key` with each known extension.
fn image_candidates(project: &str, id: &str, mapped: Option<&String>) -> Vec<String> {
    match mapped {
        Some(key) => vec![key.clone()],
        None => IMAGE_EXTENSIONS.iter().map(|ext| keys::image_key(project, id, ext)).collect(),
    }
}

/// Load one image: the mapped key, else the first existing `keys::image_key` with a known
/// extension. `Ok(Err(why))` when it cannot be found.
async fn load_image(
    store: &dyn BlobStore,
    project: &str,
    id: &str,
    mapped: Option<&String>,
    requested_size: (u32, u32),
    ledger: &mut Ledger,
) -> StageResult<Result<LoadedImage, MissingImage>> {
    let mut found = None;
    for key in image_candidates(project, id, mapped) {
        if let Some(bytes) = store.get(&key).await? {
            found = Some((key, bytes));
            break;
        }
    }
    let Some((key, bytes)) = found else {
        return Ok(Err(match mapped {
            Some(k) => MissingImage::MappedKeyAbsent(k.clone()),
            None => MissingImage::NotRendered,
        }));
    };
    if let Some(meta) = read_meta_value(store, &key).await? {
        ledger.record_image(&meta, &bytes, requested_size);
    }
    let svg = key.ends_with(".svg");
    let prompt: Option<VisualPrompt> = match keys::parse_visual_id(id) {
        Some((m, l, n)) => store.get_json(&keys::prompt_key(project, m, l, n)).await.ok().flatten(),
        None => None,
    };
    let kind =
        prompt.as_ref().map(|p| p.kind).unwrap_or(if svg { VisualKind::Diagram } else { VisualKind::Illustration });
    let alt =
        prompt.as_ref().map(|p| p.alt_text.clone()).filter(|a| !a.trim().is_empty()).unwrap_or_else(|| id.to_string());
    let caption = prompt.as_ref().map(|p| p.title.clone()).unwrap_or_default();
    let href = format!("../{}", key.strip_prefix(&format!("{project}/")).unwrap_or(&key));
    let image = BookImage {
        id: id.to_string(),
        href,
        content_type: if svg { "image/svg+xml".into() } else { "image/png".into() },
        bytes,
        alt,
        caption,
    };
    Ok(Ok(LoadedImage { image, kind, key }))
}

/// The book's editions, rendered.
struct Editions {
    markdown: String,
    html: String,
    epub: Vec<u8>,
    gift: Option<String>,
    scorm: Vec<u8>,
}

/// Render every edition side by side (the packages copy every picture, the bulk of a large
/// course's book time). A picture the packages would refuse (`coursegen_book::image_problem`,
/// the same check they make) is dropped from the book first and listed as a failure, rather
/// than failing the whole book.
fn render_editions_dropping_bad_images(
    book: &mut Book,
    manifest_images: &mut Vec<ManifestImage>,
    failures: &mut Vec<ManifestFailure>,
) -> StageResult<Editions> {
    let refused: Vec<(String, String)> = book
        .images
        .iter()
        .filter_map(|(id, image)| coursegen_book::image_problem(image).map(|why| (id.clone(), why)))
        .collect();
    for (id, message) in refused {
        book.images.remove(&id);
        manifest_images.retain(|i| i.id != id);
        failures.push(failure("image", id, format!("unusable image: {message}")));
    }
    let book: &Book = book;
    let (markdown, html, epub, gift, scorm) = std::thread::scope(|s| {
        let markdown = s.spawn(|| coursegen_book::render_markdown(book));
        let html = s.spawn(|| coursegen_book::render_html(book));
        let scorm = s.spawn(|| coursegen_book::render_scorm12(book, coursegen_core::quiz::PASS_MARK));
        let epub = coursegen_book::render_epub(book);
        let gift = coursegen_book::render_gift(book);
        (markdown.join(), html.join(), epub, gift, scorm.join())
    });
    let panicked = |edition: &str| StageError::Internal(format!("rendering the {edition} panicked"));
    let (markdown, html) = (markdown.map_err(|_| panicked("Markdown"))?, html.map_err(|_| panicked("HTML"))?);
    let scorm = scorm
        .map_err(|_| panicked("SCORM package"))?
        .map_err(|e| StageError::Internal(format!("SCORM packaging failed: {e}")))?;
    let epub = epub.map_err(|e| StageError::Internal(format!("cannot package the EPUB: {e}")))?;
    Ok(Editions { markdown, html, epub, gift, scorm })
}

/// A fixed modification time derived from the book's inputs: same inputs, same EPUB bytes.
fn modified_time(digest: &[Value]) -> String {
    let fp = fingerprint(&Value::Array(digest.to_vec()));
    let n = u64::from_str_radix(fp.get(..12).unwrap_or("0"), 16).unwrap_or(0);
    const START: u64 = 1_577_836_800; // 2020-01-01T00:00:00Z
    const SPAN: u64 = 10 * 365 * 86_400;
    coursegen_book::rfc3339_from_unix(START + n % SPAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates_are_civil_dates() {
        assert_eq!(coursegen_book::rfc3339_from_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(coursegen_book::rfc3339_from_unix(1_577_836_800), "2020-01-01T00:00:00Z");
        assert_eq!(coursegen_book::rfc3339_from_unix(1_709_210_096), "2024-02-29T12:34:56Z");
    }

    #[test]
    fn png_sizes_come_from_the_header_and_anything_else_has_none() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&1280u32.to_be_bytes());
        png.extend_from_slice(&720u32.to_be_bytes());
        assert_eq!(png_size(&png), Some((1280, 720)));
        assert_eq!(png_size(&png[..20]), None);
        assert_eq!(png_size(b"<svg xmlns='http://www.w3.org/2000/svg'></svg>"), None);
    }

    #[test]
    fn mappings_merge_and_conflicts_are_rejected() {
        let a = BTreeMap::from([("01-01-01".to_string(), keys::image_key("p", "01-01-01", "svg"))]);
        let b = BTreeMap::from([("02-01-01".to_string(), keys::image_key("p", "02-01-01", "png"))]);
        assert_eq!(merge_mappings("p", &[a.clone(), b, a.clone()]).unwrap().len(), 2);
        let c = BTreeMap::from([("01-01-01".to_string(), keys::image_key("p", "01-01-01", "png"))]);
        let err = merge_mappings("p", &[a, c]).unwrap_err();
        assert_eq!(err.error_type(), "InvalidRequest");
        assert!(err.to_string().contains("conflicting"));
        let foreign = BTreeMap::from([("01-01-01".to_string(), "q/images/module-01/01-01-01.svg".to_string())]);
        assert!(merge_mappings("p", &[foreign]).is_err());
    }
}
