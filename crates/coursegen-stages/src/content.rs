//! ContentGen: one module's lessons, one model call per lesson, run concurrently (bounded) with
//! the module plan as shared context.

use coursegen_core::contracts::{ContentGenInput, ContentGenOutput, LessonRef};
use coursegen_core::fingerprint::{fingerprint, PROMPT_VERSION};
use coursegen_core::{keys, Language, Outline, StageError, StageResult, TextRequest, TextTask};
use futures::stream::{self, StreamExt};
use serde_json::json;

use crate::brief::{list_or, CourseFacts, LessonBrief, PlanEntry};
use crate::common::{
    call_with_repair, check_module, check_project, find_tags, is_fresh, lesson_subject, load_outline, model_json,
    new_meta, put_with_meta, read_meta, replace_tags,
};
use crate::Deps;

const STAGE: &str = "ContentGen";
/// Fewest `[VISUAL: ...]` tags a lesson must carry.
pub(crate) const MIN_VISUALS: usize = 3;

/// Write one module's lessons. Lessons whose file and sidecar record the same fingerprint are
/// reused without a model call unless `force`; lesson keys come back in lesson order. Any lesson
/// that fails makes the stage raise (lessons already written stay, so a retry only redoes the
/// rest); when several fail, a retryable error is raised in preference to a permanent one, so
/// Step Functions retries the module while one of its failures may still pass.
pub async fn content_gen(input: ContentGenInput, deps: &Deps) -> StageResult<ContentGenOutput> {
    check_project(&input.project_folder)?;
    let outline = load_outline(deps.store.as_ref(), &input.outline_key).await?;
    let module = check_module(&outline, input.module_number)?;
    let plan = module_plan(module);
    let asked = input.lesson_concurrency.map_or(usize::MAX, |n| n as usize);
    let concurrency = deps.settings.lesson_concurrency.min(asked).max(1);
    let jobs = (1..=module.lessons.len() as u32).map(|l| lesson_job(&input, &outline, &plan, l, deps));
    let mut results: Vec<(u32, StageResult<(LessonRef, bool)>)> =
        stream::iter(jobs).buffer_unordered(concurrency).collect().await;
    results.sort_by_key(|(l, _)| *l);

    let mut lessons = Vec::with_capacity(results.len());
    let mut reused = 0;
    let mut errors = Vec::new();
    for (_, result) in results {
        match result {
            Ok((lesson, was_reused)) => {
                reused += u32::from(was_reused);
                lessons.push(lesson);
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.len() > 1 {
        let all: Vec<String> = errors.iter().map(|e| format!("{}: {e}", e.error_type())).collect();
        tracing::warn!(module = input.module_number, failed = errors.len(), errors = ?all, "lessons failed");
    }
    if let Some(e) = StageError::prefer_retryable(errors) {
        return Err(e);
    }
    Ok(ContentGenOutput {
        module_number: input.module_number,
        lesson_keys: lessons.iter().map(|l| l.key.clone()).collect(),
        lessons,
        reused,
    })
}

/// The brief of lesson `lesson_number` of module `m`: what its prompt is rendered from.
pub(crate) fn lesson_brief(
    outline: &Outline,
    module: &coursegen_core::Module,
    m: u32,
    lesson: &coursegen_core::Lesson,
    lesson_number: u32,
    plan: &[PlanEntry],
) -> LessonBrief {
    LessonBrief {
        language: outline.course.language.code().to_string(),
        course: CourseFacts::of(&outline.course),
        module_number: m,
        module_title: module.title.clone(),
        module_summary: module.summary.clone(),
        lesson_number,
        title: lesson.title.clone(),
        summary: lesson.summary.clone(),
        duration_minutes: lesson.duration_minutes,
        bloom_level: lesson.bloom_level.clone(),
        topics: lesson.topics.iter().map(|t| t.title.clone()).collect(),
        lab_activities: lesson.lab_activities.iter().map(|t| t.title.clone()).collect(),
        module_plan: plan.to_vec(),
        target_words: target_words(lesson.duration_minutes, lesson.bloom_level.as_deref()),
    }
}

/// The module plan every lesson prompt of `module` carries as shared context.
pub(crate) fn module_plan(module: &coursegen_core::Module) -> Vec<PlanEntry> {
    module
        .lessons
        .iter()
        .enumerate()
        .map(|(i, l)| PlanEntry {
            lesson_number: i as u32 + 1,
            title: l.title.clone(),
            summary: l.summary.clone(),
            topics: l.topics.iter().map(|t| t.title.clone()).collect(),
        })
        .collect()
}

/// Target words: about 60 words per minute of reading, adjusted for the Bloom level, 600..=3000.
pub(crate) fn target_words(duration_minutes: Option<u32>, bloom: Option<&str>) -> u32 {
    let base = duration_minutes.unwrap_or(30).saturating_mul(60);
    let bloom = bloom.unwrap_or("").to_ascii_lowercase();
    let factor = if ["create", "evaluate", "analy"].iter().any(|b| bloom.contains(b)) {
        1.15
    } else if bloom.contains("apply") {
        1.0
    } else if bloom.contains("remember") || bloom.contains("understand") {
        0.9
    } else {
        1.0
    };
    ((base as f64 * factor) as u32).clamp(600, 3000)
}

async fn lesson_job(
    input: &ContentGenInput,
    outline: &Outline,
    plan: &[PlanEntry],
    lesson_number: u32,
    deps: &Deps,
) -> (u32, StageResult<(LessonRef, bool)>) {
    (lesson_number, write_lesson(input, outline, plan, lesson_number, deps).await)
}

async fn write_lesson(
    input: &ContentGenInput,
    outline: &Outline,
    plan: &[PlanEntry],
    lesson_number: u32,
    deps: &Deps,
) -> StageResult<(LessonRef, bool)> {
    let m = input.module_number;
    let module = check_module(outline, m)?;
    let lesson = outline
        .lesson(m, lesson_number)
        .ok_or_else(|| StageError::Internal(format!("lesson {lesson_number} of module {m} vanished")))?;
    let key = keys::lesson_key(&input.project_folder, m, lesson_number, &lesson.title);
    let brief = lesson_brief(outline, module, m, lesson, lesson_number, plan);
    let model = deps.text.id();
    let fp = fingerprint(&json!({
        "stage": STAGE,
        "lesson": lesson,
        "brief": brief,
        "language": outline.course.language.code(),
        "audience": outline.course.audience,
        "prompt_version": PROMPT_VERSION,
        "model": model_json(&model),
    }));
    let store = deps.store.as_ref();
    if !input.force && is_fresh(store, &key, &fp).await? {
        let words = match read_meta(store, &key).await?.and_then(|m| m.words) {
            Some(w) => w,
            None => prose_words(&store_text(deps, &key).await?),
        };
        tracing::info!(module = m, lesson = lesson_number, %key, "lesson reused");
        return Ok((LessonRef { lesson_number, title: lesson.title.clone(), key, words }, true));
    }

    let request = lesson_request(&brief, outline.course.language)?;
    let accept = |resp: &coursegen_core::TextResponse| Ok(check_lesson(&resp.text).map(|()| resp.text.clone()));
    let (text, usage) = call_with_repair(deps.text.as_ref(), &request, &accept).await?;
    let mut body = text.trim().to_string();
    body.push('\n');
    let words = prose_words(&body);
    let meta = new_meta(STAGE, fp, model, usage, Some(words));
    put_with_meta(store, &key, body.into_bytes(), "text/markdown; charset=utf-8", &meta).await?;
    tracing::info!(module = m, lesson = lesson_number, %key, words, "lesson written");
    Ok((LessonRef { lesson_number, title: lesson.title.clone(), key, words }, false))
}

/// Words of prose, not counting visual tags (whether they hold descriptions or ids), so the
/// count stays the same when VisualPlanner rewrites the tags.
fn prose_words(markdown: &str) -> u64 {
    let tags = find_tags(markdown);
    coursegen_book::word_count(&replace_tags(markdown, &tags, |_| String::new()))
}

async fn store_text(deps: &Deps, key: &str) -> StageResult<String> {
    use coursegen_core::BlobStoreExt;
    deps.store.get_text(key).await
}

/// Problems with a lesson answer, empty when usable.
fn check_lesson(text: &str) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    if text.trim().is_empty() {
        errors.push("the lesson is empty".to_string());
    } else {
        let n = find_tags(text).len();
        if n < MIN_VISUALS {
            errors.push(format!(
                "the lesson has {n} visual tag(s); it needs 3 to 5, each on its own line, written exactly as \
                 [VISUAL: description of the figure]"
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The lesson request: a real prompt for remote models, the brief for offline drafts.
pub(crate) fn lesson_request(brief: &LessonBrief, language: Language) -> StageResult<TextRequest> {
    let lang = language.name();
    let audience = list_or(&brief.course.audience, "professionals new to the subject");
    let system = format!(
        "You are an expert course author and instructional designer. You write clear, accurate and engaging \
         lessons for {audience}, in {lang}. Every word you write, including headings, is in {lang}. You answer \
         with the lesson in GitHub-flavoured Markdown only: no preamble, no closing remarks."
    );
    let mut p = String::new();
    p.push_str(&format!(
        "Write lesson {} of module {} of the course \"{}\".\n\n",
        brief.lesson_number, brief.module_number, brief.course.title
    ));
    if let Some(d) = &brief.course.description {
        p.push_str(&format!("Course description: {d}\n"));
    }
    p.push_str(&format!(
        "Level: {}. Audience: {}. Course prerequisites: {}.\n",
        brief.course.level.as_deref().unwrap_or("not stated"),
        audience,
        list_or(&brief.course.prerequisites, "none stated")
    ));
    p.push_str(&format!("Module {}: {}", brief.module_number, brief.module_title));
    if let Some(s) = &brief.module_summary {
        p.push_str(&format!(" — {s}"));
    }
    p.push_str("\n\nModule plan (context only: write just this lesson and leave the others' material to them):\n");
    for e in &brief.module_plan {
        let marker = if e.lesson_number == brief.lesson_number { " (this lesson)" } else { "" };
        p.push_str(&format!("{}. {}{marker}", e.lesson_number, e.title));
        if let Some(s) = &e.summary {
            p.push_str(&format!(" — {s}"));
        }
        if !e.topics.is_empty() {
            p.push_str(&format!(" [topics: {}]", e.topics.join("; ")));
        }
        p.push('\n');
    }
    p.push_str(&format!("\nLesson: {}\n", brief.title));
    if let Some(s) = &brief.summary {
        p.push_str(&format!("Summary: {s}\n"));
    }
    if let Some(b) = &brief.bloom_level {
        p.push_str(&format!("Bloom level: {b}. Pitch the objectives, examples and review questions at this level.\n"));
    }
    if let Some(d) = brief.duration_minutes {
        p.push_str(&format!("Duration: {d} minutes.\n"));
    }
    p.push_str(&format!("Target length: about {} words.\n", brief.target_words));
    if !brief.topics.is_empty() {
        p.push_str("Topics (one section each, in this order):\n");
        for t in &brief.topics {
            p.push_str(&format!("- {t}\n"));
        }
    }
    if !brief.lab_activities.is_empty() {
        p.push_str("Lab activities (introduce them briefly; a separate lab guide gives the steps):\n");
        for t in &brief.lab_activities {
            p.push_str(&format!("- {t}\n"));
        }
    }
    p.push_str(&format!(
        "\nStructure:\n\
         - Start with `# {title}`, then a short introduction.\n\
         - A `## ` section with 3 to 5 learning objectives.\n\
         - One `## ` section per topic: explanations, a concrete example, and where useful a short code or \
         command snippet in a fenced block.\n\
         - Place 3 to 5 visual tags, each on its own line where a figure helps the reader, written exactly as \
         `[VISUAL: description]`. Describe the figure precisely (the boxes or steps and how they connect, or \
         what an illustration shows), without square brackets inside the description.\n\
         - A section introducing the lab activities, a summary, and 3 to 5 review questions.\n\
         Write everything in {lang}.",
        title = brief.title
    ));
    let brief_json =
        serde_json::to_value(brief).map_err(|e| StageError::Internal(format!("cannot serialise lesson brief: {e}")))?;
    Ok(TextRequest {
        task: TextTask::Lesson,
        subject: lesson_subject(brief.module_number, brief.lesson_number),
        system,
        prompt: p,
        max_tokens: (brief.target_words * 2 + 1024).min(8192),
        temperature: 0.4,
        json_schema: None,
        brief: brief_json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_words_follow_duration_and_bloom_within_bounds() {
        assert_eq!(target_words(Some(5), None), 600);
        assert_eq!(target_words(Some(500), None), 3000);
        assert_eq!(target_words(Some(20), Some("Apply")), 1200);
        assert!(target_words(Some(20), Some("Analyze")) > target_words(Some(20), Some("Understand")));
        assert_eq!(target_words(None, None), 1800);
    }

    #[test]
    fn lessons_without_enough_visual_tags_are_rejected() {
        assert!(check_lesson("").is_err());
        assert!(check_lesson("# T\n[VISUAL: a]\n[VISUAL: b]").is_err());
        assert!(check_lesson("# T\n[VISUAL: a]\n[VISUAL: b]\n[VISUAL: c]").is_ok());
    }
}
