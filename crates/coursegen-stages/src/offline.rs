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

use crate::brief::{LabGuideBrief, LabPlanBrief, LessonBrief, VisualPlanBrief};
use crate::common::{clip, stable_u32};
use crate::diagram::wrap;
use crate::lang::{fill, phrases, Phrases};

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
