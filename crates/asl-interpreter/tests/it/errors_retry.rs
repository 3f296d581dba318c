//! Retry timing, catchers, task failures, timeouts and the payload limit.

use std::sync::Arc;
use std::time::Duration;

use crate::support::*;
use asl_interpreter::{Executor, FakeClock, StatesError};
use serde_json::{json, Value};
use tokio::sync::Notify;

fn task_with(function: &str, extra: Value) -> Value {
    let mut task = json!({
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function, "Payload.$": "$"},
        "OutputPath": "$.Payload",
        "End": true
    });
    if let (Some(obj), Value::Object(extra)) = (task.as_object_mut(), extra) {
        obj.extend(extra);
    }
    task
}

fn secs(values: &[f64]) -> Vec<Duration> {
    values.iter().map(|s| Duration::from_secs_f64(*s)).collect()
}

fn always_failing(error: &str) -> Arc<TestInvoker> {
    Arc::new(TestInvoker::new().failing("f", usize::MAX, error, json!(null)))
}

#[tokio::test]
async fn retry_delays_follow_backoff_rate_and_max_delay() {
    let def = single(task_with(
        "f",
        json!({"Retry": [{
            "ErrorEquals": ["Custom.Error"], "IntervalSeconds": 2, "BackoffRate": 3.0, "MaxAttempts": 4, "MaxDelaySeconds": 30
        }]}),
    ));
    let invoker = always_failing("Custom.Error");
    let (e, clock) = run_with(def, json!({}), invoker.clone()).await;
    assert_eq!(error(&e).0, "Custom.Error");
    assert_eq!(clock.sleeps(), secs(&[2.0, 6.0, 18.0, 30.0]));
    assert_eq!(invoker.calls("f"), 5);
    assert_eq!(e.stats.task_invocations, 5);
}

#[tokio::test]
async fn retry_defaults_are_one_second_three_attempts_rate_two() {
    let def = single(task_with("f", json!({"Retry": [{"ErrorEquals": ["States.ALL"]}]})));
    let invoker = always_failing("Custom.Error");
    let (_, clock) = run_with(def, json!({}), invoker.clone()).await;
    assert_eq!(clock.sleeps(), secs(&[1.0, 2.0, 4.0]));
    assert_eq!(invoker.calls("f"), 4);
}

#[tokio::test]
async fn fractional_backoff_rate_is_exact() {
    let def = single(task_with(
        "f",
        json!({"Retry": [{"ErrorEquals": ["States.ALL"], "BackoffRate": 1.5, "MaxAttempts": 3}]}),
    ));
    let (_, clock) = run_with(def, json!({}), always_failing("X")).await;
    assert_eq!(clock.sleeps(), secs(&[1.0, 1.5, 2.25]));
}

#[tokio::test]
async fn full_jitter_stays_within_bounds_and_is_reproducible_by_seed() {
    let def = single(task_with(
        "f",
        json!({"Retry": [{
            "ErrorEquals": ["States.ALL"], "IntervalSeconds": 4, "MaxAttempts": 6, "MaxDelaySeconds": 20, "JitterStrategy": "FULL"
        }]}),
    ));
    let run_seeded = |seed: u64| {
        let def = def.clone();
        async move {
            let clock = Arc::new(FakeClock::default());
            let executor = Executor::new(always_failing("X")).with_clock(clock.clone()).with_jitter_seed(seed);
            executor.execute(&machine(def), json!({}), "jitter").await;
            clock.sleeps()
        }
    };
    let first = run_seeded(11).await;
    let bounds = [4.0, 8.0, 16.0, 20.0, 20.0, 20.0];
    assert_eq!(first.len(), bounds.len());
    for (delay, bound) in first.iter().zip(bounds) {
        assert!(delay.as_secs_f64() <= bound, "{delay:?} exceeds {bound}");
    }
    assert_ne!(first, secs(&bounds), "jitter changes the delays");
    assert_eq!(run_seeded(11).await, first);
    assert_ne!(run_seeded(12).await, first);
}

