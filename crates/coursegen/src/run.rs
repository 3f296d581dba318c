//! `coursegen run`: validate, then execute the course definition with the embedded runner.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use asl_interpreter::{Execution, ExecutionStatus, Executor, StateMachine};
use async_trait::async_trait;
use coursegen_core::contracts::{BookBuilderOutput, Manifest};
use coursegen_core::model::{ImageModel, ImageRequest, ImageResponse, ModelId, TextModel, TextRequest, TextResponse};
use coursegen_core::{keys, BlobStore, BlobStoreExt, FsStore, Outline, RawRequest, Request, StageResult};
use coursegen_stages::Deps;
use serde_json::{json, Value};

use crate::cli::{Provider, RunArgs};
use crate::invokers::{InProcessInvoker, LambdaEndpointInvoker};
use crate::progress::Progress;
use crate::summary::{critical_path, stage_times, task_spans};
use crate::{exit, workflow};

/// Counts calls to a model, for the summary.
pub struct Counted<T: ?Sized> {
    inner: Arc<T>,
    calls: Arc<AtomicU64>,
}

#[async_trait]
impl TextModel for Counted<dyn TextModel> {
    fn id(&self) -> ModelId {
        self.inner.id()
    }
    async fn generate(&self, request: &TextRequest) -> StageResult<TextResponse> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.generate(request).await
    }
}

#[async_trait]
impl ImageModel for Counted<dyn ImageModel> {
    fn id(&self) -> ModelId {
        self.inner.id()
    }
    async fn generate(&self, request: &ImageRequest) -> StageResult<ImageResponse> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.generate(request).await
    }
}

/// Read and check the outline and the request; every problem is printed, nothing is written.
pub fn load_and_validate(
    outline_path: &Path,
    project: Option<&str>,
    modules: Option<&str>,
    content: &str,
    concurrency: Option<u32>,
    force: bool,
) -> Result<(Outline, Request, String), String> {
    let text = std::fs::read(outline_path).map_err(|e| format!("cannot read {}: {e}", outline_path.display()))?;
    if text.len() > coursegen_core::outline::limits::MAX_BYTES {
        return Err(format!(
            "{}: the outline is {} bytes; the limit is {} bytes (1 MiB)",
            outline_path.display(),
            text.len(),
            coursegen_core::outline::limits::MAX_BYTES
        ));
    }
    let text = String::from_utf8(text).map_err(|e| format!("{}: not UTF-8 text: {e}", outline_path.display()))?;
    let raw = RawRequest {
        outline_key: None,
        project_folder: project.map(str::to_string),
        modules_to_generate: modules.map(|m| Value::String(m.to_string())),
        module_number: None,
        content_type: Some(Value::String(content.to_string())),
        max_concurrency: concurrency.map(Value::from),
        force: Some(Value::Bool(force)),
    };
    let outline = match coursegen_core::parse_outline(&text) {
        Ok(outline) => outline,
        Err(e) => {
            // Report the request's own problems too, so one round of fixes is enough.
            let request_problems = coursegen_core::request_problems_without_outline(&raw);
            let mut msg = format!("{}: {e}", outline_path.display());
            if !request_problems.is_empty() {
                msg.push_str(&format!("\ninvalid request: {request_problems}"));
            }
            return Err(msg);
        }
    };
    let default_project = coursegen_core::default_project_folder(&outline);
    let request = coursegen_core::normalize_request(&raw, &outline, &default_project).map_err(|e| e.to_string())?;
    Ok((outline, request, text))
}

async fn open_store(args: &RunArgs) -> Result<Arc<dyn BlobStore>, String> {
    match &args.store {
        None => Ok(Arc::new(FsStore::new(&args.out))),
        Some(uri) => {
            let bucket = uri
                .strip_prefix("s3://")
                .map(|b| b.trim_end_matches('/'))
                .filter(|b| !b.is_empty() && !b.contains('/'))
                .ok_or_else(|| format!("--store {uri:?}: expected s3://BUCKET"))?;
            let store = coursegen_aws::config::s3_store(bucket).await.map_err(|e| e.to_string())?;
            Ok(Arc::new(store))
        }
    }
}

async fn build_models(provider: Provider) -> Result<(Arc<dyn TextModel>, Arc<dyn ImageModel>), String> {
    let offline_text: Arc<dyn TextModel> = Arc::new(coursegen_stages::offline::OfflineText);
    let offline_image: Arc<dyn ImageModel> = Arc::new(coursegen_stages::offline::OfflineImage);
    if provider == Provider::Offline {
        return Ok((offline_text, offline_image));
    }
    // The flag wins over COURSEGEN_PROVIDER; everything else comes from the environment.
    let cfg = coursegen_aws::config::ProviderConfig::from_lookup(|name| {
        if name == "COURSEGEN_PROVIDER" {
            Some(provider.as_str().to_string())
        } else {
            std::env::var(name).ok()
        }
    })
    .map_err(|e| e.to_string())?;
    let text = coursegen_aws::config::build_text_model(&cfg).await.map_err(|e| e.to_string())?;
    let image = coursegen_aws::config::build_image_model(&cfg).await.map_err(|e| e.to_string())?;
    Ok((text.unwrap_or(offline_text), image.unwrap_or(offline_image)))
}

