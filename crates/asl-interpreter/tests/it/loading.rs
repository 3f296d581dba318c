//! Load-time validation and placeholder substitution.

use std::collections::HashMap;

use crate::support::single;
use asl_interpreter::{substitute, LoadError, StateMachine, StatesError, TaskInvoker};
use async_trait::async_trait;
use serde_json::{json, Value};

fn load_err(definition: Value) -> LoadError {
    match StateMachine::from_value(definition) {
        Ok(_) => panic!("definition unexpectedly loaded"),
        Err(e) => e,
    }
}

fn pass_end() -> Value {
    json!({"Type": "Pass", "End": true})
}

#[test]
fn valid_definition_with_every_state_type_loads() {
    let def = json!({"StartAt": "P", "States": {
        "P": {"Type": "Pass", "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": true, "Next": "T"}], "Default": "W"},
        "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f", "Next": "M",
              "TimeoutSeconds": 10, "HeartbeatSeconds": 5},
        "W": {"Type": "Wait", "Seconds": 1, "Next": "M"},
        "M": {"Type": "Map", "ItemProcessor": {"StartAt": "MP", "States": {"MP": pass_end()}}, "Next": "Par"},
        "Par": {"Type": "Parallel", "Branches": [{"StartAt": "BP", "States": {"BP": pass_end()}}], "Next": "Ch2"},
        "Ch2": {"Type": "Choice", "Choices": [{"Variable": "$.ok", "BooleanEquals": true, "Next": "S"}], "Default": "F"},
        "S": {"Type": "Succeed"},
        "F": {"Type": "Fail", "Error": "E"}
    }});
    let machine = StateMachine::from_value(def).expect("loads");
    assert_eq!(machine.start_at(), "P");
    assert_eq!(machine.state_type("MP"), Some("Pass"));
    assert_eq!(machine.state_names().len(), 11);
}

#[test]
fn unknown_field_on_a_state_names_state_and_field() {
    let e = load_err(single(json!({"Type": "Pass", "Reslt": 1, "End": true})));
    assert_eq!((e.state.as_str(), e.field.as_str()), ("S", "Reslt"));
}

#[test]
fn jsonata_query_language_is_rejected() {
    let e = load_err(json!({"QueryLanguage": "JSONata", "StartAt": "S", "States": {"S": pass_end()}}));
    assert_eq!((e.state.as_str(), e.field.as_str()), ("<root>", "QueryLanguage"));
    let e = load_err(single(json!({"Type": "Pass", "QueryLanguage": "JSONata", "End": true})));
    assert_eq!((e.state.as_str(), e.field.as_str()), ("S", "QueryLanguage"));
}

#[test]
fn jsonata_and_variable_fields_are_rejected() {
    for field in ["Arguments", "Output", "Assign"] {
        let mut state = json!({"Type": "Pass", "End": true});
        state[field] = json!({});
        let e = load_err(single(state));
        assert_eq!((e.state.as_str(), e.field.as_str()), ("S", field));
        assert!(e.message.contains("unsupported"), "{}", e.message);
    }
}

#[test]
fn distributed_map_features_are_rejected() {
    let processor = json!({"StartAt": "P", "States": {"P": pass_end()}});
    let e = load_err(single(json!({"Type": "Map", "ItemReader": {}, "ItemProcessor": processor, "End": true})));
    assert_eq!(e.field, "ItemReader");
    let e = load_err(single(json!({"Type": "Map", "ResultWriter": {}, "ItemProcessor": processor, "End": true})));
    assert_eq!(e.field, "ResultWriter");
    let distributed =
        json!({"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "P2", "States": {"P2": pass_end()}});
    let e = load_err(single(json!({"Type": "Map", "ItemProcessor": distributed, "End": true})));
    assert_eq!((e.state.as_str(), e.field.as_str()), ("S", "ItemProcessor.ProcessorConfig.Mode"));
}

#[test]
fn missing_next_target_is_reported() {
    let e = load_err(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}));
    assert_eq!((e.state.as_str(), e.field.as_str()), ("A", "Next"));
    assert!(e.message.contains("Nowhere"));
}

