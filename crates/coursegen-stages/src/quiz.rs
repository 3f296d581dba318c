//! QuizWriter: one lesson's quiz (multiple choice, true/false, short answer, each with its
//! answer, a one-line explanation and the lesson's supporting passage), asked of the text
//! model as JSON under a schema and checked by [`coursegen_core::quiz::check_questions`]. It
//! runs in the VisualPlanner step, beside the visual plan: both read the lesson, neither
//! waits for the other.

use coursegen_core::fingerprint::{fingerprint, PROMPT_VERSION};
use coursegen_core::quiz::{check_questions, Question, QuestionKind, Quiz, CHOICE_OPTIONS, QUIZ_LAYOUT};
use coursegen_core::{keys, Language, Outline, StageError, StageResult, TextRequest, TextTask};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::brief::QuizBrief;
use crate::common::{
    accept_structured, call_with_repair, find_tags, is_fresh, lesson_subject, model_json, new_meta, put_with_meta,
    replace_tags,
};
use crate::{Deps, Stage};

/// The quiz writer's name in its fingerprint (errors name it through `TextTask::Quiz`).
const STAGE: &str = "QuizWriter";

/// What the step reports about the quiz (small: the payload carries keys, not content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuizSummary {
    /// The quiz's key.
    pub key: String,
    /// How many questions it has.
    pub questions: u32,
    /// Whether an earlier run's quiz was reused without a model call.
    pub reused: bool,
}

fn question_schema(kind: QuestionKind) -> Value {
    let text = |max: u32| json!({"type": "string", "minLength": 1, "maxLength": max});
    let mut properties = json!({
        "prompt": text(300),
        "explanation": text(300),
        "evidence": text(400),
    });
    let props = properties.as_object_mut().expect("object literal");
    let required: Vec<&str> = match kind {
        QuestionKind::Choice => {
            props.insert("kind".into(), json!({"type": "string", "const": "choice"}));
            props.insert(
                "options".into(),
                json!({"type": "array", "minItems": CHOICE_OPTIONS, "maxItems": CHOICE_OPTIONS, "uniqueItems": true,
                       "items": text(160)}),
            );
            props.insert("answer".into(), json!({"type": "integer", "minimum": 0, "maximum": CHOICE_OPTIONS - 1}));
            vec!["kind", "prompt", "options", "answer", "explanation", "evidence"]
        }
        QuestionKind::TrueFalse => {
            props.insert("kind".into(), json!({"type": "string", "const": "true_false"}));
            props.insert("answer".into(), json!({"type": "boolean"}));
            vec!["kind", "prompt", "answer", "explanation", "evidence"]
        }
        QuestionKind::Short => {
            props.insert("kind".into(), json!({"type": "string", "const": "short"}));
            props.insert(
                "answers".into(),
                json!({"type": "array", "minItems": 1, "maxItems": coursegen_core::quiz::MAX_SHORT_ANSWERS,
                       "uniqueItems": true, "items": text(coursegen_core::quiz::MAX_SHORT_ANSWER_CHARS as u32)}),
            );
            vec!["kind", "prompt", "answers", "explanation", "evidence"]
        }
    };
    json!({"type": "object", "required": required, "properties": properties})
}

/// The JSON Schema of a quiz: exactly the questions of [`QUIZ_LAYOUT`], in order.
pub(crate) fn quiz_schema() -> Value {
    let items: Vec<Value> = QUIZ_LAYOUT.iter().map(|k| question_schema(*k)).collect();
    json!({
        "type": "object",
        "required": ["questions"],
        "properties": {
            "questions": {"type": "array", "minItems": items.len(), "maxItems": items.len(), "prefixItems": items, "items": false}
        }
    })
}

#[derive(Debug, Deserialize)]
struct QuizAnswer {
    questions: Vec<Question>,
}

/// The quiz request: the lesson first, then what to write.
pub(crate) fn quiz_request(brief: &QuizBrief, language: Language) -> StageResult<TextRequest> {
    let lang = language.name();
    let system = format!(
        "You are an instructional designer who writes fair, unambiguous assessment items. Every question, option, \
         answer and explanation is in {lang}. You answer with JSON only."
    );
    let mut p = String::new();
    p.push_str(&brief.lesson_text);
    p.push_str(&format!(
        "\n\n---\nAbove is lesson {} \"{}\" of module {} \"{}\" of the course \"{}\".\n\n",
        brief.lesson_number, brief.lesson_title, brief.module_number, brief.module_title, brief.course_title
    ));
    p.push_str(
        "Write a quiz on this lesson: {\"questions\": [...]} with exactly five questions, in this order: \
         multiple choice, multiple choice, true/false, multiple choice, short answer.\n\
         - Ask about what the lesson teaches, not about its wording; one idea per question; no trick questions, \
         no \"all/none of the above\".\n\
         - Multiple choice: exactly four distinct options, one of them correct (\"answer\" is its 0-based \
         index); wrong options plausible for someone who skimmed the lesson. Vary the correct option's position.\n\
         - True/false: a statement (\"prompt\") and whether it is true.\n\
         - Short answer: a question answered in one to five words; \"answers\" lists up to three accepted \
         answers, the best first.\n\
         - explanation: one line saying why the answer is right.\n\
         - evidence: the sentence of the lesson above that supports the answer, quoted exactly.\n",
    );
    let brief_json =
        serde_json::to_value(brief).map_err(|e| StageError::Internal(format!("cannot serialise quiz brief: {e}")))?;
    Ok(TextRequest {
        task: TextTask::Quiz,
        subject: lesson_subject(brief.module_number, brief.lesson_number),
        system,
        prompt: p,
        max_tokens: 2048,
        temperature: 0.2,
        json_schema: Some(quiz_schema()),
        brief: brief_json,
    })
}

