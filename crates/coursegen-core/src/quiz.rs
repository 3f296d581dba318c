//! A lesson's quiz: the stored contract (`{project}/quizzes/module-MM/lesson-LL.json`) and the
//! checks every quiz passes before it is stored, whoever wrote it (a model or the offline
//! provider).
//!
//! A quiz has [`QUIZ_LAYOUT`]'s questions in that order: multiple choice with exactly one
//! correct option among four distinct ones, true/false, and short answer. Every question
//! carries a one-line explanation and the passage of the lesson that supports its answer
//! (`evidence`), which must come from the lesson's own text.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// The kinds of the questions of every quiz, in order.
pub const QUIZ_LAYOUT: [QuestionKind; 5] =
    [QuestionKind::Choice, QuestionKind::Choice, QuestionKind::TrueFalse, QuestionKind::Choice, QuestionKind::Short];

/// Options of a multiple-choice question.
pub const CHOICE_OPTIONS: usize = 4;
/// Most accepted answers of a short-answer question.
pub const MAX_SHORT_ANSWERS: usize = 3;
/// Longest accepted short answer, in characters.
pub const MAX_SHORT_ANSWER_CHARS: usize = 60;
/// The share of an answer's or a passage's significant words that must occur in the lesson.
pub const SUPPORT_SHARE: f64 = 0.6;
/// The pass mark of every quiz, in percent (a SCORM package's mastery score).
pub const PASS_MARK: u32 = 80;

/// One kind of question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    /// Multiple choice, one correct option.
    Choice,
    /// A statement that is true or false.
    TrueFalse,
    /// A short written answer.
    Short,
}

/// One question, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Question {
    /// Multiple choice: `options[answer]` is the one correct option.
    Choice {
        /// The question.
        prompt: String,
        /// The options, distinct.
        options: Vec<String>,
        /// The index of the correct option.
        answer: usize,
        /// Why the answer is right, in one line.
        explanation: String,
        /// The lesson's passage that supports the answer.
        evidence: String,
    },
    /// True or false.
    TrueFalse {
        /// The statement.
        prompt: String,
        /// Whether it is true.
        answer: bool,
        /// Why, in one line.
        explanation: String,
        /// The lesson's passage that supports the answer.
        evidence: String,
    },
    /// Short answer: any of `answers` is right (compared without case and extra spaces).
    Short {
        /// The question.
        prompt: String,
        /// The accepted answers, the best first.
        answers: Vec<String>,
        /// Why, in one line.
        explanation: String,
        /// The lesson's passage that supports the answer.
        evidence: String,
    },
}

impl Question {
    /// The question's kind.
    pub fn kind(&self) -> QuestionKind {
        match self {
            Question::Choice { .. } => QuestionKind::Choice,
            Question::TrueFalse { .. } => QuestionKind::TrueFalse,
            Question::Short { .. } => QuestionKind::Short,
        }
    }

    /// The question text.
    pub fn prompt(&self) -> &str {
        match self {
            Question::Choice { prompt, .. } | Question::TrueFalse { prompt, .. } | Question::Short { prompt, .. } => {
                prompt
            }
        }
    }

    /// The explanation.
    pub fn explanation(&self) -> &str {
        match self {
            Question::Choice { explanation, .. }
            | Question::TrueFalse { explanation, .. }
            | Question::Short { explanation, .. } => explanation,
        }
    }

    /// The supporting passage.
    pub fn evidence(&self) -> &str {
        match self {
            Question::Choice { evidence, .. }
            | Question::TrueFalse { evidence, .. }
            | Question::Short { evidence, .. } => evidence,
        }
    }
}

/// A lesson's quiz as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quiz {
    /// The module number.
    pub module_number: u32,
    /// The lesson number within the module.
    pub lesson_number: u32,
    /// The lesson's title.
    pub lesson_title: String,
    /// The questions, in [`QUIZ_LAYOUT`] order.
    pub questions: Vec<Question>,
}