#[test]
fn missing_start_state_and_catch_target_are_reported() {
    let e = load_err(json!({"StartAt": "Nope", "States": {"A": pass_end()}}));
    assert_eq!((e.state.as_str(), e.field.as_str()), ("<root>", "StartAt"));
    let e = load_err(single(json!({"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "End": true,
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Gone"}]})));
    assert_eq!((e.state.as_str(), e.field.as_str()), ("S", "Catch[0].Next"));
}

#[test]
fn next_and_end_are_mutually_exclusive_and_one_is_required() {
    let e =
        load_err(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B", "End": true}, "B": pass_end()}}));
    assert_eq!(e.state, "A");
    let e = load_err(single(json!({"Type": "Pass"})));
    assert_eq!((e.state.as_str(), e.field.as_str()), ("S", "Next"));
}

#[test]
fn unreachable_and_duplicate_states_are_rejected() {
    let e = load_err(json!({"StartAt": "A", "States": {"A": pass_end(), "Orphan": pass_end()}}));
    assert_eq!(e.state, "Orphan");
    let e = load_err(json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
        "ItemProcessor": {"StartAt": "M", "States": {"M": pass_end()}}}}}));
    assert_eq!(e.state, "M");
    assert!(e.message.contains("unique"));
}

#[test]
fn field_types_are_checked() {
    let e = load_err(single(json!({"Type": "Wait", "Seconds": "ten", "End": true})));
    assert_eq!((e.state.as_str(), e.field.as_str()), ("S", "Seconds"));
    let e = load_err(single(json!({"Type": "Pass", "ResultPath": "$.a[*]", "End": true})));
    assert_eq!(e.field, "ResultPath");
    let e = load_err(single(json!({"Type": "Pass", "Parameters": {"x.$": "not a path"}, "End": true})));
    assert!(e.field.starts_with("Parameters"), "{}", e.field);
    let e = load_err(single(json!({"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "End": true})));
    assert_eq!(e.state, "S");
}

#[test]
fn retry_and_catch_shapes_are_validated() {
    let task = |retry: Value| {
        single(
            json!({"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "End": true, "Retry": retry}),
        )
    };
    let e = load_err(task(json!([{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}])));
    assert_eq!(e.field, "Retry[0].ErrorEquals");
    let e = load_err(task(json!([{"ErrorEquals": ["States.ALL", "X"]}])));
    assert_eq!(e.field, "Retry[0].ErrorEquals");
    let e = load_err(task(json!([{"ErrorEquals": ["X"], "BackoffRate": 0.5}])));
    assert_eq!(e.field, "Retry[0].BackoffRate");
    let e = load_err(task(json!([{"ErrorEquals": ["X"], "JitterStrategy": "SOME"}])));
    assert_eq!(e.field, "Retry[0].JitterStrategy");
    let e = load_err(task(json!([{"ErrorEquals": []}])));
    assert_eq!(e.field, "Retry[0].ErrorEquals");
    let e = load_err(task(json!([{"ErrorEquals": ["X"], "Bogus": 1}])));
    assert_eq!(e.field, "Retry[0].Bogus");
}

#[test]
fn choice_rules_are_validated_with_their_position() {
    let def = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [
            {"Variable": "$.a", "StringEquals": "x", "Next": "D"},
            {"Variable": "$.a", "NumericEquals": "nope", "Next": "D"}
        ]},
        "D": {"Type": "Succeed"}
    }});
    let e = load_err(def);
    assert_eq!(e.state, "C");
    assert!(e.field.starts_with("Choices[1]"), "{}", e.field);
}

#[test]
fn non_lambda_resource_is_rejected_unless_the_invoker_supports_it() {
    struct Dynamo;
    #[async_trait]
    impl TaskInvoker for Dynamo {
        async fn invoke_function(&self, _f: &str, _p: Value) -> Result<Value, StatesError> {
            Err(StatesError::new("States.TaskFailed", "no functions"))
        }
        fn supports(&self, resource: &str) -> bool {
            resource == "arn:aws:states:::dynamodb:putItem"
        }
        async fn invoke_resource(&self, _r: &str, parameters: Value) -> Result<Value, StatesError> {
            Ok(json!({"stored": parameters}))
        }
    }
    let def = single(json!({"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem",
        "Parameters": {"Item.$": "$"}, "End": true}));
    let e = load_err(def.clone());
    assert_eq!((e.state.as_str(), e.field.as_str()), ("S", "Resource"));
    let machine = StateMachine::from_value_for(def, &Dynamo).expect("supported by the invoker");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let executor = asl_interpreter::Executor::new(std::sync::Arc::new(Dynamo));
    let execution = runtime.block_on(executor.execute(&machine, json!({"k": 1}), "dyn"));
    assert_eq!(execution.output(), Some(&json!({"stored": {"Item": {"k": 1}}})));
}

#[test]
fn lambda_invoke_requires_function_name() {
    let e = load_err(single(json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"Payload.$": "$"}, "End": true})));
    assert_eq!((e.state.as_str(), e.field.as_str()), ("S", "Parameters/FunctionName"));
}

