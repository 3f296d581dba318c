//! One test per defect of the system we replace (ARCHITECTURE.md, "Defects ruled out"): each
//! fails if the defect returns.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::support::*;
use async_trait::async_trait;
use coursegen_core::contracts::*;
use coursegen_core::{
    keys, BlobStore, BlobStoreExt, MemStore, ModelId, StageError, StageResult, TextModel, TextRequest, TextResponse,
    TextTask,
};
use coursegen_stages::offline::{OfflineImage, OfflineText};
use coursegen_stages::*;
use serde_json::json;

/// Plans every lesson of `module` and returns the prompt keys, in lesson order.
async fn plan_module(deps: &Deps, project: &str, module: u32) -> Vec<String> {
    let out = content_gen(content_input(project, module), deps).await.unwrap();
    let mut prompt_keys = Vec::new();
    for lesson in out.lessons {
        let plan = visual_planner(
            VisualPlannerInput {
                project_folder: project.into(),
                module_number: module,
                lesson_number: lesson.lesson_number,
                lesson_key: lesson.key,
                force: false,
            },
            deps,
        )
        .await
        .unwrap();
        prompt_keys.extend(plan.prompt_keys);
    }
    prompt_keys
}

fn images_input(project: &str, module: u32, prompt_keys: Vec<String>) -> ImagesGenInput {
    ImagesGenInput { project_folder: project.into(), module_number: module, prompt_keys, force: false }
}

/// Defect 1 in ARCHITECTURE.md ("Defects ruled out"): visual ids carry module and lesson, so module 2 never overwrites module 1's images.
#[tokio::test]
async fn two_modules_visuals_never_share_ids_or_keys() {
    let store = mem();
    put_outline(store.as_ref(), "ids", &outline_yaml("Ids", "en", 2, 2, false)).await;
    let deps = Deps::offline(store.clone());
    let p1 = plan_module(&deps, "ids", 1).await;
    let m1 = images_gen(images_input("ids", 1, p1), &deps).await.unwrap().image_mappings;
    let mut before = BTreeMap::new();
    for key in m1.values() {
        before.insert(key.clone(), store.get(key).await.unwrap().unwrap());
    }
    let p2 = plan_module(&deps, "ids", 2).await;
    let m2 = images_gen(images_input("ids", 2, p2), &deps).await.unwrap().image_mappings;

    assert!(m1.contains_key("01-01-01") && m2.contains_key("02-01-01"), "same lesson/visual number, different ids");
    let ids1: BTreeSet<&String> = m1.keys().collect();
    let ids2: BTreeSet<&String> = m2.keys().collect();
    assert!(ids1.is_disjoint(&ids2));
    let keys1: BTreeSet<&String> = m1.values().collect();
    let keys2: BTreeSet<&String> = m2.values().collect();
    assert!(keys1.is_disjoint(&keys2));
    for (key, bytes) in before {
        assert_eq!(store.get(&key).await.unwrap().unwrap(), bytes, "{key} untouched by module 2");
    }
}

/// A store that refuses to list anything but one lesson's prompt folder: proves ImagesGen never
/// lists the prompts folder.
struct NoFolderListing(Arc<MemStore>);

#[async_trait]
impl BlobStore for NoFolderListing {
    async fn put(&self, key: &str, body: Vec<u8>, ct: &str) -> StageResult<()> {
        self.0.put(key, body, ct).await
    }
    async fn put_if_absent(&self, key: &str, body: Vec<u8>, ct: &str) -> StageResult<bool> {
        self.0.put_if_absent(key, body, ct).await
    }
    async fn get(&self, key: &str) -> StageResult<Option<Vec<u8>>> {
        self.0.get(key).await
    }
    async fn list(&self, prefix: &str) -> StageResult<Vec<String>> {
        Err(StageError::Internal(format!("listing {prefix} is not allowed here")))
    }
    async fn delete(&self, key: &str) -> StageResult<()> {
        self.0.delete(key).await
    }
    fn describe(&self) -> String {
        "no-listing".into()
    }
}

