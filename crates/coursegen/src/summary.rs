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
    /// The module the task worked on, from its input.
    #[serde(skip)]
    pub(crate) module: Option<u64>,
    /// The lesson the task worked on, from its input.
    #[serde(skip)]
    pub(crate) lesson: Option<u64>,
    /// The lab the task worked on, from its input.
    #[serde(skip)]
    pub(crate) lab: Option<String>,
    /// Seconds its critical chain of model calls waited for the quota or a slot (`None` when
    /// the calls were not made in this process).
    pub(crate) wait_seconds: Option<f64>,
    /// Seconds its critical chain of model calls spent in the model.
    pub(crate) model_seconds: Option<f64>,
}

/// Time spent in one stage across all its runs.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct StageTime {
    pub(crate) runs: u64,
    pub(crate) total_seconds: f64,
    pub(crate) max_seconds: f64,
    /// Seconds all its model calls waited for the quota or a slot (concurrent calls add up);
    /// `None` when the calls were not made in this process.
    pub(crate) wait_seconds: Option<f64>,
    /// Seconds all its model calls spent in the model (concurrent calls add up).
    pub(crate) model_seconds: Option<f64>,
}

/// Task spans from a history: each TaskStateEntered paired with the next TaskStateExited
/// of the same state on the same map path.
pub(crate) fn task_spans(history: &[HistoryEvent]) -> Vec<TaskSpan> {
    let mut open: BTreeMap<(String, Vec<usize>), (SystemTime, Value)> = BTreeMap::new();
    let mut spans = Vec::new();
    for e in history {
        let Some(state) = e.state_name.as_deref().map(|s| crate::progress::stage_of(s).to_string()) else { continue };
        match e.event_type.as_str() {
            "TaskStateEntered" => {
                let input = json_field(&e.details, "input");
                open.insert((state, e.map_path.clone()), (e.timestamp, input));
            }
            "TaskStateExited" => {
                if let Some((start, input)) = open.remove(&(state.clone(), e.map_path.clone())) {
                    let seconds = e.timestamp.duration_since(start).unwrap_or(Duration::ZERO).as_secs_f64();
                    spans.push(TaskSpan {
                        label: label(&state, &input),
                        module: input.get("module_number").and_then(Value::as_u64),
                        lesson: input.get("lesson_number").and_then(Value::as_u64),
                        lab: input.get("lab_id").and_then(Value::as_str).map(str::to_string),
                        state,
                        start,
                        end: e.timestamp,
                        seconds,
                        path: e.map_path.clone(),
                        wait_seconds: None,
                        model_seconds: None,
                    });
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

/// Fill in the queueing and model time of every span from the calls recorded in this process
/// (see [`crate::timing`]), and add them up per stage.
pub(crate) fn attribute_calls(
    spans: &mut [TaskSpan],
    stages: &mut BTreeMap<String, StageTime>,
    calls: &[crate::timing::CallRecord],
) {
    for s in spans.iter_mut() {
        let chain = crate::timing::span_calls(s, calls);
        s.wait_seconds = Some(chain.wait_seconds);
        s.model_seconds = Some(chain.model_seconds);
        let totals = crate::timing::span_call_totals(s, calls);
        let t = stages.entry(s.state.clone()).or_default();
        *t.wait_seconds.get_or_insert(0.0) += totals.wait_seconds;
        *t.model_seconds.get_or_insert(0.0) += totals.model_seconds;
    }
}

/// The critical path's time split: total, waiting for the quota or a slot, in model calls, and
/// what is left without the waiting; `None` parts when the calls were not timed here.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub(crate) struct PathTime {
    pub(crate) seconds: f64,
    pub(crate) wait_seconds: Option<f64>,
    pub(crate) model_seconds: Option<f64>,
    /// The chain at the same latencies without the waiting: the sum over the path of each
    /// task's time minus its chain's wait (model calls, store I/O, rendering). For a course of
    /// many modules this is what one module's chain takes when nothing queues.
    pub(crate) without_waiting_seconds: Option<f64>,
}

/// Adds up the critical path.
pub(crate) fn path_time(path: &[TaskSpan]) -> PathTime {
    let seconds = path.iter().map(|s| s.seconds).sum::<f64>();
    let sum = |f: fn(&TaskSpan) -> Option<f64>| path.iter().map(f).sum::<Option<f64>>();
    let wait = sum(|s| s.wait_seconds);
    PathTime {
        seconds,
        wait_seconds: wait,
        model_seconds: sum(|s| s.model_seconds),
        without_waiting_seconds: wait.map(|w| (seconds - w).max(0.0)),
    }
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

    #[test]
    fn the_critical_path_separates_waiting_from_model_time() {
        let h = vec![
            ev(0, "TaskStateEntered", "ContentGen", vec![0], json!({"input": {"module_number": 1}})),
            ev(1000, "TaskStateExited", "ContentGen", vec![0], json!({})),
            ev(1000, "TaskStateEntered", "BookBuilder", vec![], json!({})),
            ev(1100, "TaskStateExited", "BookBuilder", vec![], json!({})),
        ];
        let mut spans = task_spans(&h);
        let mut stages = stage_times(&spans);
        assert_eq!(path_time(&critical_path(&spans)).wait_seconds, None, "not timed: unknown, not zero");
        let at = |ms: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
        let call = |lesson: u64, start: u64, wait: f64, model: f64, end: u64| crate::timing::CallRecord {
            stage: "ContentGen",
            module: Some(1),
            lesson: Some(lesson),
            lab: None,
            start: at(start),
            end: at(end),
            wait_seconds: wait,
            model_seconds: model,
        };
        // Lesson 1 in the model for 0.4 s; lesson 2 queued 0.5 s for a slot, then 0.4 s.
        let calls = vec![call(1, 10, 0.0, 0.4, 410), call(2, 10, 0.5, 0.4, 910)];
        attribute_calls(&mut spans, &mut stages, &calls);
        let t = path_time(&critical_path(&spans));
        assert_eq!(t.seconds, 1.1);
        assert_eq!(t.wait_seconds, Some(0.5));
        assert_eq!(t.model_seconds, Some(0.4));
        assert!((t.without_waiting_seconds.unwrap() - 0.6).abs() < 1e-9);
        assert_eq!(stages["ContentGen"].wait_seconds, Some(0.5));
        assert_eq!(stages["ContentGen"].model_seconds, Some(0.8));
        assert_eq!(stages["BookBuilder"].model_seconds, Some(0.0));
    }
}