#[tokio::test]
async fn max_attempts_zero_never_retries() {
    let def = single(task_with("f", json!({"Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 0}]})));
    let invoker = always_failing("X");
    let (e, clock) = run_with(def, json!({}), invoker.clone()).await;
    assert_eq!(error(&e).0, "X");
    assert!(clock.sleeps().is_empty());
    assert_eq!(invoker.calls("f"), 1);
}

#[tokio::test]
async fn retry_then_success_and_retry_count_in_context() {
    let invoker = Arc::new(TestInvoker::new().failing("f", 2, "Transient", json!("done")));
    let def = single(json!({
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "f", "Payload": {"attempt.$": "$$.State.RetryCount"}},
        "OutputPath": "$.Payload",
        "Retry": [{"ErrorEquals": ["Other"], "MaxAttempts": 5}, {"ErrorEquals": ["Transient"], "IntervalSeconds": 3}],
        "End": true
    }));
    let (e, clock) = run_with(def, json!({}), invoker.clone()).await;
    assert_eq!(output(&e), json!("done"));
    assert_eq!(clock.sleeps(), secs(&[3.0, 6.0]));
    let attempts: Vec<Value> = invoker.payloads("f").iter().map(|p| p["attempt"].clone()).collect();
    assert_eq!(attempts, vec![json!(0), json!(1), json!(2)]);
}

#[tokio::test]
async fn catch_uses_first_matching_catcher_with_result_path() {
    let def = json!({"StartAt": "T", "States": {
        "T": task_with("f", json!({"End": null, "Next": "Done", "Catch": [
            {"ErrorEquals": ["Other.Error"], "Next": "Wrong"},
            {"ErrorEquals": ["Custom.Error", "Another"], "ResultPath": "$.error", "Next": "Handled"},
            {"ErrorEquals": ["States.ALL"], "Next": "Wrong"}
        ]})),
        "Done": {"Type": "Succeed"},
        "Wrong": {"Type": "Fail", "Error": "WrongCatcher"},
        "Handled": {"Type": "Pass", "End": true}
    }});
    let def = strip_nulls(def);
    let (e, _) = run_with(def, json!({"in": 1}), always_failing("Custom.Error")).await;
    let out = output(&e);
    assert_eq!(out["in"], json!(1));
    assert_eq!(out["error"]["Error"], json!("Custom.Error"));
    assert!(out["error"]["Cause"].as_str().unwrap_or("").contains("injected failure"));
}

fn strip_nulls(mut v: Value) -> Value {
    if let Some(states) = v["States"].as_object_mut() {
        for state in states.values_mut() {
            if let Some(obj) = state.as_object_mut() {
                obj.retain(|_, v| !v.is_null());
            }
        }
    }
    v
}

#[tokio::test]
async fn catch_all_replaces_output_with_error_object_by_default() {
    let def = strip_nulls(json!({"StartAt": "T", "States": {
        "T": task_with("f", json!({"End": null, "Next": "H", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}]})),
        "H": {"Type": "Pass", "End": true}
    }}));
    let (e, _) = run_with(def, json!({"in": 1}), always_failing("Custom.Error")).await;
    let out = output(&e);
    assert_eq!(out["Error"], json!("Custom.Error"));
    assert!(out.get("in").is_none());
}

#[tokio::test]
async fn retry_is_exhausted_before_catch() {
    let def = strip_nulls(json!({"StartAt": "T", "States": {
        "T": task_with("f", json!({"End": null, "Next": "H",
            "Retry": [{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 2}],
            "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.e", "Next": "H"}]})),
        "H": {"Type": "Pass", "End": true}
    }}));
    let invoker = always_failing("Lambda.Unknown");
    let (e, clock) = run_with(def, json!({}), invoker.clone()).await;
    assert_eq!(output(&e)["e"]["Error"], json!("Lambda.Unknown"));
    assert_eq!(invoker.calls("f"), 3);
    assert_eq!(clock.sleeps(), secs(&[1.0, 2.0]));
}

