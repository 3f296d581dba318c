//! What the providers share for structured output: a remembered request mode that only steps
//! down, the one-answer call that steps it down when the server rejects it, and the response
//! built from the answer's JSON value.
//!
//! A provider makes exactly one model call per structured request (plus re-sends of a request
//! the server refused for its mode, which cost no answer). It does not validate or repair the
//! answer: the caller (the stage's call-validate-repair-once loop) checks it against the schema
//! and its own rules and makes the single repair call, so one structured call is at most two
//! model calls whatever the provider.

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use coursegen_core::error::{StageError, StageResult};
use coursegen_core::model::{TextRequest, TextResponse, Usage};
use serde_json::Value;

use crate::json::check_schema;

/// A provider's ways of asking for structured output, strongest first: the client falls back
/// to the next mode of [`Ladder::ORDER`] when the server rejects one.
pub(crate) trait Ladder: Copy + PartialEq + std::fmt::Debug + 'static {
    /// Every mode, strongest first (at least one).
    const ORDER: &'static [Self];

    /// This mode's position in [`Ladder::ORDER`].
    fn rank(self) -> u8 {
        Self::ORDER.iter().position(|m| *m == self).unwrap_or(0) as u8
    }
    /// The mode at `rank`; the weakest one for any rank past the end.
    fn from_rank(rank: u8) -> Self {
        let last = Self::ORDER.len() - 1;
        Self::ORDER[usize::from(rank).min(last)]
    }
    /// The next weaker mode, `None` for the weakest.
    fn next(self) -> Option<Self> {
        Self::ORDER.get(usize::from(self.rank()) + 1).copied()
    }
}

/// The mode a client currently uses, shared by its clones; it only ever steps down, so the
/// mode a server accepted is remembered for every later call.
#[derive(Debug, Clone)]
pub(crate) struct ModeCell<M> {
    rank: Arc<AtomicU8>,
    _mode: std::marker::PhantomData<M>,
}

impl<M: Ladder> ModeCell<M> {
    /// A cell at the strongest mode.
    pub(crate) fn new() -> Self {
        Self { rank: Arc::new(AtomicU8::new(0)), _mode: std::marker::PhantomData }
    }

    /// The current mode.
    pub(crate) fn get(&self) -> M {
        M::from_rank(self.rank.load(Ordering::Relaxed))
    }

    /// Step down from `from` after the server rejected it; false when nothing weaker is left.
    /// Concurrent callers that saw the same rejection step down once.
    fn step_down(&self, from: M, who: &str) -> bool {
        let Some(next) = from.next() else {
            return false;
        };
        let _ = self.rank.compare_exchange(from.rank(), next.rank(), Ordering::Relaxed, Ordering::Relaxed);
        tracing::warn!(who, ?from, to = ?next, "server rejected the structured-output mode; falling back");
        true
    }
}

/// A permanent `ModelError` before any call when the request's schema does not compile.
pub(crate) fn check_request_schema(request: &TextRequest, schema: &Value) -> StageResult<()> {
    check_schema(schema).map_err(|e| {
        StageError::model(request.task.stage(), &request.subject, format!("the stage's JSON schema is invalid: {e}"))
    })
}

/// The outcome of one request in a given mode.
pub(crate) enum Attempt<T> {
    /// The model answered.
    Answered(T),
    /// The server refused the request as invalid, with its message; `names_mode` when the
    /// message blames the structured-output mode (a weaker mode may then work).
    Rejected { message: String, names_mode: bool },
}

/// Send `attempt` in the client's current mode until the model answers, stepping the mode down
/// each time the server rejects it. A rejection that does not name the mode, or one in the
/// weakest mode, is a permanent `ModelError` labelled `rejected_by` ("Bedrock rejected the
/// request: ...").
pub(crate) async fn answer_in_best_mode<M, T, F, Fut>(
    modes: &ModeCell<M>,
    request: &TextRequest,
    rejected_by: &str,
    mut attempt: F,
) -> StageResult<T>
where
    M: Ladder,
    F: FnMut(M) -> Fut,
    Fut: Future<Output = StageResult<Attempt<T>>>,
{
    loop {
        let mode = modes.get();
        match attempt(mode).await? {
            Attempt::Answered(answer) => return Ok(answer),
            Attempt::Rejected { message, names_mode } => {
                if names_mode && modes.step_down(mode, rejected_by) {
                    continue;
                }
                return Err(StageError::model(
                    request.task.stage(),
                    &request.subject,
                    format!("{rejected_by} rejected the request: {message}"),
                ));
            }
        }
    }
}

/// The response to a structured request: the answer's JSON value (as text and parsed) when it
/// has one, else its raw text. The value is not validated here; see the module documentation.
pub(crate) fn structured_response(candidate: Option<Value>, raw_text: String, usage: Usage) -> TextResponse {
    match candidate {
        Some(value) => TextResponse { text: value.to_string(), structured: Some(value), usage },
        None => TextResponse { text: raw_text, structured: None, usage },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Mode {
        Strict,
        Loose,
        Plain,
    }

    impl Ladder for Mode {
        const ORDER: &'static [Self] = &[Mode::Strict, Mode::Loose, Mode::Plain];
    }

    #[test]
    fn modes_step_down_once_per_rejection_and_stop_at_the_weakest() {
        let cell = ModeCell::<Mode>::new();
        let shared = cell.clone();
        assert_eq!(cell.get(), Mode::Strict);
        assert!(cell.step_down(Mode::Strict, "test"));
        assert_eq!(shared.get(), Mode::Loose, "clones share the remembered mode");
        // A second caller that saw the same rejection retries without stepping down again.
        assert!(cell.step_down(Mode::Strict, "test"));
        assert_eq!(cell.get(), Mode::Loose);
        assert!(cell.step_down(Mode::Loose, "test"));
        assert_eq!(cell.get(), Mode::Plain);
        assert!(!cell.step_down(Mode::Plain, "test"), "nothing weaker is left");
        assert_eq!((Mode::Plain.next(), Mode::from_rank(9)), (None, Mode::Plain));
    }

    #[test]
    fn a_structured_response_carries_the_value_or_else_the_raw_text() {
        let usage = Usage { input_tokens: 3, output_tokens: 2, calls: 1 };
        let with = structured_response(Some(serde_json::json!({"a": 1})), "prose".into(), usage);
        assert_eq!((with.text.as_str(), with.structured), (r#"{"a":1}"#, Some(serde_json::json!({"a": 1}))));
        let without = structured_response(None, "prose".into(), usage);
        assert_eq!((without.text.as_str(), without.structured, without.usage), ("prose", None, usage));
    }
}
