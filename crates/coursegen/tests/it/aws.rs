//! `coursegen aws` against recorded Step Functions responses (moto has no RedriveExecution):
//! a loopback server answers each operation with the response recorded for it and keeps the
//! requests, so the SDK wiring, the exit codes and what is printed are tested end to end. The
//! whole flow against moto's engine is `tests/aws-cli` (scripts/fidelity.sh).

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

use crate::support::{example, hermetic_command, hermetic_coursegen, Outcome};

const ARN: &str = "arn:aws:states:us-east-1:123456789012:execution:CourseStateMachine-AbC:tiny-course-0123456789ab";

/// The recorded responses, by operation, and the requests received.
#[derive(Clone, Default)]
struct Recorded {
    /// Operations answered with another recorded file (an error, another state): (operation,
    /// file, HTTP status).
    overrides: Arc<Vec<(&'static str, &'static str, u16)>>,
    requests: Arc<Mutex<Vec<(String, Value)>>>,
}

fn recorded(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/redrive").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn answer(State(s): State<Recorded>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let operation = target.rsplit('.').next().unwrap_or("").to_string();
    s.requests.lock().unwrap().push((operation.clone(), serde_json::from_slice(&body).unwrap_or(Value::Null)));
    let (status, file) = match s.overrides.iter().find(|(op, _, _)| *op == operation) {
        Some((_, file, status)) => (StatusCode::from_u16(*status).unwrap(), file.to_string()),
        None => (StatusCode::OK, format!("{operation}.json")),
    };
    (status, [("content-type", "application/x-amz-json-1.0")], recorded(&file)).into_response()
}

/// Serves `recorded` on a loopback port; returns the endpoint URL.
async fn serve(state: Recorded) -> (String, tokio::task::JoinHandle<()>) {
    let app = Router::new().route("/", post(answer)).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), task)
}

fn operations(s: &Recorded) -> Vec<String> {
    s.requests.lock().unwrap().iter().map(|(op, _)| op.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_wait_resumes_the_execution_and_reports_the_redriven_run() {
    let state = Recorded::default();
    let (endpoint, server) = serve(state.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let run = hermetic_coursegen(
        dir.path(),
        &["aws", "redrive", ARN, "--wait", "--poll", "0.05"],
        &[("AWS_ENDPOINT_URL_SFN", endpoint)],
    )
    .await;
    server.abort();
    run.expect_code(0);
    let ops = operations(&state);
    assert_eq!(ops.first().map(String::as_str), Some("RedriveExecution"), "{ops:?}");
    assert!(ops.contains(&"DescribeExecution".into()) && ops.contains(&"GetExecutionHistory".into()), "{ops:?}");
    let requests = state.requests.lock().unwrap().clone();
    assert_eq!(requests[0].1["executionArn"], ARN);
    let history = requests.iter().find(|(op, _)| op == "GetExecutionHistory").unwrap();
    assert_eq!(history.1["includeExecutionData"], true);
    assert!(run.stdout.lines().next() == Some(ARN), "{}", run.stdout);
    assert!(run.stderr.contains("redriven at 2025-12-02T04:35:00Z"), "{}", run.stderr);
    assert!(run.stdout.contains("Succeeded in 121.00s"), "{}", run.stdout);
    assert!(run.stdout.contains("book: 2 modules, 2 lessons, 900 words, 3 images, 0 labs"), "{}", run.stdout);
    assert!(run.stdout.contains("tiny-course/book/index.html"), "{}", run.stdout);
    assert!(!run.stderr.contains("failing state"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redriving_an_execution_that_cannot_be_redriven_fails_with_the_reason_and_what_to_do() {
    let state = Recorded {
        overrides: Arc::new(vec![("RedriveExecution", "ExecutionNotRedrivable.json", 400)]),
        ..Default::default()
    };
    let (endpoint, server) = serve(state.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let run = hermetic_coursegen(dir.path(), &["aws", "redrive", ARN], &[("AWS_ENDPOINT_URL_SFN", endpoint)]).await;
    server.abort();
    run.expect_code(1);
    assert!(run.stderr.contains("ExecutionNotRedrivable"), "{}", run.stderr);
    assert!(run.stderr.contains("cannot be redriven: it is SUCCEEDED"), "{}", run.stderr);
    assert!(run.stderr.contains("coursegen aws start"), "{}", run.stderr);
    assert_eq!(operations(&state), ["RedriveExecution"], "no retry of a refusal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_with_a_bad_outline_or_the_upload_folder_exits_2_and_calls_no_aws_service() {
    let state = Recorded::default();
    let (endpoint, server) = serve(state.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "course:\n  title: \"\"\nmodules: []\n").unwrap();
    let env = [
        ("AWS_ENDPOINT_URL_SFN", endpoint.clone()),
        ("AWS_ENDPOINT_URL_S3", endpoint.clone()),
        ("AWS_ENDPOINT_URL_CLOUDFORMATION", endpoint),
    ];
    let bad = hermetic_coursegen(dir.path(), &["aws", "start", "bad.yaml", "--stack", "coursegen"], &env).await;
    let outline = example("kubernetes-devops.yaml");
    let bad_modules = hermetic_coursegen(
        dir.path(),
        &["aws", "start", outline.to_str().unwrap(), "--stack", "coursegen", "--modules", "9"],
        &env,
    )
    .await;
    let reserved = hermetic_coursegen(
        dir.path(),
        &["aws", "start", outline.to_str().unwrap(), "--stack", "coursegen", "--project", "incoming"],
        &env,
    )
    .await;
    server.abort();
    reserved.expect_code(2);
    assert!(reserved.stderr.contains("start by upload"), "{}", reserved.stderr);
    bad.expect_code(2);
    assert!(
        bad.stderr.contains("bad.yaml") && bad.stderr.contains("nothing was uploaded or started"),
        "{}",
        bad.stderr
    );
    bad_modules.expect_code(2);
    assert!(bad_modules.stderr.contains("modules"), "{}", bad_modules.stderr);
    assert!(operations(&state).is_empty(), "no request before the outline is valid: {:?}", operations(&state));
    assert!(bad.stdout.is_empty() && bad_modules.stdout.is_empty() && reserved.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_watching_with_130_and_never_stops_the_execution() {
    let state = Recorded {
        overrides: Arc::new(vec![("DescribeExecution", "DescribeExecution-running.json", 200)]),
        ..Default::default()
    };
    let (endpoint, server) = serve(state.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut child =
        hermetic_command(dir.path(), &["aws", "watch", ARN, "--poll", "0.05"], &[("AWS_ENDPOINT_URL_SFN", endpoint)])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn coursegen");
    // A second DescribeExecution means the first poll is over: the Ctrl-C handler is in place.
    while operations(&state).iter().filter(|op| *op == "DescribeExecution").count() < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(child.try_wait().unwrap().is_none(), "coursegen ended before Ctrl-C");
    }
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill").args(["-INT", &pid]).status().expect("kill -INT");
    assert!(killed.success());
    let run: Outcome = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap().into();
    server.abort();
    run.expect_code(130);
    assert!(run.stderr.contains("stopped watching; the execution goes on"), "{}", run.stderr);
    let ops = operations(&state);
    assert!(ops.iter().all(|op| op == "DescribeExecution" || op == "GetExecutionHistory"), "{ops:?}");
    // The progress shows the module that was running, stamped with the history's own times.
    assert!(run.stderr.contains("[   0.50s] PrepareCourse started"), "{}", run.stderr);
    assert!(run.stderr.contains("module 2: ContentGen started"), "{}", run.stderr);
}
