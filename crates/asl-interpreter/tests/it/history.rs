//! Execution history, live observation and counters.

use std::sync::{Arc, Mutex};

use crate::support::*;
use asl_interpreter::{Executor, HistoryEvent, Observer};
use serde_json::json;

fn simple_machine() -> serde_json::Value {
    json!({"StartAt": "Prepare", "States": {
        "Prepare": {"Type": "Pass", "Result": {"n": 2}, "Next": "Call"},
        "Call": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "f", "Payload.$": "$"},
            "OutputPath": "$.Payload",
            "Next": "Done"
        },
        "Done": {"Type": "Succeed"}
    }})
}

#[tokio::test]
async fn history_event_sequence_for_a_simple_machine() {
    let invoker = Arc::new(TestInvoker::new().echo("f"));
    let (e, _) = run_with(simple_machine(), json!({"start": true}), invoker).await;
    assert_eq!(output(&e), json!({"n": 2}));
    assert_eq!(
        event_types(&e),
        vec![
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded",
        ]
    );
    for (i, event) in e.history.iter().enumerate() {
        assert_eq!(event.id, i as u64 + 1);
        assert_eq!(event.previous_event_id, if i == 0 { None } else { Some(i as u64) });
        assert!(event.map_path.is_empty());
    }
    assert_eq!(e.history[0].details["input"], json!({"start": true}));
    assert_eq!(e.history[1].state_name.as_deref(), Some("Prepare"));
    assert_eq!(e.history[4].details["parameters"], json!({"FunctionName": "f", "Payload": {"n": 2}}));
    assert_eq!(e.history[10].details["output"], json!({"n": 2}));
    assert_eq!(e.stats.state_transitions, 3);
    assert_eq!(e.stats.task_invocations, 1);
    let as_json = e.history[0].to_json();
    assert_eq!(as_json["type"], json!("ExecutionStarted"));
    assert_eq!(as_json["timestamp"], json!("2024-01-01T00:00:00.000Z"));
}

struct Collect(Mutex<Vec<String>>);

impl Observer for Collect {
    fn on_event(&self, event: &HistoryEvent) {
        if let Ok(mut seen) = self.0.lock() {
            seen.push(event.event_type.clone());
        }
    }
}

#[tokio::test]
async fn observer_sees_every_event_even_without_recorded_history() {
    let observer = Arc::new(Collect(Mutex::new(Vec::new())));
    let executor =
        Executor::new(Arc::new(TestInvoker::new().echo("f"))).with_observer(observer.clone()).with_history(false);
    let e = executor.execute(&machine(simple_machine()), json!({}), "observed").await;
    assert!(e.succeeded());
    assert!(e.history.is_empty());
    let seen = observer.0.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(seen.len(), 11);
    assert_eq!(seen.first().map(String::as_str), Some("ExecutionStarted"));
    assert_eq!(seen.last().map(String::as_str), Some("ExecutionSucceeded"));
}

#[tokio::test]
async fn history_off_keeps_counters() {
    let def = single(json!({"Type": "Map", "ItemsPath": "$.xs",
        "ItemProcessor": {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "End": true}}},
        "End": true}));
    let executor = Executor::new(Arc::new(TestInvoker::new())).with_history(false);
    let e = executor.execute(&machine(def), json!({"xs": [1, 2, 3]}), "quiet").await;
    assert!(e.history.is_empty());
    assert_eq!(e.stats.state_transitions, 7);
    assert_eq!(e.stats.map_iterations, 3);
    assert_eq!(e.stats.max_observed_concurrency.get("S"), Some(&3));
}

#[tokio::test]
async fn map_events_carry_iteration_paths() {
    let def = single(json!({"Type": "Map", "ItemsPath": "$.xs",
        "ItemProcessor": {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}, "End": true}));
    let e = run(def, json!({"xs": ["a", "b"]})).await;
    let types = event_types(&e);
    assert_eq!(&types[..3], &["ExecutionStarted", "MapStateEntered", "MapStateStarted"]);
    assert_eq!(&types[types.len() - 3..], &["MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"]);
    let started = e.history.iter().find(|ev| ev.event_type == "MapStateStarted").map(|ev| ev.id);
    for ev in e.history.iter().filter(|ev| ev.event_type == "MapIterationStarted") {
        assert_eq!(ev.previous_event_id, started);
        assert_eq!(ev.map_path.len(), 1);
        assert_eq!(json!(ev.map_path[0]), ev.details["index"]);
    }
    let entered: Vec<&HistoryEvent> = e.history.iter().filter(|ev| ev.event_type == "PassStateEntered").collect();
    assert_eq!(entered.len(), 2);
    for ev in entered {
        let iteration_start =
            e.history.iter().find(|s| s.event_type == "MapIterationStarted" && s.map_path == ev.map_path).map(|s| s.id);
        assert_eq!(ev.previous_event_id, iteration_start);
    }
}