/// Defect 2 in ARCHITECTURE.md ("Defects ruled out"): ImagesGen renders exactly the prompt keys it is given — never another module's, never by
/// listing — and copes with more than 1,000 prompts.
#[tokio::test]
async fn images_gen_renders_only_the_given_prompt_keys_and_handles_over_a_thousand() {
    let store = mem();
    put_outline(store.as_ref(), "only", &outline_yaml("Only", "en", 2, 2, false)).await;
    let planning = Deps::offline(store.clone());
    let p1 = plan_module(&planning, "only", 1).await;
    let p2 = plan_module(&planning, "only", 2).await;

    // Over a thousand more prompts of module 2 sit in the store.
    let mut many = Vec::new();
    for l in 10..=60u32 {
        for n in 1..=21u32 {
            let prompt = VisualPrompt {
                id: keys::visual_id(2, l, n),
                module_number: 2,
                lesson_number: l,
                kind: VisualKind::Diagram,
                title: format!("Bulk {l}.{n}"),
                description: "bulk".into(),
                alt_text: "bulk".into(),
                prompt: String::new(),
                diagram: Some(DiagramSpec {
                    layout: "flow".into(),
                    nodes: vec!["A".into(), format!("B{n}")],
                    edges: vec![],
                }),
                fingerprint: "x".into(),
            };
            let key = keys::prompt_key("only", 2, l, n);
            store.put_json(&key, &prompt).await.unwrap();
            many.push(key);
        }
    }
    assert!(many.len() > 1000);

    let (counting, counter) = counting_deps(Arc::new(NoFolderListing(store.clone())));
    let out = images_gen(images_input("only", 2, p2.clone()), &counting).await.unwrap();
    assert_eq!(out.image_mappings.len(), p2.len());
    assert!(out.image_mappings.keys().all(|id| id.starts_with("02-")));
    let illustrations_2 = count_illustrations(store.as_ref(), &p2).await;
    assert_eq!(counter.snapshot().1, illustrations_2, "one image call per illustration of module 2 only");
    for key in &p1 {
        let prompt: VisualPrompt = store.get_json(key).await.unwrap().unwrap();
        for ext in ["svg", "png"] {
            assert!(
                store.get(&keys::image_key("only", &prompt.id, ext)).await.unwrap().is_none(),
                "module 1 not rendered"
            );
        }
    }

    // A prompt key of another module is rejected before anything is written.
    let writes = store.write_count();
    let mut mixed = p2.clone();
    mixed.push(p1[0].clone());
    let err = images_gen(images_input("only", 2, mixed), &counting).await.unwrap_err();
    assert_eq!(err.error_type(), "InvalidRequest");
    assert!(err.to_string().contains(&p1[0]), "{err}");
    let err =
        images_gen(images_input("only", 2, vec!["other/prompts/module-02/lesson-01/visual-01.json".into()]), &counting)
            .await
            .unwrap_err();
    assert_eq!(err.error_type(), "InvalidRequest");
    assert_eq!(store.write_count(), writes);

    // All 1,071 bulk prompts render when given.
    let mut all = p2.clone();
    all.extend(many.iter().cloned());
    let out = images_gen(images_input("only", 2, all.clone()), &counting).await.unwrap();
    assert_eq!(out.image_mappings.len(), all.len());
    assert!(store.get(&keys::image_key("only", "02-60-21", "svg")).await.unwrap().is_some());
}

async fn count_illustrations(store: &dyn BlobStore, prompt_keys: &[String]) -> usize {
    let mut n = 0;
    for key in prompt_keys {
        let p: VisualPrompt = store.get_json(key).await.unwrap().unwrap();
        n += usize::from(p.kind == VisualKind::Illustration);
    }
    n
}

