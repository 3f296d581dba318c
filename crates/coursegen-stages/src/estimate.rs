//! What a run will cost, predicted from the outline and the request alone: no model call, no
//! store access.
//!
//! The estimate is a table of call models ([`CALL_MODELS`]), one per kind of model call a
//! stage makes. Each predicts its calls, input and output tokens and images for the selected
//! modules. Input tokens come from the real prompts: the stages' own request builders render
//! each lesson's, visual plan's, lab plan's and lab guide's request from the outline (with
//! stand-ins of typical length for what only an earlier answer would fill in: tag descriptions,
//! lab objectives), and the characters of the system prompt, the prompt and any JSON schema are
//! divided by the language's characters per token. Output tokens follow what the prompts ask
//! for: a lesson's target words (ContentGen's `target_words`) times the language's
//! tokens per word, a visual plan's entries, a lab guide's length from its duration. Images are
//! the illustrations among the visuals (diagrams are drawn locally). The constants are below,
//! each documented; `docs/cost.md` shows how close the estimate comes to measured runs.
//!
//! The estimate prices tokens with the same [`Prices`] and [`CostLedger`] as the manifest.

use coursegen_core::cost::{CostLedger, CostReport};
use coursegen_core::prices::{Prices, STANDARD_QUALITY};
use coursegen_core::{ContentType, Language, ModelId, Outline, StageResult, TextRequest, Usage};
use serde::Serialize;

use crate::brief::{CourseFacts, LabGuideBrief, VisualPlanBrief, VisualToPlan};
use crate::content::{lesson_brief, lesson_request, module_plan};
use crate::labs::{guide_request, lab_plan_request, module_labs};
use crate::visuals::plan_request;
use crate::Stage;

/// Whether the per-lesson quiz call (written in the VisualPlanner step, beside the visual plan)
/// is part of the estimate.
pub const QUIZ_CALL_ENABLED: bool = true;
/// Input tokens of the quiz call besides the lesson text it reads: its instructions.
pub const QUIZ_INSTRUCTION_TOKENS: u64 = 400;
/// Output tokens of the quiz call: a structured answer of a few questions.
pub const QUIZ_OUTPUT_TOKENS: u64 = 600;

/// Visual tags per lesson: the lesson prompt asks for 3 to 5.
pub const VISUALS_PER_LESSON: u32 = 4;
/// The share of visuals planned as illustrations (sent to the image model); the rest are
/// diagrams drawn locally. The plan prompt prefers diagrams for technical content; half is
/// what runs against the simulator and the worked example in `docs/deploy.md` see.
pub const ILLUSTRATION_SHARE: f64 = 0.5;
/// Words of a tag description ("[VISUAL: ...]"), for the visual plan prompt's stand-ins.
pub const VISUAL_DESCRIPTION_WORDS: usize = 20;
/// Output tokens a lesson's visual tags add to its text (not counted in its target words).
pub const VISUAL_TAG_TOKENS: u64 = 30;
/// Output tokens per planned visual: title, alt text, image prompt, diagram nodes and edges.
pub const PLAN_TOKENS_PER_VISUAL: u64 = 200;
/// Output tokens per lab in the lab plan: a few objectives and prerequisites.
pub const LAB_PLAN_TOKENS_PER_LAB: u64 = 100;
/// Lab guide length: words per minute of the lab's duration (30 minutes when not given).
pub const LAB_GUIDE_WORDS_PER_MINUTE: u32 = 25;
/// Lab guide length bounds, in words.
pub const LAB_GUIDE_WORDS: (u32, u32) = (600, 2500);
/// Objectives a lab guide prompt lists (the lab plan fills them in), and their words, for its
/// stand-ins; prerequisites likewise.
const LAB_OBJECTIVES: (usize, usize) = (4, 12);
const LAB_PREREQUISITES: (usize, usize) = (2, 6);
/// Characters a structured call adds around its prompt and schema (the tool's name and
/// description, the "submit your answer" line).
const STRUCTURED_WRAPPER_CHARS: usize = 200;

/// How text in a language turns into tokens. Rules of thumb for current tokenizers
/// (English ≈ 4 characters or 0.75 words a token; Romance languages and German need more tokens
/// for the same text); the written text's ratio is a little above prose's for the Markdown,
/// lists and code a lesson carries.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LanguageRatios {
    /// Characters per token of a prompt (system prompt, prompt, JSON schema).
    pub chars_per_token: f64,
    /// Tokens per word of text the model writes in the course language.
    pub tokens_per_word: f64,
}

