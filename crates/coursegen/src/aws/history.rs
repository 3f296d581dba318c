//! From a Step Functions execution history to what `coursegen run` shows: each event becomes
//! the interpreter's [`HistoryEvent`] (state name, Map/Parallel path, input and output), so
//! the progress display and the summary of `run` read a deployed execution unchanged.
//!
//! GetExecutionHistory has no map path: an event's `previousEventId` names the event it
//! followed, and the path is rebuilt from that chain. The first event of a Map iteration
//! follows its `MapIterationStarted` (the path gains the iteration index); the first event of a
//! Parallel branch follows `ParallelStateStarted` (the path gains a marker unique to the
//! branch); the events that close a Map or Parallel state return to the path it was entered at.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use asl_interpreter::history::HistoryEvent;
use serde_json::{json, Value};

use super::api::Event;

/// Event types that close a Map or Parallel state: they sit at the state's own path, while
/// the event they follow is the last one of an iteration or branch.
const CLOSERS: &[&str] = &[
    "MapStateSucceeded",
    "MapStateFailed",
    "MapStateAborted",
    "MapStateExited",
    "ParallelStateSucceeded",
    "ParallelStateFailed",
    "ParallelStateAborted",
    "ParallelStateExited",
];

/// What the reducer keeps of each event it has seen.
#[derive(Debug, Clone)]
struct Seen {
    kind: String,
    path: Vec<usize>,
    /// The state the event belongs to (entered/exited events name it; task events inherit it).
    state: Option<String>,
    iteration: Option<usize>,
}

/// Counts for the summary, as `run` reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) state_transitions: u64,
    pub(crate) task_invocations: u64,
    pub(crate) map_iterations: u64,
}

/// Turns history events, in order and each once, into interpreter history events.
#[derive(Debug, Default)]
pub(crate) struct Reducer {
    seen: HashMap<i64, Seen>,
    /// The highest event id handed on; events at or below it are skipped.
    pub(crate) last_id: i64,
    pub(crate) events: Vec<HistoryEvent>,
    pub(crate) counts: Counts,
}

fn time_of(seconds: f64) -> SystemTime {
    if seconds.is_finite() && seconds > 0.0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs_f64(seconds)
    } else {
        SystemTime::UNIX_EPOCH
    }
}

/// A JSON string from the history as a value (the text itself when it is not JSON).
fn parse_data(text: &Option<String>) -> Value {
    match text {
        Some(t) => serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.clone())),
        None => Value::Null,
    }
}

impl Reducer {
    /// Converts `event` unless it was handed on before (its id is not above the last one);
    /// returns the converted event.
    pub(crate) fn push(&mut self, event: &Event) -> Option<&HistoryEvent> {
        if event.id <= self.last_id {
            return None;
        }
        self.last_id = event.id;
        let parent = self.seen.get(&event.previous_event_id).cloned();
        let kind = event.kind.as_str();
        let id = usize::try_from(event.id).unwrap_or(usize::MAX);
        let path = match &parent {
            None => Vec::new(),
            Some(p) if CLOSERS.contains(&kind) => {
                if CLOSERS.contains(&p.kind.as_str()) {
                    p.path.clone()
                } else {
                    let mut path = p.path.clone();
                    path.pop();
                    path
                }
            }
            Some(p) if p.kind == "MapIterationStarted" => {
                let mut path = p.path.clone();
                path.push(p.iteration.unwrap_or(0));
                path
            }
            Some(p) if p.kind == "ParallelStateStarted" => {
                let mut path = p.path.clone();
                path.push(id);
                path
            }
            Some(p) => p.path.clone(),
        };
        let named = event.state_entered_event_details.as_ref().or(event.state_exited_event_details.as_ref());
        let state = match named {
            Some(d) => Some(d.name.clone()),
            None if CLOSERS.contains(&kind) || kind.starts_with("Map") => None,
            None => parent.as_ref().and_then(|p| p.state.clone()),
        };
        let iteration =
            event.map_iteration_started_event_details.as_ref().map(|d| usize::try_from(d.index).unwrap_or(0));
        if kind.ends_with("StateEntered") {
            self.counts.state_transitions += 1;
        }
        if kind == "TaskScheduled" || kind == "LambdaFunctionScheduled" {
            self.counts.task_invocations += 1;
        }
        if kind == "MapIterationStarted" {
            self.counts.map_iterations += 1;
        }
        let failure = event
            .execution_failed_event_details
            .as_ref()
            .or(event.task_failed_event_details.as_ref())
            .or(event.lambda_function_failed_event_details.as_ref());
        let mut details = json!({});
        if let Some(d) = &event.state_entered_event_details {
            details["input"] = parse_data(&d.input);
        }
        if let Some(d) = &event.state_exited_event_details {
            details["output"] = parse_data(&d.output);
        }
        if let Some(f) = failure {
            details["error"] = json!(f.error);
            details["cause"] = json!(f.cause);
        }
        self.seen
            .insert(event.id, Seen { kind: kind.to_string(), path: path.clone(), state: state.clone(), iteration });
        self.events.push(HistoryEvent {
            id: u64::try_from(event.id).unwrap_or(0),
            previous_event_id: u64::try_from(event.previous_event_id).ok().filter(|p| *p > 0),
            timestamp: time_of(event.timestamp),
            event_type: kind.to_string(),
            state_name: state,
            map_path: path,
            details,
        });
        self.events.last()
    }

