//! Map and Parallel states: ordering, bounded concurrency, nesting, failures.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::*;
use asl_interpreter::{Executor, StatesError};
use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};

/// Fails the test instead of hanging if gating logic ever deadlocks.
async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), f).await.expect("finished in time")
}

fn map_of_tasks(function: &str, max_concurrency: Value) -> Value {
    let mut map = json!({
        "Type": "Map",
        "ItemsPath": "$.items",
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Work", "States": {
            "Work": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function, "Payload.$": "$"},
                "ResultSelector": {"v.$": "$.Payload"},
                "OutputPath": "$.v",
                "End": true
            }
        }},
        "End": true
    });
    if let (Some(obj), Value::Object(extra)) = (map.as_object_mut(), max_concurrency) {
        obj.extend(extra);
    }
    single(map)
}

/// Tracks invocations in flight; each waits for a permit, released by `release`.
struct Gate {
    in_flight: AtomicUsize,
    started: AtomicUsize,
    max: AtomicUsize,
    permits: Semaphore,
}

impl Gate {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            in_flight: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
            max: AtomicUsize::new(0),
            permits: Semaphore::new(0),
        })
    }
}

/// An invoker whose calls block until `release(in_flight, started)` returns permits to add.
fn gated(gate: Arc<Gate>, release: fn(usize, usize) -> usize) -> TestInvoker {
    TestInvoker::new().on_async("work", move |payload| {
        let gate = Arc::clone(&gate);
        async move {
            let now = gate.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            let started = gate.started.fetch_add(1, Ordering::SeqCst) + 1;
            gate.max.fetch_max(now, Ordering::SeqCst);
            let add = release(now, started);
            if add > 0 {
                gate.permits.add_permits(add);
            }
            let permit = gate.permits.acquire().await.map_err(|e| StatesError::new("Gate", e.to_string()))?;
            permit.forget();
            gate.in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(payload)
        }
    })
}

#[tokio::test]
async fn map_preserves_input_order_under_out_of_order_completion() {
    let (done_tx, done_rx) = watch::channel(0usize);
    let done_tx = Arc::new(done_tx);
    let n = 6usize;
    let invoker = TestInvoker::new().on_async("work", move |payload| {
        let done_tx = Arc::clone(&done_tx);
        let mut done_rx = done_rx.clone();
        async move {
            let i = payload.as_u64().unwrap_or(0) as usize;
            // Item i completes only after every later item did: reverse completion order.
            done_rx.wait_for(|d| *d >= n - 1 - i).await.map_err(|e| StatesError::new("Watch", e.to_string()))?;
            done_tx.send_modify(|d| *d += 1);
            Ok(json!(i * 10))
        }
    });
    let items: Vec<usize> = (0..n).collect();
    let (e, _) = bounded(run_with(map_of_tasks("work", json!({})), json!({"items": items}), Arc::new(invoker))).await;
    assert_eq!(output(&e), json!([0, 10, 20, 30, 40, 50]));
    let finished: Vec<u64> = e
        .history
        .iter()
        .filter(|ev| ev.event_type == "MapIterationSucceeded")
        .map(|ev| ev.details["index"].as_u64().unwrap_or(99))
        .collect();
    assert_eq!(finished, vec![5, 4, 3, 2, 1, 0]);
}

#[tokio::test]
async fn map_concurrency_never_exceeds_max_and_reaches_it() {
    let gate = Gate::new();
    // Release a whole group once 3 are in flight, and everything once all 12 have started.
    let invoker = gated(gate.clone(), |now, started| {
        if started == 12 {
            12
        } else if now == 3 {
            3
        } else {
            0
        }
    });
    let items: Vec<usize> = (0..12).collect();
    let def = map_of_tasks("work", json!({"MaxConcurrency": 3}));
    let (e, _) = bounded(run_with(def, json!({"items": items}), Arc::new(invoker))).await;
    assert_eq!(output(&e), json!(items));
    assert_eq!(gate.max.load(Ordering::SeqCst), 3);
    assert_eq!(e.stats.max_observed_concurrency.get("S"), Some(&3));
    assert_eq!(e.stats.map_iterations, 12);
    assert_eq!(e.stats.task_invocations, 12);
}