/// The ratios of `language`.
pub fn ratios(language: Language) -> LanguageRatios {
    let (chars_per_token, tokens_per_word) = match language {
        Language::En => (4.0, 1.5),
        Language::Es | Language::Fr | Language::Pt | Language::It => (3.6, 1.7),
        Language::De => (3.4, 1.9),
    };
    LanguageRatios { chars_per_token, tokens_per_word }
}

/// Which branch of the workflow a call belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Lessons, visuals and images (`theory`, `both`).
    Theory,
    /// Lab plan and guides (`labs`, `both`).
    Labs,
}

/// One kind of model call a stage makes, and how to predict it.
pub struct CallModel {
    /// The call's name in the estimate (`Lesson`, `VisualPlan`, `Quiz`, ...).
    pub name: &'static str,
    /// The stage that makes it.
    pub stage: Stage,
    /// The workflow branch it runs in.
    pub part: Part,
    /// Whether it is estimated.
    pub enabled: bool,
    /// Its calls, tokens and images for the selection.
    pub predict: fn(&Selection<'_>) -> StageResult<Prediction>,
    /// How the prediction is made, one line (shown with the estimate).
    pub basis: &'static str,
}

/// The call models, in workflow order. A new kind of call is one more entry.
pub const CALL_MODELS: &[CallModel] = &[
    CallModel {
        name: "Lesson",
        stage: Stage::ContentGen,
        part: Part::Theory,
        enabled: true,
        predict: predict_lessons,
        basis: "one call per lesson: its real prompt in; its target words x tokens per word, plus its visual tags, out",
    },
    CallModel {
        name: "VisualPlan",
        stage: Stage::VisualPlanner,
        part: Part::Theory,
        enabled: true,
        predict: predict_visual_plans,
        basis:
            "one structured call per lesson: the real plan prompt and schema for 4 visuals in; 200 tokens a visual out",
    },
    CallModel {
        name: "Quiz",
        stage: Stage::VisualPlanner,
        part: Part::Theory,
        enabled: QUIZ_CALL_ENABLED,
        predict: predict_quizzes,
        basis: "one structured call per lesson: the lesson's text plus 400 tokens of instructions in, 600 out",
    },
    CallModel {
        name: "Image",
        stage: Stage::ImagesGen,
        part: Part::Theory,
        enabled: true,
        predict: predict_images,
        basis: "one image per illustration: half of 4 visuals a lesson; diagrams are drawn locally",
    },
    CallModel {
        name: "LabPlan",
        stage: Stage::LabPlanner,
        part: Part::Labs,
        enabled: true,
        predict: predict_lab_plan,
        basis: "one structured call for every selected lab: the real prompt and schema in; 100 tokens a lab out",
    },
    CallModel {
        name: "LabGuide",
        stage: Stage::LabWriter,
        part: Part::Labs,
        enabled: true,
        predict: predict_lab_guides,
        basis:
            "one call per lab: its real prompt in; 25 words a minute of the lab (600 to 2,500) x tokens per word out",
    },
];

/// What is estimated: the outline, the selected modules, the content and the models.
#[derive(Debug, Clone)]
pub struct EstimateRequest<'a> {
    /// The outline.
    pub outline: &'a Outline,
    /// The selected modules (numbers from 1), as the normalised request lists them.
    pub modules: &'a [u32],
    /// Theory, labs or both.
    pub content: ContentType,
    /// The text model every text call goes to.
    pub text_model: ModelId,
    /// The image model illustrations go to.
    pub image_model: ModelId,
    /// The size images are asked for.
    pub image_size: (u32, u32),
}

/// The selection a call model predicts for, with the language's ratios.
pub struct Selection<'a> {
    request: &'a EstimateRequest<'a>,
    ratios: LanguageRatios,
}

