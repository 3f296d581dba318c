//! Where the model calls of an in-process run spent their time: waiting for the quota or an
//! in-flight slot (including backoff after throttles) versus in the model. The providers'
//! governor reports the phases of each call ([`coursegen_aws::quota::record_call_phases`]);
//! this module keeps them with the stage and subject of the call, and attributes them to the
//! task spans of the history. Nothing of it travels in the state payload.

use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use coursegen_aws::quota::{CallPhase, PhaseKind};

use crate::summary::TaskSpan;

/// One model call: which stage made it, about what, and its phases in wall-clock time.
#[derive(Debug, Clone)]
pub(crate) struct CallRecord {
    pub(crate) stage: &'static str,
    pub(crate) module: Option<u64>,
    pub(crate) lesson: Option<u64>,
    pub(crate) lab: Option<String>,
    pub(crate) start: SystemTime,
    pub(crate) end: SystemTime,
    pub(crate) wait_seconds: f64,
    pub(crate) model_seconds: f64,
}

/// Every model call of the process, for the summary.
#[derive(Debug)]
pub(crate) struct CallLog {
    anchor: (Instant, SystemTime),
    records: Mutex<Vec<CallRecord>>,
}

impl CallLog {
    pub(crate) fn new() -> Self {
        Self { anchor: (Instant::now(), SystemTime::now()), records: Mutex::new(Vec::new()) }
    }

    /// Keep the phases of one call by `stage` about `subject` (`module 2 lesson 3`, `lab 01-02-03`
    /// or a visual id `02-03-01`). A call with no governed phases (an offline model) is not kept.
    pub(crate) fn record(&self, stage: &'static str, subject: &str, phases: &[CallPhase]) {
        let (Some(first), Some(last)) = (phases.first(), phases.last()) else { return };
        let seconds = |kind: PhaseKind| -> f64 {
            phases.iter().filter(|p| p.kind == kind).map(|p| (p.end - p.start).as_secs_f64()).sum()
        };
        let (module, lesson, lab) = parse_subject(subject);
        let record = CallRecord {
            stage,
            module,
            lesson,
            lab,
            start: self.wall(first.start),
            end: self.wall(last.end),
            wait_seconds: seconds(PhaseKind::Waiting),
            model_seconds: seconds(PhaseKind::Model),
        };
        self.records.lock().unwrap_or_else(|p| p.into_inner()).push(record);
    }

    /// The calls recorded so far.
    pub(crate) fn records(&self) -> Vec<CallRecord> {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The wall-clock time of an instant of this process.
    fn wall(&self, at: Instant) -> SystemTime {
        let (i0, s0) = self.anchor;
        match at.checked_duration_since(i0) {
            Some(d) => s0 + d,
            None => s0 - i0.duration_since(at),
        }
    }
}

/// Module, lesson and lab of a call's subject: `module 2 lesson 3`, `lab 01-02-03` or a visual
/// id `02-03-01`.
fn parse_subject(subject: &str) -> (Option<u64>, Option<u64>, Option<String>) {
    let words: Vec<&str> = subject.split_whitespace().collect();
    let after =
        |w: &str| words.iter().position(|x| *x == w).and_then(|i| words.get(i + 1)).and_then(|n| n.parse().ok());
    if let ["lab", id] = words.as_slice() {
        return (None, None, Some((*id).to_string()));
    }
    if words.len() == 1 {
        let parts: Vec<Option<u64>> = subject.split('-').map(|p| p.parse().ok()).collect();
        if let [Some(m), Some(l), Some(_)] = parts.as_slice() {
            return (Some(*m), Some(*l), None);
        }
    }
    (after("module"), after("lesson"), None)
}

/// Queueing and model time of one task span, along its critical chain of calls.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct SpanCalls {
    /// Seconds the chain's calls waited for the quota or a slot (backoff included).
    pub(crate) wait_seconds: f64,
    /// Seconds the chain's calls spent in the model.
    pub(crate) model_seconds: f64,
}

/// The calls `span` made: same stage, same module / lesson / lab when the span names one, and
/// inside the span's time.
fn calls_of<'a>(span: &'a TaskSpan, calls: &'a [CallRecord]) -> impl Iterator<Item = &'a CallRecord> + 'a {
    calls.iter().filter(move |c| {
        c.stage == span.state
            && span.module.is_none_or(|m| c.module == Some(m))
            && span.lesson.is_none_or(|l| c.lesson == Some(l))
            && span.lab.as_ref().is_none_or(|id| c.lab.as_ref() == Some(id))
            && c.start >= span.start
            && c.end <= span.end
    })
}

