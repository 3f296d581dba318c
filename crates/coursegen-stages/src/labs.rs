//! LabPlanner (objectives and prerequisites of the selected modules' lab activities, merged
//! into `labs/plan.json`) and LabWriter (one lab guide).

use std::collections::{BTreeMap, BTreeSet};

use coursegen_core::contracts::{
    LabPlan, LabPlannerInput, LabPlannerOutput, LabSpec, LabWriterInput, LabWriterOutput, OutputMeta,
};
use coursegen_core::fingerprint::{fingerprint, PROMPT_VERSION};
use coursegen_core::{
    keys, BlobStoreExt, Language, ModelId, Outline, StageError, StageResult, TextRequest, TextResponse, TextTask, Usage,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::brief::{list_or, CourseFacts, LabGuideBrief, LabPlanBrief, LabToPlan};
use crate::common::{
    accept_structured, call_with_repair, check_module, check_project, course_outline, is_fresh, load_outline,
    model_json, new_meta, put_with_meta, read_meta,
};
use crate::lang::{phrases, Phrases};
use crate::Deps;

const PLANNER: &str = "LabPlanner";
const WRITER: &str = "LabWriter";
const MIN_OBJECTIVES: usize = 2;
const MAX_OBJECTIVES: usize = 6;

/// The JSON Schema of a lab plan answer for `lab_ids`: one entry per lab, in that order.
pub(crate) fn lab_plan_schema(lab_ids: &[String]) -> Value {
    let items: Vec<Value> = lab_ids
        .iter()
        .map(|id| {
            json!({
                "type": "object",
                "required": ["lab_id", "objectives", "prerequisites"],
                "properties": {
                    "lab_id": {"type": "string", "const": id},
                    "objectives": {
                        "type": "array",
                        "minItems": MIN_OBJECTIVES,
                        "maxItems": MAX_OBJECTIVES,
                        "items": {"type": "string", "minLength": 1, "maxLength": 300}
                    },
                    "prerequisites": {
                        "type": "array",
                        "maxItems": 10,
                        "items": {"type": "string", "minLength": 1, "maxLength": 300}
                    }
                }
            })
        })
        .collect();
    json!({
        "type": "object",
        "required": ["labs"],
        "properties": {
            "labs": {
                "type": "array",
                "minItems": lab_ids.len(),
                "maxItems": lab_ids.len(),
                "prefixItems": items,
                "items": false
            }
        }
    })
}

#[derive(Debug, Deserialize)]
struct LabPlanAnswer {
    labs: Vec<PlannedLab>,
}

#[derive(Debug, Deserialize)]
struct PlannedLab {
    lab_id: String,
    objectives: Vec<String>,
    prerequisites: Vec<String>,
}

fn check_lab_plan(answer: &LabPlanAnswer, expected: &[String]) -> Vec<String> {
    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, lab) in answer.labs.iter().enumerate() {
        if !expected.contains(&lab.lab_id) {
            errors.push(format!("/labs/{i}/lab_id: {} is not one of the labs to plan", lab.lab_id));
        } else if !seen.insert(lab.lab_id.as_str()) {
            errors.push(format!("/labs/{i}/lab_id: {} appears more than once", lab.lab_id));
        }
        if lab.objectives.iter().any(|o| o.trim().is_empty()) {
            errors.push(format!("/labs/{i}/objectives: an objective is empty"));
        }
    }
    for id in expected {
        if !seen.contains(id.as_str()) {
            errors.push(format!("lab {id} is missing from the answer"));
        }
    }
    errors
}

fn module_fp_key(m: u32) -> String {
    format!("module-{m:02}")
}

/// The labs of one module, in outline order, without objectives yet.
pub(crate) fn module_labs(project: &str, outline: &Outline, m: u32) -> Vec<LabSpec> {
    let Some(module) = outline.module(m) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (li, lesson) in module.lessons.iter().enumerate() {
        let l = li as u32 + 1;
        for (ki, activity) in lesson.lab_activities.iter().enumerate() {
            let k = ki as u32 + 1;
            out.push(LabSpec {
                lab_id: keys::lab_id(m, l, k),
                module_number: m,
                lesson_number: l,
                index: k,
                title: activity.title.clone(),
                module_title: module.title.clone(),
                lesson_title: lesson.title.clone(),
                duration_minutes: activity.duration_minutes,
                bloom_level: activity.bloom_level.clone().or_else(|| lesson.bloom_level.clone()),
                objectives: Vec::new(),
                prerequisites: Vec::new(),
                topics: lesson.topics.iter().map(|t| t.title.clone()).collect(),
                lab_key: keys::lab_key(project, m, l, k, &activity.title),
            });
        }
    }
    out
}