#[tokio::test]
async fn max_concurrency_path_reads_the_limit_from_input() {
    let gate = Gate::new();
    let invoker = gated(gate.clone(), |now, started| {
        if started == 8 {
            8
        } else if now == 2 {
            2
        } else {
            0
        }
    });
    let items: Vec<usize> = (0..8).collect();
    let def = map_of_tasks("work", json!({"MaxConcurrencyPath": "$.limit"}));
    let (e, _) = bounded(run_with(def, json!({"items": items, "limit": 2}), Arc::new(invoker))).await;
    assert_eq!(output(&e), json!(items));
    assert_eq!(gate.max.load(Ordering::SeqCst), 2);
    assert_eq!(e.stats.max_observed_concurrency.get("S"), Some(&2));
}

#[tokio::test]
async fn unlimited_max_concurrency_is_capped_by_the_executor() {
    let gate = Gate::new();
    let invoker = gated(gate.clone(), |now, started| {
        if started == 9 {
            9
        } else if now == 4 {
            4
        } else {
            0
        }
    });
    let items: Vec<usize> = (0..9).collect();
    let def = map_of_tasks("work", json!({"MaxConcurrency": 0}));
    let executor = Executor::new(Arc::new(invoker)).with_max_map_concurrency(4);
    let e = bounded(executor.execute(&machine(def), json!({"items": items}), "cap")).await;
    assert_eq!(output(&e), json!(items));
    assert_eq!(e.stats.max_observed_concurrency.get("S"), Some(&4));
}

#[tokio::test]
async fn eleventh_iteration_starts_only_after_one_finished() {
    let gate = Gate::new();
    // With 10 in flight let exactly one finish at a time; release all once 12 started.
    let invoker = gated(gate.clone(), |now, started| {
        if started == 12 {
            12
        } else if now == 10 {
            1
        } else {
            0
        }
    });
    let items: Vec<usize> = (0..12).collect();
    let def = map_of_tasks("work", json!({"MaxConcurrency": 10}));
    let (e, _) = bounded(run_with(def, json!({"items": items}), Arc::new(invoker))).await;
    assert_eq!(output(&e), json!(items));
    let position = |ty: &str, pred: &dyn Fn(&Value) -> bool| {
        e.history.iter().position(|ev| ev.event_type == ty && pred(&ev.details)).expect("event present")
    };
    let first_success = position("MapIterationSucceeded", &|_| true);
    let eleventh = position("MapIterationStarted", &|d| d["index"] == json!(10));
    assert!(eleventh > first_success, "iteration 10 started at {eleventh}, first success at {first_success}");
    let started_before = e.history[..first_success].iter().filter(|ev| ev.event_type == "MapIterationStarted").count();
    assert_eq!(started_before, 10);
    assert_eq!(e.stats.max_observed_concurrency.get("S"), Some(&10));
}

#[tokio::test]
async fn legacy_iterator_and_parameters_form() {
    let def = single(json!({
        "Type": "Map",
        "ItemsPath": "$.xs",
        "Parameters": {"x.$": "$$.Map.Item.Value", "k.$": "$.k"},
        "Iterator": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
        "ResultPath": "$.out",
        "End": true
    }));
    let e = run(def, json!({"xs": [1, 2], "k": "K"})).await;
    assert_eq!(output(&e), json!({"xs": [1, 2], "k": "K", "out": [{"x": 1, "k": "K"}, {"x": 2, "k": "K"}]}));
}

#[tokio::test]
async fn nested_map_in_map() {
    let def = single(json!({
        "Type": "Map",
        "ItemsPath": "$.rows",
        "ItemProcessor": {"StartAt": "Inner", "States": {
            "Inner": {
                "Type": "Map",
                "ItemsPath": "$.cells",
                "ItemSelector": {"cell.$": "$$.Map.Item.Value", "row.$": "$.row"},
                "ItemProcessor": {"StartAt": "Key", "States": {
                    "Key": {"Type": "Pass", "Parameters": {"key.$": "States.Format('{}-{}', $.row, $.cell)"}, "OutputPath": "$.key", "End": true}
                }},
                "End": true
            }
        }},
        "End": true
    }));
    let input = json!({"rows": [{"row": "a", "cells": [1, 2]}, {"row": "b", "cells": [3]}]});
    let e = run(def, input).await;
    assert_eq!(output(&e), json!([["a-1", "a-2"], ["b-3"]]));
    let inner_paths: Vec<Vec<usize>> =
        e.history.iter().filter(|ev| ev.event_type == "PassStateEntered").map(|ev| ev.map_path.clone()).collect();
    let mut sorted = inner_paths.clone();
    sorted.sort();
    assert_eq!(sorted, vec![vec![0, 0], vec![0, 1], vec![1, 0]]);
    assert_eq!(e.stats.map_iterations, 5);
}

