//! `coursegen run`: validate, then execute the course definition with the embedded runner.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use asl_interpreter::invoker::TaskInvoker;
use asl_interpreter::{Execution, ExecutionStatus, Executor, StateMachine};
use async_trait::async_trait;
use coursegen_aws::quota::record_call_phases;
use coursegen_core::contracts::{BookBuilderOutput, Manifest};
use coursegen_core::model::{ImageModel, ImageRequest, ImageResponse, ModelId, TextModel, TextRequest, TextResponse};
use coursegen_core::prices::Prices;
use coursegen_core::{keys, BlobStore, BlobStoreExt, FsStore, Request, StageResult};
use coursegen_stages::Deps;
use serde_json::{json, Value};

use crate::cli::{FunctionNames, Provider, RunArgs};
use crate::error::{CliError, Exit};
use crate::estimate;
use crate::input::{load_and_validate, selected_modules, Asked};
use crate::invokers::{InProcessInvoker, LambdaEndpointInvoker};
use crate::progress::Progress;
use crate::summary::{attribute_calls, critical_path, path_time, stage_times, task_spans, TaskSpan};
use crate::timing::CallLog;
use crate::workflow;

/// Counts calls to a model and keeps their waiting and model phases, for the summary.
pub(crate) struct Counted<T: ?Sized> {
    inner: Arc<T>,
    calls: Arc<AtomicU64>,
    log: Arc<CallLog>,
}

#[async_trait]
impl TextModel for Counted<dyn TextModel> {
    fn id(&self) -> ModelId {
        self.inner.id()
    }
    async fn generate(&self, request: &TextRequest) -> StageResult<TextResponse> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let (out, phases) = record_call_phases(self.inner.generate(request)).await;
        self.log.record(request.task.stage(), &request.subject, &phases);
        out
    }
}

#[async_trait]
impl ImageModel for Counted<dyn ImageModel> {
    fn id(&self) -> ModelId {
        self.inner.id()
    }
    async fn generate(&self, request: &ImageRequest) -> StageResult<ImageResponse> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let (out, phases) = record_call_phases(self.inner.generate(request)).await;
        self.log.record("ImagesGen", &request.visual_id, &phases);
        out
    }
}

async fn open_store(args: &RunArgs) -> Result<Arc<dyn BlobStore>, CliError> {
    match &args.store {
        None => Ok(Arc::new(FsStore::new(&args.out))),
        Some(uri) => {
            let bucket = uri
                .strip_prefix("s3://")
                .map(|b| b.trim_end_matches('/'))
                .filter(|b| !b.is_empty() && !b.contains('/'))
                .ok_or_else(|| CliError::StoreUri(uri.clone()))?;
            let store = coursegen_aws::config::s3_store(bucket).await.map_err(CliError::Store)?;
            Ok(Arc::new(store))
        }
    }
}

async fn build_models(provider: Provider) -> StageResult<(Arc<dyn TextModel>, Arc<dyn ImageModel>)> {
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
    })?;
    let text = coursegen_aws::config::build_text_model(&cfg).await?;
    let image = coursegen_aws::config::build_image_model(&cfg).await?;
    Ok((text.unwrap_or(offline_text), image.unwrap_or(offline_image)))
}

/// The execution input, exactly as a user would start it on AWS.
pub(crate) fn execution_input(request: &Request) -> Value {
    json!({
        "outline_key": request.outline_key,
        "project_folder": request.project_folder,
        "modules_to_generate": request.modules,
        "content_type": request.content_type.as_str(),
        "max_concurrency": request.max_concurrency,
        "lesson_concurrency": request.lesson_concurrency,
        "force": request.force,
    })
}

/// Model calls made in this process, for the summary.
struct ModelCalls {
    text: Arc<AtomicU64>,
    image: Arc<AtomicU64>,
    log: Arc<CallLog>,
}

impl Default for ModelCalls {
    fn default() -> Self {
        Self { text: Arc::default(), image: Arc::default(), log: Arc::new(CallLog::new()) }
    }
}

/// What the summary reports besides the execution: the model calls counted in this process
/// and the estimate shown before the run.
#[derive(Clone, Copy)]
struct Figures<'a> {
    calls: &'a ModelCalls,
    estimate: &'a Value,
}

/// What the execution runs with.
struct Setup {
    definition: StateMachine,
    store: Arc<dyn BlobStore>,
    invoker: Arc<dyn TaskInvoker>,
    calls: ModelCalls,
}

