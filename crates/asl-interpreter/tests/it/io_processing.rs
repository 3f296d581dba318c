//! Input and output processing: InputPath, Parameters, Result, ResultSelector, ResultPath,
//! OutputPath, intrinsics and the context object.

use std::sync::Arc;

use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn pass_result_replaces_input_by_default() {
    let e = run(single(json!({"Type": "Pass", "Result": {"x": 1}, "End": true})), json!({"a": 1})).await;
    assert_eq!(output(&e), json!({"x": 1}));
}

#[tokio::test]
async fn pass_without_result_passes_input_through() {
    let e = run(single(json!({"Type": "Pass", "End": true})), json!({"a": [1, 2]})).await;
    assert_eq!(output(&e), json!({"a": [1, 2]}));
}

#[tokio::test]
async fn pass_result_path_merges_into_input() {
    let def = single(json!({"Type": "Pass", "Result": "v", "ResultPath": "$.deep.new", "End": true}));
    let e = run(def, json!({"a": 1, "deep": {"old": true}})).await;
    assert_eq!(output(&e), json!({"a": 1, "deep": {"old": true, "new": "v"}}));
}

#[tokio::test]
async fn result_path_dollar_replaces_input() {
    let def = single(json!({"Type": "Pass", "Result": [1], "ResultPath": "$", "End": true}));
    assert_eq!(output(&run(def, json!({"a": 1})).await), json!([1]));
}

#[tokio::test]
async fn result_path_null_discards_result() {
    let def = single(json!({"Type": "Pass", "Result": "dropped", "ResultPath": null, "End": true}));
    assert_eq!(output(&run(def, json!({"keep": 1})).await), json!({"keep": 1}));
}

#[tokio::test]
async fn output_path_selects_part_of_output() {
    let def = single(
        json!({"Type": "Pass", "Result": {"x": {"y": 5}}, "ResultPath": "$.r", "OutputPath": "$.r.x", "End": true}),
    );
    assert_eq!(output(&run(def, json!({"a": 1})).await), json!({"y": 5}));
}

#[tokio::test]
async fn input_path_and_output_path_null_give_empty_objects() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "InputPath": null, "ResultPath": "$.seen", "Result": true, "Next": "B"},
        "B": {"Type": "Pass", "OutputPath": null, "End": true}
    }});
    let e = run(def, json!({"a": 1})).await;
    assert_eq!(output(&e), json!({}));
    let a_exit = e.history.iter().find(|ev| ev.event_type == "PassStateExited").expect("exit event");
    assert_eq!(a_exit.details["output"], json!({"a": 1, "seen": true}));
}

#[tokio::test]
async fn input_path_and_parameters_feed_pass_result() {
    let def = single(json!({
        "Type": "Pass",
        "InputPath": "$.order",
        "Parameters": {"id.$": "$.id", "fixed": "yes", "nested": {"n.$": "$.items[0]"}},
        "End": true
    }));
    let e = run(def, json!({"order": {"id": "o-1", "items": [7, 8]}})).await;
    assert_eq!(output(&e), json!({"id": "o-1", "fixed": "yes", "nested": {"n": 7}}));
}

#[tokio::test]
async fn missing_definite_path_is_states_runtime() {
    let def = single(json!({"Type": "Pass", "Parameters": {"v.$": "$.missing"}, "End": true}));
    let (error, cause) = error(&run(def, json!({"a": 1})).await);
    assert_eq!(error, "States.Runtime");
    assert!(cause.contains("$.missing"), "{cause}");
}

#[tokio::test]
async fn missing_input_path_is_states_runtime() {
    let def = single(json!({"Type": "Pass", "InputPath": "$.nope", "End": true}));
    assert_eq!(error(&run(def, json!({})).await).0, "States.Runtime");
}