/// The execution input, exactly as a user would start it on AWS.
pub fn execution_input(request: &Request) -> Value {
    json!({
        "outline_key": request.outline_key,
        "project_folder": request.project_folder,
        "modules_to_generate": request.modules,
        "content_type": request.content_type.as_str(),
        "max_concurrency": request.max_concurrency,
        "force": request.force,
    })
}

pub async fn run(args: RunArgs) -> i32 {
    let started = Instant::now();
    let (outline, request, outline_text) = match load_and_validate(
        &args.outline,
        args.project.as_deref(),
        args.modules.as_deref(),
        &args.content,
        args.concurrency,
        args.force,
    ) {
        Ok(v) => v,
        Err(msg) => {
            eprintln!("error: {msg}");
            eprintln!("nothing was written.");
            return exit::BAD_INPUT;
        }
    };
    let definition = match load_definition(
        args.definition.as_deref(),
        args.lambda_endpoint.is_some(),
        args.function_names,
        &args.set,
    ) {
        Ok(m) => m,
        Err(msg) => {
            eprintln!("error: {msg}");
            return exit::BAD_INPUT;
        }
    };
    let store = match open_store(&args).await {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("error: {msg}");
            return exit::BAD_INPUT;
        }
    };
    let text_calls = Arc::new(AtomicU64::new(0));
    let image_calls = Arc::new(AtomicU64::new(0));
    let invoker: Arc<dyn asl_interpreter::invoker::TaskInvoker> = match &args.lambda_endpoint {
        Some(endpoint) => Arc::new(LambdaEndpointInvoker::new(endpoint).await),
        None => {
            let (text, image) = match build_models(args.provider).await {
                Ok(m) => m,
                Err(msg) => {
                    eprintln!("error: provider {}: {msg}", args.provider.as_str());
                    return exit::BAD_INPUT;
                }
            };
            let mut deps = Deps::offline(store.clone());
            deps.text = Arc::new(Counted { inner: text, calls: text_calls.clone() });
            deps.image = Arc::new(Counted { inner: image, calls: image_calls.clone() });
            Arc::new(InProcessInvoker::new(Arc::new(deps)))
        }
    };

    // The outline goes where the request says, like an upload to the bucket on AWS.
    let existing = store.get(&request.outline_key).await.ok().flatten();
    if existing.as_deref() != Some(outline_text.as_bytes()) {
        if let Err(e) = store.put(&request.outline_key, outline_text.clone().into_bytes(), "application/yaml").await {
            eprintln!("error: cannot store the outline: {e}");
            return exit::FAILED;
        }
    }

    let lessons: HashMap<u32, u32> =
        request.modules.iter().filter_map(|m| outline.module(*m).map(|md| (*m, md.lessons.len() as u32))).collect();
    let progress = Arc::new(Progress::new(lessons));
    let executor = Executor::new(invoker).with_observer(progress.clone());
    let input = execution_input(&request);
    let name = format!("{}-{}", request.project_folder, std::process::id());
    eprintln!(
        "coursegen: {} — {} module(s) {:?}, content {}, provider {}, store {}",
        outline.course.title,
        request.modules.len(),
        request.modules,
        request.content_type.as_str(),
        if args.lambda_endpoint.is_some() { "lambda endpoint" } else { args.provider.as_str() },
        store.describe()
    );

    let execution = tokio::select! {
        e = executor.execute(&definition, input, &name) => e,
        _ = tokio::signal::ctrl_c() => {
            progress.finish();
            eprintln!("\ninterrupted. Finished lessons, images and labs are saved; run the same command again to resume (nothing finished is regenerated).");
            return exit::INTERRUPTED;
        }
    };
    progress.finish();
    if let Some(path) = &args.history {
        let events: Vec<Value> = execution.history.iter().map(|e| e.to_json()).collect();
        if let Err(e) = std::fs::write(path, serde_json::to_vec_pretty(&Value::Array(events)).unwrap_or_default()) {
            eprintln!("warning: cannot write history to {}: {e}", path.display());
        }
    }
    report(&args, &request, store.as_ref(), &execution, started, &text_calls, &image_calls).await
}

fn load_definition(
    path: Option<&Path>,
    endpoint: bool,
    naming: crate::cli::FunctionNames,
    overrides: &[String],
) -> Result<StateMachine, String> {
    let text = workflow::definition_text(path).map_err(|e| format!("cannot read the definition: {e}"))?;
    let mut subs = workflow::substitutions(endpoint, naming);
    workflow::apply_overrides(&mut subs, overrides)?;
    let text = asl_interpreter::substitute(&text, &subs).map_err(|e| format!("definition: {e}"))?;
    StateMachine::from_json(&text).map_err(|e| format!("definition: {e}"))
}

