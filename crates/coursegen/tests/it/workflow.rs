//! The course workflow (`statemachine/course.asl.json`) end to end: module selection, the
//! module fan-out's concurrency, the payload budget at the largest outline the format allows,
//! and reuse of finished outputs on a rerun.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::support::{self, coursegen, events, example, outputs_under, project_folder_of, read_history, OutlineCounts};
use asl_interpreter::{lambda_function_name, Executor, StatesError, TaskInvoker};
use async_trait::async_trait;
use coursegen_core::contracts::{
    BookBuilderInput, BookBuilderOutput, ContentGenInput, ContentGenOutput, ImagesGenInput, ImagesGenOutput,
    LabPlannerInput, LabPlannerOutput, LabWriterInput, LabWriterOutput, LessonRef, VisualPlannerInput,
    VisualPlannerOutput,
};
use coursegen_core::{keys, BlobStore, MemStore, Outline};
use coursegen_stages::{Deps, Stage};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

const COURSE_DEFINITION: &str = include_str!("../../../../statemachine/course.asl.json");

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Module numbers of the lesson files under `course/lessons/`.
fn modules_with_lessons(course: &Path) -> BTreeMap<u32, usize> {
    let mut out = BTreeMap::new();
    for f in outputs_under(&course.join("lessons")) {
        let module: u32 = f
            .strip_prefix("module-")
            .and_then(|rest| rest.split('/').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected lesson file {f}"));
        *out.entry(module).or_insert(0) += 1;
    }
    out
}

/// Checks a course folder holds exactly the lessons of `modules` and a book of them.
fn assert_course_has_exactly(course: &Path, outline: &Path, modules: &[u32]) {
    let counts = OutlineCounts::of(outline);
    let expected: BTreeMap<u32, usize> =
        modules.iter().map(|m| (*m, counts.lessons_per_module[*m as usize - 1])).collect();
    assert_eq!(modules_with_lessons(course), expected);
    for dir in ["prompts", "images"] {
        let found: BTreeSet<String> = outputs_under(&course.join(dir))
            .into_iter()
            .map(|f| f.split('/').next().unwrap_or_default().to_string())
            .collect();
        let want: BTreeSet<String> = modules.iter().map(|m| format!("module-{m:02}")).collect();
        assert_eq!(found, want, "{dir}/ holds other modules");
    }
    let manifest = support::read_json(&course.join("book/manifest.json"));
    let in_book: Vec<u64> =
        manifest["modules"].as_array().expect("modules").iter().map(|m| m["module_number"].as_u64().unwrap()).collect();
    assert_eq!(in_book, modules.iter().map(|m| u64::from(*m)).collect::<Vec<_>>());
    assert_eq!(manifest["totals"]["lessons"], expected.values().sum::<usize>());
    assert!(course.join("book/index.html").is_file());
}

/// Module numbers ContentGen was run for, from a history.
fn content_gen_modules(history: &[Value]) -> Vec<u64> {
    let mut modules: Vec<u64> = events(history, "TaskStateEntered", "ContentGen")
        .iter()
        .map(|e| e["details"]["input"]["module_number"].as_u64().expect("module_number"))
        .collect();
    modules.sort_unstable();
    modules
}

#[test]
fn module_range_selection_generates_exactly_those_modules_and_their_book() {
    let tmp = tempfile::tempdir().unwrap();
    let outline = example("kubernetes-devops.yaml");
    let history = tmp.path().join("history.json");
    coursegen(
        tmp.path(),
        &["run", path_str(&outline), "--modules", "1,3-4", "--out", "out", "--history", path_str(&history)],
    )
    .expect_code(0);
    let course = tmp.path().join("out").join(project_folder_of(&outline));
    assert_course_has_exactly(&course, &outline, &[1, 3, 4]);
    assert_eq!(content_gen_modules(&read_history(&history)), vec![1, 3, 4]);
}

#[test]
fn module_list_in_the_execution_input_generates_exactly_those_modules() {
    let tmp = tempfile::tempdir().unwrap();
    let outline = example("kubernetes-devops.yaml");
    // The outline goes where the request points, as an upload to the bucket would put it.
    let store = tmp.path().join("store");
    let outline_key = keys::outline_key("kube");
    std::fs::create_dir_all(store.join("kube/course")).unwrap();
    std::fs::copy(&outline, store.join(&outline_key)).unwrap();
    let input = tmp.path().join("input.json");
    std::fs::write(
        &input,
        json!({"project_folder": "kube", "modules_to_generate": [1, 3, 4], "content_type": "theory"}).to_string(),
    )
    .unwrap();
    let history = tmp.path().join("history.json");
    let definition = support::course_definition();
    let result = coursegen(
        tmp.path(),
        &[
            "sfn",
            "run",
            path_str(&definition),
            "--input",
            path_str(&input),
            "--out",
            path_str(&store),
            "--history",
            path_str(&history),
        ],
    );
    result.expect_code(0);
    let output = result.stdout_json();
    assert_eq!(output["module_count"], 3, "{output}");
    assert_eq!(output["failed"], 0, "{output}");
    assert_course_has_exactly(&store.join("kube"), &outline, &[1, 3, 4]);
    assert_eq!(content_gen_modules(&read_history(&history)), vec![1, 3, 4]);
}

#[test]
fn twelve_modules_at_concurrency_ten_run_in_two_waves() {
    let tmp = tempfile::tempdir().unwrap();
    let outline = tmp.path().join("twelve.yaml");
    std::fs::write(&outline, support::outline_yaml("Twelve Modules", 12, 1, 0, 40)).unwrap();
    let history = tmp.path().join("history.json");
    let result = coursegen(
        tmp.path(),
        &["run", path_str(&outline), "--concurrency", "10", "--out", "out", "--history", path_str(&history), "--json"],
    );
    result.expect_code(0);
    let summary = result.stdout_json();
    let history = read_history(&history);
    assert_eq!(events(&history, "MapIterationStarted", "ModulesMap").len(), 12);
    assert_eq!(events(&history, "MapIterationSucceeded", "ModulesMap").len(), 12);
    let (first_wave, peak) = support::map_waves(&history, "ModulesMap");
    println!("ModulesMap: {first_wave} iterations started before the first finished; at most {peak} in flight");
    assert_eq!(first_wave, 10, "iterations started before the first one succeeded");
    assert_eq!(peak, 10, "largest number of ModulesMap iterations in flight, counted from the events");
    assert_eq!(summary["max_observed_concurrency"]["ModulesMap"], 10, "{summary:#}");
    // The concurrency travels in the execution input, as on AWS.
    assert_eq!(history[0]["details"]["input"]["max_concurrency"], 10);
}

#[test]
fn rerun_calls_no_model_and_force_calls_as_many_as_the_first_run() {
    let tmp = tempfile::tempdir().unwrap();
    let outline = example("kubernetes-devops.yaml");
    let args = ["run", path_str(&outline), "--content", "both", "--out", "out", "--json"];
    let calls = |extra: &[&str]| {
        let mut a = args.to_vec();
        a.extend_from_slice(extra);
        let result = coursegen(tmp.path(), &a);
        result.expect_code(0);
        let summary = result.stdout_json();
        let text = summary["model_calls"]["text"].as_u64().expect("text calls");
        let image = summary["model_calls"]["image"].as_u64().expect("image calls");
        (text, image)
    };
    let course = tmp.path().join("out").join(project_folder_of(&outline));
    let first = calls(&[]);
    assert!(first.0 > 0 && first.1 > 0, "the first run made no model calls: {first:?}");
    let lessons_after_first = support::snapshot(&course.join("lessons"));

    assert_eq!(calls(&[]), (0, 0), "a rerun with nothing changed must reuse every output");
    assert_eq!(support::snapshot(&course.join("lessons")), lessons_after_first, "a rerun rewrote lessons");

    assert_eq!(calls(&["--force"]), first, "--force regenerates everything the first run made");
}

// ---------------------------------------------------------------------------------------------
// The payload budget at the largest outline the format allows (200 modules × 10 lessons), with
// stages that answer instantly but exactly in the shape of the real ones.
// ---------------------------------------------------------------------------------------------

const VISUALS_PER_LESSON: u32 = 3;

/// Runs PrepareCourse for real (over a memory store holding the outline) and answers every
/// other stage with an output of the real contract type, built from the outline with the real
/// key layout. Every input is decoded into the stage's real input type, so a definition that
/// passes the wrong shape fails the execution.
struct FakeStages {
    outline: Outline,
    deps: Deps,
    calls: Mutex<BTreeMap<&'static str, u64>>,
}

/// `MM-LL-KK` → (module, lesson, activity).
fn parse_lab_id(id: &str) -> Option<(u32, u32, u32)> {
    let parts: Vec<u32> = id.split('-').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    match parts[..] {
        [m, l, k] if k >= 1 && keys::lab_id(m, l, k) == id => Some((m, l, k)),
        _ => None,
    }
}

fn decode<T: DeserializeOwned>(stage: Stage, payload: Value) -> Result<T, StatesError> {
    serde_json::from_value(payload).map_err(|e| {
        StatesError::new("InvalidRequest", format!("{} got an input of the wrong shape: {e}", stage.name()))
    })
}

fn encode<T: Serialize>(value: &T) -> Result<Value, StatesError> {
    serde_json::to_value(value).map_err(|e| StatesError::new("Internal", e.to_string()))
}

fn wrong(stage: Stage, why: String) -> StatesError {
    StatesError::new("InvalidRequest", format!("{}: {why}", stage.name()))
}

impl FakeStages {
    async fn new(outline_text: &str, project: &str) -> FakeStages {
        let store = Arc::new(MemStore::new());
        store.put(&keys::outline_key(project), outline_text.as_bytes().to_vec(), "application/yaml").await.unwrap();
        FakeStages {
            outline: coursegen_core::parse_outline(outline_text).expect("generated outline is valid"),
            deps: Deps::offline(store),
            calls: Mutex::new(BTreeMap::new()),
        }
    }

    /// The title of lesson `l` of module `m`; asking `stage` for a lesson the outline lacks is
    /// a wrong input.
    fn lesson_title(&self, stage: Stage, m: u32, l: u32) -> Result<String, StatesError> {
        self.outline.lesson(m, l).map(|x| x.title.clone()).ok_or_else(|| wrong(stage, format!("no lesson {m}.{l}")))
    }

    /// The lesson count of module `m`; asking `stage` for a module the outline lacks is a
    /// wrong input.
    fn lesson_count(&self, stage: Stage, m: u32) -> Result<u32, StatesError> {
        self.outline.module(m).map(|x| x.lessons.len() as u32).ok_or_else(|| wrong(stage, format!("no module {m}")))
    }

    fn calls(&self) -> BTreeMap<&'static str, u64> {
        self.calls.lock().unwrap().clone()
    }

    async fn answer(&self, stage: Stage, payload: Value) -> Result<Value, StatesError> {
        match stage {
            Stage::PrepareCourse => coursegen_stages::invoke(stage, payload, &self.deps)
                .await
                .map_err(|e| StatesError::new(e.error_type(), e.to_string())),
            Stage::ContentGen => self.content_gen(decode(stage, payload)?),
            Stage::VisualPlanner => self.visual_planner(decode(stage, payload)?),
            Stage::ImagesGen => self.images_gen(decode(stage, payload)?),
            Stage::LabPlanner => self.lab_planner(decode(stage, payload)?),
            Stage::LabWriter => self.lab_writer(decode(stage, payload)?),
            Stage::BookBuilder => self.book_builder(decode(stage, payload.clone())?, &payload),
        }
    }

    fn content_gen(&self, i: ContentGenInput) -> Result<Value, StatesError> {
        let stage = Stage::ContentGen;
        let m = i.module_number;
        let n = self.lesson_count(stage, m)?;
        let mut lessons = Vec::new();
        for l in 1..=n {
            let title = self.lesson_title(stage, m, l)?;
            let key = keys::lesson_key(&i.project_folder, m, l, &title);
            lessons.push(LessonRef { lesson_number: l, title, key, words: 1_850 });
        }
        encode(&ContentGenOutput {
            module_number: m,
            lesson_keys: lessons.iter().map(|l| l.key.clone()).collect(),
            lessons,
            reused: 0,
        })
    }

    fn visual_planner(&self, i: VisualPlannerInput) -> Result<Value, StatesError> {
        let stage = Stage::VisualPlanner;
        let title = self.lesson_title(stage, i.module_number, i.lesson_number)?;
        let expected = keys::lesson_key(&i.project_folder, i.module_number, i.lesson_number, &title);
        if i.lesson_key != expected {
            return Err(wrong(stage, format!("lesson_key {} is not {expected}", i.lesson_key)));
        }
        let prompt_keys = (1..=VISUALS_PER_LESSON)
            .map(|n| keys::prompt_key(&i.project_folder, i.module_number, i.lesson_number, n))
            .collect();
        encode(&VisualPlannerOutput {
            lesson_key: i.lesson_key,
            prompt_keys,
            visuals: VISUALS_PER_LESSON,
            quiz_questions: 5,
        })
    }

    fn images_gen(&self, i: ImagesGenInput) -> Result<Value, StatesError> {
        let stage = Stage::ImagesGen;
        let m = i.module_number;
        let n = self.lesson_count(stage, m)?;
        // Exactly this module's prompts, in lesson order (defect 2 in ARCHITECTURE.md).
        let expected: Vec<String> = (1..=n)
            .flat_map(|l| (1..=VISUALS_PER_LESSON).map(move |v| (l, v)))
            .map(|(l, v)| keys::prompt_key(&i.project_folder, m, l, v))
            .collect();
        if i.prompt_keys != expected {
            return Err(wrong(stage, format!("module {m} got prompt keys {:?}", i.prompt_keys)));
        }
        let image_mappings = (1..=n)
            .flat_map(|l| (1..=VISUALS_PER_LESSON).map(move |v| keys::visual_id(m, l, v)))
            .map(|id| {
                let key = keys::image_key(&i.project_folder, &id, "png");
                (id, key)
            })
            .collect();
        encode(&ImagesGenOutput { module_number: m, image_mappings })
    }

    fn lab_planner(&self, i: LabPlannerInput) -> Result<Value, StatesError> {
        let mut lab_ids = Vec::new();
        for &m in &i.modules {
            let module = self.outline.module(m).ok_or_else(|| wrong(Stage::LabPlanner, format!("no module {m}")))?;
            for (li, lesson) in module.lessons.iter().enumerate() {
                for k in 1..=lesson.lab_activities.len() as u32 {
                    lab_ids.push(keys::lab_id(m, li as u32 + 1, k));
                }
            }
        }
        encode(&LabPlannerOutput { plan_key: keys::lab_plan_key(&i.project_folder), lab_ids })
    }

    fn lab_writer(&self, i: LabWriterInput) -> Result<Value, StatesError> {
        let stage = Stage::LabWriter;
        let (m, l, k) =
            parse_lab_id(&i.lab_id).ok_or_else(|| wrong(stage, format!("lab id {:?} is not MM-LL-KK", i.lab_id)))?;
        let title = self
            .outline
            .lesson(m, l)
            .and_then(|x| x.lab_activities.get(k as usize - 1))
            .map(|a| a.title.clone())
            .ok_or_else(|| wrong(stage, format!("no lab {}", i.lab_id)))?;
        encode(&LabWriterOutput { lab_key: keys::lab_key(&i.project_folder, m, l, k, &title), lab_id: i.lab_id })
    }

    /// `payload` is the raw input too: the module numbers and lab count are read from it.
    fn book_builder(&self, i: BookBuilderInput, payload: &Value) -> Result<Value, StatesError> {
        let module_count = payload["module_numbers"].as_array().map(Vec::len).unwrap_or(0) as u32;
        let mut lessons = 0;
        for m in payload["module_numbers"].as_array().into_iter().flatten() {
            lessons += self.lesson_count(Stage::BookBuilder, m.as_u64().unwrap_or(0) as u32)?;
        }
        let p = &i.project_folder;
        encode(&BookBuilderOutput {
            book_keys: vec![keys::book_html_key(p), keys::book_epub_key(p), keys::book_md_key(p)],
            manifest_key: keys::book_manifest_key(p),
            module_count,
            lesson_count: lessons,
            word_count: u64::from(lessons) * 1_850,
            image_count: lessons * VISUALS_PER_LESSON,
            lab_count: payload["lab_count"].as_u64().unwrap_or(0) as u32,
            failed: 0,
            incomplete: String::new(),
        })
    }
}