/// The span's critical chain of calls (the call that finished last, then repeatedly the call
/// that finished last before it started: concurrent lessons give one call, a repair gives two),
/// with its waiting and model seconds. A span whose calls all waited behind a fixed slot count
/// shows it here: its last call's wait is on the chain.
pub(crate) fn span_calls(span: &TaskSpan, calls: &[CallRecord]) -> SpanCalls {
    let mine: Vec<&CallRecord> = calls_of(span, calls).collect();
    let mut out = SpanCalls::default();
    let Some(mut current) = mine.iter().max_by_key(|c| c.end) else { return out };
    loop {
        out.wait_seconds += current.wait_seconds;
        out.model_seconds += current.model_seconds;
        match mine.iter().filter(|c| c.end <= current.start).max_by_key(|c| c.end) {
            Some(prev) => current = prev,
            None => return out,
        }
    }
}

/// Seconds waited and in the model by all calls of `span` (concurrent calls add up).
pub(crate) fn span_call_totals(span: &TaskSpan, calls: &[CallRecord]) -> SpanCalls {
    calls_of(span, calls).fold(SpanCalls::default(), |acc, c| SpanCalls {
        wait_seconds: acc.wait_seconds + c.wait_seconds,
        model_seconds: acc.model_seconds + c.model_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
    }

    fn span(state: &str, module: Option<u64>, start: u64, end: u64) -> TaskSpan {
        TaskSpan {
            state: state.into(),
            label: state.into(),
            start: at(start),
            end: at(end),
            seconds: (end - start) as f64 / 1000.0,
            path: vec![],
            module,
            lesson: None,
            lab: None,
            wait_seconds: None,
            model_seconds: None,
        }
    }

    fn call(module: u64, lesson: u64, start: u64, wait_ms: u64, model_ms: u64) -> CallRecord {
        CallRecord {
            stage: "ContentGen",
            module: Some(module),
            lesson: Some(lesson),
            lab: None,
            start: at(start),
            end: at(start + wait_ms + model_ms),
            wait_seconds: wait_ms as f64 / 1000.0,
            model_seconds: model_ms as f64 / 1000.0,
        }
    }

    #[test]
    fn subjects_name_module_lesson_or_lab() {
        assert_eq!(parse_subject("module 2 lesson 3"), (Some(2), Some(3), None));
        assert_eq!(parse_subject("02-03-01"), (Some(2), Some(3), None));
        assert_eq!(parse_subject("lab 01-02-03"), (None, None, Some("01-02-03".into())));
        assert_eq!(parse_subject("labs 01-01-01, 01-01-02"), (None, None, None));
    }

    #[test]
    fn a_span_whose_lessons_queued_behind_a_slot_shows_the_wait_on_its_chain() {
        // Module 1: lesson 1 in the model 0-400 ms; lesson 2 waited for its slot until 400 ms,
        // then 400 ms in the model. Module 2's call overlaps in time but is not module 1's.
        let calls = vec![call(1, 1, 0, 0, 400), call(1, 2, 0, 400, 400), call(2, 1, 0, 600, 400)];
        let s = span("ContentGen", Some(1), 0, 850);
        assert_eq!(span_calls(&s, &calls), SpanCalls { wait_seconds: 0.4, model_seconds: 0.4 });
        assert_eq!(span_call_totals(&s, &calls), SpanCalls { wait_seconds: 0.4, model_seconds: 0.8 });
    }

    #[test]
    fn sequential_calls_of_a_span_add_up_on_its_chain() {
        // A structured answer repaired once: two calls one after the other.
        let calls = vec![call(1, 1, 0, 100, 300), call(1, 1, 450, 0, 300)];
        let mut s = span("ContentGen", Some(1), 0, 800);
        s.lesson = Some(1);
        let c = span_calls(&s, &calls);
        assert!((c.wait_seconds - 0.1).abs() < 1e-9 && (c.model_seconds - 0.6).abs() < 1e-9, "{c:?}");
        // Calls outside the span's time belong to another run of the task.
        let early = span("ContentGen", Some(1), 440, 800);
        assert_eq!(span_calls(&early, &calls), SpanCalls { wait_seconds: 0.0, model_seconds: 0.3 });
    }
}