/// Defect 3 in ARCHITECTURE.md ("Defects ruled out"): a failing model makes the stage fail (raise), with a stable error type — never an Ok
/// that looks like an error.
#[tokio::test]
async fn a_failing_model_makes_the_stage_raise_with_a_retryable_error_type() {
    let store = mem();
    put_outline(store.as_ref(), "fail", &outline_yaml("Fail", "en", 1, 3, true)).await;
    let throttled = Arc::new(ScriptedText::new(vec![(
        TextTask::Lesson,
        Script::Fail(|| StageError::Throttling { provider: "bedrock".into(), message: "quota".into() }),
    )]));
    let deps = deps_with(store.clone(), throttled, Arc::new(OfflineImage));
    let input = json!({"project_folder": "fail", "outline_key": keys::outline_key("fail"), "module_number": 1});
    let err = invoke(Stage::ContentGen, input.clone(), &deps).await.unwrap_err();
    assert_eq!(err.error_type(), "ThrottlingException");
    assert!(err.is_retryable());
    assert!(store.list("fail/lessons/").await.unwrap().is_empty(), "nothing written");

    let empty = Arc::new(ScriptedText::new(vec![(TextTask::Lesson, Script::Text("   ".into()))]));
    let deps = deps_with(store.clone(), empty.clone(), Arc::new(OfflineImage));
    let err = invoke(Stage::ContentGen, input, &deps).await.unwrap_err();
    assert_eq!(err.error_type(), "ModelError");
    let msg = err.to_string();
    assert!(msg.contains("ContentGen") && msg.contains("module 1 lesson 1"), "{msg}");
    assert_eq!(empty.seen().len(), 6, "three lessons, each one call and one repair");

    let guide_fails = Arc::new(ScriptedText::new(vec![(
        TextTask::LabGuide,
        Script::Fail(|| StageError::model("LabWriter", "lab 01-01-01", "provider error")),
    )]));
    let deps = deps_with(store.clone(), guide_fails, Arc::new(OfflineImage));
    let plan = lab_planner(lab_plan_input("fail", vec![1]), &deps).await.unwrap();
    let out = invoke(
        Stage::LabWriter,
        json!({"project_folder": "fail", "plan_key": plan.plan_key, "lab_id": plan.lab_ids[0]}),
        &deps,
    )
    .await;
    assert_eq!(out.unwrap_err().error_type(), "ModelError");
}

/// Defect 4 in ARCHITECTURE.md ("Defects ruled out"): BookBuilder merges the list of per-module mappings and keeps every lesson and image.
#[tokio::test]
async fn book_builder_merges_the_list_of_module_mappings_and_keeps_every_lesson_and_image() {
    let store = mem();
    put_outline(store.as_ref(), "merge", &outline_yaml("Merge", "en", 3, 2, false)).await;
    let deps = Deps::offline(store.clone());
    let run = run_all(&deps, raw_request("merge", json!("all"), "theory", false)).await.unwrap();
    assert_eq!(run.images.len(), 3);
    let expected_images: usize = run.images.iter().map(|i| i.image_mappings.len()).sum();
    let book = run.book.unwrap();
    assert_eq!(book.lesson_count, 6);
    assert_eq!(book.image_count as usize, expected_images);
    assert_eq!(book.failed, 0);
    let html = text_of(store.as_ref(), &keys::book_html_key("merge")).await;
    for mapping in &run.images {
        for key in mapping.image_mappings.values() {
            let href = format!("../{}", key.strip_prefix("merge/").unwrap());
            assert!(html.contains(&href), "{href} in the HTML");
        }
    }

    // The payload shape the old system got wrong: one object instead of a list is refused.
    let merged: BTreeMap<String, String> = run.images.iter().flat_map(|i| i.image_mappings.clone()).collect();
    let payload =
        json!({"project_folder": "merge", "outline_key": keys::outline_key("merge"), "all_image_mappings": merged});
    let err = invoke(Stage::BookBuilder, payload, &deps).await.unwrap_err();
    assert_eq!(err.error_type(), "InvalidRequest");
}

/// Defect 5 in ARCHITECTURE.md ("Defects ruled out"): BookBuilder returns keys and counts, never the book, even for a large course.
#[tokio::test]
async fn book_builder_output_stays_small_for_a_twenty_module_course() {
    let store = mem();
    put_outline(store.as_ref(), "big", &outline_yaml("Big Course", "en", 20, 2, false)).await;
    let deps = Deps::offline(store.clone());
    let run = run_all(&deps, raw_request("big", json!("all"), "theory", false)).await.unwrap();
    let book = run.book.unwrap();
    assert_eq!((book.module_count, book.lesson_count), (20, 40));
    let payload = serde_json::to_string(&book).unwrap();
    assert!(payload.len() < 2048, "{} bytes", payload.len());
    let lesson = text_of(store.as_ref(), &run.content[0].lesson_keys[0]).await;
    let sentence = lesson.lines().find(|l| l.len() > 80 && !l.starts_with('>')).unwrap();
    assert!(!payload.contains(sentence));
    assert!(!payload.contains("Offline draft") && !payload.contains("Lesson 1 of module 1"));
}