impl Selection<'_> {
    /// (module number, module, lesson number, lesson) for every selected lesson.
    fn lessons(&self) -> impl Iterator<Item = (u32, &coursegen_core::Module, u32, &coursegen_core::Lesson)> {
        self.request.modules.iter().filter_map(|m| self.request.outline.module(*m).map(|module| (*m, module))).flat_map(
            |(m, module)| module.lessons.iter().enumerate().map(move |(li, lesson)| (m, module, li as u32 + 1, lesson)),
        )
    }

    fn language(&self) -> Language {
        self.request.outline.course.language
    }

    /// Tokens of a prompt's characters.
    fn prompt_tokens(&self, chars: usize) -> u64 {
        (chars as f64 / self.ratios.chars_per_token).ceil() as u64
    }

    /// Input tokens of a request: its system prompt, prompt and schema.
    fn request_tokens(&self, request: &TextRequest) -> u64 {
        let mut chars = request.system.chars().count() + request.prompt.chars().count();
        if let Some(schema) = &request.json_schema {
            chars += schema.to_string().chars().count() + STRUCTURED_WRAPPER_CHARS;
        }
        self.prompt_tokens(chars)
    }

    /// Tokens of `words` words written in the course language.
    fn written_tokens(&self, words: u32) -> u64 {
        (f64::from(words) * self.ratios.tokens_per_word).round() as u64
    }

    /// The output tokens of one lesson.
    fn lesson_tokens(&self, target_words: u32) -> u64 {
        self.written_tokens(target_words) + u64::from(VISUALS_PER_LESSON) * VISUAL_TAG_TOKENS
    }
}

/// A call model's prediction for the selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Prediction {
    /// Model calls.
    pub calls: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Images generated.
    pub images: u64,
}

impl Prediction {
    fn text(&mut self, input: u64, output: u64) {
        self.calls += 1;
        self.input_tokens += input;
        self.output_tokens += output;
    }
}

fn predict_lessons(sel: &Selection<'_>) -> StageResult<Prediction> {
    let mut p = Prediction::default();
    for (m, module, l, lesson) in sel.lessons() {
        let brief = lesson_brief(sel.request.outline, module, m, lesson, l, &module_plan(module));
        let request = lesson_request(&brief, sel.language())?;
        p.text(sel.request_tokens(&request), sel.lesson_tokens(brief.target_words));
    }
    Ok(p)
}

/// A stand-in text of `n` words about `title` (a tag description, a lab objective), for
/// what only an earlier answer fills in.
fn stand_in(title: &str, n: usize) -> String {
    let mut words: Vec<&str> = vec!["how"];
    let topic: Vec<&str> = title.split_whitespace().collect();
    while words.len() < n {
        words.extend(topic.iter().take(n - words.len()));
        if topic.is_empty() {
            words.push("component");
        }
    }
    words.truncate(n);
    words.join(" ")
}

fn predict_visual_plans(sel: &Selection<'_>) -> StageResult<Prediction> {
    let mut p = Prediction::default();
    for (m, module, l, lesson) in sel.lessons() {
        let brief = VisualPlanBrief {
            language: sel.language().code().to_string(),
            course_title: sel.request.outline.course.title.clone(),
            module_number: m,
            module_title: module.title.clone(),
            lesson_number: l,
            lesson_title: lesson.title.clone(),
            visuals: (1..=VISUALS_PER_LESSON)
                .map(|index| VisualToPlan { index, description: stand_in(&lesson.title, VISUAL_DESCRIPTION_WORDS) })
                .collect(),
        };
        let request = plan_request(&brief, sel.language())?;
        p.text(sel.request_tokens(&request), u64::from(VISUALS_PER_LESSON) * PLAN_TOKENS_PER_VISUAL);
    }
    Ok(p)
}

fn predict_quizzes(sel: &Selection<'_>) -> StageResult<Prediction> {
    let mut p = Prediction::default();
    for (_, _, _, lesson) in sel.lessons() {
        let target = crate::content::target_words(lesson.duration_minutes, lesson.bloom_level.as_deref());
        p.text(sel.lesson_tokens(target) + QUIZ_INSTRUCTION_TOKENS, QUIZ_OUTPUT_TOKENS);
    }
    Ok(p)
}

fn predict_images(sel: &Selection<'_>) -> StageResult<Prediction> {
    let lessons = sel.lessons().count() as f64;
    let images = (lessons * f64::from(VISUALS_PER_LESSON) * ILLUSTRATION_SHARE).round() as u64;
    Ok(Prediction { calls: images, images, ..Prediction::default() })
}

/// Every lab of the selected modules, as LabPlanner lists them.
fn selected_labs(sel: &Selection<'_>) -> Vec<coursegen_core::contracts::LabSpec> {
    sel.request.modules.iter().flat_map(|m| module_labs("estimate", sel.request.outline, *m)).collect()
}

fn predict_lab_plan(sel: &Selection<'_>) -> StageResult<Prediction> {
    let labs = selected_labs(sel);
    let mut p = Prediction::default();
    if !labs.is_empty() {
        let facts = CourseFacts::of(&sel.request.outline.course);
        let request = lab_plan_request(sel.request.outline, &facts, &labs)?;
        p.text(sel.request_tokens(&request), labs.len() as u64 * LAB_PLAN_TOKENS_PER_LAB);
    }
    Ok(p)
}

