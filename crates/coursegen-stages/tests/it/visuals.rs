//! VisualPlanner's rewrite of tags to ids: idempotent, reversible for re-planning, and tidy.

use std::sync::Arc;

use crate::support::*;
use coursegen_core::contracts::*;
use coursegen_core::{keys, BlobStore, TextTask};
use coursegen_stages::*;

fn planner_input(project: &str, lesson_key: &str, force: bool) -> VisualPlannerInput {
    VisualPlannerInput {
        project_folder: project.into(),
        module_number: 1,
        lesson_number: 1,
        lesson_key: lesson_key.into(),
        force,
    }
}

async fn put_lesson(store: &dyn BlobStore, project: &str, tags: &[&str]) -> String {
    let key = keys::lesson_key(project, 1, 1, "Lesson 1 of module 1");
    let mut md = String::from("# Lesson 1 of module 1\n\nIntro.\n");
    for t in tags {
        md.push_str(&format!("\nSome text.\n\n[VISUAL: {t}]\n"));
    }
    store.put(&key, md.into_bytes(), "text/markdown").await.unwrap();
    key
}

#[tokio::test]
async fn forced_replanning_uses_the_original_descriptions_not_the_ids() {
    let store = mem();
    put_outline(store.as_ref(), "replan", &outline_yaml("Replan", "en", 1, 1, false)).await;
    let descriptions = ["Pods → Services → Ingress", "build, test, deploy", "A team at a whiteboard"];
    let key = put_lesson(store.as_ref(), "replan", &descriptions).await;
    let (deps, counter) = counting_deps(store.clone());

    let first = visual_planner(planner_input("replan", &key, false), &deps).await.unwrap();
    assert_eq!(first.visuals, 3);
    let rewritten = text_of(store.as_ref(), &key).await;
    assert!(rewritten.contains("[VISUAL: 01-01-01]") && rewritten.contains("[VISUAL: 01-01-03]"));
    assert!(!rewritten.contains("Pods →"), "tags now hold ids");

    // A plain rerun recognises the ids and calls nothing.
    let again = visual_planner(planner_input("replan", &key, false), &deps).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(counter.text_calls(TextTask::VisualPlan), 1);
    assert_eq!(text_of(store.as_ref(), &key).await, rewritten);

    // A forced rerun plans again from the original descriptions.
    let scripted = Arc::new(ScriptedText::new(vec![(
        TextTask::VisualPlan,
        Script::Text(
            r#"{"visuals": [
            {"index": 1, "kind": "diagram", "title": "Traffic", "alt_text": "a", "prompt": "traffic",
             "diagram": {"layout": "flow", "nodes": ["Pods", "Services", "Ingress"], "edges": []}},
            {"index": 2, "kind": "diagram", "title": "Pipeline", "alt_text": "b", "prompt": "pipeline",
             "diagram": {"layout": "steps", "nodes": ["build", "test", "deploy"], "edges": [{"from": 0, "to": 1}]}},
            {"index": 3, "kind": "illustration", "title": "Team", "alt_text": "c", "prompt": "A team at a whiteboard",
             "diagram": {"layout": "boxes", "nodes": ["team", "whiteboard"], "edges": []}}]}"#
                .into(),
        ),
    )]));
    let forced_deps = deps_with(store.clone(), scripted.clone(), Arc::new(coursegen_stages::offline::OfflineImage));
    let forced = visual_planner(planner_input("replan", &key, true), &forced_deps).await.unwrap();
    assert_eq!(forced.prompt_keys, first.prompt_keys);
    let seen = scripted.seen();
    assert_eq!(seen.len(), 1);
    for d in descriptions {
        assert!(seen[0].prompt.contains(d), "the re-plan saw {d:?}");
    }
    assert!(!seen[0].prompt.contains("01-01-01"));
    for (key, d) in first.prompt_keys.iter().zip(descriptions) {
        let prompt: VisualPrompt = serde_json::from_str(&text_of(store.as_ref(), key).await).unwrap();
        assert_eq!(prompt.description, d, "descriptions survive re-planning");
    }
    let title: VisualPrompt = serde_json::from_str(&text_of(store.as_ref(), &first.prompt_keys[0]).await).unwrap();
    assert_eq!(title.title, "Traffic");
    assert_eq!(text_of(store.as_ref(), &key).await, rewritten, "the lesson still holds the same ids");
}

#[tokio::test]
async fn replanning_a_lesson_with_fewer_visuals_removes_the_stale_prompts() {
    let store = mem();
    put_outline(store.as_ref(), "stale", &outline_yaml("Stale", "en", 1, 1, false)).await;
    let deps = Deps::offline(store.clone());
    let key =
        put_lesson(store.as_ref(), "stale", &["one → two", "three → four", "five, six", "seven → eight", "nine"]).await;
    let first = visual_planner(planner_input("stale", &key, false), &deps).await.unwrap();
    assert_eq!(first.visuals, 5);

    put_lesson(store.as_ref(), "stale", &["alpha → beta", "gamma → delta", "epsilon"]).await;
    let second = visual_planner(planner_input("stale", &key, false), &deps).await.unwrap();
    assert_eq!(second.visuals, 3);
    assert_eq!(second.prompt_keys, first.prompt_keys[..3]);
    let left = store.list(&keys::prompts_prefix("stale", 1, 1)).await.unwrap();
    assert_eq!(left, second.prompt_keys, "visual-04 and visual-05 removed");
}

#[tokio::test]
async fn a_lesson_key_outside_the_module_is_rejected() {
    let store = mem();
    let deps = Deps::offline(store.clone());
    let foreign = keys::lesson_key("other", 1, 1, "x");
    let err = visual_planner(planner_input("mine", &foreign, false), &deps).await.unwrap_err();
    assert_eq!(err.error_type(), "InvalidRequest");
    let missing = keys::lesson_key("mine", 1, 1, "x");
    let err = visual_planner(planner_input("mine", &missing, false), &deps).await.unwrap_err();
    assert_eq!(err.error_type(), "MissingInput");
}