/// The selected modules, checked against the outline, without repeats, in order.
fn selected_modules(outline: &Outline, modules: &[u32]) -> StageResult<Vec<u32>> {
    if modules.is_empty() {
        return Err(StageError::request("modules", "select at least one module"));
    }
    let mut selected: Vec<u32> = Vec::new();
    for &m in modules {
        check_module(outline, m)?;
        if !selected.contains(&m) {
            selected.push(m);
        }
    }
    selected.sort_unstable();
    Ok(selected)
}

/// The fingerprint of each selected module's lab plan.
fn module_fingerprints(
    outline: &Outline,
    facts: &CourseFacts,
    selected: &[u32],
    model: &ModelId,
) -> StageResult<BTreeMap<u32, String>> {
    let mut fps = BTreeMap::new();
    for &m in selected {
        let module = check_module(outline, m)?;
        let fp = fingerprint(&json!({
            "stage": PLANNER,
            "module": module,
            "module_number": m,
            "course": facts,
            "language": outline.course.language.code(),
            "prompt_version": PROMPT_VERSION,
            "model": model_json(model),
        }));
        fps.insert(m, fp);
    }
    Ok(fps)
}

/// Plan the labs of the `stale` modules (one structured call), replace their entries in `plan`
/// and record their fingerprints; the usage of the call.
async fn replan_modules(
    deps: &Deps,
    project: &str,
    outline: &Outline,
    facts: &CourseFacts,
    stale: &[u32],
    fps: &BTreeMap<u32, String>,
    plan: &mut LabPlan,
) -> StageResult<Usage> {
    let mut fresh_labs: Vec<LabSpec> = stale.iter().flat_map(|&m| module_labs(project, outline, m)).collect();
    let mut usage = Usage::default();
    if !fresh_labs.is_empty() {
        let (answer, u) = plan_labs(outline, facts, &fresh_labs, deps).await?;
        usage = u;
        let mut by_id: BTreeMap<String, PlannedLab> = answer.labs.into_iter().map(|l| (l.lab_id.clone(), l)).collect();
        for spec in &mut fresh_labs {
            if let Some(p) = by_id.remove(&spec.lab_id) {
                spec.objectives = p.objectives.into_iter().map(|s| s.trim().to_string()).collect();
                spec.prerequisites = p.prerequisites.into_iter().map(|s| s.trim().to_string()).collect();
            }
        }
    }
    plan.labs.retain(|s| !stale.contains(&s.module_number));
    plan.labs.extend(fresh_labs);
    plan.labs.sort_by_key(|s| (s.module_number, s.lesson_number, s.index));
    for &m in stale {
        if let Some(fp) = fps.get(&m) {
            plan.fingerprints.insert(module_fp_key(m), fp.clone());
        }
    }
    Ok(usage)
}

/// Plan the lab activities of the selected modules and merge them into `labs/plan.json`
/// (other modules' entries are kept). Modules whose recorded fingerprint matches are reused
/// without a model call unless `force`; the rest are planned in one structured call.
pub async fn lab_planner(input: LabPlannerInput, deps: &Deps) -> StageResult<LabPlannerOutput> {
    let project = input.project_folder.as_str();
    check_project(project)?;
    let outline = load_outline(deps.store.as_ref(), &input.outline_key).await?;
    let selected = selected_modules(&outline, &input.modules)?;
    let store = deps.store.as_ref();
    let plan_key = keys::lab_plan_key(project);
    let mut plan: LabPlan = store.get_json(&plan_key).await?.unwrap_or_default();
    let model = deps.text.id();
    let facts = CourseFacts::of(&outline.course);
    let fps = module_fingerprints(&outline, &facts, &selected, &model)?;
    let stale: Vec<u32> = selected
        .iter()
        .copied()
        .filter(|&m| {
            let expected = module_labs(project, &outline, m).len();
            let present = plan.labs.iter().filter(|s| s.module_number == m).count();
            input.force || plan.fingerprints.get(&module_fp_key(m)) != fps.get(&m) || present != expected
        })
        .collect();

    if !stale.is_empty() {
        let full_rebuild = plan.labs.iter().all(|s| stale.contains(&s.module_number));
        let usage = replan_modules(deps, project, &outline, &facts, &stale, &fps, &mut plan).await?;
        // The sidecar sums the usage of the calls behind the current plan. It is written before
        // the plan: a fresh plan is what a later run reuses, so a run killed between the two
        // writes must not leave a plan whose cost was never recorded.
        let mut total = Usage::default();
        if !full_rebuild {
            if let Some(previous) = read_meta(store, &plan_key).await? {
                total = previous.usage;
            }
        }
        total.add(&usage);
        let plan_fp = fingerprint(&json!({"fingerprints": plan.fingerprints}));
        store.put_json(&keys::meta_key(&plan_key), &new_meta(PLANNER, plan_fp, model, total, None)).await?;
        store.put_json(&plan_key, &plan).await?;
        tracing::info!(modules = ?stale, labs = plan.labs.len(), "lab plan written");
    }

    let lab_ids = plan.labs.iter().filter(|s| selected.contains(&s.module_number)).map(|s| s.lab_id.clone()).collect();
    Ok(LabPlannerOutput { plan_key, lab_ids })
}

