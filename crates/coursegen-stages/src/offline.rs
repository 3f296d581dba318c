//! The offline providers: deterministic drafts built from each request's `brief`,
//! in the course language, clearly labelled as drafts; and SVG cards for illustrations. Same
//! request, same bytes. No network, no model.

use async_trait::async_trait;
use coursegen_book::escape;
use coursegen_core::{
    ImageModel, ImageRequest, ImageResponse, Language, ModelId, StageError, StageResult, TextModel, TextRequest,
    TextResponse, TextTask, Usage,
};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::brief::{LabGuideBrief, LabPlanBrief, LessonBrief, QuizBrief, VisualPlanBrief};
use crate::common::{clip, stable_u32};
use crate::diagram::wrap;
use crate::lang::{fill, phrases, quiz_phrases, Phrases};

/// Offline text provider: drafts of lessons, visual plans, lab plans and lab guides.
#[derive(Debug, Clone, Copy, Default)]
pub struct OfflineText;

/// Offline image provider: an SVG card with the visual id and the prompt text.
#[derive(Debug, Clone, Copy, Default)]
pub struct OfflineImage;

fn brief<T: DeserializeOwned>(request: &TextRequest) -> StageResult<T> {
    serde_json::from_value(request.brief.clone()).map_err(|e| {
        StageError::model(
            request.task.stage(),
            request.subject.clone(),
            format!("the offline provider needs the request's brief: {e}"),
        )
    })
}

fn language(code: &str) -> Language {
    Language::from_code(code).unwrap_or_default()
}

fn estimate(request: &TextRequest, output: &str) -> Usage {
    let input_chars = request.system.chars().count() + request.prompt.chars().count();
    Usage {
        input_tokens: input_chars.div_ceil(4) as u64,
        output_tokens: output.chars().count().div_ceil(4) as u64,
        calls: 1,
    }
}

#[async_trait]
impl TextModel for OfflineText {
    fn id(&self) -> ModelId {
        ModelId { provider: "offline".into(), model: "offline-draft-v1".into() }
    }