    /// The state an execution failed in: from the last `ExecutionFailed` back along the chain
    /// of events to the first state entered (the innermost: a Task inside a Map, or a Fail
    /// state), or `None` when the history does not say.
    pub(crate) fn failing_state(&self) -> Option<String> {
        let by_id: HashMap<u64, &HistoryEvent> = self.events.iter().map(|e| (e.id, e)).collect();
        let last = self.events.iter().rev().find(|e| e.event_type == "ExecutionFailed")?;
        let mut current = last.previous_event_id.and_then(|p| by_id.get(&p).copied());
        while let Some(e) = current {
            if e.event_type.ends_with("StateEntered") {
                return e.state_name.clone();
            }
            current = e.previous_event_id.and_then(|p| by_id.get(&p).copied());
        }
        None
    }

    /// The course folder the execution works on, from PrepareCourse's output.
    pub(crate) fn project(&self) -> Option<String> {
        self.events
            .iter()
            .filter(|e| e.event_type == "TaskStateExited" && e.state_name.as_deref() == Some("PrepareCourse"))
            .find_map(|e| e.details["output"]["course"]["project_folder"].as_str().map(str::to_string))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::api::HistoryPage;

    fn recorded(name: &str) -> Vec<Event> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let page: HistoryPage = serde_json::from_str(&text).expect("a GetExecutionHistory response");
        page.events
    }

    fn reduce(events: &[Event]) -> Reducer {
        let mut r = Reducer::default();
        for e in events {
            r.push(e);
        }
        r
    }

    #[test]
    fn map_iterations_and_parallel_branches_get_their_own_paths_and_closers_return() {
        let r = reduce(&recorded("history-map-parallel-fail.json"));
        let at = |name: &str| -> Vec<Vec<usize>> {
            r.events.iter().filter(|e| e.state_name.as_deref() == Some(name)).map(|e| e.map_path.clone()).collect()
        };
        // T runs once per item: entered and exited inside iterations 0 and 1.
        assert_eq!(at("T"), vec![vec![0], vec![0], vec![1], vec![1]]);
        // The Map's own events and what follows it are back at the top.
        assert!(at("M").iter().all(|p| p.is_empty()), "{:?}", at("M"));
        let (a, b) = (at("A"), at("B"));
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].len(), 1);
        assert_ne!(a[0], b[0], "the two branches are told apart");
        assert!(at("Par").iter().all(|p| p.is_empty()), "{:?}", at("Par"));
        assert!(at("F").iter().all(|p| p.is_empty()));
        assert_eq!(r.counts, Counts { state_transitions: 8, task_invocations: 0, map_iterations: 2 });
        assert_eq!(r.failing_state().as_deref(), Some("F"));
    }

    #[test]
    fn a_failing_task_inside_a_map_is_the_failing_state_and_spans_pair_per_module() {
        let r = reduce(&recorded("history-course-failed.json"));
        assert_eq!(r.failing_state().as_deref(), Some("ContentGen"));
        assert_eq!(r.project().as_deref(), Some("tiny-course"));
        let spans = crate::summary::task_spans(&r.events);
        let labels: Vec<&str> = spans.iter().map(|s| s.label.as_str()).collect();
        assert!(labels.contains(&"PrepareCourse"), "{labels:?}");
        assert!(labels.contains(&"ContentGen (module 2)"), "{labels:?}");
        assert!(!labels.contains(&"ContentGen (module 1)"), "module 1 failed, it has no span: {labels:?}");
        let failed = r.events.iter().find(|e| e.event_type == "TaskFailed").expect("a TaskFailed event");
        assert_eq!(failed.state_name.as_deref(), Some("ContentGen"), "task events inherit their state");
        assert_eq!(failed.details["error"], "InvalidOutline");
    }

    #[test]
    fn events_already_handed_on_are_skipped() {
        let events = recorded("history-map-parallel-fail.json");
        let mut r = Reducer::default();
        let first: Vec<u64> = events[..10].iter().filter_map(|e| r.push(e).map(|h| h.id)).collect();
        let again: Vec<u64> = events[5..].iter().filter_map(|e| r.push(e).map(|h| h.id)).collect();
        assert_eq!(first, (1..=10).collect::<Vec<_>>());
        assert_eq!(again, (11..=events.len() as u64).collect::<Vec<_>>());
    }
}
