//! VisualPlanner: classify and plan one lesson's visuals, store one prompt per visual and
//! rewrite the lesson's tags to course-wide unique ids.

use std::collections::{BTreeMap, BTreeSet};

use coursegen_core::contracts::{DiagramSpec, VisualKind, VisualPlannerInput, VisualPlannerOutput, VisualPrompt};
use coursegen_core::fingerprint::{fingerprint, PROMPT_VERSION};
use coursegen_core::{
    keys, BlobStore, BlobStoreExt, Language, ModelId, Outline, StageError, StageResult, TextRequest, TextTask, Usage,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::brief::{VisualPlanBrief, VisualToPlan};
use crate::common::{
    accept_structured, call_with_repair, check_project, course_outline, find_tags, lesson_subject, model_json,
    read_meta_value, replace_tags, Tag,
};
use crate::Deps;

const STAGE: &str = "VisualPlanner";
/// Field of the lesson sidecar where the planner keeps the original descriptions, its
/// fingerprint and its usage (the sidecar's own fingerprint stays ContentGen's).
pub(crate) const PLAN_FIELD: &str = "visual_plan";
/// Fewest and most nodes a diagram may have.
const MIN_NODES: usize = 2;
const MAX_NODES: usize = 8;

/// The JSON Schema of one planned visual, pinned to its index.
fn visual_schema(index: u32) -> Value {
    json!({
        "type": "object",
        "required": ["index", "kind", "title", "alt_text", "prompt", "diagram"],
        "properties": {
            "index": {"type": "integer", "const": index},
            "kind": {"type": "string", "enum": ["diagram", "illustration"]},
            "title": {"type": "string", "minLength": 1, "maxLength": 160},
            "alt_text": {"type": "string", "minLength": 1, "maxLength": 600},
            "prompt": {"type": "string", "minLength": 1, "maxLength": 2000},
            "diagram": {
                "type": "object",
                "required": ["layout", "nodes", "edges"],
                "properties": {
                    "layout": {"type": "string", "enum": ["flow", "steps", "boxes"]},
                    "nodes": {
                        "type": "array",
                        "minItems": MIN_NODES,
                        "maxItems": MAX_NODES,
                        "items": {"type": "string", "minLength": 1, "maxLength": 80}
                    },
                    "edges": {
                        "type": "array",
                        "maxItems": 16,
                        "items": {
                            "type": "object",
                            "required": ["from", "to"],
                            "properties": {
                                "from": {"type": "integer", "minimum": 0, "maximum": MAX_NODES - 1},
                                "to": {"type": "integer", "minimum": 0, "maximum": MAX_NODES - 1},
                                "label": {"type": "string", "maxLength": 60}
                            }
                        }
                    }
                }
            }
        }
    })
}

/// The JSON Schema of a plan for `n` visuals: exactly `n` entries, entry `i` with index `i`.
/// Every entry carries a diagram structure (illustrations' is ignored), so a schema-valid answer
/// can only fail on what a schema cannot say (edges between existing nodes).
pub(crate) fn plan_schema(n: usize) -> Value {
    let items: Vec<Value> = (1..=n as u32).map(visual_schema).collect();
    json!({
        "type": "object",
        "required": ["visuals"],
        "properties": {
            "visuals": {"type": "array", "minItems": n, "maxItems": n, "prefixItems": items, "items": false}
        }
    })
}

#[derive(Debug, Deserialize)]
struct PlanAnswer {
    visuals: Vec<PlannedVisual>,
}

#[derive(Debug, Deserialize)]
struct PlannedVisual {
    index: u32,
    kind: VisualKind,
    title: String,
    alt_text: String,
    #[serde(default)]
    prompt: String,
    #[serde(default)]
    diagram: Option<DiagramSpec>,
}

/// Semantic checks the schema cannot express: one entry per tag, indices 1..=n once each,
/// diagrams with 2..=8 non-empty nodes. Edges are sanitised, not checked (see [`usable_edges`]).
fn check_plan(answer: &PlanAnswer, n: usize) -> Vec<String> {
    let mut errors = Vec::new();
    if answer.visuals.len() != n {
        errors.push(format!("expected {n} visuals (one per tag), got {}", answer.visuals.len()));
    }
    let mut seen = BTreeSet::new();
    for (i, v) in answer.visuals.iter().enumerate() {
        let at = format!("/visuals/{i}");
        if v.index == 0 || v.index as usize > n {
            errors.push(format!("{at}/index: {} is out of range 1..={n}", v.index));
        } else if !seen.insert(v.index) {
            errors.push(format!("{at}/index: {} appears more than once", v.index));
        }
        if v.title.trim().is_empty() {
            errors.push(format!("{at}/title: empty"));
        }
        if v.alt_text.trim().is_empty() {
            errors.push(format!("{at}/alt_text: empty"));
        }
        match (v.kind, &v.diagram) {
            (VisualKind::Diagram, None) => errors.push(format!("{at}/diagram: a diagram needs its nodes and edges")),
            (VisualKind::Diagram, Some(d)) => {
                if !(MIN_NODES..=MAX_NODES).contains(&d.nodes.len()) {
                    errors
                        .push(format!("{at}/diagram/nodes: {} nodes, need {MIN_NODES} to {MAX_NODES}", d.nodes.len()));
                }
                if d.nodes.iter().any(|node| node.trim().is_empty()) {
                    errors.push(format!("{at}/diagram/nodes: a node label is empty"));
                }
                // Edges are checked when the plan is stored (`usable_edges`): an arrow between
                // nodes that do not exist is dropped, never worth failing a lesson for.
            }
            (VisualKind::Illustration, _) => {
                if v.prompt.trim().is_empty() {
                    errors.push(format!("{at}/prompt: an illustration needs an image prompt"));
                }
            }
        }
    }
    for k in 1..=n as u32 {
        if !seen.contains(&k) && answer.visuals.len() == n {
            errors.push(format!("no entry for visual {k}"));
        }
    }
    errors
}

/// Keeps only the arrows that join two different existing nodes: models (and simulators)
/// sometimes point an edge past the node list; the diagram is still right without it.
fn usable_edges(mut d: DiagramSpec) -> DiagramSpec {
    let n = d.nodes.len();
    let before = d.edges.len();
    d.edges.retain(|e| e.from < n && e.to < n && e.from != e.to);
    if d.edges.len() != before {
        tracing::warn!(dropped = before - d.edges.len(), "diagram edges between missing nodes were dropped");
    }
    d
}

/// The planner's record in the lesson sidecar (field [`PLAN_FIELD`]): the original tag
/// descriptions by id, and the plan's fingerprint, model and cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PlanRecord {
    pub fingerprint: String,
    pub model: ModelId,
    pub prompt_version: String,
    pub usage: Usage,
    pub visuals: Vec<DescribedVisual>,
}

