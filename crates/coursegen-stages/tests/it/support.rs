//! Test helpers: outlines, counting and scripted models, and a driver that runs every stage in
//! workflow order, directly.
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use coursegen_core::contracts::*;
use coursegen_core::{
    keys, BlobStore, ImageModel, ImageRequest, ImageResponse, MemStore, ModelId, RawRequest, StageError, StageResult,
    TextModel, TextRequest, TextResponse, TextTask,
};
use coursegen_stages::offline::{OfflineImage, OfflineText};
use coursegen_stages::*;
use serde_json::json;

/// An outline in the authors' YAML shape: `modules` modules of `lessons` lessons, each lesson with
/// two topics and (when `labs`) one lab activity.
pub fn outline_yaml(title: &str, language: &str, modules: usize, lessons: usize, labs: bool) -> String {
    let mut y = format!(
        "course:\n  title: {title}\n  description: A practical course.\n  language: {language}\n  level: intermediate\n  \
         audience: [DevOps engineers]\n  prerequisites: [Linux command line]\n  learning_outcomes: [Run workloads]\nmodules:\n"
    );
    for m in 1..=modules {
        y.push_str(&format!(
            "  - title: Module {m} Foundations\n    summary: What module {m} covers.\n    duration_minutes: 120\n    \
             bloom_level: Understand\n    lessons:\n"
        ));
        for l in 1..=lessons {
            y.push_str(&format!(
                "      - title: Lesson {l} of module {m}\n        duration_minutes: 30\n        bloom_level: Apply\n        \
                 topics:\n          - Topic A of {m}.{l}\n          - {{title: Topic B of {m}.{l}, duration_minutes: 10}}\n"
            ));
            if labs {
                y.push_str(&format!(
                    "        lab_activities:\n          - {{title: \"Hands-on {m}.{l}\", duration_minutes: 45, bloom_level: Apply}}\n"
                ));
            }
        }
    }
    y
}

/// Counts text calls per task and image calls, delegating to the offline providers.
#[derive(Default)]
pub struct Counting {
    pub text: Mutex<HashMap<TextTask, u64>>,
    pub images: AtomicUsize,
}

impl Counting {
    pub fn text_calls(&self, task: TextTask) -> u64 {
        self.text.lock().unwrap().get(&task).copied().unwrap_or(0)
    }
    pub fn total_text(&self) -> u64 {
        self.text.lock().unwrap().values().sum()
    }
    pub fn snapshot(&self) -> (BTreeMap<String, u64>, usize) {
        let text = self.text.lock().unwrap().iter().map(|(k, v)| (format!("{k:?}"), *v)).collect();
        (text, self.images.load(Ordering::SeqCst))
    }
    pub fn reset(&self) {
        self.text.lock().unwrap().clear();
        self.images.store(0, Ordering::SeqCst);
    }
}

pub struct CountingText(pub Arc<Counting>);

#[async_trait]
impl TextModel for CountingText {
    fn id(&self) -> ModelId {
        OfflineText.id()
    }
    async fn generate(&self, request: &TextRequest) -> StageResult<TextResponse> {
        *self.0.text.lock().unwrap().entry(request.task).or_default() += 1;
        OfflineText.generate(request).await
    }
}

pub struct CountingImage(pub Arc<Counting>);

#[async_trait]
impl ImageModel for CountingImage {
    fn id(&self) -> ModelId {
        OfflineImage.id()
    }
    async fn generate(&self, request: &ImageRequest) -> StageResult<ImageResponse> {
        self.0.images.fetch_add(1, Ordering::SeqCst);
        OfflineImage.generate(request).await
    }
}

/// What a scripted model answers for one task.
pub enum Script {
    /// Always this text (structured tasks: parsed by the stage).
    Text(String),
    /// Always this error.
    Fail(fn() -> StageError),
    /// This text the first time, then the offline answer.
    FirstThenOffline(String),
}

/// Answers scripted tasks from its script and every other task offline; records scripted requests.
pub struct ScriptedText {
    pub scripts: HashMap<TextTask, Script>,
    pub seen: Mutex<Vec<TextRequest>>,
}

impl ScriptedText {
    pub fn new(scripts: Vec<(TextTask, Script)>) -> Self {
        ScriptedText { scripts: scripts.into_iter().collect(), seen: Mutex::new(Vec::new()) }
    }
    pub fn seen(&self) -> Vec<TextRequest> {
        self.seen.lock().unwrap().clone()
    }
}

#[async_trait]
impl TextModel for ScriptedText {
    fn id(&self) -> ModelId {
        ModelId { provider: "scripted".into(), model: "test".into() }
    }
    async fn generate(&self, request: &TextRequest) -> StageResult<TextResponse> {
        match self.scripts.get(&request.task) {
            None => OfflineText.generate(request).await,
            Some(script) => {
                let calls = {
                    let mut seen = self.seen.lock().unwrap();
                    seen.push(request.clone());
                    seen.len()
                };
                match script {
                    Script::Text(t) => {
                        Ok(TextResponse { text: t.clone(), structured: None, usage: Default::default() })
                    }
                    Script::Fail(f) => Err(f()),
                    Script::FirstThenOffline(t) if calls == 1 => {
                        Ok(TextResponse { text: t.clone(), structured: None, usage: Default::default() })
                    }
                    Script::FirstThenOffline(_) => OfflineText.generate(request).await,
                }
            }
        }
    }
}

pub fn mem() -> Arc<MemStore> {
    Arc::new(MemStore::new())
}

pub fn deps_with(store: Arc<dyn BlobStore>, text: Arc<dyn TextModel>, image: Arc<dyn ImageModel>) -> Deps {
    Deps { store, text, image, settings: Settings::default() }
}