/// Write the quiz of lesson `l` of module `m` from the lesson's text `markdown` (the course's
/// `outline` when there is one), unless an earlier run's quiz for the same lesson text, prompt
/// and model is there (and not `force`).
pub(crate) async fn write_quiz(
    project: &str,
    m: u32,
    l: u32,
    markdown: &str,
    outline: Option<&Outline>,
    force: bool,
    deps: &Deps,
) -> StageResult<QuizSummary> {
    let store = deps.store.as_ref();
    let tags = find_tags(markdown);
    let lesson_text = replace_tags(markdown, &tags, |_| String::new());
    let language = outline.map(|o| o.course.language).unwrap_or_default();
    let lesson = outline.and_then(|o| o.lesson(m, l));
    let lesson_title = lesson.map(|x| x.title.clone()).unwrap_or_else(|| format!("{m}.{l}"));
    let key = keys::quiz_key(project, m, l);
    let model = deps.text.id();
    let fp = fingerprint(&json!({
        "stage": STAGE,
        "lesson": lesson_text,
        "module": m,
        "lesson_number": l,
        "lesson_title": lesson_title,
        "language": language.code(),
        "prompt_version": PROMPT_VERSION,
        "model": model_json(&model),
    }));
    if !force && is_fresh(store, &key, &fp).await? {
        tracing::info!(module = m, lesson = l, %key, "quiz reused");
        return Ok(QuizSummary { key, questions: QUIZ_LAYOUT.len() as u32, reused: true });
    }
    let (mut other_topics, mut other_modules) = (Vec::new(), Vec::new());
    if let Some(o) = outline {
        for (mi, module) in o.modules.iter().enumerate() {
            if mi as u32 + 1 != m {
                other_modules.push(module.title.clone());
            }
            for (li, other) in module.lessons.iter().enumerate() {
                if (mi as u32 + 1, li as u32 + 1) != (m, l) {
                    other_topics.extend(other.topics.iter().map(|t| t.title.clone()));
                }
            }
        }
    }
    let brief = QuizBrief {
        language: language.code().to_string(),
        course_title: outline.map(|o| o.course.title.clone()).unwrap_or_default(),
        module_number: m,
        module_title: outline.and_then(|o| o.module(m)).map(|x| x.title.clone()).unwrap_or_default(),
        lesson_number: l,
        lesson_title: lesson_title.clone(),
        topics: lesson.map(|x| x.topics.iter().map(|t| t.title.clone()).collect()).unwrap_or_default(),
        other_topics,
        other_modules,
        lesson_text: lesson_text.trim().to_string(),
    };
    let request = quiz_request(&brief, language)?;
    let accept = |resp: &coursegen_core::TextResponse| {
        accept_structured(&request, resp, &|answer: &QuizAnswer| check_questions(&answer.questions, &lesson_text))
    };
    let (answer, usage) = call_with_repair(deps.text.as_ref(), &request, &accept).await?;
    let quiz = Quiz { module_number: m, lesson_number: l, lesson_title, questions: answer.questions };
    let body =
        serde_json::to_vec_pretty(&quiz).map_err(|e| StageError::Internal(format!("cannot serialise quiz: {e}")))?;
    // The sidecar names the step that wrote the quiz, so its cost counts there.
    let meta = new_meta(Stage::VisualPlanner.name(), fp, model, usage, None);
    put_with_meta(store, &key, body, "application/json", &meta).await?;
    tracing::info!(module = m, lesson = l, %key, "quiz written");
    Ok(QuizSummary { key, questions: quiz.questions.len() as u32, reused: false })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::schema_errors;

    #[test]
    fn the_schema_pins_every_question_kind_to_its_place() {
        let schema = quiz_schema();
        let tf = json!({"kind": "true_false", "prompt": "p", "answer": true, "explanation": "e", "evidence": "v"});
        let choice = json!({"kind": "choice", "prompt": "p", "options": ["a", "b", "c", "d"], "answer": 3,
                            "explanation": "e", "evidence": "v"});
        let short = json!({"kind": "short", "prompt": "p", "answers": ["a"], "explanation": "e", "evidence": "v"});
        let good = json!({"questions": [choice, choice, tf, choice, short]});
        assert_eq!(schema_errors(&schema, &good).unwrap(), Vec::<String>::new());
        let swapped = json!({"questions": [choice, tf, choice, choice, short]});
        assert!(!schema_errors(&schema, &swapped).unwrap().is_empty());
        let five_options = json!({"questions": [
            {"kind": "choice", "prompt": "p", "options": ["a", "b", "c", "d", "e"], "answer": 4, "explanation": "e", "evidence": "v"},
            choice, tf, choice, short]});
        assert!(!schema_errors(&schema, &five_options).unwrap().is_empty());
    }
}
