//! Definitions and inputs shaped like a course-generation workflow, for benchmarks and for
//! comparing engines: a Map over modules whose item processor runs a Pass, a nested Map over
//! lessons (two Pass states per lesson) and a Pass, followed by a Pass that gathers every
//! lesson key.

use serde_json::{json, Value};

/// A pass-only definition: Map over `$.modules` (`MaxConcurrency` 10) → per module
/// `PrepareModule` (Pass) → `ProcessLessons` (Map over the module's lessons: `PrepareLesson`,
/// `GenerateLesson`) → `SummarizeModule` (Pass); then `CombineResults` with
/// `all_lesson_keys.$: $.all_modules_results[*].lesson_keys[*]`. `modules` and `lessons` only
/// size the matching input (see [`fanout_input`]); they are recorded in the `Comment`.
pub fn fanout_definition(modules: usize, lessons: usize) -> Value {
    json!({
        "Comment": format!("Fan-out benchmark: {modules} modules x {lessons} lessons, pass states only"),
        "StartAt": "ProcessModules",
        "States": {
            "ProcessModules": {
                "Type": "Map",
                "ItemsPath": "$.modules",
                "MaxConcurrency": 10,
                "ItemSelector": {
                    "course_id.$": "$.course_id",
                    "module.$": "$$.Map.Item.Value",
                    "module_index.$": "$$.Map.Item.Index"
                },
                "ItemProcessor": {
                    "ProcessorConfig": { "Mode": "INLINE" },
                    "StartAt": "PrepareModule",
                    "States": {
                        "PrepareModule": {
                            "Type": "Pass",
                            "Parameters": {
                                "course_id.$": "$.course_id",
                                "module_id.$": "$.module.module_id",
                                "lessons.$": "$.module.lessons"
                            },
                            "Next": "ProcessLessons"
                        },
                        "ProcessLessons": {
                            "Type": "Map",
                            "ItemsPath": "$.lessons",
                            "MaxConcurrency": 10,
                            "ItemSelector": {
                                "course_id.$": "$.course_id",
                                "module_id.$": "$.module_id",
                                "lesson.$": "$$.Map.Item.Value"
                            },
                            "ItemProcessor": {
                                "ProcessorConfig": { "Mode": "INLINE" },
                                "StartAt": "PrepareLesson",
                                "States": {
                                    "PrepareLesson": {
                                        "Type": "Pass",
                                        "Parameters": {
                                            "lesson_key.$": "States.Format('{}/{}/{}', $.course_id, $.module_id, $.lesson.lesson_id)",
                                            "title.$": "$.lesson.title"
                                        },
                                        "Next": "GenerateLesson"
                                    },
                                    "GenerateLesson": {
                                        "Type": "Pass",
                                        "Parameters": {
                                            "lesson_key.$": "$.lesson_key",
                                            "status": "generated"
                                        },
                                        "End": true
                                    }
                                }
                            },
                            "ResultPath": "$.lesson_results",
                            "Next": "SummarizeModule"
                        },
                        "SummarizeModule": {
                            "Type": "Pass",
                            "Parameters": {
                                "module_id.$": "$.module_id",
                                "lesson_keys.$": "$.lesson_results[*].lesson_key"
                            },
                            "End": true
                        }
                    }
                },
                "ResultPath": "$.all_modules_results",
                "Next": "CombineResults"
            },
            "CombineResults": {
                "Type": "Pass",
                "Parameters": {
                    "course_id.$": "$.course_id",
                    "all_lesson_keys.$": "$.all_modules_results[*].lesson_keys[*]"
                },
                "End": true
            }
        }
    })
}

/// The input for [`fanout_definition`]: `course_id` and `modules` modules of `lessons`
/// lessons each.
pub fn fanout_input(modules: usize, lessons: usize) -> Value {
    let modules: Vec<Value> = (0..modules)
        .map(|m| {
            let lessons: Vec<Value> = (0..lessons)
                .map(|l| json!({ "lesson_id": format!("l{l:03}"), "title": format!("Lesson {l} of module {m}") }))
                .collect();
            json!({ "module_id": format!("m{m:04}"), "lessons": lessons })
        })
        .collect();
    json!({ "course_id": "bench-course", "modules": modules })
}
