//! The course-shaped fan-out definition: nested Maps of Pass states and, with tasks, nested
//! concurrency.

use std::sync::Arc;

use crate::support::*;
use asl_interpreter::bench_support::{fanout_definition, fanout_input};
use asl_interpreter::Executor;
use serde_json::json;

#[tokio::test]
async fn fanout_definition_collects_every_lesson_key_in_order() {
    let executor = Executor::new(Arc::new(TestInvoker::new())).with_history(false);
    let e = executor.execute(&machine(fanout_definition(3, 2)), fanout_input(3, 2), "fanout").await;
    let out = output(&e);
    assert_eq!(
        out["all_lesson_keys"],
        json!([
            "bench-course/m0000/l000",
            "bench-course/m0000/l001",
            "bench-course/m0001/l000",
            "bench-course/m0001/l001",
            "bench-course/m0002/l000",
            "bench-course/m0002/l001"
        ])
    );
    // Per module: iteration states PrepareModule, ProcessLessons, SummarizeModule plus two per
    // lesson; plus the outer Map and CombineResults.
    assert_eq!(e.stats.state_transitions, 2 + 3 * (3 + 2 * 2));
    assert_eq!(e.stats.map_iterations, 3 + 3 * 2);
}

#[tokio::test]
async fn course_shaped_workflow_with_tasks_runs_nested_maps() {
    let def = json!({"StartAt": "Modules", "States": {
        "Modules": {
            "Type": "Map", "ItemsPath": "$.modules", "MaxConcurrency": 2,
            "ItemProcessor": {"StartAt": "Lessons", "States": {
                "Lessons": {
                    "Type": "Map", "ItemsPath": "$.lessons", "MaxConcurrency": 3,
                    "ItemProcessor": {"StartAt": "Prepare", "States": {
                        "Prepare": {"Type": "Pass", "Parameters": {"lesson.$": "$"}, "Next": "Generate"},
                        "Generate": {
                            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                            "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:1:function:generate", "Payload.$": "$"},
                            "ResultSelector": {"key.$": "$.Payload.key"},
                            "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "MaxAttempts": 2}],
                            "End": true
                        }
                    }},
                    "End": true
                }
            }},
            "End": true
        }
    }});
    let invoker = Arc::new(TestInvoker::new().on_async("generate", |p| async move {
        tokio::task::yield_now().await;
        Ok(json!({"key": format!("k-{}", p["lesson"].as_str().unwrap_or("?"))}))
    }));
    let input = json!({"modules": [{"lessons": ["a", "b", "c", "d"]}, {"lessons": ["e"]}, {"lessons": ["f", "g"]}]});
    let (e, _) = run_with(def, input, invoker.clone()).await;
    assert_eq!(
        output(&e),
        json!([[{"key": "k-a"}, {"key": "k-b"}, {"key": "k-c"}, {"key": "k-d"}], [{"key": "k-e"}], [{"key": "k-f"}, {"key": "k-g"}]])
    );
    assert_eq!(invoker.calls("generate"), 7);
    assert!(e.stats.max_observed_concurrency["Modules"] <= 2);
    assert!(e.stats.max_observed_concurrency["Lessons"] <= 3);
}