pub(crate) async fn run(args: RunArgs) -> Exit {
    let started = Instant::now();
    let asked = Asked::new(&args.outline, &args.request, args.force);
    let (outline, request, outline_text) = match load_and_validate(&asked) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("nothing was written.");
            return Exit::BadInput;
        }
    };
    let (prices, estimate) = match estimate_run(&args, &outline, &request) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("nothing was written.");
            return Exit::BadInput;
        }
    };
    for line in estimate::lines(&estimate) {
        eprintln!("{line}");
    }
    let estimate = serde_json::to_value(&estimate).unwrap_or(Value::Null);
    let Setup { definition, store, invoker, calls } = match set_up(&args, prices).await {
        Ok(setup) => setup,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::BadInput;
        }
    };
    if let Err(e) = store_outline(store.as_ref(), &request.outline_key, &outline_text).await {
        eprintln!("error: cannot store the outline: {e}");
        return Exit::Failed;
    }
    if args.store.is_none() {
        // A run killed mid-write leaves its temporary files; the objects themselves are whole.
        match FsStore::new(&args.out).remove_stale_temporaries(&request.project_folder).await {
            Ok(0) => {}
            Ok(n) => eprintln!("removed {n} temporary file(s) left by an interrupted run"),
            Err(e) => eprintln!("warning: cannot remove temporary files of an interrupted run: {e}"),
        }
    }

    let lessons: HashMap<u32, u32> =
        selected_modules(&outline, &request).map(|(n, m)| (n, m.lessons.len() as u32)).collect();
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
            return Exit::Interrupted;
        }
    };
    progress.finish();
    if let Some(path) = &args.history {
        workflow::write_history(path, &execution.history);
    }
    let wall = started.elapsed().as_secs_f64();
    match &execution.status {
        ExecutionStatus::Failed { error, cause } if error == COURSE_INCOMPLETE => {
            let figures = Figures { calls: &calls, estimate: &estimate };
            report_incomplete(&args, &request, store.as_ref(), &execution, wall, cause, figures).await
        }
        ExecutionStatus::Failed { error, cause } => report_failure(&args, &execution, wall, error, cause, &estimate),
        ExecutionStatus::Succeeded { output } => {
            let figures = Figures { calls: &calls, estimate: &estimate };
            report_success(&args, &request, store.as_ref(), &execution, output, wall, figures).await
        }
    }
}

/// The prices (`--prices`, else `COURSEGEN_PRICES`) and the estimate of the run with the
/// provider's models; a bad price file or provider setting is bad input.
fn estimate_run(
    args: &RunArgs,
    outline: &coursegen_core::Outline,
    request: &Request,
) -> Result<(Prices, coursegen_stages::estimate::Estimate), CliError> {
    let prices = estimate::load_prices(args.prices.as_deref())?;
    // Behind a Lambda endpoint the functions' own configuration decides the models, not
    // --provider: estimate a real run there.
    let provider = match &args.lambda_endpoint {
        Some(_) => estimate::real_run_provider(),
        None => args.provider.as_str().to_string(),
    };
    let cfg = estimate::provider_config(&provider).map_err(CliError::Config)?;
    let est = estimate::build(outline, request, &cfg, &prices, None, None)?;
    Ok((prices, est))
}

/// The definition, the store and the invoker, in that order: the first problem stops the run.
async fn set_up(args: &RunArgs, prices: Prices) -> Result<Setup, CliError> {
    let definition =
        load_definition(args.definition.as_deref(), args.lambda_endpoint.is_some(), args.function_names, &args.set)?;
    let store = open_store(args).await?;
    let calls = ModelCalls::default();
    let invoker: Arc<dyn TaskInvoker> = match &args.lambda_endpoint {
        Some(endpoint) => {
            if args.prices.is_some() {
                eprintln!(
                    "note: the functions behind {endpoint} price the manifest with their own COURSEGEN_PRICES; --prices applies to the estimate only"
                );
            }
            Arc::new(LambdaEndpointInvoker::new(endpoint).await)
        }
        None => {
            let (text, image) = build_models(args.provider)
                .await
                .map_err(|source| CliError::Provider { provider: args.provider.as_str(), source })?;
            let mut deps = Deps::offline(store.clone());
            // The same per-invocation ceilings as the deployed functions (none by default).
            deps.settings = coursegen_stages::Settings::with_ceilings_from(|name| std::env::var(name).ok())
                .map_err(|source| CliError::Provider { provider: args.provider.as_str(), source })?;
            deps.settings.prices = Arc::new(prices);
            deps.text = Arc::new(Counted { inner: text, calls: calls.text.clone(), log: calls.log.clone() });
            deps.image = Arc::new(Counted { inner: image, calls: calls.image.clone(), log: calls.log.clone() });
            Arc::new(InProcessInvoker::new(Arc::new(deps)))
        }
    };
    Ok(Setup { definition, store, invoker, calls })
}