async fn plan_labs(
    outline: &Outline,
    facts: &CourseFacts,
    labs: &[LabSpec],
    deps: &Deps,
) -> StageResult<(LabPlanAnswer, Usage)> {
    let request = lab_plan_request(outline, facts, labs)?;
    let expected: Vec<String> = labs.iter().map(|l| l.lab_id.clone()).collect();
    let accept = |resp: &TextResponse| {
        accept_structured(&request, resp, &|answer: &LabPlanAnswer| check_lab_plan(answer, &expected))
    };
    call_with_repair(deps.text.as_ref(), &request, &accept).await
}

/// The one structured request that plans `labs`.
pub(crate) fn lab_plan_request(outline: &Outline, facts: &CourseFacts, labs: &[LabSpec]) -> StageResult<TextRequest> {
    let language = outline.course.language;
    let brief = LabPlanBrief {
        language: language.code().to_string(),
        course: facts.clone(),
        labs: labs
            .iter()
            .map(|s| LabToPlan {
                lab_id: s.lab_id.clone(),
                title: s.title.clone(),
                module_title: s.module_title.clone(),
                lesson_title: s.lesson_title.clone(),
                topics: s.topics.clone(),
                duration_minutes: s.duration_minutes,
                bloom_level: s.bloom_level.clone(),
            })
            .collect(),
    };
    let lang = language.name();
    let system = format!(
        "You are a senior hands-on instructor who designs practical lab exercises. You write concise, \
         measurable objectives (starting with an action verb) and concrete prerequisites (tools, accounts, prior \
         lessons), in {lang}. You answer with JSON only."
    );
    let mut p = format!(
        "Course: {} (level: {}; audience: {}; course prerequisites: {}).\n\nPlan these labs:\n",
        facts.title,
        facts.level.as_deref().unwrap_or("not stated"),
        list_or(&facts.audience, "not stated"),
        list_or(&facts.prerequisites, "none stated")
    );
    for l in &brief.labs {
        p.push_str(&format!(
            "- lab_id {}: \"{}\" (module: {}; lesson: {}; lesson topics: {}",
            l.lab_id,
            l.title,
            l.module_title,
            l.lesson_title,
            list_or(&l.topics, "none")
        ));
        if let Some(d) = l.duration_minutes {
            p.push_str(&format!("; {d} minutes"));
        }
        if let Some(b) = &l.bloom_level {
            p.push_str(&format!("; Bloom level {b}"));
        }
        p.push_str(")\n");
    }
    p.push_str(&format!(
        "\nReturn {{\"labs\": [...]}} with one entry per lab_id above: {MIN_OBJECTIVES} to {MAX_OBJECTIVES} \
         objectives and the prerequisites (possibly none), all in {lang}."
    ));
    let expected: Vec<String> = labs.iter().map(|l| l.lab_id.clone()).collect();
    Ok(TextRequest {
        task: TextTask::LabPlan,
        subject: format!("labs {}", labs.iter().map(|l| l.lab_id.as_str()).collect::<Vec<_>>().join(", ")),
        system,
        prompt: p,
        max_tokens: (512 + 256 * labs.len() as u32).min(8192),
        temperature: 0.2,
        json_schema: Some(lab_plan_schema(&expected)),
        brief: serde_json::to_value(&brief).map_err(|e| StageError::Internal(format!("lab plan brief: {e}")))?,
    })
}

