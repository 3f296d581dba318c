//! `coursegen run` with the real providers over the wire: Bedrock (the simulator) with an S3
//! bucket, Bedrock with injected faults, a model whose structured answers stay invalid, and an
//! OpenAI-compatible server. Every server is started in-process on 127.0.0.1; the binary gets
//! fake static credentials and endpoints pointing at them.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::support::{assert_complete_book, dir_keys, example, hermetic_coursegen, outline, sim_stats, stat, S3Server};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use coursegen_aws::bedrock::{DEFAULT_IMAGE_MODEL_ID, DEFAULT_TEXT_MODEL_ID};
use coursegen_core::contracts::Manifest;
use coursegen_core::model::ModelId;
use serde_json::{json, Value};

const PROJECT: &str = "kubernetes-for-devops-engineers";

fn bedrock_env(sim: &bedrock_sim::RunningSim) -> Vec<(&'static str, String)> {
    vec![("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", sim.endpoint_url())]
}

fn model(provider: &str, id: &str) -> ModelId {
    ModelId { provider: provider.to_string(), model: id.to_string() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bedrock_and_s3_build_the_whole_book_in_the_bucket() {
    let sim = bedrock_sim::start(bedrock_sim::Config { seed: 1, ..Default::default() }).await.unwrap();
    let s3 = S3Server::start("bucket").await;
    let dir = tempfile::tempdir().unwrap();
    let outline_path = example("kubernetes-devops.yaml");
    let mut env = bedrock_env(&sim);
    env.push(("AWS_ENDPOINT_URL_S3", s3.endpoint.clone()));
    let run = hermetic_coursegen(
        dir.path(),
        &[
            "run",
            outline_path.to_str().unwrap(),
            "--content",
            "both",
            "--provider",
            "bedrock",
            "--store",
            "s3://bucket",
            "--json",
        ],
        &env,
    )
    .await;
    run.expect_code(0);
    let summary = run.stdout_json();
    assert_eq!(summary["status"], "SUCCEEDED");
    assert_eq!(summary["book"], format!("s3://bucket/{PROJECT}/book/index.html"));

    // Everything is in the bucket, nothing in the working directory.
    let keys = s3.keys().await;
    let manifest: Manifest = serde_json::from_slice(&s3.get(&format!("{PROJECT}/book/manifest.json")).await).unwrap();
    assert_complete_book(&manifest, &outline(&outline_path), &keys, true);
    assert!(!dir.path().join("out").exists(), "nothing is written to the default directory store");
    assert!(s3.get(&format!("{PROJECT}/book/index.html")).await.starts_with(b"<!DOCTYPE html>"));
    assert!(s3.get(&format!("{PROJECT}/book/course.epub")).await.starts_with(b"PK"));

    // The models are the Bedrock ones, and their usage was recorded.
    assert!(manifest.usage.input_tokens > 0 && manifest.usage.output_tokens > 0, "{:?}", manifest.usage);
    assert!(manifest.models.contains(&model("bedrock", DEFAULT_TEXT_MODEL_ID)), "{:?}", manifest.models);
    assert!(manifest.models.contains(&model("bedrock", DEFAULT_IMAGE_MODEL_ID)), "{:?}", manifest.models);
    assert!(manifest.models.iter().all(|m| m.provider != "offline"), "{:?}", manifest.models);
    let stats = sim_stats(&sim);
    assert!(stat(&stats, "converse") > 0 && stat(&stats, "images") > 0, "{stats}");
    assert_eq!(summary["model_calls"]["text"].as_u64(), Some(stat(&stats, "converse")), "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_server_errors_and_malformed_bodies_are_retried_without_losing_or_duplicating_anything() {
    let config = bedrock_sim::Config { fail_rate: 0.2, seed: 42, ..Default::default() };
    let sim = bedrock_sim::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let outline_path = example("kubernetes-devops.yaml");
    let run = hermetic_coursegen(
        dir.path(),
        &[
            "run",
            outline_path.to_str().unwrap(),
            "--content",
            "both",
            "--provider",
            "bedrock",
            "--out",
            "out",
            "--json",
        ],
        &bedrock_env(&sim),
    )
    .await;
    run.expect_code(0);
    assert_eq!(run.stdout_json()["result"]["failed"], 0);

    let root = dir.path().join("out");
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(root.join(PROJECT).join("book/manifest.json")).unwrap()).unwrap();
    assert_complete_book(&manifest, &outline(&outline_path), &dir_keys(&root), true);
    // Every lesson names exactly its own visuals, each once.
    for module in &manifest.modules {
        for lesson in &module.lessons {
            let text = std::fs::read_to_string(root.join(&lesson.key)).unwrap();
            for id in &lesson.visuals {
                assert_eq!(text.matches(&format!("[VISUAL: {id}]")).count(), 1, "{id} in {}", lesson.key);
            }
            assert_eq!(text.matches("[VISUAL:").count(), lesson.visuals.len(), "{}", lesson.key);
        }
    }

    let stats = sim_stats(&sim);
    let faults = &stats["injected_by_kind"];
    let server_errors = stat(faults, "internal_server_error") + stat(faults, "service_unavailable");
    assert!(stat(&stats, "injected_failures") > 0, "{stats}");
    assert!(server_errors > 0 && stat(faults, "malformed_body") > 0, "both 5xx and malformed bodies: {stats}");
}

/// A Bedrock endpoint whose lessons are fine and whose visual plans never match the schema.
#[derive(Clone, Default)]
struct BadPlans {
    plan_turns: Arc<AtomicU32>,
    lesson_calls: Arc<AtomicU32>,
}

fn converse_reply(content: Value, stop: &str) -> Response {
    let body = json!({
        "output": {"message": {"role": "assistant", "content": [content]}},
        "stopReason": stop,
        "usage": {"inputTokens": 120, "outputTokens": 80, "totalTokens": 200},
        "metrics": {"latencyMs": 1}
    });
    ([("content-type", "application/json")], body.to_string()).into_response()
}

async fn bad_plans_converse(State(s): State<BadPlans>, body: axum::body::Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if body.get("toolConfig").is_some() {
        s.plan_turns.fetch_add(1, Ordering::SeqCst);
        let tool = body.pointer("/toolConfig/tools/0/toolSpec/name").and_then(Value::as_str).unwrap_or("submit_result");
        // `kind` is not one of the allowed values and the required fields are missing.
        let input = json!({"visuals": [{"index": 1, "kind": "photograph"}]});
        return converse_reply(
            json!({"toolUse": {"toolUseId": "tooluse_bad", "name": tool, "input": input}}),
            "tool_use",
        );
    }
    s.lesson_calls.fetch_add(1, Ordering::SeqCst);
    let lesson = "# Pods and containers\n\nA pod groups containers that share a network namespace.\n\n\
                  [VISUAL: a diagram of a pod holding two containers and a shared volume]\n\n\
                  ## Lifecycle\n\nPods move from Pending to Running.\n\n\
                  [VISUAL: the pod lifecycle from Pending to Running to Succeeded]\n\n\
                  ## Summary\n\nPods are the unit of scheduling.\n\n\
                  [VISUAL: an illustration of a scheduler placing pods on nodes]\n";
    converse_reply(json!({"text": lesson}), "end_turn")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_structured_answer_still_invalid_after_one_repair_fails_the_run_naming_stage_and_lesson() {
    let server = BadPlans::default();
    let app = Router::new().route("/model/{model}/converse", post(bad_plans_converse)).with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serve = tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("outline.yaml"),
        "course:\n  title: Tiny Course\n  description: One module to check failure reports.\n  language: en\n\
         modules:\n  - title: Basics\n    lessons:\n      - title: Intro\n        topics: [Overview]\n  \
         - title: Workloads\n    lessons:\n      - title: Pods and containers\n        topics: [Pods]\n",
    )
    .unwrap();
    let run = hermetic_coursegen(
        dir.path(),
        &["run", "outline.yaml", "--provider", "bedrock", "--modules", "2", "--out", "out"],
        &[("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", format!("http://{addr}"))],
    )
    .await;
    serve.abort();
    run.expect_code(1);
    let err = &run.stderr;
    assert!(err.contains("execution FAILED"), "{err}");
    assert!(err.lines().any(|l| l.trim() == "error: CourseIncomplete"), "{err}");
    let cause = err.lines().find_map(|l| l.trim().strip_prefix("cause: ")).expect("cause line");
    assert!(cause.contains("module 2"), "the cause names the module: {cause}");
    // The module's failure as the Catch recorded it names the stage, the lesson and the repair.
    let failed = err.lines().find_map(|l| l.trim().strip_prefix("failed: module 02: ")).expect("failed module line");
    assert!(failed.starts_with("LessonsMap failed: ModelError"), "{failed}");
    assert!(failed.contains("VisualPlanner"), "{failed}");
    assert!(failed.contains("module 2 lesson 1"), "the failure names the lesson: {failed}");
    assert!(failed.contains("repair"), "{failed}");

    // Only module 2 ran: its lesson was written once, and its plan and its quiz (both
    // structured answers this server spoils) got a first turn and exactly one repair turn each
    // (ModelError is not retried by the state machine).
    assert_eq!(server.lesson_calls.load(Ordering::SeqCst), 1);
    assert_eq!(server.plan_turns.load(Ordering::SeqCst), 4, "a first turn and one repair turn each");
    assert!(dir.path().join("out/tiny-course/lessons/module-02").is_dir(), "the lesson is kept for a rerun");
    assert!(!dir.path().join("out/tiny-course/lessons/module-01").exists(), "module 1 was not selected");
    // The partial book has the lesson, and the manifest lists what is missing.
    assert!(dir.path().join("out/tiny-course/book/index.html").exists(), "the partial book is written");
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/tiny-course/book/manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest.totals.lessons, 1);
    let module = manifest.failures.iter().find(|f| f.kind == "module").expect("a module failure");
    assert_eq!((module.id.as_str(), module.state.as_deref()), ("02", Some("LessonsMap")));
    assert_eq!(module.error.as_deref(), Some("ModelError"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_provider_builds_a_book_against_chat_completions() {
    let sim = bedrock_sim::start(bedrock_sim::Config { seed: 3, ..Default::default() }).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let outline_path = example("kubernetes-devops.yaml");
    let run = hermetic_coursegen(
        dir.path(),
        &["run", outline_path.to_str().unwrap(), "--provider", "openai", "--out", "out", "--json"],
        &[
            ("OPENAI_BASE_URL", format!("{}/v1", sim.endpoint_url())),
            ("OPENAI_API_KEY", "x".to_string()),
            ("OPENAI_MODEL", "llama3.1:8b".to_string()),
        ],
    )
    .await;
    run.expect_code(0);

    let root = dir.path().join("out");
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(root.join(PROJECT).join("book/manifest.json")).unwrap()).unwrap();
    assert_complete_book(&manifest, &outline(&outline_path), &dir_keys(&root), false);
    assert!(manifest.models.contains(&model("openai", "llama3.1:8b")), "{:?}", manifest.models);
    assert!(manifest.usage.input_tokens > 0 && manifest.usage.output_tokens > 0, "{:?}", manifest.usage);
    let stats = sim_stats(&sim);
    assert!(stat(&stats, "chat") > 0, "{stats}");
    assert_eq!(stat(&stats, "converse") + stat(&stats, "invoke"), 0, "no Bedrock call: {stats}");
}