/// The outline goes where the request says, like an upload to the bucket on AWS (unless the
/// same text is already there).
async fn store_outline(store: &dyn BlobStore, key: &str, text: &str) -> StageResult<()> {
    let existing = store.get(key).await.ok().flatten();
    if existing.as_deref() == Some(text.as_bytes()) {
        return Ok(());
    }
    store.put(key, text.as_bytes().to_vec(), "application/yaml").await
}

fn load_definition(
    path: Option<&Path>,
    endpoint: bool,
    naming: FunctionNames,
    overrides: &[String],
) -> Result<StateMachine, CliError> {
    let text = workflow::definition_text(path).map_err(CliError::DefinitionUnreadable)?;
    workflow::load_machine(&text, endpoint, naming, overrides, CliError::Definition)
}

/// The error the definition ends with when BookBuilder built a book with missing parts.
const COURSE_INCOMPLETE: &str = "CourseIncomplete";

/// Where the book's HTML edition is, as the user names the store.
fn book_location(args: &RunArgs, request: &Request) -> String {
    match &args.store {
        Some(uri) => format!("{}/{}", uri.trim_end_matches('/'), keys::book_html_key(&request.project_folder)),
        None => args.out.join(keys::book_html_key(&request.project_folder)).display().to_string(),
    }
}

/// An execution that built a partial book and ended in `CourseIncomplete`: what failed (from
/// the manifest), where the partial book is, and that the same command fills in the rest.
async fn report_incomplete(
    args: &RunArgs,
    request: &Request,
    store: &dyn BlobStore,
    execution: &Execution,
    wall: f64,
    cause: &str,
    Figures { calls, estimate }: Figures<'_>,
) -> Exit {
    let manifest: Option<Manifest> =
        store.get_json(&keys::book_manifest_key(&request.project_folder)).await.ok().flatten();
    let location = book_location(args, request);
    let failures = manifest.as_ref().map(|m| m.failures.clone()).unwrap_or_default();
    if args.json {
        let summary = json!({
            "status": "FAILED", "wall_seconds": wall, "state": COURSE_INCOMPLETE, "error": COURSE_INCOMPLETE,
            "cause": cause, "book": location, "failures": failures,
            "state_transitions": execution.stats.state_transitions,
            "model_calls": if args.lambda_endpoint.is_some() { Value::Null } else { json!({
                "text": calls.text.load(Ordering::Relaxed),
                "image": calls.image.load(Ordering::Relaxed),
            })},
            "estimate": estimate,
            "cost": manifest.as_ref().and_then(|m| m.cost.clone()),
        });
        println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default());
    }
    eprintln!("execution FAILED after {wall:.2}s: the book is incomplete");
    eprintln!("  failing state: {COURSE_INCOMPLETE}");
    eprintln!("  error: {COURSE_INCOMPLETE}");
    eprintln!("  cause: {cause}");
    for f in failures.iter().filter(|f| f.state.is_some()) {
        eprintln!("  failed: {} {}: {}", f.kind, f.id, f.reason);
    }
    let missing = failures.iter().filter(|f| f.kind != "module").count();
    eprintln!("  missing from the book: {missing} item(s), each marked where it would stand");
    eprintln!("  partial book: {location}");
    eprintln!("Run the same command again to generate only what is missing (finished parts are reused).");
    Exit::Failed
}

/// A failed execution: which state failed, why, and how to resume.
fn report_failure(
    args: &RunArgs,
    execution: &Execution,
    wall: f64,
    error: &str,
    cause: &str,
    estimate: &Value,
) -> Exit {
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
            "estimate": estimate,
        });
        println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default());
    }
    eprintln!("execution FAILED after {wall:.2}s");
    eprintln!("  failing state: {failing}");
    eprintln!("  error: {error}");
    eprintln!("  cause: {cause}");
    eprintln!("Finished outputs are saved; fix the cause and run the same command again to resume.");
    Exit::Failed
}