/// Write one lab guide from the plan: objectives, prerequisites, estimated time, numbered steps
/// each with a verification, troubleshooting and cleanup (checked; one repair, then
/// `ModelError`). Reused when its sidecar records the same fingerprint, unless `force`.
pub async fn lab_writer(input: LabWriterInput, deps: &Deps) -> StageResult<LabWriterOutput> {
    let project = input.project_folder.as_str();
    check_project(project)?;
    let plan_key = keys::lab_plan_key(project);
    if input.plan_key != plan_key {
        return Err(StageError::request(
            "plan_key",
            format!("{} is not this project's lab plan ({plan_key})", input.plan_key),
        ));
    }
    let store = deps.store.as_ref();
    let plan: LabPlan = store.get_json(&plan_key).await?.ok_or_else(|| StageError::MissingInput {
        key: plan_key.clone(),
        message: "no lab plan (run LabPlanner first)".into(),
    })?;
    let spec = plan.labs.iter().find(|s| s.lab_id == input.lab_id).ok_or_else(|| StageError::MissingInput {
        key: input.lab_id.clone(),
        message: format!("lab {} is not in the plan at {plan_key}", input.lab_id),
    })?;
    let key = keys::lab_key(project, spec.module_number, spec.lesson_number, spec.index, &spec.title);
    let outline = course_outline(store, project).await?;
    let language = outline.as_ref().map(|o| o.course.language).unwrap_or_default();
    let facts = outline.as_ref().map(|o| CourseFacts::of(&o.course)).unwrap_or(CourseFacts {
        title: String::new(),
        description: None,
        level: None,
        audience: Vec::new(),
        prerequisites: Vec::new(),
    });
    let model = deps.text.id();
    let fp = fingerprint(&json!({
        "stage": WRITER,
        "lab": spec,
        "course": facts,
        "language": language.code(),
        "prompt_version": PROMPT_VERSION,
        "model": model_json(&model),
    }));
    if !input.force && is_fresh(store, &key, &fp).await? {
        tracing::info!(lab = %input.lab_id, %key, "lab guide reused");
        return Ok(LabWriterOutput { lab_id: input.lab_id, lab_key: key });
    }
    let brief = LabGuideBrief::of(spec, language, facts);
    let request = guide_request(&brief, language)?;
    let ph = phrases(language);
    let accept = |resp: &TextResponse| Ok(check_guide(&resp.text, ph).map(|()| resp.text.clone()));
    let (text, usage) = call_with_repair(deps.text.as_ref(), &request, &accept).await?;
    let mut body = text.trim().to_string();
    body.push('\n');
    let words = coursegen_book::word_count(&body);
    let meta: OutputMeta = new_meta(WRITER, fp, model, usage, Some(words));
    put_with_meta(store, &key, body.into_bytes(), "text/markdown; charset=utf-8", &meta).await?;
    tracing::info!(lab = %input.lab_id, %key, words, "lab guide written");
    Ok(LabWriterOutput { lab_id: input.lab_id, lab_key: key })
}

fn heading(line: &str) -> Option<(usize, String)> {
    let t = line.trim_start();
    let level = t.chars().take_while(|c| *c == '#').count();
    if level == 0 || level > 6 {
        return None;
    }
    let text = t[level..].trim();
    (!text.is_empty()).then(|| (level, text.to_lowercase()))
}

fn is_numbered(line: &str) -> bool {
    let indent = line.len() - line.trim_start().len();
    let t = line.trim_start();
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    indent < 2 && digits > 0 && matches!(t[digits..].chars().next(), Some('.') | Some(')'))
}