    async fn generate(&self, request: &TextRequest) -> StageResult<TextResponse> {
        let (text, structured) = match request.task {
            TextTask::Lesson => (lesson(&brief(request)?), None),
            TextTask::VisualPlan => {
                let v = visual_plan(&brief(request)?);
                (pretty(&v), Some(v))
            }
            TextTask::LabPlan => {
                let v = lab_plan(&brief(request)?);
                (pretty(&v), Some(v))
            }
            TextTask::LabGuide => (lab_guide(&brief(request)?), None),
            TextTask::Quiz => {
                let v = quiz(&brief(request)?);
                (pretty(&v), Some(v))
            }
        };
        let usage = estimate(request, &text);
        Ok(TextResponse { text, structured, usage })
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// The topics of a lesson, or its title when it lists none.
fn topics_or_title(topics: &[String], title: &str) -> Vec<String> {
    let t: Vec<String> = topics.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    if t.is_empty() {
        vec![title.to_string()]
    } else {
        t
    }
}

/// Topic diagrams per offline lesson (plus one closing illustration: 3 to 5 visuals in all).
const MIN_DIAGRAMS: usize = 2;
const MAX_DIAGRAMS: usize = 4;

fn lesson(b: &LessonBrief) -> String {
    let ph = phrases(language(&b.language));
    let topics = topics_or_title(&b.topics, &b.title);
    let vars_base =
        [("lesson", b.title.as_str()), ("module", b.module_title.as_str()), ("course", b.course.title.as_str())];
    let mut out = format!("# {}\n\n> {}\n\n", b.title, ph.offline_marker);
    let topic_list = topics.join(", ");
    out.push_str(&fill(ph.intro, &[("module", &b.module_title), ("course", &b.course.title), ("topics", &topic_list)]));
    if let Some(summary) = b.summary.as_deref().filter(|s| !s.trim().is_empty()) {
        out.push(' ');
        out.push_str(summary.trim());
    }
    out.push_str(&format!("\n\n## {}\n\n", ph.objectives));
    for (i, template) in ph.objective_templates.iter().enumerate() {
        let topic = &topics[i % topics.len()];
        out.push_str(&format!("- {}\n", fill(template, &[("topic", topic)])));
    }

    let mut visuals = 0;
    for topic in &topics {
        out.push_str(&format!("\n## {topic}\n\n"));
        let h = stable_u32(&format!("{}|{}|{topic}", b.course.title, b.title)) as usize;
        let count = 2 + h % 2;
        for k in 0..count {
            let template = ph.paragraphs[(h + k * 2) % ph.paragraphs.len()];
            let mut vars = vars_base.to_vec();
            vars.push(("topic", topic));
            out.push_str(&fill(template, &vars));
            out.push_str("\n\n");
        }
        if visuals < MAX_DIAGRAMS {
            out.push_str(&format!("[VISUAL: {}]\n", fill(ph.visual, &[("topic", topic)])));
            visuals += 1;
        }
    }

    for extra in ph.visual_extra.iter().take(MIN_DIAGRAMS.saturating_sub(visuals)) {
        out.push_str(&format!("[VISUAL: {}]\n", fill(extra, &vars_base)));
    }

    out.push_str(&format!("\n## {}\n\n", ph.lab_activity));
    if b.lab_activities.is_empty() {
        out.push_str(ph.no_lab);
        out.push('\n');
    } else {
        for lab in &b.lab_activities {
            out.push_str(&format!("- **{lab}**: {}\n", fill(ph.lab_intro, &[("lab", lab), ("lesson", &b.title)])));
        }
    }
    out.push_str(&format!("\n[VISUAL: {}]\n", fill(ph.visual_illustration, &vars_base)));

    out.push_str(&format!("\n## {}\n\n", ph.summary));
    out.push_str(&fill(ph.summary_text, &[("topics", &topic_list), ("module", &b.module_title)]));
    out.push_str(&format!("\n\n## {}\n\n", ph.review));
    for (i, q) in ph.questions.iter().enumerate() {
        let topic = &topics[i % topics.len()];
        out.push_str(&format!("{}. {}\n", i + 1, fill(q, &[("topic", topic)])));
    }
    out
}

/// Diagram nodes from a free-text description: the parts of an arrow chain, else of a list,
/// else the words in up to three groups; at least two, at most eight.
/// A description without a short leading label such as `Diagram:` or `Illustration:`.
fn strip_label(description: &str) -> &str {
    match description.split_once(':') {
        Some((label, rest)) if label.chars().count() <= 24 && !label.contains('→') && !rest.trim().is_empty() => {
            rest.trim()
        }
        _ => description.trim(),
    }
}

fn nodes_from(description: &str, ph: &Phrases) -> Vec<String> {
    let body = strip_label(description);
    let arrows: Vec<&str> = body.split(['→', '⇒']).flat_map(|p| p.split("->")).collect();
    let mut parts: Vec<String> = if arrows.len() >= 2 {
        arrows.iter().map(|s| s.trim().to_string()).collect()
    } else {
        body.split([',', ';']).map(|s| s.trim().to_string()).collect()
    };
    parts.retain(|p| !p.is_empty());
    if parts.len() < 2 {
        let words: Vec<&str> = body.split_whitespace().collect();
        parts = if words.len() >= 2 {
            let groups = words.len().min(3);
            let size = words.len().div_ceil(groups);
            words.chunks(size).map(|c| c.join(" ")).collect()
        } else {
            ph.generic_nodes.iter().map(|s| s.to_string()).collect()
        };
    }
    parts.into_iter().take(8).map(|p| clip(&p, 60)).collect()
}

fn visual_plan(b: &VisualPlanBrief) -> Value {
    let ph = phrases(language(&b.language));
    let n = b.visuals.len();
    let visuals: Vec<Value> = b
        .visuals
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let fallback = ph.generic_nodes.join(" → ");
            let description = if v.description.trim().is_empty() { fallback.as_str() } else { v.description.trim() };
            let illustration = n >= 3 && i + 1 == n;
            let nodes = nodes_from(description, ph);
            if illustration {
                let description = strip_label(description);
                let mut chars = description.chars();
                let capitalised: String =
                    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
                let title = clip(if capitalised.is_empty() { &fallback } else { &capitalised }, 100);
                json!({
                    "index": v.index,
                    "kind": "illustration",
                    "title": title,
                    "alt_text": clip(&fill(ph.alt_illustration, &[("desc", description)]), 500),
                    "prompt": clip(&format!(
                        "Clean, friendly flat vector illustration for the lesson \"{}\" of the course \"{}\": {}. \
                         Soft colours, plenty of white space, no text in the image.",
                        b.lesson_title, b.course_title, description
                    ), 1900),
                    "diagram": {"layout": "boxes", "nodes": nodes, "edges": []},
                })
            } else {
                let layout = ["flow", "steps", "boxes"][i % 3];
                let edges: Vec<Value> = if layout == "boxes" {
                    (1..nodes.len()).map(|k| json!({"from": 0, "to": k})).collect()
                } else {
                    (1..nodes.len()).map(|k| json!({"from": k - 1, "to": k})).collect()
                };
                let title = clip(&nodes[0], 100);
                let alt = fill(ph.alt_diagram, &[("title", &title), ("nodes", &nodes.join(" → "))]);
                json!({
                    "index": v.index,
                    "kind": "diagram",
                    "title": title,
                    "alt_text": clip(&alt, 500),
                    "prompt": clip(description, 1900),
                    "diagram": {"layout": layout, "nodes": nodes, "edges": edges},
                })
            }
        })
        .collect();
    json!({ "visuals": visuals })
}