/// Offline deps whose calls are counted.
pub fn counting_deps(store: Arc<dyn BlobStore>) -> (Deps, Arc<Counting>) {
    let counter = Arc::new(Counting::default());
    let deps = deps_with(store, Arc::new(CountingText(counter.clone())), Arc::new(CountingImage(counter.clone())));
    (deps, counter)
}

/// ContentGen's input for `module` of the outline stored at the project's default key.
pub fn content_input(project: &str, module: u32) -> ContentGenInput {
    ContentGenInput {
        project_folder: project.into(),
        outline_key: keys::outline_key(project),
        module_number: module,
        force: false,
        lesson_concurrency: None,
    }
}

/// LabPlanner's input for `modules` of the outline stored at the project's default key.
pub fn lab_plan_input(project: &str, modules: Vec<u32>) -> LabPlannerInput {
    LabPlannerInput { project_folder: project.into(), outline_key: keys::outline_key(project), modules, force: false }
}

pub async fn put_outline(store: &dyn BlobStore, project: &str, yaml: &str) -> String {
    let key = keys::outline_key(project);
    store.put(&key, yaml.as_bytes().to_vec(), "application/yaml").await.unwrap();
    key
}

pub fn raw_request(project: &str, modules: serde_json::Value, content: &str, force: bool) -> RawRequest {
    RawRequest {
        project_folder: Some(project.to_string()),
        modules_to_generate: Some(modules),
        content_type: Some(json!(content)),
        force: Some(json!(force)),
        ..Default::default()
    }
}

/// Everything one execution produced.
#[derive(Debug, Default)]
pub struct Run {
    pub prepared: Option<PrepareCourseOutput>,
    pub content: Vec<ContentGenOutput>,
    pub plans: Vec<VisualPlannerOutput>,
    pub images: Vec<ImagesGenOutput>,
    pub lab_plan: Option<LabPlannerOutput>,
    pub labs: Vec<LabWriterOutput>,
    pub book: Option<BookBuilderOutput>,
}

/// Run every stage like the workflow does (theory branch then labs branch), directly.
pub async fn run_all(deps: &Deps, request: RawRequest) -> StageResult<Run> {
    let prepared = prepare_course(request, deps).await?;
    let project = prepared.project_folder.clone();
    let force = prepared.force;
    let mut run = Run::default();
    let theory =
        matches!(prepared.content_type, coursegen_core::ContentType::Theory | coursegen_core::ContentType::Both);
    let labs = matches!(prepared.content_type, coursegen_core::ContentType::Labs | coursegen_core::ContentType::Both);
    if theory {
        for item in &prepared.modules {
            let out = content_gen(
                ContentGenInput {
                    project_folder: project.clone(),
                    outline_key: prepared.outline_key.clone(),
                    module_number: item.module_number,
                    force,
                    lesson_concurrency: Some(prepared.lesson_concurrency),
                },
                deps,
            )
            .await?;
            let mut prompt_keys = Vec::new();
            for lesson in &out.lessons {
                let plan = visual_planner(
                    VisualPlannerInput {
                        project_folder: project.clone(),
                        module_number: item.module_number,
                        lesson_number: lesson.lesson_number,
                        lesson_key: lesson.key.clone(),
                        force,
                    },
                    deps,
                )
                .await?;
                prompt_keys.extend(plan.prompt_keys.clone());
                run.plans.push(plan);
            }
            let images = images_gen(
                ImagesGenInput {
                    project_folder: project.clone(),
                    module_number: item.module_number,
                    prompt_keys,
                    force,
                },
                deps,
            )
            .await?;
            run.images.push(images);
            run.content.push(out);
        }
    }
    let mut lab_keys = Vec::new();
    if labs {
        let plan = lab_planner(
            LabPlannerInput {
                project_folder: project.clone(),
                outline_key: prepared.outline_key.clone(),
                modules: prepared.module_numbers.clone(),
                force,
            },
            deps,
        )
        .await?;
        for id in &plan.lab_ids {
            let out = lab_writer(
                LabWriterInput {
                    project_folder: project.clone(),
                    plan_key: plan.plan_key.clone(),
                    lab_id: id.clone(),
                    force,
                },
                deps,
            )
            .await?;
            lab_keys.push(out.lab_key.clone());
            run.labs.push(out);
        }
        run.lab_plan = Some(plan);
    }
    let book = book_builder(
        BookBuilderInput {
            project_folder: project.clone(),
            outline_key: prepared.outline_key.clone(),
            content_type: prepared.content_type,
            all_lesson_keys: run.content.iter().flat_map(|c| c.lesson_keys.clone()).collect(),
            all_image_mappings: run.images.iter().map(|i| i.image_mappings.clone()).collect(),
            lab_keys,
            module_results: vec![],
            lab_results: vec![],
        },
        deps,
    )
    .await?;
    run.book = Some(book);
    run.prepared = Some(prepared);
    Ok(run)
}

pub async fn text_of(store: &dyn BlobStore, key: &str) -> String {
    String::from_utf8(store.get(key).await.unwrap().unwrap_or_else(|| panic!("{key} is missing"))).unwrap()
}

pub async fn manifest_of(store: &dyn BlobStore, project: &str) -> Manifest {
    serde_json::from_str(&text_of(store, &keys::book_manifest_key(project)).await).unwrap()
}

/// Output files (not sidecars, not the lab plan) under `{project}/{folder}/`.
pub fn outputs_under(keys: &[String], project: &str, folder: &str) -> Vec<String> {
    let prefix = format!("{project}/{folder}/");
    keys.iter()
        .filter(|k| k.starts_with(&prefix) && !k.ends_with(".meta.json") && !k.ends_with("/plan.json"))
        .cloned()
        .collect()
}