/// One planned visual's id and the tag description it was planned from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DescribedVisual {
    pub id: String,
    pub description: String,
}

impl PlanRecord {
    /// The record in a lesson sidecar, if it has a readable one.
    pub(crate) fn in_sidecar(meta: &Value) -> Option<PlanRecord> {
        meta.get(PLAN_FIELD).and_then(|p| serde_json::from_value(p.clone()).ok())
    }
}

/// One lesson as the planner sees it: its text and tags, the descriptions behind the tags, and
/// what the outline says about it.
struct LessonToPlan {
    markdown: String,
    tags: Vec<Tag>,
    /// The lesson sidecar as loose JSON (other stages' fields are kept when it is rewritten).
    meta: Option<Value>,
    descriptions: Vec<String>,
    language: Language,
    course_title: String,
    module_title: String,
    lesson_title: String,
}

fn check_input(input: &VisualPlannerInput) -> StageResult<()> {
    let project = input.project_folder.as_str();
    check_project(project)?;
    let (m, l) = (input.module_number, input.lesson_number);
    if m == 0 || l == 0 {
        return Err(StageError::request("module_number", "module and lesson numbers start at 1"));
    }
    if !input.lesson_key.starts_with(&keys::lessons_prefix(project, m)) {
        return Err(StageError::request(
            "lesson_key",
            format!("{} is not a lesson of module {m} in project {project}", input.lesson_key),
        ));
    }
    Ok(())
}