#[tokio::test]
async fn lambda_invoke_wraps_payload_in_envelope() {
    let invoker = Arc::new(TestInvoker::new().on("double", |p| Ok(json!({"v": p["n"].as_i64().unwrap_or(0) * 2}))));
    let def = single(json!({
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:double", "Payload": {"n.$": "$.n"}},
        "End": true
    }));
    let (e, _) = run_with(def, json!({"n": 21}), invoker.clone()).await;
    let out = output(&e);
    assert_eq!(out["Payload"], json!({"v": 42}));
    assert_eq!(out["StatusCode"], json!(200));
    assert_eq!(out["ExecutedVersion"], json!("$LATEST"));
    assert_eq!(out["SdkHttpMetadata"]["HttpStatusCode"], json!(200));
    assert!(out["SdkResponseMetadata"]["RequestId"].is_string());
    assert_eq!(invoker.payloads("double"), vec![json!({"n": 21})]);
}

#[tokio::test]
async fn result_selector_and_result_path_on_lambda_invoke() {
    let invoker = Arc::new(TestInvoker::new().on("f", |_| Ok(json!({"key": "k1", "noise": [1, 2, 3]}))));
    let def = single(json!({
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "f", "Payload.$": "$"},
        "ResultSelector": {"key.$": "$.Payload.key", "status.$": "$.StatusCode"},
        "ResultPath": "$.result",
        "OutputPath": "$.result",
        "End": true
    }));
    let (e, _) = run_with(def, json!({"in": 1}), invoker).await;
    assert_eq!(output(&e), json!({"key": "k1", "status": 200}));
}

#[tokio::test]
async fn direct_lambda_arn_returns_payload_alone() {
    let invoker = Arc::new(TestInvoker::new().echo("echo"));
    let def = single(json!({
        "Type": "Task",
        "Resource": "arn:aws:lambda:us-east-1:123456789012:function:echo",
        "Parameters": {"x.$": "$.a"},
        "ResultPath": "$.r",
        "End": true
    }));
    let (e, _) = run_with(def, json!({"a": 3}), invoker).await;
    assert_eq!(output(&e), json!({"a": 3, "r": {"x": 3}}));
}

#[tokio::test]
async fn intrinsic_functions_in_parameters() {
    let def = single(json!({
        "Type": "Pass",
        "Parameters": {
            "greeting.$": "States.Format('Hello, {}!', $.name)",
            "list.$": "States.Array($.a, $.b)",
            "len.$": "States.ArrayLength($.items)"
        },
        "End": true
    }));
    let e = run(def, json!({"name": "Ada", "a": 1, "b": "two", "items": [1, 2, 3]})).await;
    assert_eq!(output(&e), json!({"greeting": "Hello, Ada!", "list": [1, "two"], "len": 3}));
}

#[tokio::test]
async fn context_object_values_are_available() {
    let def = single(json!({
        "Type": "Pass",
        "Parameters": {
            "id.$": "$$.Execution.Id",
            "name.$": "$$.Execution.Name",
            "input.$": "$$.Execution.Input",
            "start.$": "$$.Execution.StartTime",
            "state.$": "$$.State.Name",
            "entered.$": "$$.State.EnteredTime",
            "retries.$": "$$.State.RetryCount",
            "machine.$": "$$.StateMachine.Id"
        },
        "End": true
    }));
    let e = run(def, json!({"k": "v"})).await;
    let out = output(&e);
    assert_eq!(out["id"], json!(e.execution_arn));
    assert!(e.execution_arn.ends_with(":execution:StateMachine:test"), "{}", e.execution_arn);
    assert_eq!(out["name"], json!("test"));
    assert_eq!(out["input"], json!({"k": "v"}));
    assert_eq!(out["start"], json!("2024-01-01T00:00:00.000Z"));
    assert_eq!(out["state"], json!("S"));
    assert_eq!(out["entered"], json!("2024-01-01T00:00:00.000Z"));
    assert_eq!(out["retries"], json!(0));
    assert!(out["machine"].as_str().unwrap_or("").ends_with(":stateMachine:StateMachine"));
}

#[tokio::test]
async fn map_item_context_index_and_value() {
    let def = single(json!({
        "Type": "Map",
        "ItemsPath": "$.xs",
        "ItemSelector": {"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value", "tag.$": "$.tag"},
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
        "End": true
    }));
    let e = run(def, json!({"xs": ["a", "b"], "tag": "t"})).await;
    assert_eq!(output(&e), json!([{"i": 0, "v": "a", "tag": "t"}, {"i": 1, "v": "b", "tag": "t"}]));
}