#[test]
fn invalid_json_is_a_load_error() {
    let e = StateMachine::from_json("{not json").expect_err("invalid");
    assert_eq!(e.state, "<root>");
}

#[test]
fn substitute_fills_placeholders() {
    let values: HashMap<String, String> =
        [("FnArn".to_string(), "arn:aws:lambda:us-east-1:1:function:gen".to_string())].into_iter().collect();
    let text = r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "${FnArn}", "End": true}}}"#;
    let filled = substitute(text, &values).expect("filled");
    assert!(filled.contains("function:gen"));
    StateMachine::from_json(&filled).expect("loads after substitution");
}

#[test]
fn unfilled_placeholder_is_named_in_the_error() {
    let values: HashMap<String, String> = [("A".to_string(), "1".to_string())].into_iter().collect();
    let e = substitute(r#"{"x": "${A}", "y": "${Missing}", "z": "${Other}"}"#, &values).expect_err("unfilled");
    assert!(e.field.contains("Missing") && e.field.contains("Other"), "{e}");
    assert!(e.message.contains("${Missing}"), "{e}");
}

#[test]
fn malformed_definitions_are_errors_not_panics() {
    let cases = [
        json!(null),
        json!([]),
        json!({"StartAt": 1, "States": {}}),
        json!({"StartAt": "A", "States": []}),
        json!({"StartAt": "A", "States": {}}),
        json!({"StartAt": "A", "States": {"A": 5}}),
        json!({"StartAt": "A", "States": {"A": {"Type": 5}}}),
        json!({"StartAt": "A", "States": {"A": {"Type": "Nope", "End": true}}}),
        json!({"StartAt": "A", "States": {"A": {"Type": "Map", "End": true}}}),
        json!({"StartAt": "A", "States": {"A": {"Type": "Map", "ItemProcessor": 3, "End": true}}}),
        json!({"StartAt": "A", "States": {"A": {"Type": "Parallel", "Branches": [], "End": true}}}),
        json!({"StartAt": "A", "States": {"A": {"Type": "Parallel", "Branches": [7], "End": true}}}),
        json!({"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": {}}}}),
        json!({"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": [{}]}}}),
        json!({"StartAt": "A", "States": {"A": {"Type": "Task", "End": true}}}),
        json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "x", "End": true, "Catch": "all"}}}),
        json!({"StartAt": "A", "States": {"A": {"Type": "Wait", "End": true}}}),
        json!({"StartAt": "A", "States": {"A": {"Type": "Wait", "Timestamp": "yesterday", "End": true}}}),
        json!({"StartAt": "A", "States": {"A": {"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}}}),
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": "yes"}}}),
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "InputPath": 3, "End": true}}}),
        json!({"StartAt": "A", "TimeoutSeconds": 0, "States": {"A": {"Type": "Pass", "End": true}}}),
    ];
    for case in cases {
        assert!(StateMachine::from_value(case.clone()).is_err(), "{case} should not load");
    }
}