/// The lesson to plan: its text `markdown` (as read from `input.lesson_key`), its tags and their
/// original descriptions, and where it sits in `outline`.
async fn read_lesson(
    store: &dyn BlobStore,
    input: &VisualPlannerInput,
    markdown: String,
    outline: Option<&Outline>,
) -> StageResult<LessonToPlan> {
    let (project, m, l) = (input.project_folder.as_str(), input.module_number, input.lesson_number);
    let tags = find_tags(&markdown);
    let meta = read_meta_value(store, &input.lesson_key).await?;
    let known = known_descriptions(&meta);
    let mut descriptions = Vec::with_capacity(tags.len());
    for tag in &tags {
        descriptions.push(describe_tag(store, project, m, l, &tag.content, &known).await?);
    }
    let lesson_title = outline
        .and_then(|o| o.lesson(m, l))
        .map(|x| x.title.clone())
        .unwrap_or_else(|| first_heading(&markdown).unwrap_or_default());
    Ok(LessonToPlan {
        language: outline.map(|o| o.course.language).unwrap_or_default(),
        course_title: outline.map(|o| o.course.title.clone()).unwrap_or_default(),
        module_title: outline.and_then(|o| o.module(m)).map(|x| x.title.clone()).unwrap_or_default(),
        lesson_title,
        markdown,
        tags,
        meta,
        descriptions,
    })
}

/// The plan's fingerprint: the lesson with its original descriptions, where it sits, the
/// prompt version and the model.
fn plan_fingerprint(lesson: &LessonToPlan, m: u32, l: u32, model: &ModelId) -> String {
    let original = replace_tags(&lesson.markdown, &lesson.tags, |i| format!("[VISUAL: {}]", lesson.descriptions[i]));
    fingerprint(&json!({
        "stage": STAGE,
        "lesson": original,
        "module": m,
        "lesson_number": l,
        "language": lesson.language.code(),
        "course_title": lesson.course_title,
        "lesson_title": lesson.lesson_title,
        "prompt_version": PROMPT_VERSION,
        "model": model_json(model),
    }))
}

/// One structured model call (checked against the schema and [`check_plan`], repaired once),
/// turned into one prompt per tag.
async fn plan_prompts(
    deps: &Deps,
    lesson: &LessonToPlan,
    m: u32,
    l: u32,
    ids: &[String],
    fp: &str,
) -> StageResult<(Vec<VisualPrompt>, Usage)> {
    if lesson.tags.is_empty() {
        return Ok((Vec::new(), Usage::default()));
    }
    let brief = VisualPlanBrief {
        language: lesson.language.code().to_string(),
        course_title: lesson.course_title.clone(),
        module_number: m,
        module_title: lesson.module_title.clone(),
        lesson_number: l,
        lesson_title: lesson.lesson_title.clone(),
        visuals: lesson
            .descriptions
            .iter()
            .enumerate()
            .map(|(i, d)| VisualToPlan { index: i as u32 + 1, description: d.clone() })
            .collect(),
    };
    let request = plan_request(&brief, lesson.language)?;
    let n = lesson.tags.len();
    let accept = |resp: &coursegen_core::TextResponse| {
        accept_structured(&request, resp, &|answer: &PlanAnswer| check_plan(answer, n))
    };
    let (answer, usage) = call_with_repair(deps.text.as_ref(), &request, &accept).await?;
    let mut by_index: BTreeMap<u32, PlannedVisual> = answer.visuals.into_iter().map(|v| (v.index, v)).collect();
    let mut prompts = Vec::with_capacity(n);
    for (i, description) in lesson.descriptions.iter().enumerate() {
        let index = i as u32 + 1;
        let v = by_index.remove(&index).ok_or_else(|| {
            StageError::Internal(format!("validated plan lost visual {index} of module {m} lesson {l}"))
        })?;
        let diagram = if v.kind == VisualKind::Diagram { v.diagram.map(usable_edges) } else { None };
        prompts.push(VisualPrompt {
            id: ids[i].clone(),
            module_number: m,
            lesson_number: l,
            kind: v.kind,
            title: v.title.trim().to_string(),
            description: description.clone(),
            alt_text: v.alt_text.trim().to_string(),
            prompt: v.prompt.trim().to_string(),
            diagram,
            fingerprint: fp.to_string(),
        });
    }
    Ok((prompts, usage))
}

