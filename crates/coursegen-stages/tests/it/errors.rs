//! Error paths: each raises a stable error type, names what is wrong, and writes nothing it
//! should not.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::support::*;
use async_trait::async_trait;
use coursegen_core::contracts::*;
use coursegen_core::{
    keys, BlobStore, BlobStoreExt, ImageModel, ImageRequest, ImageResponse, ModelId, StageError, StageResult,
    TextModel, TextRequest, TextResponse, TextTask,
};
use coursegen_stages::offline::{OfflineImage, OfflineText};
use coursegen_stages::*;
use serde_json::json;

async fn lesson_of(deps: &Deps, project: &str, module: u32) -> ContentGenOutput {
    content_gen(content_input(project, module), deps).await.unwrap()
}

#[tokio::test]
async fn a_malformed_visual_plan_is_repaired_once_then_fails_naming_the_stage_and_lesson() {
    let store = mem();
    put_outline(store.as_ref(), "bad", &outline_yaml("Bad Plans", "en", 1, 2, false)).await;
    let content = lesson_of(&Deps::offline(store.clone()), "bad", 1).await;
    let lesson_before = text_of(store.as_ref(), &content.lesson_keys[1]).await;

    let plan = r#"{"visuals": [{"index": 1, "kind": "diagram", "title": "x", "alt_text": "y", "prompt": "",
                   "diagram": {"layout": "flow", "nodes": ["only one"], "edges": [{"from": 0, "to": 7}]}}]}"#;
    let scripted = Arc::new(ScriptedText::new(vec![(TextTask::VisualPlan, Script::Text(plan.into()))]));
    let deps = deps_with(store.clone(), scripted.clone(), Arc::new(OfflineImage));
    let err = visual_planner(
        VisualPlannerInput {
            project_folder: "bad".into(),
            module_number: 1,
            lesson_number: 2,
            lesson_key: content.lesson_keys[1].clone(),
            force: false,
        },
        &deps,
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "ModelError");
    let msg = err.to_string();
    assert!(msg.contains("VisualPlanner") && msg.contains("module 1 lesson 2"), "{msg}");
    let seen = scripted.seen();
    assert_eq!(seen.len(), 2, "one call and one repair");
    assert!(seen[0].json_schema.is_some());
    assert!(seen[1].prompt.contains("could not be used") && seen[1].prompt.contains("nodes"), "{}", seen[1].prompt);
    assert_eq!(text_of(store.as_ref(), &content.lesson_keys[1]).await, lesson_before, "lesson untouched");
    assert!(store.list("bad/prompts/").await.unwrap().is_empty(), "no prompts written");

    // Not JSON at all is the same error.
    let scripted = Arc::new(ScriptedText::new(vec![(TextTask::VisualPlan, Script::Text("Sure! Here it is.".into()))]));
    let deps = deps_with(store.clone(), scripted.clone(), Arc::new(OfflineImage));
    let input =
        json!({"project_folder": "bad", "module_number": 1, "lesson_number": 1, "lesson_key": content.lesson_keys[0]});
    assert_eq!(invoke(Stage::VisualPlanner, input, &deps).await.unwrap_err().error_type(), "ModelError");
    assert_eq!(scripted.seen().len(), 2);
}

#[tokio::test]
async fn a_malformed_visual_plan_repaired_by_the_second_call_is_used_after_exactly_two_calls() {
    let store = mem();
    put_outline(store.as_ref(), "fixed", &outline_yaml("Fixed Plans", "en", 1, 1, false)).await;
    let content = lesson_of(&Deps::offline(store.clone()), "fixed", 1).await;
    let bad = r#"{"visuals": [{"index": 1, "kind": "photograph"}]}"#;
    let scripted = Arc::new(ScriptedText::new(vec![(TextTask::VisualPlan, Script::FirstThenOffline(bad.into()))]));
    let deps = deps_with(store.clone(), scripted.clone(), Arc::new(OfflineImage));
    let input = json!({"project_folder": "fixed", "module_number": 1, "lesson_number": 1,
                       "lesson_key": content.lesson_keys[0]});
    let out: VisualPlannerOutput =
        serde_json::from_value(invoke(Stage::VisualPlanner, input, &deps).await.unwrap()).unwrap();
    assert!(out.visuals > 0, "{out:?}");
    let seen = scripted.seen();
    assert_eq!(seen.len(), 2, "one call and one repair");
    assert!(
        seen[1].prompt.contains("could not be used") && seen[1].prompt.contains("photograph"),
        "{}",
        seen[1].prompt
    );
    assert!(seen[1].brief["repair"]["errors"].as_array().is_some_and(|e| !e.is_empty()), "{}", seen[1].brief);
}