#[tokio::test]
async fn map_items_path_must_select_an_array() {
    let def = single(json!({"Type": "Map", "ItemsPath": "$.xs",
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}));
    let (error, cause) = error(&run(def, json!({"xs": {"not": "array"}})).await);
    assert_eq!(error, "States.Runtime");
    assert!(cause.contains("ItemsPath"), "{cause}");
}

#[tokio::test]
async fn map_iteration_failure_fails_map_and_cancels_the_rest() {
    let never = TestInvoker::new()
        .on("boom", |_| Err(StatesError::new("Custom.Boom", "bad item")))
        .on_async("slow", |_| async { std::future::pending::<Result<Value, StatesError>>().await });
    let def = single(json!({
        "Type": "Map",
        "ItemsPath": "$.fns",
        "MaxConcurrency": 2,
        "ItemProcessor": {"StartAt": "Call", "States": {"Call": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName.$": "$", "Payload": {}}, "End": true
        }}},
        "End": true
    }));
    let invoker = Arc::new(never);
    let (e, _) = bounded(run_with(def, json!({"fns": ["slow", "boom", "slow", "slow"]}), invoker.clone())).await;
    assert_eq!(error(&e), ("Custom.Boom".to_string(), "bad item".to_string()));
    assert_eq!(invoker.calls("slow"), 1, "no iteration starts after the failure");
    let types = event_types(&e);
    assert!(types.contains(&"MapIterationAborted".to_string()), "{types:?}");
    assert!(types.contains(&"MapStateFailed".to_string()));
}

#[tokio::test]
async fn parallel_outputs_in_branch_order() {
    let (tx, rx) = watch::channel(false);
    let tx = Arc::new(tx);
    // The first branch completes only after the second one did.
    let invoker = TestInvoker::new()
        .on_async("first", move |_| {
            let mut rx = rx.clone();
            async move {
                rx.wait_for(|done| *done).await.map_err(|e| StatesError::new("Watch", e.to_string()))?;
                Ok(json!("one"))
            }
        })
        .on_async("second", move |_| {
            let tx = Arc::clone(&tx);
            async move {
                tx.send_replace(true);
                Ok(json!("two"))
            }
        });
    let branch = |f: &str, name: &str| {
        json!({"StartAt": name, "States": {name: {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": f, "Payload.$": "$"}, "OutputPath": "$.Payload", "End": true
        }}})
    };
    let def = single(json!({"Type": "Parallel", "Branches": [branch("first", "B1"), branch("second", "B2")],
        "ResultPath": "$.results", "End": true}));
    let (e, _) = bounded(run_with(def, json!({"in": true}), Arc::new(invoker))).await;
    assert_eq!(output(&e), json!({"in": true, "results": ["one", "two"]}));
}

#[tokio::test]
async fn parallel_branch_failure_fails_the_state() {
    let def = single(json!({"Type": "Parallel", "Branches": [
        {"StartAt": "Ok", "States": {"Ok": {"Type": "Pass", "End": true}}},
        {"StartAt": "Bad", "States": {"Bad": {"Type": "Fail", "Error": "Branch.Bad", "Cause": "nope"}}}
    ], "End": true}));
    let e = run(def, json!({})).await;
    assert_eq!(error(&e).0, "Branch.Bad");
    assert!(event_types(&e).contains(&"ParallelStateFailed".to_string()));
}

#[tokio::test]
async fn parallel_failure_can_be_caught() {
    let def = json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Branches": [
            {"StartAt": "Bad", "States": {"Bad": {"Type": "Fail", "Error": "Branch.Bad", "Cause": "nope"}}}
        ], "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "Recovered"}], "Next": "Recovered"},
        "Recovered": {"Type": "Pass", "End": true}
    }});
    let e = run(def, json!({"x": 1})).await;
    assert_eq!(output(&e), json!({"x": 1, "err": {"Error": "Branch.Bad", "Cause": "nope"}}));
}