/// A succeeded execution: the summary, the book's location, and a failure when the book is
/// missing items.
async fn report_success(
    args: &RunArgs,
    request: &Request,
    store: &dyn BlobStore,
    execution: &Execution,
    output: &Value,
    wall: f64,
    Figures { calls, estimate }: Figures<'_>,
) -> Exit {
    let remote = args.lambda_endpoint.is_some();
    let mut spans = task_spans(&execution.history);
    let mut stages = stage_times(&spans);
    if !remote {
        attribute_calls(&mut spans, &mut stages, &calls.log.records());
    }
    let path = critical_path(&spans);
    let path_times = path_time(&path);
    let unqueued_ratio = path_times.without_waiting_seconds.filter(|s| *s > 0.0).map(|s| wall / s);
    let book: Option<BookBuilderOutput> = serde_json::from_value(output.clone()).ok();
    let manifest: Option<Manifest> =
        store.get_json(&keys::book_manifest_key(&request.project_folder)).await.ok().flatten();
    let book_location = book_location(args, request);
    let summary = json!({
        "status": "SUCCEEDED",
        "wall_seconds": wall,
        "state_transitions": execution.stats.state_transitions,
        "task_invocations": execution.stats.task_invocations,
        "map_iterations": execution.stats.map_iterations,
        "max_observed_concurrency": execution.stats.max_observed_concurrency,
        "model_calls": if remote { Value::Null } else { json!({
            "text": calls.text.load(Ordering::Relaxed),
            "image": calls.image.load(Ordering::Relaxed),
        })},
        "stages": stages,
        "critical_path": path,
        "critical_path_time": path_times,
        "wall_over_unqueued_chain": unqueued_ratio,
        "book": book_location,
        "result": book,
        "tokens": manifest.as_ref().map(|m| m.usage),
        "cost": manifest.as_ref().and_then(|m| m.cost.clone()),
        "estimate": estimate,
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
            Exit::Failed
        }
        _ => Exit::Ok,
    }
}

/// Prints the human summary of a succeeded execution (`run`, `aws watch`).
pub(crate) fn print_summary(summary: &Value, path: &[TaskSpan], wall: f64) {
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
    if let Some(c) = summary.get("cost").filter(|v| !v.is_null()) {
        let estimated = summary["estimate"]["cost"]["total"]["usd"].as_f64();
        println!(
            "  cost recorded in the manifest: ${:.2} {}{}{}",
            c["total"]["usd"].as_f64().unwrap_or(0.0),
            c["currency"].as_str().unwrap_or("USD"),
            if c["complete"] == false { " for the priced part (see the manifest's cost notes)" } else { "" },
            estimated.map(|e| format!(" (estimated ${e:.2})")).unwrap_or_default()
        );
    }
    if let Some(stages) = summary.get("stages").and_then(Value::as_object) {
        println!("  time per stage (runs, total, slowest; model calls summed: waiting for quota/slot, in model):");
        for (name, t) in stages {
            let calls = match (t["wait_seconds"].as_f64(), t["model_seconds"].as_f64()) {
                (Some(w), Some(m)) => format!(" {w:>8.2}s {m:>8.2}s"),
                _ => String::new(),
            };
            println!(
                "    {name:<14} {:>4} runs {:>8.2}s {:>8.2}s{calls}",
                t["runs"],
                t["total_seconds"].as_f64().unwrap_or(0.0),
                t["max_seconds"].as_f64().unwrap_or(0.0)
            );
        }
    }
    if !path.is_empty() {
        let chain: Vec<String> = path
            .iter()
            .map(|s| match (s.wait_seconds, s.model_seconds) {
                (Some(w), Some(m)) if w > 0.0005 || m > 0.0005 => {
                    format!("{} {:.2}s (waited {w:.2}s, model {m:.2}s)", s.label, s.seconds)
                }
                _ => format!("{} {:.2}s", s.label, s.seconds),
            })
            .collect();
        println!("  critical path: {}", chain.join(" → "));
        let t = &summary["critical_path_time"];
        if let (Some(total), Some(w), Some(m), Some(free)) = (
            t["seconds"].as_f64(),
            t["wait_seconds"].as_f64(),
            t["model_seconds"].as_f64(),
            t["without_waiting_seconds"].as_f64(),
        ) {
            println!(
                "  critical path time: {total:.2}s = {w:.2}s waiting for quota/slot + {m:.2}s in model calls + {:.2}s other work",
                (total - w - m).max(0.0)
            );
            match summary["wall_over_unqueued_chain"].as_f64() {
                Some(r) => println!("  wall ÷ one chain without waiting ({free:.2}s): {r:.2}"),
                None => println!("  wall ÷ one chain without waiting: n/a"),
            }
        }
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