/// Text compared without case, punctuation or extra spaces.
pub fn normalize(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The significant words of a text: lower-cased, at least four letters long.
fn significant(text: &str) -> Vec<String> {
    normalize(text).split(' ').filter(|w| w.chars().count() >= 4).map(str::to_string).collect()
}

/// The share of `text`'s significant words found in `words` (1 when it has none).
fn share_in(text: &str, words: &BTreeSet<String>) -> f64 {
    let wanted = significant(text);
    if wanted.is_empty() {
        return 1.0;
    }
    wanted.iter().filter(|w| words.contains(*w)).count() as f64 / wanted.len() as f64
}

/// Problems with `questions` as the quiz of a lesson whose text is `lesson_text`; empty when
/// the quiz is usable. Each problem names the question (`/questions/2/options`) and what to
/// change, so a model can repair its answer.
pub fn check_questions(questions: &[Question], lesson_text: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if questions.len() != QUIZ_LAYOUT.len() {
        errors.push(format!("expected {} questions, got {}", QUIZ_LAYOUT.len(), questions.len()));
    }
    let lesson_words: BTreeSet<String> = significant(lesson_text).into_iter().collect();
    let mut prompts = BTreeSet::new();
    for (i, q) in questions.iter().enumerate() {
        let at = format!("/questions/{i}");
        if let Some(kind) = QUIZ_LAYOUT.get(i) {
            if q.kind() != *kind {
                errors.push(format!("{at}/kind: must be {kind:?} here, got {:?}", q.kind()));
            }
        }
        if q.prompt().trim().is_empty() {
            errors.push(format!("{at}/prompt: empty"));
        } else if !prompts.insert(normalize(q.prompt())) {
            errors.push(format!("{at}/prompt: the same question is asked twice"));
        }
        if q.explanation().trim().is_empty() {
            errors.push(format!("{at}/explanation: empty"));
        }
        if q.evidence().trim().is_empty() {
            errors.push(format!("{at}/evidence: empty; quote the lesson's sentence that supports the answer"));
        } else if share_in(q.evidence(), &lesson_words) < SUPPORT_SHARE {
            errors.push(format!(
                "{at}/evidence: not from the lesson; quote a sentence of the lesson that supports the answer"
            ));
        }
        match q {
            Question::Choice { options, answer, .. } => {
                if options.len() != CHOICE_OPTIONS {
                    errors.push(format!("{at}/options: {} options; write exactly {CHOICE_OPTIONS}", options.len()));
                }
                let mut seen = BTreeSet::new();
                for (k, o) in options.iter().enumerate() {
                    if o.trim().is_empty() {
                        errors.push(format!("{at}/options/{k}: empty"));
                    } else if !seen.insert(normalize(o)) {
                        errors.push(format!("{at}/options/{k}: repeats another option; options must be distinct"));
                    }
                }
                match options.get(*answer) {
                    None => errors.push(format!(
                        "{at}/answer: {answer} is not an option's index (0 to {})",
                        options.len().saturating_sub(1)
                    )),
                    Some(right) => {
                        if share_in(right, &lesson_words) < SUPPORT_SHARE {
                            errors.push(format!(
                                "{at}/options/{answer}: the correct option is not supported by the lesson's text"
                            ));
                        }
                    }
                }
            }
            Question::TrueFalse { .. } => {}
            Question::Short { answers, .. } => {
                if answers.is_empty() || answers.len() > MAX_SHORT_ANSWERS {
                    errors.push(format!("{at}/answers: {} answers; give 1 to {MAX_SHORT_ANSWERS}", answers.len()));
                }
                let mut seen = BTreeSet::new();
                for (k, a) in answers.iter().enumerate() {
                    if a.trim().is_empty() {
                        errors.push(format!("{at}/answers/{k}: empty"));
                    } else if a.chars().count() > MAX_SHORT_ANSWER_CHARS {
                        errors.push(format!("{at}/answers/{k}: longer than {MAX_SHORT_ANSWER_CHARS} characters"));
                    } else if !seen.insert(normalize(a)) {
                        errors.push(format!("{at}/answers/{k}: repeats another accepted answer"));
                    }
                }
                if let Some(best) = answers.first() {
                    if share_in(best, &lesson_words) < SUPPORT_SHARE {
                        errors.push(format!("{at}/answers/0: the answer is not supported by the lesson's text"));
                    }
                }
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    const LESSON: &str = "# Pods\n\nA pod is the smallest deployable unit in Kubernetes. Containers in a pod \
        share the network namespace. The scheduler places pods on nodes.";

    fn good() -> Vec<Question> {
        let evidence = "A pod is the smallest deployable unit in Kubernetes.".to_string();
        let choice = |prompt: &str, right: &str| Question::Choice {
            prompt: prompt.into(),
            options: vec![
                right.into(),
                "A virtual machine image".into(),
                "A load balancer".into(),
                "A DNS zone".into(),
            ],
            answer: 0,
            explanation: "The lesson defines it so.".into(),
            evidence: evidence.clone(),
        };
        vec![
            choice("What is a pod?", "The smallest deployable unit"),
            choice("What do containers in a pod share?", "The network namespace"),
            Question::TrueFalse {
                prompt: "The scheduler places pods on nodes.".into(),
                answer: true,
                explanation: "Scheduling is its job.".into(),
                evidence: "The scheduler places pods on nodes.".into(),
            },
            choice("Which component places pods?", "The scheduler"),
            Question::Short {
                prompt: "Name the smallest deployable unit.".into(),
                answers: vec!["pod".into(), "a pod".into()],
                explanation: "Pods are the unit.".into(),
                evidence,
            },
        ]
    }

    #[test]
    fn a_good_quiz_passes_and_round_trips_as_json() {
        assert_eq!(check_questions(&good(), LESSON), Vec::<String>::new());
        let quiz = Quiz { module_number: 1, lesson_number: 2, lesson_title: "Pods".into(), questions: good() };
        let json = serde_json::to_value(&quiz).unwrap();
        assert_eq!(json["questions"][2]["kind"], "true_false");
        assert_eq!(serde_json::from_value::<Quiz>(json).unwrap(), quiz);
    }

    #[test]
    fn each_broken_rule_is_named_with_its_place() {
        let mut q = good();
        if let Question::Choice { options, answer, .. } = &mut q[0] {
            options[2] = " the SMALLEST deployable unit ".into();
            *answer = 7;
        }
        if let Question::Choice { evidence, options, .. } = &mut q[1] {
            *evidence = "Quantum entanglement governs photosynthesis everywhere.".into();
            options[0] = "Photosynthesis chlorophyll wavelengths".into();
        }
        if let Question::Short { answers, .. } = &mut q[4] {
            answers.push("x".repeat(61));
        }
        q.swap(2, 3);
        let errors = check_questions(&q, LESSON);
        let has = |needle: &str| errors.iter().any(|e| e.contains(needle));
        assert!(has("/questions/0/options/2: repeats another option"), "{errors:?}");
        assert!(has("/questions/0/answer: 7 is not an option's index"), "{errors:?}");
        assert!(has("/questions/1/evidence: not from the lesson"), "{errors:?}");
        assert!(has("/questions/1/options/0: the correct option is not supported"), "{errors:?}");
        assert!(has("/questions/2/kind: must be TrueFalse here"), "{errors:?}");
        assert!(has("/questions/4/answers/2: longer than 60"), "{errors:?}");
        assert_eq!(check_questions(&q[..2], LESSON).first().map(String::as_str), Some("expected 5 questions, got 2"));
    }
}