#[async_trait]
impl TaskInvoker for FakeStages {
    async fn invoke_function(&self, function: &str, payload: Value) -> Result<Value, StatesError> {
        let stage = Stage::from_name(lambda_function_name(function))
            .ok_or_else(|| StatesError::new("Lambda.ResourceNotFoundException", function.to_string()))?;
        *self.calls.lock().unwrap().entry(stage.name()).or_insert(0) += 1;
        self.answer(stage, payload).await
    }
}

/// The course definition with its placeholders filled with stage names.
fn course_machine() -> asl_interpreter::StateMachine {
    let subs: std::collections::HashMap<String, String> =
        Stage::ALL.iter().map(|s| (format!("{}FunctionArn", s.name()), s.name().to_string())).collect();
    let text = asl_interpreter::substitute(COURSE_DEFINITION, &subs).expect("placeholders filled");
    asl_interpreter::StateMachine::from_json(&text).expect("the course definition loads")
}

const BIG_MODULES: u32 = 200;
const BIG_LESSONS: u32 = 10;

/// Runs the course definition for a 200 × 10 outline through the fake stages with the default
/// (256 KiB) payload limit, or `limit` when given.
async fn run_big(
    content_type: &str,
    labs_per_lesson: u32,
    limit: Option<usize>,
) -> (asl_interpreter::Execution, Arc<FakeStages>) {
    let project = "big-course";
    let outline = support::outline_yaml("A Very Large Course", BIG_MODULES, BIG_LESSONS, labs_per_lesson, 60);
    assert!(outline.len() < coursegen_core::outline::limits::MAX_BYTES, "outline {} bytes", outline.len());
    let fake = FakeStages::new(&outline, project).await;
    // Titles are realistic: about 60 characters.
    assert!((55..=60).contains(&fake.lesson_title(Stage::ContentGen, 200, 10).unwrap().chars().count()));
    let invoker: Arc<FakeStages> = Arc::new(fake);
    let mut executor = Executor::new(invoker.clone()).with_jitter_seed(7);
    if let Some(limit) = limit {
        executor = executor.with_payload_limit(limit);
    }
    let input = json!({"project_folder": project, "content_type": content_type, "max_concurrency": 40});
    let execution = executor.execute(&course_machine(), input, "payload-budget").await;
    (execution, invoker)
}