#[tokio::test]
async fn task_failure_propagates_error_and_cause() {
    let invoker =
        Arc::new(TestInvoker::new().on("f", |_| {
            Err(StatesError::new("ValueError", r#"{"errorMessage":"bad value","errorType":"ValueError"}"#))
        }));
    let (e, _) = run_with(single(task_with("f", json!({}))), json!({}), invoker).await;
    let (error, cause) = error(&e);
    assert_eq!(error, "ValueError");
    assert!(cause.contains("bad value"));
    let types = event_types(&e);
    assert!(types.contains(&"TaskFailed".to_string()));
    assert_eq!(types.last().map(String::as_str), Some("ExecutionFailed"));
}

#[tokio::test]
async fn unknown_function_is_a_task_failure() {
    let (e, _) = run_with(single(task_with("missing", json!({}))), json!({}), Arc::new(TestInvoker::new())).await;
    assert_eq!(error(&e).0, "Lambda.ResourceNotFoundException");
}

/// An invoker whose function "hang" never completes, and a signal raised once it was called.
fn hanging_invoker() -> (Arc<TestInvoker>, Arc<Notify>) {
    let started = Arc::new(Notify::new());
    let signal = Arc::clone(&started);
    let invoker = Arc::new(TestInvoker::new().on_async("hang", move |_| {
        let signal = Arc::clone(&signal);
        async move {
            signal.notify_one();
            std::future::pending::<Result<Value, StatesError>>().await
        }
    }));
    (invoker, started)
}

#[tokio::test]
async fn timeout_seconds_fails_a_never_completing_task() {
    let (invoker, started) = hanging_invoker();
    let clock = Arc::new(FakeClock::default());
    let executor = Executor::new(invoker).with_clock(clock.clone());
    let m = machine(single(task_with("hang", json!({"TimeoutSeconds": 5}))));
    let run = tokio::spawn(async move { executor.execute(&m, json!({}), "timeout").await });
    started.notified().await;
    clock.advance(Duration::from_secs(4));
    tokio::task::yield_now().await;
    assert!(!run.is_finished(), "not yet timed out after 4 s");
    clock.advance(Duration::from_secs(1));
    let e = tokio::time::timeout(Duration::from_secs(30), run).await.expect("finished").expect("joined");
    assert_eq!(error(&e).0, "States.Timeout");
    assert!(event_types(&e).contains(&"TaskTimedOut".to_string()));
}

#[tokio::test]
async fn task_completing_in_time_is_not_timed_out() {
    let invoker = Arc::new(TestInvoker::new().echo("f"));
    let (e, _) = run_with(single(task_with("f", json!({"TimeoutSeconds": 1}))), json!({"a": 1}), invoker).await;
    assert_eq!(output(&e), json!({"a": 1}));
}

#[tokio::test]
async fn timeout_can_be_retried_by_name() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let invoker = Arc::new(TestInvoker::new().on_async("hang_once", move |_| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            if n == 0 {
                std::future::pending::<()>().await;
            }
            Ok(json!("second try"))
        }
    }));
    // The retry back-off sleep advances virtual time past the first attempt's deadline.
    let def = single(task_with(
        "hang_once",
        json!({"TimeoutSeconds": 2,
        "Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1}]}),
    ));
    let clock = Arc::new(FakeClock::default());
    let executor = Executor::new(invoker).with_clock(clock.clone());
    let m = machine(def);
    let run = tokio::spawn(async move { executor.execute(&m, json!({}), "retry-timeout").await });
    while calls.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    clock.advance(Duration::from_secs(2));
    let e = tokio::time::timeout(Duration::from_secs(30), run).await.expect("finished").expect("joined");
    assert_eq!(output(&e), json!("second try"));
}

#[tokio::test]
async fn a_task_timeout_is_not_retried_by_states_task_failed() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let invoker = Arc::new(TestInvoker::new().on_async("hang", move |_| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::future::pending::<Result<Value, StatesError>>()
    }));
    let def = single(task_with(
        "hang",
        json!({"TimeoutSeconds": 3, "Retry": [{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1}]}),
    ));
    let clock = Arc::new(FakeClock::default());
    let executor = Executor::new(invoker).with_clock(clock.clone());
    let m = machine(def);
    let run = tokio::spawn(async move { executor.execute(&m, json!({}), "timeout-not-task-failed").await });
    while calls.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    clock.advance(Duration::from_secs(3));
    let e = tokio::time::timeout(Duration::from_secs(30), run).await.expect("finished").expect("joined");
    assert_eq!(error(&e).0, "States.Timeout");
    assert!(error(&e).1.contains("TimeoutSeconds of 3 seconds"), "{}", error(&e).1);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1, "not retried");
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn each_retrier_counts_its_own_attempts_and_back_off() {
    // The Lambda shape of the course definition: throttling and crashes have their own retriers.
    let errors =
        ["Lambda.TooManyRequestsException", "Lambda.TooManyRequestsException", "Sandbox.Timedout", "Lambda.Unknown"];
    let count = std::sync::atomic::AtomicUsize::new(0);
    let invoker = Arc::new(TestInvoker::new().on("f", move |_| {
        match errors.get(count.fetch_add(1, std::sync::atomic::Ordering::SeqCst)) {
            Some(e) => Err(StatesError::new(*e, "{}")),
            None => Ok(json!({"done": true})),
        }
    }));
    let def = single(task_with(
        "f",
        json!({"TimeoutSeconds": 60, "Retry": [
            {"ErrorEquals": ["Lambda.ServiceException"], "IntervalSeconds": 2, "MaxAttempts": 6},
            {"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 5, "MaxAttempts": 12,
             "MaxDelaySeconds": 300},
            {"ErrorEquals": ["Lambda.Unknown", "Sandbox.Timedout", "States.Timeout"], "IntervalSeconds": 5,
             "MaxAttempts": 3, "MaxDelaySeconds": 60}
        ]}),
    ));
    let (e, clock) = run_with(def, json!({}), invoker.clone()).await;
    assert_eq!(output(&e), json!({"done": true}));
    assert_eq!(clock.sleeps(), secs(&[5.0, 10.0, 5.0, 10.0]));
    assert_eq!(invoker.calls("f"), 5);
}