async fn report(
    args: &RunArgs,
    request: &Request,
    store: &dyn BlobStore,
    execution: &Execution,
    started: Instant,
    text_calls: &AtomicU64,
    image_calls: &AtomicU64,
) -> i32 {
    let wall = started.elapsed().as_secs_f64();
    let spans = task_spans(&execution.history);
    let times = stage_times(&spans);
    let path = critical_path(&spans);
    let remote = args.lambda_endpoint.is_some();
    match &execution.status {
        ExecutionStatus::Failed { error, cause } => {
            let failing = execution
                .history
                .iter()
                .rev()
                .find(|e| e.event_type.ends_with("Failed") && e.state_name.is_some())
                .and_then(|e| e.state_name.clone())
                .unwrap_or_else(|| "?".into());
            if args.json {
                let summary = json!({
                    "status": "FAILED", "wall_seconds": wall, "state": failing, "error": error, "cause": cause,
                    "state_transitions": execution.stats.state_transitions,
                });
                println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default());
            }
            eprintln!("execution FAILED after {wall:.2}s");
            eprintln!("  failing state: {failing}");
            eprintln!("  error: {error}");
            eprintln!("  cause: {cause}");
            eprintln!("Finished outputs are saved; fix the cause and run the same command again to resume.");
            exit::FAILED
        }
        ExecutionStatus::Succeeded { output } => {
            let book: Option<BookBuilderOutput> = serde_json::from_value(output.clone()).ok();
            let manifest: Option<Manifest> =
                store.get_json(&keys::book_manifest_key(&request.project_folder)).await.ok().flatten();
            let book_location = match &args.store {
                Some(uri) => format!("{}/{}", uri.trim_end_matches('/'), keys::book_html_key(&request.project_folder)),
                None => args.out.join(keys::book_html_key(&request.project_folder)).display().to_string(),
            };
            let summary = json!({
                "status": "SUCCEEDED",
                "wall_seconds": wall,
                "state_transitions": execution.stats.state_transitions,
                "task_invocations": execution.stats.task_invocations,
                "map_iterations": execution.stats.map_iterations,
                "max_observed_concurrency": execution.stats.max_observed_concurrency,
                "model_calls": if remote { Value::Null } else { json!({
                    "text": text_calls.load(Ordering::Relaxed),
                    "image": image_calls.load(Ordering::Relaxed),
                })},
                "stages": times,
                "critical_path": path,
                "book": book_location,
                "result": book,
                "tokens": manifest.as_ref().map(|m| m.usage),
            });
            if args.json {
                println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default());
            } else {
                print_summary(&summary, &path, wall);
            }
            if args.open {
                open_book(&book_location);
            }
            match book {
                Some(b) if b.failed > 0 => {
                    eprintln!(
                        "error: the book is missing {} item(s); see failures in {}",
                        b.failed,
                        keys::book_manifest_key(&request.project_folder)
                    );
                    exit::FAILED
                }
                _ => exit::OK,
            }
        }
    }
}

fn print_summary(summary: &Value, path: &[crate::summary::TaskSpan], wall: f64) {
    println!("Succeeded in {wall:.2}s");
    if let Some(r) = summary.get("result").filter(|r| !r.is_null()) {
        println!(
            "  book: {} modules, {} lessons, {} words, {} images, {} labs",
            r["module_count"], r["lesson_count"], r["word_count"], r["image_count"], r["lab_count"]
        );
    }
    println!(
        "  state transitions: {}, task invocations: {}, map iterations: {}",
        summary["state_transitions"], summary["task_invocations"], summary["map_iterations"]
    );
    match summary.get("model_calls").filter(|v| !v.is_null()) {
        Some(m) => println!("  model calls: {} text, {} image", m["text"], m["image"]),
        None => println!("  model calls: made by the functions behind the endpoint (see their logs)"),
    }
    if let Some(t) = summary.get("tokens").filter(|v| !v.is_null()) {
        println!("  tokens recorded in the manifest: {} in, {} out", t["input_tokens"], t["output_tokens"]);
    }
    if let Some(stages) = summary.get("stages").and_then(Value::as_object) {
        println!("  time per stage (runs, total, slowest):");
        for (name, t) in stages {
            println!(
                "    {name:<14} {:>4} runs {:>8.2}s {:>8.2}s",
                t["runs"],
                t["total_seconds"].as_f64().unwrap_or(0.0),
                t["max_seconds"].as_f64().unwrap_or(0.0)
            );
        }
    }
    if !path.is_empty() {
        let chain: Vec<String> = path.iter().map(|s| format!("{} {:.2}s", s.label, s.seconds)).collect();
        println!("  critical path: {}", chain.join(" → "));
    }
    println!("  book: {}", summary["book"].as_str().unwrap_or("?"));
}

/// Opens a local book with the desktop's opener; prints where it is when there is none.
fn open_book(location: &str) {
    if location.starts_with("s3://") {
        eprintln!("the book is in S3: {location}");
        return;
    }
    let path = std::fs::canonicalize(location).unwrap_or_else(|_| location.into());
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    let opened = std::process::Command::new(opener)
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !opened {
        eprintln!("open the book in a browser: file://{}", path.display());
    }
}