fn predict_lab_guides(sel: &Selection<'_>) -> StageResult<Prediction> {
    let facts = CourseFacts::of(&sel.request.outline.course);
    let mut p = Prediction::default();
    for mut spec in selected_labs(sel) {
        // No lab plan yet: stand-ins of the lengths a plan gives.
        spec.objectives = vec![stand_in(&spec.title, LAB_OBJECTIVES.1); LAB_OBJECTIVES.0];
        spec.prerequisites = vec![stand_in(&spec.title, LAB_PREREQUISITES.1); LAB_PREREQUISITES.0];
        let brief = LabGuideBrief::of(&spec, sel.language(), facts.clone());
        let request = guide_request(&brief, sel.language())?;
        let words = (spec.duration_minutes.unwrap_or(30).saturating_mul(LAB_GUIDE_WORDS_PER_MINUTE))
            .clamp(LAB_GUIDE_WORDS.0, LAB_GUIDE_WORDS.1);
        p.text(sel.request_tokens(&request), sel.written_tokens(words));
    }
    Ok(p)
}

/// One call model's line of the estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallEstimate {
    /// The call model's name.
    pub call: &'static str,
    /// The stage that makes the call.
    pub stage: &'static str,
    /// The model it goes to (`provider:model`).
    pub model: String,
    /// Calls, tokens and images.
    #[serde(flatten)]
    pub prediction: Prediction,
    /// USD; `None` when the model has no price.
    pub usd: Option<f64>,
    /// How it was predicted.
    pub basis: &'static str,
}

/// The estimate of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// Per call model, in workflow order (only those of the requested content).
    pub calls: Vec<CallEstimate>,
    /// The cost per stage and in total, priced like the manifest's.
    pub cost: CostReport,
    /// The course language's ratios the tokens were predicted with.
    pub language: String,
    /// Those ratios.
    pub ratios: LanguageRatios,
    /// Quota-bound times, when a quota is known (see [`quota_time`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quota: Vec<QuotaTime>,
}

impl Estimate {
    /// Text calls and the tokens they use (input, output).
    pub fn text_totals(&self) -> Prediction {
        let mut t = Prediction::default();
        for c in self.calls.iter().filter(|c| c.prediction.images == 0) {
            t.calls += c.prediction.calls;
            t.input_tokens += c.prediction.input_tokens;
            t.output_tokens += c.prediction.output_tokens;
        }
        t
    }

    /// Image calls.
    pub fn image_calls(&self) -> u64 {
        self.calls.iter().map(|c| c.prediction.images).sum()
    }
}

/// Predict the calls, tokens, images and cost of a run of `request` from scratch (outputs a
/// store already holds would be reused and cost nothing).
pub fn estimate(request: &EstimateRequest<'_>, prices: &Prices) -> StageResult<Estimate> {
    let language = request.outline.course.language;
    let sel = Selection { request, ratios: ratios(language) };
    let wants = |part: Part| {
        matches!(
            (part, request.content),
            (Part::Theory, ContentType::Theory | ContentType::Both)
                | (Part::Labs, ContentType::Labs | ContentType::Both)
        )
    };
    let mut calls = Vec::new();
    let mut ledger = CostLedger::new();
    for model in CALL_MODELS.iter().filter(|m| m.enabled && wants(m.part)) {
        let p = (model.predict)(&sel)?;
        let is_image = model.stage == Stage::ImagesGen;
        let target = if is_image { &request.image_model } else { &request.text_model };
        let (w, h) = request.image_size;
        let charge = if is_image {
            ledger.add_images(model.stage.name(), target, p.images, w, h, STANDARD_QUALITY);
            prices.charge_images(target, p.images, w, h, STANDARD_QUALITY)
        } else {
            let usage = Usage { input_tokens: p.input_tokens, output_tokens: p.output_tokens, calls: p.calls };
            ledger.add_text(model.stage.name(), target, &usage);
            prices.charge_text(target, p.input_tokens, p.output_tokens)
        };
        calls.push(CallEstimate {
            call: model.name,
            stage: model.stage.name(),
            model: target.to_string(),
            prediction: p,
            usd: charge.usd().map(coursegen_core::cost::round_usd),
            basis: model.basis,
        });
    }
    Ok(Estimate {
        calls,
        cost: ledger.report(prices),
        language: language.code().to_string(),
        ratios: sel.ratios,
        quota: Vec::new(),
    })
}