#[tokio::test]
async fn payload_limit_fails_with_data_limit_exceeded() {
    let big = "x".repeat(300);
    let def = single(json!({"Type": "Pass", "Result": big, "End": true}));
    let executor = Executor::new(Arc::new(TestInvoker::new())).with_payload_limit(256);
    let e = executor.execute(&machine(def), json!({}), "limit").await;
    assert_eq!(error(&e).0, "States.DataLimitExceeded");
}

#[tokio::test]
async fn default_payload_limit_is_256_kib() {
    let def = single(json!({"Type": "Pass", "End": true}));
    let fits = json!("y".repeat(262_144 - 2));
    assert!(run(def.clone(), fits).await.succeeded());
    let too_big = json!("y".repeat(262_144));
    assert_eq!(error(&run(def, too_big).await).0, "States.DataLimitExceeded");
}

#[tokio::test]
async fn data_limit_exceeded_is_not_caught_by_states_all_but_by_name() {
    let invoker = Arc::new(TestInvoker::new().on("big", |_| Ok(json!("z".repeat(1000)))));
    let with_catch = |errors: Value| {
        strip_nulls(json!({"StartAt": "T", "States": {
            "T": task_with("big", json!({"End": null, "Next": "H", "Catch": [{"ErrorEquals": errors, "Next": "H"}]})),
            "H": {"Type": "Pass", "End": true}
        }}))
    };
    let executor = Executor::new(invoker).with_payload_limit(500);
    let e = executor.execute(&machine(with_catch(json!(["States.ALL"]))), json!({}), "all").await;
    assert_eq!(error(&e).0, "States.DataLimitExceeded");
    let e = executor.execute(&machine(with_catch(json!(["States.DataLimitExceeded"]))), json!({}), "named").await;
    assert_eq!(output(&e)["Error"], json!("States.DataLimitExceeded"));
}

#[tokio::test]
async fn states_runtime_is_never_caught() {
    let def = strip_nulls(json!({"StartAt": "T", "States": {
        "T": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "f", "Payload.$": "$.missing"},
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}],
            "Next": "H"
        },
        "H": {"Type": "Pass", "End": true}
    }}));
    let invoker = Arc::new(TestInvoker::new().echo("f"));
    let (e, _) = run_with(def, json!({}), invoker.clone()).await;
    assert_eq!(error(&e).0, "States.Runtime");
    assert_eq!(invoker.calls("f"), 0);
}

#[tokio::test]
async fn map_catches_iteration_failure() {
    let def = json!({"StartAt": "M", "States": {
        "M": {
            "Type": "Map",
            "ItemProcessor": {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Item.Failed", "Cause": "c"}}},
            "Catch": [{"ErrorEquals": ["Item.Failed"], "ResultPath": "$.caught", "Next": "Done"}],
            "ItemsPath": "$.items",
            "Next": "Done"
        },
        "Done": {"Type": "Pass", "End": true}
    }});
    let e = run(def, json!({"items": [1]})).await;
    assert_eq!(output(&e)["caught"], json!({"Error": "Item.Failed", "Cause": "c"}));
}

#[tokio::test]
async fn execution_timeout_seconds_fails_the_execution() {
    let (invoker, started) = hanging_invoker();
    let clock = Arc::new(FakeClock::default());
    let executor = Executor::new(invoker).with_clock(clock.clone());
    let def = json!({"TimeoutSeconds": 60, "StartAt": "S", "States": {"S": task_with("hang", json!({}))}});
    let m = machine(def);
    let run = tokio::spawn(async move { executor.execute(&m, json!({}), "exec-timeout").await });
    started.notified().await;
    clock.advance(Duration::from_secs(60));
    let e = tokio::time::timeout(Duration::from_secs(30), run).await.expect("finished").expect("joined");
    assert_eq!(error(&e).0, "States.Timeout");
}