#[tokio::test]
async fn content_gen_on_a_module_out_of_range_is_an_invalid_request_with_no_model_call() {
    let store = mem();
    put_outline(store.as_ref(), "range", &outline_yaml("Range", "en", 2, 1, false)).await;
    let (deps, counter) = counting_deps(store.clone());
    for module in [0, 3, 99] {
        let err = content_gen(content_input("range", module), &deps).await.unwrap_err();
        assert_eq!(err.error_type(), "InvalidRequest");
        assert!(err.to_string().contains(&format!("module {module}")), "{err}");
    }
    assert_eq!(counter.total_text(), 0);
    assert!(store.list("range/lessons/").await.unwrap().is_empty());
}

#[tokio::test]
async fn book_builder_rejects_conflicting_mappings_and_writes_no_book() {
    let store = mem();
    put_outline(store.as_ref(), "conflict", &outline_yaml("Conflict", "en", 1, 1, false)).await;
    let deps = Deps::offline(store.clone());
    let a = BTreeMap::from([("01-01-01".to_string(), keys::image_key("conflict", "01-01-01", "svg"))]);
    let b = BTreeMap::from([("01-01-01".to_string(), keys::image_key("conflict", "01-01-01", "png"))]);
    let err = book_builder(
        BookBuilderInput {
            project_folder: "conflict".into(),
            outline_key: keys::outline_key("conflict"),
            content_type: Default::default(),
            all_lesson_keys: vec![],
            all_image_mappings: vec![a, b],
            lab_keys: vec![],
            module_results: vec![],
            lab_results: vec![],
        },
        &deps,
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "InvalidRequest");
    assert!(err.to_string().contains("01-01-01"), "{err}");
    assert!(store.list("conflict/book/").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_payload_that_does_not_fit_the_input_names_the_field() {
    let deps = Deps::offline(mem());
    let err = invoke(Stage::ContentGen, json!({"project_folder": "x", "outline_key": "x/course/outline.yaml"}), &deps)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "InvalidRequest");
    assert!(err.to_string().contains("module_number"), "{err}");
    let err =
        invoke(Stage::ImagesGen, json!({"project_folder": "x", "module_number": "one", "prompt_keys": []}), &deps)
            .await
            .unwrap_err();
    assert_eq!(err.error_type(), "InvalidRequest");
}

#[tokio::test]
async fn prepare_course_with_a_bad_request_raises_and_writes_nothing() {
    let store = mem();
    put_outline(store.as_ref(), "prep", &outline_yaml("Prep", "en", 2, 1, false)).await;
    let deps = Deps::offline(store.clone());
    let writes = store.write_count();
    for modules in [json!([3]), json!([1, 1]), json!([]), json!("2-9")] {
        let err = prepare_course(raw_request("prep", modules.clone(), "theory", false), &deps).await.unwrap_err();
        assert_eq!(err.error_type(), "InvalidRequest", "{modules}: {err}");
    }
    let err = prepare_course(raw_request("no-such-course", json!("all"), "theory", false), &deps).await.unwrap_err();
    assert_eq!(err.error_type(), "MissingInput");
    store.put(&keys::outline_key("broken"), b"course: [unclosed".to_vec(), "application/yaml").await.unwrap();
    let writes_with_broken = store.write_count();
    let err = prepare_course(raw_request("broken", json!("all"), "theory", false), &deps).await.unwrap_err();
    assert_eq!(err.error_type(), "InvalidOutline");
    assert_eq!(store.write_count(), writes_with_broken);
    assert_eq!(writes + 1, writes_with_broken);
    assert!(store.get(&keys::request_key("prep")).await.unwrap().is_none());

    let ok = prepare_course(raw_request("prep", json!("1,2"), "theory", false), &deps).await.unwrap();
    assert_eq!(ok.module_numbers, [1, 2]);
    assert_eq!(ok.modules.iter().map(|m| m.lesson_count).collect::<Vec<_>>(), [1, 1]);
    assert!(store.get(&ok.request_key).await.unwrap().is_some());
}

#[tokio::test]
async fn lab_writer_for_a_lab_not_in_the_plan_is_missing_input_naming_it() {
    let store = mem();
    put_outline(store.as_ref(), "labs", &outline_yaml("Labs", "en", 1, 1, true)).await;
    let deps = Deps::offline(store.clone());
    let input = LabWriterInput {
        project_folder: "labs".into(),
        plan_key: keys::lab_plan_key("labs"),
        lab_id: "01-01-01".into(),
        force: false,
    };
    assert_eq!(lab_writer(input.clone(), &deps).await.unwrap_err().error_type(), "MissingInput", "no plan yet");
    lab_planner(lab_plan_input("labs", vec![1]), &deps).await.unwrap();
    let err = lab_writer(LabWriterInput { lab_id: "01-09-01".into(), ..input.clone() }, &deps).await.unwrap_err();
    assert_eq!(err.error_type(), "MissingInput");
    assert!(err.to_string().contains("01-09-01"), "{err}");
    assert!(lab_writer(input, &deps).await.is_ok());
}

#[tokio::test]
async fn lab_planner_keeps_other_modules_entries_when_merging() {
    let store = mem();
    put_outline(store.as_ref(), "merge-labs", &outline_yaml("Merge Labs", "en", 3, 2, true)).await;
    let (deps, counter) = counting_deps(store.clone());
    let plan_for = |modules: Vec<u32>| lab_plan_input("merge-labs", modules);
    let first = lab_planner(plan_for(vec![1, 3]), &deps).await.unwrap();
    assert_eq!(first.lab_ids, ["01-01-01", "01-02-01", "03-01-01", "03-02-01"]);
    let second = lab_planner(plan_for(vec![2]), &deps).await.unwrap();
    assert_eq!(second.lab_ids, ["02-01-01", "02-02-01"]);
    assert_eq!(counter.text_calls(TextTask::LabPlan), 2);
    let plan: LabPlan = serde_json::from_str(&text_of(store.as_ref(), &first.plan_key).await).unwrap();
    let ids: Vec<&str> = plan.labs.iter().map(|l| l.lab_id.as_str()).collect();
    assert_eq!(ids, ["01-01-01", "01-02-01", "02-01-01", "02-02-01", "03-01-01", "03-02-01"]);
    assert!(plan.labs.iter().all(|l| (2..=6).contains(&l.objectives.len())));
    lab_planner(plan_for(vec![1, 2, 3]), &deps).await.unwrap();
    assert_eq!(counter.text_calls(TextTask::LabPlan), 2, "every module fresh: no call");
}

/// How a fake model fails one subject (a lesson, a visual).
#[derive(Clone, Copy)]
enum Fault {
    /// A permanent failure: ModelError.
    Refused,
    /// A transient failure: ThrottlingException.
    Throttled,
}

fn fault_error(fault: Fault, stage: &str, subject: &str) -> StageError {
    match fault {
        Fault::Refused => StageError::model(stage, subject, "the model refused the request"),
        Fault::Throttled => StageError::Throttling { provider: "fake".into(), message: format!("{subject}: quota") },
    }
}

/// Writes lessons offline, except the lessons listed, which fail as listed.
struct FailingLessons(Vec<(&'static str, Fault)>);

#[async_trait]
impl TextModel for FailingLessons {
    fn id(&self) -> ModelId {
        OfflineText.id()
    }
    async fn generate(&self, request: &TextRequest) -> StageResult<TextResponse> {
        match self.0.iter().find(|(subject, _)| request.task == TextTask::Lesson && *subject == request.subject) {
            Some((subject, fault)) => Err(fault_error(*fault, "ContentGen", subject)),
            None => OfflineText.generate(request).await,
        }
    }
}

/// Draws illustrations offline, except the visual ids listed, which fail as listed.
struct FailingImages(Vec<(&'static str, Fault)>);

#[async_trait]
impl ImageModel for FailingImages {
    fn id(&self) -> ModelId {
        OfflineImage.id()
    }
    async fn generate(&self, request: &ImageRequest) -> StageResult<ImageResponse> {
        match self.0.iter().find(|(id, _)| *id == request.visual_id) {
            Some((id, fault)) => Err(fault_error(*fault, "ImagesGen", &format!("visual {id}"))),
            None => OfflineImage.generate(request).await,
        }
    }
}

#[tokio::test]
async fn content_gen_raises_a_retryable_error_when_one_is_among_several_lesson_failures() {
    for concurrency in [1, 8] {
        for faults in [
            vec![("module 1 lesson 1", Fault::Refused), ("module 1 lesson 2", Fault::Throttled)],
            vec![("module 1 lesson 1", Fault::Throttled), ("module 1 lesson 3", Fault::Refused)],
        ] {
            let store = mem();
            put_outline(store.as_ref(), "mixed", &outline_yaml("Mixed Failures", "en", 1, 4, false)).await;
            let mut deps = deps_with(store.clone(), Arc::new(FailingLessons(faults)), Arc::new(OfflineImage));
            deps.settings.lesson_concurrency = concurrency;
            let err = content_gen(content_input("mixed", 1), &deps).await.unwrap_err();
            assert_eq!(err.error_type(), "ThrottlingException", "concurrency {concurrency}: {err}");
            assert!(err.is_retryable());
            // The lessons that succeeded are written, so the retry only redoes the failed ones.
            assert_eq!(store.list("mixed/lessons/module-01/").await.unwrap().len(), 2 * 2, "two lessons + sidecars");
        }
    }
}

#[tokio::test]
async fn content_gen_with_only_permanent_lesson_failures_raises_the_first_of_them() {
    let store = mem();
    put_outline(store.as_ref(), "refused", &outline_yaml("Refused", "en", 1, 3, false)).await;
    let faults = vec![("module 1 lesson 2", Fault::Refused), ("module 1 lesson 3", Fault::Refused)];
    let deps = deps_with(store.clone(), Arc::new(FailingLessons(faults)), Arc::new(OfflineImage));
    let err = content_gen(content_input("refused", 1), &deps).await.unwrap_err();
    assert_eq!(err.error_type(), "ModelError");
    assert!(err.to_string().contains("module 1 lesson 2"), "{err}");
}

/// Writes illustration prompts for visuals 1..=n of lesson 1 of module 1; returns their keys.
async fn illustration_prompts(store: &dyn BlobStore, project: &str, n: u32) -> Vec<String> {
    let mut keys_out = Vec::new();
    for v in 1..=n {
        let prompt = VisualPrompt {
            id: keys::visual_id(1, 1, v),
            module_number: 1,
            lesson_number: 1,
            kind: VisualKind::Illustration,
            title: format!("Illustration {v}"),
            description: format!("A cluster of nodes, view {v}"),
            alt_text: format!("Nodes, view {v}"),
            prompt: format!("An isometric illustration of a cluster of nodes, view {v}"),
            diagram: None,
            fingerprint: format!("fp-{v}"),
        };
        let key = keys::prompt_key(project, 1, 1, v);
        store.put_json(&key, &prompt).await.unwrap();
        keys_out.push(key);
    }
    keys_out
}

#[tokio::test]
async fn images_gen_raises_a_retryable_error_when_one_is_among_several_image_failures() {
    for concurrency in [1, 4] {
        let store = mem();
        let prompt_keys = illustration_prompts(store.as_ref(), "pics", 4).await;
        let faults = vec![("01-01-01", Fault::Refused), ("01-01-03", Fault::Throttled)];
        let mut deps = deps_with(store.clone(), Arc::new(OfflineText), Arc::new(FailingImages(faults)));
        deps.settings.image_concurrency = concurrency;
        let input = ImagesGenInput { project_folder: "pics".into(), module_number: 1, prompt_keys, force: false };
        let err = images_gen(input, &deps).await.unwrap_err();
        assert_eq!(err.error_type(), "ThrottlingException", "concurrency {concurrency}: {err}");
        // Every image was attempted: the two that worked are stored for the retry to reuse.
        let images: Vec<String> =
            store.list("pics/images/").await.unwrap().into_iter().filter(|k| !k.ends_with(".meta.json")).collect();
        assert_eq!(images.len(), 2, "{images:?}");
    }
}

#[tokio::test]
async fn book_builder_marks_caught_modules_and_labs_where_they_stand_and_names_them_in_its_cause() {
    let store = mem();
    let project = "partial";
    put_outline(store.as_ref(), project, &outline_yaml("Partial", "es", 2, 1, true)).await;
    let deps = Deps::offline(store.clone());
    let module_one = lesson_of(&deps, project, 1).await;
    let cause = json!({"errorType": "ModelError", "errorMessage": "the answer was blocked (content_filtered)"});
    let out = book_builder(
        BookBuilderInput {
            project_folder: project.into(),
            outline_key: keys::outline_key(project),
            content_type: coursegen_core::ContentType::Both,
            all_lesson_keys: module_one.lesson_keys.clone(),
            all_image_mappings: vec![],
            lab_keys: vec![],
            module_results: vec![
                ModuleResult { module_number: 1, lesson_count: 1, state: None, error: None, cause: None },
                ModuleResult {
                    module_number: 2,
                    lesson_count: 0,
                    state: Some("ContentGen".into()),
                    error: Some("ModelError".into()),
                    cause: Some(cause.to_string()),
                },
            ],
            lab_results: vec![
                json!({"lab_id": "01-01-01", "state": "LabWriter", "error": "ModelError", "cause": "refused [x]"}),
                json!("02-01-01"),
            ],
        },
        &deps,
    )
    .await
    .unwrap();

    let manifest: Manifest = store.get_json(&out.manifest_key).await.unwrap().unwrap();
    let summary: Vec<(String, String, Option<String>)> =
        manifest.failures.iter().map(|f| (f.kind.clone(), f.id.clone(), f.state.clone())).collect();
    assert!(summary.contains(&("module".into(), "02".into(), Some("ContentGen".into()))), "{summary:?}");
    assert!(summary.contains(&("lesson".into(), "02-01".into(), None)), "{summary:?}");
    assert!(summary.contains(&("lab".into(), "01-01-01".into(), Some("LabWriter".into()))), "{summary:?}");
    let lesson = manifest.failures.iter().find(|f| f.id == "02-01").unwrap();
    assert_eq!(lesson.reason, "not generated: ModelError: the answer was blocked (content_filtered)");
    assert_eq!(out.failed as usize, manifest.failures.len());
    assert_eq!((manifest.totals.modules, manifest.totals.lessons), (1, 1), "only what exists is counted");
    assert!(out.incomplete.contains("module(s) 1, 2 not complete"), "{}", out.incomplete);
    assert!(out.incomplete.contains("ContentGen failed: ModelError"), "{}", out.incomplete);
    assert!(out.incomplete.contains("lab 01-01-01"), "{}", out.incomplete);
    assert!(out.incomplete.contains("partial/book/manifest.json"), "{}", out.incomplete);

    // The stand-ins are in the book, in the course language, with the error as plain text.
    let markdown = text_of(store.as_ref(), &keys::book_md_key(project)).await;
    assert!(markdown.contains("Lesson 1 of module 2 (no generado)"), "{markdown}");
    assert!(markdown.contains("Hands-on 1.1 (no generado)"), "{markdown}");
    assert!(markdown.contains("No generado: ModelError: refused \\[x\\]"), "{markdown}");
    let html = text_of(store.as_ref(), &keys::book_html_key(project)).await;
    assert!(html.contains("No generado: ModelError: refused [x]"), "escaped Markdown reads as plain text");
}

/// Whether `needle` occurs in `haystack` (a package's file names are stored as they are).
fn contains_bytes(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A picture the packagers reject is left out of every edition and listed as a failure, and the
/// book is still written with every other picture (the editions are rendered side by side, so
/// all of them are rendered again without it).
#[tokio::test]
async fn a_picture_the_packagers_reject_is_left_out_of_every_edition_and_listed() {
    let store = mem();
    put_outline(store.as_ref(), "bad", &outline_yaml("Bad", "en", 1, 2, false)).await;
    let deps = Deps::offline(store.clone());
    let first = run_all(&deps, raw_request("bad", json!("all"), "theory", false)).await.unwrap();
    let pictures: Vec<(String, String)> =
        first.images[0].image_mappings.iter().map(|(id, key)| (id.clone(), key.clone())).collect();
    assert!(pictures.len() >= 2, "the course has pictures to compare: {pictures:?}");
    let (bad_id, bad_key) = &pictures[0];
    let (good_id, _) = &pictures[1];
    let file_name = |id: &str, key: &str| format!("{id}.{}", key.rsplit('.').next().unwrap_or_default());
    let (bad_file, good_file) = (file_name(bad_id, bad_key), file_name(good_id, &pictures[1].1));
    store.put(bad_key, b"not a picture".to_vec(), "image/png").await.unwrap();

    run_all(&deps, raw_request("bad", json!("all"), "theory", false)).await.unwrap();
    let manifest = manifest_of(store.as_ref(), "bad").await;
    let failure = manifest.failures.iter().find(|f| f.kind == "image" && &f.id == bad_id);
    assert!(failure.is_some_and(|f| f.reason.contains("unusable image")), "{:?}", manifest.failures);
    assert!(!manifest.images.iter().any(|i| &i.id == bad_id));
    assert!(manifest.images.iter().any(|i| &i.id == good_id));
    for key in [keys::book_epub_key("bad"), keys::book_scorm_key("bad")] {
        let package = store.get(&key).await.unwrap().expect("the package is written");
        assert!(!contains_bytes(&package, &bad_file), "{key} still carries {bad_file}");
        assert!(contains_bytes(&package, &good_file), "{key} lost {good_file}");
    }
}