/// Plan one lesson's visuals. Reuses the stored prompts when they record the same
/// fingerprint (unless `force`); otherwise one structured model call, checked against the
/// schema and semantically, repaired once, then `ModelError`.
pub async fn visual_planner(input: VisualPlannerInput, deps: &Deps) -> StageResult<VisualPlannerOutput> {
    check_input(&input)?;
    let (project, m, l) = (input.project_folder.clone(), input.module_number, input.lesson_number);
    let force = input.force;
    // The lesson and the outline are read once for both: the plan and the quiz run side by
    // side (the quiz reads the lesson's prose, which the plan's tag rewrite leaves as it is).
    let store = deps.store.as_ref();
    let markdown = store.get_text(&input.lesson_key).await?;
    let outline = course_outline(store, &project).await?;
    let (plan, quiz) = futures::join!(
        plan_visuals(input, markdown.clone(), outline.as_ref(), deps),
        crate::quiz::write_quiz(&project, m, l, &markdown, outline.as_ref(), force, deps)
    );
    match (plan, quiz) {
        (Ok(mut out), Ok(quiz)) => {
            out.quiz_questions = quiz.questions;
            Ok(out)
        }
        (Err(a), Err(b)) => Err(StageError::prefer_retryable(vec![a, b])
            .unwrap_or_else(|| StageError::Internal("two failures and no error".into()))),
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

/// Plan one lesson's visuals (the VisualPlanner step without the quiz).
async fn plan_visuals(
    input: VisualPlannerInput,
    markdown: String,
    outline: Option<&Outline>,
    deps: &Deps,
) -> StageResult<VisualPlannerOutput> {
    let (project, m, l) = (input.project_folder.as_str(), input.module_number, input.lesson_number);
    let store = deps.store.as_ref();
    let lesson = read_lesson(store, &input, markdown, outline).await?;
    let model = deps.text.id();
    let fp = plan_fingerprint(&lesson, m, l, &model);
    let n = lesson.tags.len() as u32;
    let ids: Vec<String> = (1..=n).map(|k| keys::visual_id(m, l, k)).collect();
    let prompt_keys: Vec<String> = (1..=n).map(|k| keys::prompt_key(project, m, l, k)).collect();
    let rewritten = replace_tags(&lesson.markdown, &lesson.tags, |i| format!("[VISUAL: {}]", ids[i]));

    if !input.force && prompts_are_fresh(store, &prompt_keys, &fp).await? {
        if rewritten != lesson.markdown {
            store.put(&input.lesson_key, rewritten.into_bytes(), "text/markdown; charset=utf-8").await?;
        }
        if lesson.tags.is_empty() {
            remove_stale_prompts(store, project, m, l, &prompt_keys).await?;
        }
        tracing::info!(module = m, lesson = l, visuals = n, "visual plan reused");
        return Ok(VisualPlannerOutput { lesson_key: input.lesson_key, prompt_keys, visuals: n, quiz_questions: 0 });
    }

    let (prompts, usage) = plan_prompts(deps, &lesson, m, l, &ids, &fp).await?;
    // The plan record (the call's cost) goes first: fresh prompts are what a later run
    // reuses, so a run killed between the writes must not leave fresh prompts whose cost
    // was never recorded.
    let record = PlanRecord {
        fingerprint: fp,
        model,
        prompt_version: PROMPT_VERSION.to_string(),
        usage,
        visuals: ids
            .iter()
            .zip(&lesson.descriptions)
            .map(|(id, d)| DescribedVisual { id: id.clone(), description: d.clone() })
            .collect(),
    };
    save_plan_record(store, &input.lesson_key, lesson.meta, &record).await?;
    for (key, prompt) in prompt_keys.iter().zip(&prompts) {
        store.put_json(key, prompt).await?;
    }
    remove_stale_prompts(store, project, m, l, &prompt_keys).await?;
    if rewritten != lesson.markdown {
        store.put(&input.lesson_key, rewritten.into_bytes(), "text/markdown; charset=utf-8").await?;
    }
    tracing::info!(module = m, lesson = l, visuals = prompts.len(), "visuals planned");
    Ok(VisualPlannerOutput {
        lesson_key: input.lesson_key,
        prompt_keys,
        visuals: prompts.len() as u32,
        quiz_questions: 0,
    })
}

/// Descriptions recorded by an earlier plan, by visual id.
fn known_descriptions(meta: &Option<Value>) -> BTreeMap<String, String> {
    meta.as_ref()
        .and_then(PlanRecord::in_sidecar)
        .map(|record| record.visuals.into_iter().map(|v| (v.id, v.description)).collect())
        .unwrap_or_default()
}

/// The description behind a tag: the tag text itself, or for a tag already rewritten to one of
/// this lesson's ids, the description recorded by the earlier plan (sidecar, else prompt file).
async fn describe_tag(
    store: &dyn BlobStore,
    project: &str,
    m: u32,
    l: u32,
    content: &str,
    known: &BTreeMap<String, String>,
) -> StageResult<String> {
    match keys::parse_visual_id(content) {
        Some((tm, tl, n)) if tm == m && tl == l => {
            if let Some(d) = known.get(content) {
                return Ok(d.clone());
            }
            let prompt: Option<VisualPrompt> = store.get_json(&keys::prompt_key(project, m, l, n)).await.ok().flatten();
            Ok(prompt.map(|p| p.description).unwrap_or_else(|| content.to_string()))
        }
        _ => Ok(content.to_string()),
    }
}

async fn prompts_are_fresh(store: &dyn BlobStore, prompt_keys: &[String], fp: &str) -> StageResult<bool> {
    for key in prompt_keys {
        let prompt: Option<VisualPrompt> = match store.get(key).await? {
            Some(bytes) => serde_json::from_slice(&bytes).ok(),
            None => None,
        };
        match prompt {
            Some(p) if p.fingerprint == fp => {}
            _ => return Ok(false),
        }
    }
    Ok(true)
}

/// Delete this lesson's prompt files beyond the new plan (only this lesson's prefix is listed).
async fn remove_stale_prompts(
    store: &dyn BlobStore,
    project: &str,
    m: u32,
    l: u32,
    current: &[String],
) -> StageResult<()> {
    for key in store.list(&keys::prompts_prefix(project, m, l)).await? {
        if !current.contains(&key) {
            store.delete(&key).await?;
        }
    }
    Ok(())
}

/// Write the plan record into the lesson sidecar, keeping every other field.
async fn save_plan_record(
    store: &dyn BlobStore,
    lesson_key: &str,
    meta: Option<Value>,
    record: &PlanRecord,
) -> StageResult<()> {
    let mut meta = meta.unwrap_or_else(|| json!({}));
    let record = serde_json::to_value(record)
        .map_err(|e| StageError::Internal(format!("cannot serialise the plan record: {e}")))?;
    if let Value::Object(map) = &mut meta {
        map.insert(PLAN_FIELD.to_string(), record);
    }
    store.put_json(&keys::meta_key(lesson_key), &meta).await
}

fn first_heading(md: &str) -> Option<String> {
    md.lines().find_map(|line| line.strip_prefix("# ").map(|t| t.trim().to_string()))
}

/// The visual plan request of one lesson.
pub(crate) fn plan_request(brief: &VisualPlanBrief, language: Language) -> StageResult<TextRequest> {
    let lang = language.name();
    let system = format!(
        "You are a technical illustrator and instructional designer. You plan the figures of a course lesson. \
         Each figure is either a diagram (boxes, arrows, labels or numbered steps, drawn exactly from the \
         structure you give) or an illustration (a picture drawn by an image model). Titles, alt text and \
         diagram labels are in {lang}; image prompts are in English. You answer with JSON only."
    );
    let mut p = format!(
        "Course: {}\nModule {}: {}\nLesson {}: {}\n\nThe lesson has {} figure placeholder(s):\n",
        brief.course_title,
        brief.module_number,
        brief.module_title,
        brief.lesson_number,
        brief.lesson_title,
        brief.visuals.len()
    );
    for v in &brief.visuals {
        p.push_str(&format!("{}. {}\n", v.index, v.description));
    }
    p.push_str(
        "\nReturn {\"visuals\": [...]} with exactly one entry per placeholder, using the same index:\n\
         - kind: \"diagram\" when the figure shows structure, a flow, steps, components or relationships that \
         boxes and arrows can show exactly; otherwise \"illustration\". Prefer diagrams for technical content.\n\
         - title: a short caption.\n\
         - alt_text: one or two sentences describing the figure for readers who cannot see it.\n\
         - prompt: for an illustration, a detailed image prompt in English (subject, composition, style: clean \
         flat vector illustration, no text in the image); for a diagram, a one-line summary.\n\
         - diagram: layout \"flow\" (a left-to-right process), \"steps\" (a numbered sequence) or \"boxes\" \
         (related components); nodes: 2 to 8 short labels (at most five words each), printed exactly as written; \
         edges: arrows {\"from\", \"to\", \"label\"} between two different existing nodes, by 0-based node \
         index. An illustration gives its main elements here too (they are not drawn).\n",
    );
    let brief_json =
        serde_json::to_value(brief).map_err(|e| StageError::Internal(format!("cannot serialise plan brief: {e}")))?;
    Ok(TextRequest {
        task: TextTask::VisualPlan,
        subject: lesson_subject(brief.module_number, brief.lesson_number),
        system,
        prompt: p,
        max_tokens: 4096,
        temperature: 0.2,
        json_schema: Some(plan_schema(brief.visuals.len())),
        brief: brief_json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::schema_errors;

    fn answer(v: Value) -> PlanAnswer {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_schema_accepts_a_good_plan_and_rejects_bad_kinds() {
        let good = json!({"visuals": [{"index": 1, "kind": "diagram", "title": "t", "alt_text": "a", "prompt": "p",
            "diagram": {"layout": "flow", "nodes": ["a", "b"], "edges": [{"from": 0, "to": 1}]}}]});
        assert!(schema_errors(&plan_schema(1), &good).unwrap().is_empty());
        let mut bad = good.clone();
        bad["visuals"][0]["kind"] = json!("photo");
        assert!(!schema_errors(&plan_schema(1), &bad).unwrap().is_empty());
        assert!(!schema_errors(&plan_schema(2), &good).unwrap().is_empty(), "one entry per tag");
        let mut wrong_index = good.clone();
        wrong_index["visuals"][0]["index"] = json!(2);
        assert!(!schema_errors(&plan_schema(1), &wrong_index).unwrap().is_empty());
    }

    #[test]
    fn semantic_checks_catch_counts_and_indices() {
        let a = answer(json!({"visuals": [
            {"index": 1, "kind": "diagram", "title": "t", "alt_text": "a", "prompt": "",
             "diagram": {"layout": "flow", "nodes": ["a", "b"], "edges": [{"from": 0, "to": 5}]}},
            {"index": 1, "kind": "illustration", "title": "t", "alt_text": "a", "prompt": ""}]}));
        let errors = check_plan(&a, 3);
        let all = errors.join("\n");
        assert!(all.contains("expected 3 visuals"), "{all}");
        assert!(all.contains("more than once"), "{all}");
        assert!(all.contains("image prompt"), "{all}");
        assert!(!all.contains("edges"), "edges are sanitised, not reported: {all}");
    }

    #[test]
    fn edges_between_missing_or_identical_nodes_are_dropped_and_the_rest_kept() {
        use coursegen_core::contracts::DiagramEdge;
        let edge = |from, to| DiagramEdge { from, to, label: None };
        let d = DiagramSpec {
            layout: "flow".into(),
            nodes: vec!["a".into(), "b".into(), "c".into()],
            edges: vec![edge(0, 1), edge(0, 5), edge(2, 2), edge(1, 2)],
        };
        let kept: Vec<(usize, usize)> = usable_edges(d).edges.iter().map(|e| (e.from, e.to)).collect();
        assert_eq!(kept, vec![(0, 1), (1, 2)]);
    }
}