/// A requests- and tokens-per-minute quota for the text model (and optionally images).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quota {
    /// Where it comes from (`--rpm/--tpm`, `BEDROCK_RPM/BEDROCK_TPM`).
    pub source: String,
    /// Text requests per minute.
    pub rpm: Option<u32>,
    /// Text tokens per minute.
    pub tpm: Option<u64>,
    /// Image requests per minute.
    pub image_rpm: Option<u32>,
    /// Tokens of the quota one output token uses (Bedrock's burndown: 5 for Claude 3.7 Sonnet
    /// and the Claude 4 generation). It affects the quota, not the price.
    pub output_burndown: u32,
}

/// How long the quota alone makes a run take: max(tokens ÷ TPM, calls ÷ RPM).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaTime {
    /// The quota.
    #[serde(flatten)]
    pub quota: Quota,
    /// Tokens drawn from the TPM budget: input + output × burndown.
    pub quota_tokens: u64,
    /// The lower bound on the run's time, in seconds.
    pub seconds: f64,
    /// What binds: `tokens`, `requests` or `image requests`.
    pub bound_by: &'static str,
}

/// The time `quota` alone needs for `estimate`'s calls; `None` when it sets no limit.
pub fn quota_time(estimate: &Estimate, quota: Quota) -> Option<QuotaTime> {
    let text = estimate.text_totals();
    let quota_tokens = text.input_tokens + text.output_tokens * u64::from(quota.output_burndown.max(1));
    let mut bounds: Vec<(f64, &'static str)> = Vec::new();
    if let Some(tpm) = quota.tpm {
        bounds.push((quota_tokens as f64 / tpm as f64, "tokens"));
    }
    if let Some(rpm) = quota.rpm {
        bounds.push((text.calls as f64 / f64::from(rpm), "requests"));
    }
    if let Some(rpm) = quota.image_rpm {
        bounds.push((estimate.image_calls() as f64 / f64::from(rpm), "image requests"));
    }
    let (minutes, bound_by) = bounds.into_iter().max_by(|a, b| a.0.total_cmp(&b.0))?;
    Some(QuotaTime { quota, quota_tokens, seconds: minutes * 60.0, bound_by })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outline(language: &str, labs: bool) -> Outline {
        let mut y = format!("course:\n  title: Estimated Course\n  language: {language}\nmodules:\n");
        for m in 1..=2 {
            y.push_str(&format!("  - title: Module {m}\n    lessons:\n"));
            for l in 1..=3 {
                y.push_str(&format!(
                    "      - title: Lesson {m}.{l} about pods\n        duration_minutes: 20\n        bloom_level: Apply\n        topics: [A, B]\n"
                ));
                if labs {
                    y.push_str("        lab_activities: [{title: \"Try it\", duration_minutes: 40}]\n");
                }
            }
        }
        coursegen_core::parse_outline(&y).unwrap()
    }

    fn request<'a>(outline: &'a Outline, modules: &'a [u32], content: ContentType) -> EstimateRequest<'a> {
        EstimateRequest {
            outline,
            modules,
            content,
            text_model: ModelId {
                provider: "bedrock".into(),
                model: "us.anthropic.claude-sonnet-4-20250514-v1:0".into(),
            },
            image_model: ModelId { provider: "bedrock".into(), model: "amazon.nova-canvas-v1:0".into() },
            image_size: (1024, 1024),
        }
    }

    fn row<'a>(e: &'a Estimate, call: &str) -> &'a CallEstimate {
        e.calls.iter().find(|c| c.call == call).unwrap_or_else(|| panic!("no {call} row"))
    }

    #[test]
    fn calls_follow_the_selection_and_the_content() {
        let o = outline("en", true);
        let theory = estimate(&request(&o, &[1, 2], ContentType::Theory), &Prices::built_in()).unwrap();
        assert_eq!(row(&theory, "Lesson").prediction.calls, 6);
        assert_eq!(row(&theory, "VisualPlan").prediction.calls, 6);
        assert_eq!(row(&theory, "Quiz").prediction.calls, if QUIZ_CALL_ENABLED { 6 } else { 0 });
        assert_eq!(row(&theory, "Image").prediction.images, 12, "half of 4 visuals for 6 lessons");
        assert!(theory.calls.iter().all(|c| !c.call.starts_with("Lab")));
        let one = estimate(&request(&o, &[2], ContentType::Both), &Prices::built_in()).unwrap();
        assert_eq!(row(&one, "Lesson").prediction.calls, 3);
        assert_eq!(row(&one, "LabPlan").prediction.calls, 1);
        assert_eq!(row(&one, "LabGuide").prediction.calls, 3);
        let labs = estimate(&request(&o, &[1, 2], ContentType::Labs), &Prices::built_in()).unwrap();
        assert_eq!(labs.calls.iter().map(|c| c.call).collect::<Vec<_>>(), ["LabPlan", "LabGuide"]);
    }

    #[test]
    fn tokens_come_from_the_real_prompts_and_the_target_words() {
        let o = outline("en", false);
        let e = estimate(&request(&o, &[1], ContentType::Theory), &Prices::built_in()).unwrap();
        let lessons = row(&e, "Lesson").prediction;
        // 20 minutes of Apply: 1,200 words, 1.5 tokens a word, plus 4 tags of 30 tokens.
        assert_eq!(lessons.output_tokens, 3 * (1800 + 120));
        // The lesson prompt of this outline is several hundred characters.
        assert!(lessons.input_tokens / 3 > 150 && lessons.input_tokens / 3 < 1500, "{lessons:?}");
        let plans = row(&e, "VisualPlan").prediction;
        assert!(plans.input_tokens / 3 > lessons.input_tokens / 3, "the plan schema makes plan prompts larger");
        assert_eq!(plans.output_tokens, 3 * 800);
        let es = outline("es", false);
        let e_es = estimate(&request(&es, &[1], ContentType::Theory), &Prices::built_in()).unwrap();
        assert!(row(&e_es, "Lesson").prediction.output_tokens > lessons.output_tokens, "Spanish needs more tokens");
    }

    #[test]
    fn the_cost_is_the_predicted_tokens_times_the_prices() {
        let o = outline("en", true);
        let e = estimate(&request(&o, &[1, 2], ContentType::Both), &Prices::built_in()).unwrap();
        let text = e.text_totals();
        let images = e.image_calls();
        let expected = text.input_tokens as f64 * 0.003 / 1000.0
            + text.output_tokens as f64 * 0.015 / 1000.0
            + images as f64 * 0.04;
        assert!((e.cost.total.usd - expected).abs() < 1e-6, "{} vs {expected}", e.cost.total.usd);
        let rows: f64 = e.calls.iter().map(|c| c.usd.unwrap()).sum();
        assert!((rows - e.cost.total.usd).abs() < 1e-6);
        assert!(e.cost.complete);
        let stages: Vec<&str> = e.cost.stages.iter().map(|s| s.stage.as_str()).collect();
        assert_eq!(stages, ["ContentGen", "VisualPlanner", "ImagesGen", "LabPlanner", "LabWriter"]);
    }

    #[test]
    fn the_quota_time_is_the_slower_of_tokens_and_requests_with_burndown_on_output() {
        let o = outline("en", false);
        let e = estimate(&request(&o, &[1, 2], ContentType::Theory), &Prices::built_in()).unwrap();
        let text = e.text_totals();
        let quota =
            |rpm, tpm, burndown| Quota { source: "test".into(), rpm, tpm, image_rpm: None, output_burndown: burndown };
        assert!(quota_time(&e, quota(None, None, 1)).is_none());
        let by_requests = quota_time(&e, quota(Some(1), Some(10_000_000), 1)).unwrap();
        assert_eq!(by_requests.bound_by, "requests");
        assert!((by_requests.seconds - text.calls as f64 * 60.0).abs() < 1e-9);
        let by_tokens = quota_time(&e, quota(Some(1000), Some(10_000), 5)).unwrap();
        assert_eq!(by_tokens.bound_by, "tokens");
        assert_eq!(by_tokens.quota_tokens, text.input_tokens + 5 * text.output_tokens);
        assert!((by_tokens.seconds - by_tokens.quota_tokens as f64 / 10_000.0 * 60.0).abs() < 1e-9);
    }

    #[test]
    fn offline_models_cost_nothing_and_say_so() {
        let o = outline("en", false);
        let mut r = request(&o, &[1], ContentType::Theory);
        r.text_model = ModelId { provider: "offline".into(), model: "offline-draft-v1".into() };
        r.image_model = ModelId { provider: "offline".into(), model: "offline-card-v1".into() };
        let e = estimate(&r, &Prices::built_in()).unwrap();
        assert_eq!(e.cost.total.usd, 0.0);
        assert!(e.cost.notes.iter().any(|n| n.contains("offline provider")));
        assert!(e.calls.iter().all(|c| c.usd == Some(0.0)));
    }
}