fn largest_state_payload(execution: &asl_interpreter::Execution) -> (usize, String) {
    let history: Vec<Value> = execution.history.iter().map(|e| e.to_json()).collect();
    support::largest_payload(&history)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_modules_of_ten_lessons_stay_far_below_the_payload_limit() {
    assert_eq!(asl_interpreter::DEFAULT_PAYLOAD_LIMIT, 256 * 1024);
    let (execution, fake) = run_big("theory", 0, None).await;
    assert!(execution.succeeded(), "{:?}", execution.error());
    let (size, where_) = largest_state_payload(&execution);
    println!("theory, 200 modules x 10 lessons: largest state input/output {size} bytes ({where_})");
    assert!(size < 64 * 1024, "largest state payload {size} bytes ({where_})");
    let calls = fake.calls();
    assert_eq!(calls.get("ContentGen"), Some(&200));
    assert_eq!(calls.get("VisualPlanner"), Some(&2_000));
    assert_eq!(calls.get("ImagesGen"), Some(&200));
    assert_eq!(calls.get("LabWriter"), None);
    let output = execution.output().unwrap();
    assert_eq!(output["module_count"], 200);
    assert_eq!(output["lesson_count"], 2_000);
    assert_eq!(execution.stats.max_observed_concurrency.get("ModulesMap"), Some(&40));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_modules_with_a_lab_per_lesson_stay_far_below_the_payload_limit() {
    let (execution, fake) = run_big("both", 1, None).await;
    assert!(execution.succeeded(), "{:?}", execution.error());
    let (size, where_) = largest_state_payload(&execution);
    println!("both, 200 modules x 10 lessons x 1 lab: largest state input/output {size} bytes ({where_})");
    assert!(size < 64 * 1024, "largest state payload {size} bytes ({where_})");
    let calls = fake.calls();
    assert_eq!(calls.get("ContentGen"), Some(&200));
    assert_eq!(calls.get("VisualPlanner"), Some(&2_000));
    assert_eq!(calls.get("LabPlanner"), Some(&1));
    assert_eq!(calls.get("LabWriter"), Some(&2_000));
    let output = execution.output().unwrap();
    assert_eq!(output["lesson_count"], 2_000);
    assert_eq!(output["lab_count"], 2_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payload_measurement_is_real_a_smaller_limit_fails_the_large_course() {
    // The same 200-module course under a 4 KiB limit: the course-level state no longer fits,
    // so the limit is enforced on the states measured above.
    let (execution, _) = run_big("theory", 0, Some(4 * 1024)).await;
    let (error, cause) = execution.error().expect("the execution must fail");
    assert_eq!(error, "States.DataLimitExceeded", "{cause}");
}