/// A text model that counts calls in flight (no sleeps: each call yields a few times so the
/// others get polled) and records the subject of every call.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
    subjects: Mutex<Vec<String>>,
    prompts: Mutex<Vec<String>>,
}

struct InFlightText(Arc<InFlight>);

#[async_trait]
impl TextModel for InFlightText {
    fn id(&self) -> ModelId {
        OfflineText.id()
    }
    async fn generate(&self, request: &TextRequest) -> StageResult<TextResponse> {
        let now = self.0.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.max.fetch_max(now, Ordering::SeqCst);
        self.0.subjects.lock().unwrap().push(request.subject.clone());
        self.0.prompts.lock().unwrap().push(request.prompt.clone());
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
        let out = OfflineText.generate(request).await;
        self.0.now.fetch_sub(1, Ordering::SeqCst);
        out
    }
}

/// Defect 6 in ARCHITECTURE.md ("Defects ruled out"): one model call per lesson, run concurrently but never above the configured bound.
#[tokio::test]
async fn content_gen_makes_one_bounded_concurrent_call_per_lesson() {
    let store = mem();
    put_outline(store.as_ref(), "conc", &outline_yaml("Concurrency", "en", 1, 7, false)).await;
    let tracker = Arc::new(InFlight::default());
    let mut deps = deps_with(store.clone(), Arc::new(InFlightText(tracker.clone())), Arc::new(OfflineImage));
    deps.settings.lesson_concurrency = 3;
    let out = content_gen(content_input("conc", 1), &deps).await.unwrap();

    let mut subjects = tracker.subjects.lock().unwrap().clone();
    subjects.sort();
    let expected: Vec<String> = (1..=7).map(|l| format!("module 1 lesson {l}")).collect();
    assert_eq!(subjects, expected, "exactly one call per lesson");
    let max = tracker.max.load(Ordering::SeqCst);
    assert!(max > 1, "lessons ran concurrently (max in flight {max})");
    assert!(max <= 3, "never more than an explicit lesson_concurrency ceiling in flight (max {max})");
    for prompt in tracker.prompts.lock().unwrap().iter() {
        for l in 1..=7 {
            assert!(prompt.contains(&format!("Lesson {l} of module 1")), "every call carries the module plan");
        }
    }
    let numbers: Vec<u32> = out.lessons.iter().map(|l| l.lesson_number).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5, 6, 7], "lesson order, not completion order");

    // By default the stage sets no ceiling of its own: every lesson of the module is in flight
    // at once and the model client's limiter (the quota) is what bounds the calls.
    let tracker = Arc::new(InFlight::default());
    let mut deps = deps_with(store.clone(), Arc::new(InFlightText(tracker.clone())), Arc::new(OfflineImage));
    deps.settings = Settings::default();
    let mut input = content_input("conc", 1);
    input.force = true;
    content_gen(input, &deps).await.unwrap();
    assert_eq!(tracker.subjects.lock().unwrap().len(), 7, "exactly one call per lesson");
    assert_eq!(tracker.max.load(Ordering::SeqCst), 7, "the whole module in flight; the stage does not bind");

    // The request's lesson_concurrency (passed in by the definition) holds the module back.
    let tracker = Arc::new(InFlight::default());
    let mut deps = deps_with(store.clone(), Arc::new(InFlightText(tracker.clone())), Arc::new(OfflineImage));
    deps.settings = Settings::default();
    let mut input = content_input("conc", 1);
    input.force = true;
    input.lesson_concurrency = Some(2);
    content_gen(input, &deps).await.unwrap();
    assert_eq!(tracker.subjects.lock().unwrap().len(), 7, "exactly one call per lesson");
    let max = tracker.max.load(Ordering::SeqCst);
    assert!((1..=2).contains(&max), "never more than the request's lesson_concurrency in flight (max {max})");
}
