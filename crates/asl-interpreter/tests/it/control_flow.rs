//! Choice, Wait, Succeed and Fail states.

use std::time::Duration;

use crate::support::*;
use serde_json::{json, Value};

fn choice_machine() -> Value {
    json!({"StartAt": "Route", "States": {
        "Route": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"},
                {"And": [
                    {"Variable": "$.n", "NumericGreaterThanEquals": 0},
                    {"Variable": "$.kind", "StringEquals": "small"}
                ], "Next": "Small"}
            ],
            "Default": "Other"
        },
        "Big": {"Type": "Pass", "Result": "big", "End": true},
        "Small": {"Type": "Pass", "Result": "small", "End": true},
        "Other": {"Type": "Pass", "Result": "other", "End": true}
    }})
}

#[tokio::test]
async fn choice_routes_to_first_matching_rule() {
    assert_eq!(output(&run(choice_machine(), json!({"n": 11, "kind": "small"})).await), json!("big"));
    assert_eq!(output(&run(choice_machine(), json!({"n": 3, "kind": "small"})).await), json!("small"));
}

#[tokio::test]
async fn choice_falls_back_to_default() {
    assert_eq!(output(&run(choice_machine(), json!({"n": 3, "kind": "large"})).await), json!("other"));
}

#[tokio::test]
async fn choice_without_match_or_default_fails_no_choice_matched() {
    let def = json!({"StartAt": "Route", "States": {
        "Route": {"Type": "Choice", "Choices": [{"Variable": "$.x", "BooleanEquals": true, "Next": "Yes"}]},
        "Yes": {"Type": "Succeed"}
    }});
    assert_eq!(error(&run(def, json!({"x": false})).await).0, "States.NoChoiceMatched");
}

#[tokio::test]
async fn choice_output_path_applies_to_its_input() {
    let def = json!({"StartAt": "Route", "States": {
        "Route": {"Type": "Choice", "InputPath": "$.inner", "OutputPath": "$.v",
                  "Choices": [{"Variable": "$.v", "IsPresent": true, "Next": "Done"}]},
        "Done": {"Type": "Succeed"}
    }});
    assert_eq!(output(&run(def, json!({"inner": {"v": 9}})).await), json!(9));
}

#[tokio::test]
async fn wait_seconds_uses_the_clock() {
    let def = single(json!({"Type": "Wait", "Seconds": 42, "End": true}));
    let (e, clock) = run_with(def, json!({"a": 1}), Default::default()).await;
    assert_eq!(output(&e), json!({"a": 1}));
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(42)]);
}

#[tokio::test]
async fn wait_seconds_path_and_timestamp() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "B"},
        "B": {"Type": "Wait", "Timestamp": "2024-01-01T00:10:00Z", "Next": "C"},
        "C": {"Type": "Wait", "TimestampPath": "$.until", "End": true}
    }});
    let input = json!({"delay": 30, "until": "2024-01-01T01:00:00+00:00"});
    let (e, clock) = run_with(def, input.clone(), Default::default()).await;
    assert_eq!(output(&e), input);
    // The fake clock starts at midnight: 30 s, then until 00:10:00, then until 01:00:00.
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(30), Duration::from_secs(570), Duration::from_secs(3000)]);
}

#[tokio::test]
async fn wait_seconds_path_must_be_a_non_negative_integer() {
    let def = single(json!({"Type": "Wait", "SecondsPath": "$.delay", "End": true}));
    assert_eq!(error(&run(def, json!({"delay": "soon"})).await).0, "States.Runtime");
}

#[tokio::test]
async fn fail_state_reports_error_and_cause() {
    let def = single(json!({"Type": "Fail", "Error": "Custom.Broken", "Cause": "it broke"}));
    let e = run(def, json!({})).await;
    assert_eq!(error(&e), ("Custom.Broken".to_string(), "it broke".to_string()));
    assert_eq!(event_types(&e), vec!["ExecutionStarted", "FailStateEntered", "ExecutionFailed"]);
}

#[tokio::test]
async fn fail_state_error_path_and_cause_path() {
    let def = single(json!({
        "Type": "Fail",
        "ErrorPath": "$.err",
        "CausePath": "States.Format('code {}', $.code)"
    }));
    let e = run(def, json!({"err": "Bad.Thing", "code": 7})).await;
    assert_eq!(error(&e), ("Bad.Thing".to_string(), "code 7".to_string()));
}

#[tokio::test]
async fn succeed_state_ends_with_processed_input() {
    let def = single(json!({"Type": "Succeed", "InputPath": "$.a", "OutputPath": "$.b"}));
    assert_eq!(output(&run(def, json!({"a": {"b": 2}})).await), json!(2));
}
