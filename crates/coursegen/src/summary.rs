//! The execution summary: wall time, time per stage, critical path, transitions, model calls.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use asl_interpreter::history::HistoryEvent;
use serde::Serialize;
use serde_json::Value;

/// One task run, from its state-entered to its state-exited event.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TaskSpan {
    pub(crate) state: String,
    pub(crate) label: String,
    #[serde(skip)]
    pub(crate) start: SystemTime,
    #[serde(skip)]
    pub(crate) end: SystemTime,
    pub(crate) seconds: f64,
    /// Map iteration / Parallel branch indices of the task.
    #[serde(skip)]
    pub(crate) path: Vec<usize>,
}

/// Time spent in one stage across all its runs.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct StageTime {
    pub(crate) runs: u64,
    pub(crate) total_seconds: f64,
    pub(crate) max_seconds: f64,
}

/// Task spans from a history: each TaskStateEntered paired with the next TaskStateExited
/// of the same state on the same map path.
pub(crate) fn task_spans(history: &[HistoryEvent]) -> Vec<TaskSpan> {
    let mut open: BTreeMap<(String, Vec<usize>), (SystemTime, String)> = BTreeMap::new();
    let mut spans = Vec::new();
    for e in history {
        let Some(state) = e.state_name.as_deref().map(|s| crate::progress::stage_of(s).to_string()) else { continue };
        match e.event_type.as_str() {
            "TaskStateEntered" => {
                let label = label(&state, &json_field(&e.details, "input"));
                open.insert((state, e.map_path.clone()), (e.timestamp, label));
            }
            "TaskStateExited" => {
                if let Some((start, label)) = open.remove(&(state.clone(), e.map_path.clone())) {
                    let seconds = e.timestamp.duration_since(start).unwrap_or(Duration::ZERO).as_secs_f64();
                    spans.push(TaskSpan { state, label, start, end: e.timestamp, seconds, path: e.map_path.clone() });
                }
            }
            _ => {}
        }
    }
    spans
}

fn json_field(details: &Value, field: &str) -> Value {
    match details.get(field) {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => Value::Null,
    }
}

fn label(state: &str, input: &Value) -> String {
    let m = input.get("module_number").and_then(Value::as_u64);
    let l = input.get("lesson_number").and_then(Value::as_u64);
    let lab = input.get("lab_id").and_then(Value::as_str);
    match (m, l, lab) {
        (_, _, Some(id)) => format!("{state} (lab {id})"),
        (Some(m), Some(l), _) => format!("{state} (module {m} lesson {l})"),
        (Some(m), None, _) => format!("{state} (module {m})"),
        _ => state.to_string(),
    }
}

/// Seconds per stage name.
pub(crate) fn stage_times(spans: &[TaskSpan]) -> BTreeMap<String, StageTime> {
    let mut out: BTreeMap<String, StageTime> = BTreeMap::new();
    for s in spans {
        let t = out.entry(s.state.clone()).or_default();
        t.runs += 1;
        t.total_seconds += s.seconds;
        t.max_seconds = t.max_seconds.max(s.seconds);
    }
    out
}

/// The critical path: from the last task to finish, repeatedly the task that finished last
/// before the current one started on the same line of execution (an enclosing or enclosed
/// iteration, never a sibling branch). In a fork-join workflow that is the chain that decided
/// the wall time (the slowest module, its slowest lesson, ...).
pub(crate) fn critical_path(spans: &[TaskSpan]) -> Vec<TaskSpan> {
    let related = |a: &[usize], b: &[usize]| a.starts_with(b) || b.starts_with(a);
    let mut path = Vec::new();
    let Some(mut current) = spans.iter().max_by_key(|s| s.end) else { return path };
    path.push(current.clone());
    while let Some(prev) =
        spans.iter().filter(|s| s.end <= current.start && related(&s.path, &current.path)).max_by_key(|s| s.end)
    {
        path.push(prev.clone());
        current = prev;
    }
    path.reverse();
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(t: u64, kind: &str, state: &str, path: Vec<usize>, details: Value) -> HistoryEvent {
        HistoryEvent {
            id: t,
            previous_event_id: None,
            timestamp: SystemTime::UNIX_EPOCH + Duration::from_millis(t),
            event_type: kind.into(),
            state_name: Some(state.into()),
            map_path: path,
            details,
        }
    }

    #[test]
    fn critical_path_never_jumps_to_a_sibling_branch() {
        let h = vec![
            ev(0, "TaskStateEntered", "LabPlanner", vec![1], json!({})),
            ev(50, "TaskStateExited", "LabPlanner", vec![1], json!({})),
            ev(1, "TaskStateEntered", "ContentGen", vec![0, 0], json!({"input": {"module_number": 1}})),
            ev(20, "TaskStateExited", "ContentGen", vec![0, 0], json!({})),
            ev(
                60,
                "TaskStateEntered",
                "VisualPlanner",
                vec![0, 0, 0],
                json!({"input": {"module_number": 1, "lesson_number": 1}}),
            ),
            ev(90, "TaskStateExited", "VisualPlanner", vec![0, 0, 0], json!({})),
        ];
        let path: Vec<String> = critical_path(&task_spans(&h)).into_iter().map(|s| s.label).collect();
        assert_eq!(path, vec!["ContentGen (module 1)", "VisualPlanner (module 1 lesson 1)"]);
    }

    #[test]
    fn critical_path_follows_the_slowest_module() {
        let h = vec![
            ev(0, "TaskStateEntered", "PrepareCourse", vec![], json!({})),
            ev(10, "TaskStateExited", "PrepareCourse", vec![], json!({})),
            ev(11, "TaskStateEntered", "ContentGen", vec![0], json!({"input": {"module_number": 1}})),
            ev(12, "TaskStateEntered", "ContentGen", vec![1], json!({"input": {"module_number": 2}})),
            ev(100, "TaskStateExited", "ContentGen", vec![0], json!({})),
            ev(300, "TaskStateExited", "ContentGen", vec![1], json!({})),
            ev(301, "TaskStateEntered", "BookBuilder", vec![], json!({})),
            ev(350, "TaskStateExited", "BookBuilder", vec![], json!({})),
        ];
        let spans = task_spans(&h);
        assert_eq!(spans.len(), 4);
        let path: Vec<String> = critical_path(&spans).into_iter().map(|s| s.label).collect();
        assert_eq!(path, vec!["PrepareCourse", "ContentGen (module 2)", "BookBuilder"]);
        let times = stage_times(&spans);
        assert_eq!(times["ContentGen"].runs, 2);
        assert!((times["ContentGen"].max_seconds - 0.288).abs() < 1e-9);
    }
}