/// Problems with a lab guide, in the course language's headings.
fn check_guide(text: &str, ph: &Phrases) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    if text.trim().is_empty() {
        return Err(vec!["the guide is empty".into()]);
    }
    let lines: Vec<&str> = text.lines().collect();
    let headings: Vec<(usize, usize, String)> =
        lines.iter().enumerate().filter_map(|(i, l)| heading(l).map(|(lv, t)| (i, lv, t))).collect();
    for name in
        [ph.lab_objectives, ph.lab_prerequisites, ph.lab_time, ph.lab_steps, ph.lab_troubleshooting, ph.lab_cleanup]
    {
        if !headings.iter().any(|(_, _, t)| t.contains(&name.to_lowercase())) {
            errors.push(format!("missing the section heading \"## {name}\""));
        }
    }
    let steps_name = ph.lab_steps.to_lowercase();
    if let Some(pos) = headings.iter().position(|(_, _, t)| t.contains(&steps_name)) {
        let (start, level, _) = headings[pos];
        let end = headings[pos + 1..].iter().find(|(_, lv, _)| *lv <= level).map(|(i, _, _)| *i).unwrap_or(lines.len());
        let section = &lines[start + 1..end];
        let steps = section.iter().filter(|l| is_numbered(l)).count();
        let verify = ph.verify.to_lowercase();
        let checks = section.iter().filter(|l| l.to_lowercase().contains(&verify)).count();
        if steps < 2 {
            errors.push(format!("the \"{}\" section needs numbered steps (1., 2., ...)", ph.lab_steps));
        } else if checks < steps {
            errors.push(format!(
                "{steps} numbered steps but {checks} verification line(s): end every step with a line starting \"{}\"",
                ph.verify
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The request that writes one lab guide.
pub(crate) fn guide_request(brief: &LabGuideBrief, language: Language) -> StageResult<TextRequest> {
    let ph = phrases(language);
    let lang = language.name();
    let audience = list_or(&brief.course.audience, "practitioners");
    let system = format!(
        "You are a senior hands-on instructor who writes precise, tested lab guides for {audience}, in {lang}. \
         Commands and code are complete and runnable; every step says how to check it worked. You answer with \
         the guide in GitHub-flavoured Markdown only: no preamble, no closing remarks."
    );
    let mut p = format!(
        "Write the lab guide for lab {} \"{}\" of the course \"{}\".\nModule: {}\nLesson: {} (topics: {})\n",
        brief.lab_id,
        brief.title,
        brief.course.title,
        brief.module_title,
        brief.lesson_title,
        list_or(&brief.topics, "none")
    );
    if let Some(level) = &brief.course.level {
        p.push_str(&format!("Course level: {level}\n"));
    }
    if let Some(b) = &brief.bloom_level {
        p.push_str(&format!("Bloom level: {b}\n"));
    }
    let minutes = brief.duration_minutes.unwrap_or(30);
    p.push_str(&format!("Estimated time: {minutes} {}\n", ph.minutes));
    p.push_str(&format!("Objectives:\n{}\n", bullets(&brief.objectives)));
    p.push_str(&format!("Prerequisites:\n{}\n", bullets(&brief.prerequisites)));
    p.push_str(&format!(
        "\nStart with `# {title}`, then use exactly these level-2 headings, in this order: \"## {}\", \
         \"## {}\", \"## {}\", \"## {}\", \"## {}\", \"## {}\".\n\
         Under \"## {}\" number every step (1., 2., ...) and end each step with a line that starts with \"{}\" \
         saying how the learner checks the step worked (a command and its expected output where possible).\n\
         Under \"## {}\" list likely problems with their causes and fixes. Under \"## {}\" undo everything the lab \
         created. Write everything in {lang}.",
        ph.lab_objectives,
        ph.lab_prerequisites,
        ph.lab_time,
        ph.lab_steps,
        ph.lab_troubleshooting,
        ph.lab_cleanup,
        ph.lab_steps,
        ph.verify,
        ph.lab_troubleshooting,
        ph.lab_cleanup,
        title = brief.title
    ));
    Ok(TextRequest {
        task: TextTask::LabGuide,
        subject: format!("lab {}", brief.lab_id),
        system,
        prompt: p,
        max_tokens: 6000,
        temperature: 0.3,
        json_schema: None,
        brief: serde_json::to_value(brief).map_err(|e| StageError::Internal(format!("lab guide brief: {e}")))?,
    })
}

fn bullets(items: &[String]) -> String {
    if items.is_empty() {
        "- (none)".to_string()
    } else {
        items.iter().map(|i| format!("- {i}")).collect::<Vec<_>>().join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guides_need_every_section_and_a_verification_per_step() {
        let ph = phrases(Language::En);
        let good = "# Lab\n## Objectives\n- a\n## Prerequisites\n- b\n## Estimated time\n30 minutes\n## Steps\n\
                    1. Do x\n   Verify: x done\n2. Do y\n   Verify: y done\n## Troubleshooting\n- t\n## Cleanup\n- c\n";
        assert_eq!(check_guide(good, ph), Ok(()));
        let no_verify = good.replace("   Verify: y done\n", "");
        assert!(check_guide(&no_verify, ph).unwrap_err()[0].contains("verification"));
        let no_cleanup = good.replace("## Cleanup", "## Wrap-up");
        assert!(check_guide(&no_cleanup, ph).unwrap_err()[0].contains("Cleanup"));
    }

    #[test]
    fn lab_plan_answers_must_cover_exactly_the_expected_labs() {
        let a: LabPlanAnswer = serde_json::from_value(json!({"labs": [
            {"lab_id": "01-01-01", "objectives": ["a", "b"], "prerequisites": []},
            {"lab_id": "09-09-09", "objectives": ["a", "b"], "prerequisites": []}]}))
        .unwrap();
        let errors = check_lab_plan(&a, &["01-01-01".into(), "01-01-02".into()]);
        assert_eq!(errors.len(), 2, "{errors:?}");
    }
}