/// Text cut at a word boundary to at most `max` characters.
fn clip_words(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out = String::new();
    for word in text.split_whitespace() {
        if out.chars().count() + word.chars().count() + usize::from(!out.is_empty()) > max {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.is_empty() {
        text.chars().take(max).collect()
    } else {
        out
    }
}

/// The lesson's first line of prose mentioning `needle` (any line of prose when none does):
/// the passage an offline quiz question cites.
fn passage(lesson_text: &str, needle: &str) -> String {
    let prose: Vec<&str> = lesson_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('>') && !l.starts_with('[') && !l.starts_with('#'))
        .collect();
    let wanted = needle.to_lowercase();
    let line = prose.iter().find(|l| l.to_lowercase().contains(&wanted)).or(prose.first()).copied().unwrap_or(needle);
    clip_words(line.trim_start_matches(['-', '*', ' ']), 400)
}

/// Four distinct options with `right` at a position picked from `seed`, the others from
/// `wrong` (then the fillers): the options and the right one's index.
fn four_options(right: &str, wrong: &[String], fillers: &[&str], seed: u32) -> (Vec<String>, usize) {
    let norm = coursegen_core::quiz::normalize;
    let right = clip_words(right, 160);
    let mut seen = vec![norm(&right)];
    let mut others = Vec::new();
    let start = seed as usize;
    let pool: Vec<String> = (0..wrong.len())
        .map(|i| wrong[(start + i) % wrong.len()].clone())
        .chain(fillers.iter().map(|f| f.to_string()))
        .collect();
    for candidate in pool {
        let candidate = clip_words(&candidate, 160);
        let n = norm(&candidate);
        if n.is_empty() || seen.contains(&n) {
            continue;
        }
        seen.push(n);
        others.push(candidate);
        if others.len() == 3 {
            break;
        }
    }
    let at = (seed as usize / 7) % 4;
    let mut options = others;
    options.insert(at.min(options.len()), right);
    (options, at)
}

/// What an offline quiz may ask about: the outline's topics the lesson's text mentions, then
/// the lesson's own headings, then its title; never empty.
fn quiz_facts(b: &QuizBrief) -> Vec<String> {
    let norm = coursegen_core::quiz::normalize;
    let text = norm(&b.lesson_text);
    let mut facts: Vec<String> = Vec::new();
    let push = |facts: &mut Vec<String>, candidate: &str| {
        let c = clip_words(candidate.trim(), 120);
        if !norm(&c).is_empty() && !facts.iter().any(|f| norm(f) == norm(&c)) {
            facts.push(c);
        }
    };
    for topic in &b.topics {
        if !norm(topic).is_empty() && text.contains(&norm(topic)) {
            push(&mut facts, topic);
        }
    }
    for line in b.lesson_text.lines() {
        if let Some(heading) = line.trim().strip_prefix('#') {
            push(&mut facts, heading.trim_start_matches('#'));
        }
    }
    if facts.is_empty() {
        let first = b.lesson_text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or(&b.lesson_title);
        push(&mut facts, &clip_words(first, 60));
    }
    if facts.is_empty() {
        facts.push(b.lesson_title.clone());
    }
    facts
}

/// An offline quiz: five questions about what the outline says the lesson covers (as far as
/// the lesson's text mentions it), each citing the lesson's own text.
fn quiz(b: &QuizBrief) -> Value {
    let qp = quiz_phrases(language(&b.language));
    let norm = coursegen_core::quiz::normalize;
    let lesson_words = norm(&b.lesson_text);
    let own = |t: &str| lesson_words.contains(&norm(t));
    let other_topics: Vec<String> = b.other_topics.iter().filter(|t| !own(t)).cloned().collect();
    let other_modules: Vec<String> = b.other_modules.iter().filter(|t| !own(t)).cloned().collect();
    let fillers: Vec<&str> = qp.fillers.iter().copied().filter(|f| !own(f)).collect();
    let facts = quiz_facts(b);
    let seed = stable_u32(&format!("{}|{}|{}", b.course_title, b.module_number, b.lesson_title));
    let say = |template: &str, topic: &str| {
        fill(template, &[("lesson", &b.lesson_title), ("module", &b.module_title), ("topic", topic)])
    };
    let choice = |template: &str, right: &str, wrong: &[String], seed: u32, explain: &str| {
        let (options, answer) = four_options(right, wrong, &fillers, seed);
        json!({
            "kind": "choice",
            "prompt": say(template, right),
            "options": options,
            "answer": answer,
            "explanation": say(explain, right),
            "evidence": passage(&b.lesson_text, right),
        })
    };
    let fact = |i: usize| facts[i % facts.len()].as_str();
    let fourth = if !b.module_title.trim().is_empty() && own(&b.module_title) {
        choice(qp.which_module, &b.module_title, &other_modules, seed.rotate_left(11), qp.explain_module)
    } else {
        choice(qp.which_mention, fact(2), &other_topics, seed.rotate_left(11), qp.explain_topic)
    };
    let mut answers: Vec<String> = Vec::new();
    for f in &facts {
        let a = clip_words(f, coursegen_core::quiz::MAX_SHORT_ANSWER_CHARS);
        if !answers.iter().any(|x| norm(x) == norm(&a)) {
            answers.push(a);
        }
        if answers.len() == coursegen_core::quiz::MAX_SHORT_ANSWERS {
            break;
        }
    }
    json!({"questions": [
        choice(qp.which_topic, fact(0), &other_topics, seed, qp.explain_topic),
        choice(qp.which_section, fact(1), &other_topics, seed.rotate_left(5), qp.explain_topic),
        {
            "kind": "true_false",
            "prompt": say(qp.belongs, fact(0)),
            "answer": true,
            "explanation": say(qp.explain_module, fact(0)),
            "evidence": passage(&b.lesson_text, &b.module_title),
        },
        fourth,
        {
            "kind": "short",
            "prompt": say(qp.name_topic, fact(0)),
            "answers": answers,
            "explanation": say(qp.explain_short, fact(0)),
            "evidence": passage(&b.lesson_text, fact(0)),
        },
    ]})
}

fn lab_plan(b: &LabPlanBrief) -> Value {
    let ph = phrases(language(&b.language));
    let labs: Vec<Value> = b
        .labs
        .iter()
        .map(|l| {
            let vars =
                [("lab", l.title.as_str()), ("lesson", l.lesson_title.as_str()), ("module", l.module_title.as_str())];
            json!({
                "lab_id": l.lab_id,
                "objectives": ph.lab_objective_templates.iter().map(|t| fill(t, &vars)).collect::<Vec<_>>(),
                "prerequisites": ph.lab_prereq_templates.iter().map(|t| fill(t, &vars)).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "labs": labs })
}

fn lab_guide(b: &LabGuideBrief) -> String {
    let ph = phrases(language(&b.language));
    let topic = b.topics.first().map(String::as_str).unwrap_or(b.lesson_title.as_str());
    let vars = [
        ("lab", b.title.as_str()),
        ("lesson", b.lesson_title.as_str()),
        ("module", b.module_title.as_str()),
        ("topic", topic),
    ];
    let mut out = format!("# {}\n\n> {}\n\n## {}\n\n", b.title, ph.offline_marker, ph.lab_objectives);
    let objectives: Vec<String> = if b.objectives.is_empty() {
        ph.lab_objective_templates.iter().map(|t| fill(t, &vars)).collect()
    } else {
        b.objectives.clone()
    };
    for o in &objectives {
        out.push_str(&format!("- {o}\n"));
    }
    out.push_str(&format!("\n## {}\n\n", ph.lab_prerequisites));
    let prerequisites: Vec<String> = if b.prerequisites.is_empty() {
        ph.lab_prereq_templates.iter().map(|t| fill(t, &vars)).collect()
    } else {
        b.prerequisites.clone()
    };
    for p in &prerequisites {
        out.push_str(&format!("- {p}\n"));
    }
    out.push_str(&format!("\n## {}\n\n{} {}\n", ph.lab_time, b.duration_minutes.unwrap_or(30), ph.minutes));
    out.push_str(&format!("\n## {}\n\n", ph.lab_steps));
    for (i, (step, check)) in ph.step_templates.iter().zip(ph.verify_templates.iter()).enumerate() {
        out.push_str(&format!("{}. {}\n   {} {}\n", i + 1, fill(step, &vars), ph.verify, fill(check, &vars)));
    }
    out.push_str(&format!("\n## {}\n\n", ph.lab_troubleshooting));
    for t in &ph.troubleshooting {
        out.push_str(&format!("- {}\n", fill(t, &vars)));
    }
    out.push_str(&format!("\n## {}\n\n{}\n", ph.lab_cleanup, fill(ph.cleanup, &vars)));
    out
}

const CARD_COLOURS: [(&str, &str, &str); 6] = [
    ("#f0f9ff", "#e0f2fe", "#0369a1"),
    ("#f0fdf4", "#dcfce7", "#15803d"),
    ("#fffbeb", "#fef3c7", "#b45309"),
    ("#faf5ff", "#ede9fe", "#6d28d9"),
    ("#fff1f2", "#ffe4e6", "#be123c"),
    ("#f8fafc", "#e2e8f0", "#334155"),
];

#[async_trait]
impl ImageModel for OfflineImage {
    fn id(&self) -> ModelId {
        ModelId { provider: "offline".into(), model: "offline-svg-v1".into() }
    }

    async fn generate(&self, request: &ImageRequest) -> StageResult<ImageResponse> {
        let w = if request.width == 0 { 1024 } else { request.width.min(4096) };
        let h = if request.height == 0 { 1024 } else { request.height.min(4096) };
        let (bg, card, ink) = CARD_COLOURS[request.seed as usize % CARD_COLOURS.len()];
        let font = (w / 40).clamp(12, 32);
        let chars = ((w.saturating_sub(160)) / (font * 6 / 10).max(1)).max(10) as usize;
        let max_lines = ((h.saturating_sub(220)) / (font + font / 2).max(1)).max(1) as usize;
        let mut lines = wrap(&request.prompt, chars);
        if lines.len() > max_lines {
            lines.truncate(max_lines);
            if let Some(last) = lines.last_mut() {
                last.push('…');
            }
        }
        // Text nodes escaped with `attr` too: quotes stay escaped, so the cards keep their bytes.
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" \
             role=\"img\" font-family=\"Helvetica, Arial, sans-serif\">\n<title>{}</title>\n<desc>{}</desc>\n\
             <rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"{bg}\"/>\n\
             <rect x=\"40\" y=\"40\" width=\"{}\" height=\"{}\" rx=\"28\" fill=\"{card}\" stroke=\"{ink}\" \
             stroke-width=\"4\"/>\n<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{ink}\" fill-opacity=\"0.12\"/>\n\
             <text x=\"80\" y=\"{}\" font-size=\"{}\" font-weight=\"bold\" fill=\"{ink}\">{}</text>\n",
            escape::attr(&request.visual_id),
            escape::attr(&request.prompt),
            w.saturating_sub(80),
            h.saturating_sub(80),
            w.saturating_sub(140),
            h.saturating_sub(140),
            (w.min(h) / 6).max(10),
            80 + font,
            font + 4,
            escape::attr(&format!("Illustration {}", request.visual_id)),
        );
        for (i, line) in lines.iter().enumerate() {
            s.push_str(&format!(
                "<text x=\"80\" y=\"{}\" font-size=\"{font}\" fill=\"#0f172a\">{}</text>\n",
                140 + font as usize * 2 + i * (font as usize * 3 / 2),
                escape::attr(line)
            ));
        }
        s.push_str("</svg>\n");
        Ok(ImageResponse { bytes: s.into_bytes(), content_type: "image/svg+xml".into(), extension: "svg".into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_come_from_arrow_chains_lists_or_words() {
        let ph = phrases(Language::En);
        assert_eq!(nodes_from("Diagram: Pods → Services → Ingress", ph), ["Pods", "Services", "Ingress"]);
        assert_eq!(nodes_from("build, test, deploy", ph), ["build", "test", "deploy"]);
        assert_eq!(nodes_from("a b c d e f", ph), ["a b", "c d", "e f"]);
        assert_eq!(nodes_from("x", ph), ["Input", "Process", "Result"]);
        assert_eq!(nodes_from("", ph).len(), 3);
    }
}
