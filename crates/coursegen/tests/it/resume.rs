//! Ctrl-C in the middle of a run, then the same command again: the second run completes the
//! book and regenerates nothing that had finished.
//!
//! The run goes through a real model client (`--provider bedrock`) against the Bedrock simulator
//! with a fixed latency, so it is slow enough to interrupt at a chosen point, and the
//! simulator's counters say exactly how many model calls the second run made.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::support::{self, example, project_folder_of, snapshot, FileState};
use serde_json::Value;

const INTERRUPTED: i32 = 130;
/// Upper bound for any wait in these tests; they normally take a few seconds.
const PATIENCE: Duration = Duration::from_secs(60);

/// A Bedrock simulator running on its own runtime for the length of a test.
struct Sim {
    sim: bedrock_sim::RunningSim,
    _runtime: tokio::runtime::Runtime,
}

impl Sim {
    fn start(latency_ms: u64) -> Sim {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let config = bedrock_sim::Config { latency_ms, ..bedrock_sim::Config::default() };
        let sim = runtime.block_on(bedrock_sim::start(config)).expect("start the simulator");
        Sim { sim, _runtime: runtime }
    }

    fn addr(&self) -> SocketAddr {
        self.sim.addr()
    }

    fn stats(&self) -> Value {
        let body = http(self.addr(), "GET", "/_sim/stats");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("stats are not JSON ({e}): {body}"))
    }

    fn reset(&self) {
        http(self.addr(), "POST", "/_sim/reset");
        assert_eq!(self.stats()["requests"], 0, "the simulator counters did not reset");
    }

    /// Waits until no request is being answered (those of a killed client included).
    fn wait_idle(&self) {
        let deadline = Instant::now() + PATIENCE;
        while self.stats()["in_flight"] != 0 {
            assert!(Instant::now() < deadline, "the simulator never became idle: {}", self.stats());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A bare HTTP/1.1 exchange; returns the response body.
fn http(addr: SocketAddr, method: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect to the simulator");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read the response");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    assert!(head.starts_with("HTTP/1.1 2"), "{method} {path}: {head}");
    body.to_string()
}

/// `coursegen run` on the English example with Bedrock at the simulator.
fn spawn_run(cwd: &Path, sim: &Sim, log: &str) -> Child {
    let outline = example("kubernetes-devops.yaml");
    let log = std::fs::File::create(cwd.join(log)).unwrap();
    support::command(
        cwd,
        &["run", outline.to_str().unwrap(), "--provider", "bedrock", "--concurrency", "2", "--out", "out", "--json"],
    )
    .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", sim.sim.endpoint_url())
    .env("AWS_REGION", "us-east-1")
    .env("AWS_ACCESS_KEY_ID", "x")
    .env("AWS_SECRET_ACCESS_KEY", "x")
    .env("AWS_EC2_METADATA_DISABLED", "true")
    .env("AWS_CONFIG_FILE", cwd.join("no-aws-config"))
    .env("AWS_SHARED_CREDENTIALS_FILE", cwd.join("no-aws-credentials"))
    .stdout(Stdio::piped())
    .stderr(Stdio::from(log))
    .spawn()
    .expect("start coursegen")
}

fn wait_with_deadline(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().expect("wait for coursegen") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("coursegen did not finish within {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Lesson number of a lesson file `lessons/module-MM/lesson-LL-slug.md[.meta.json]`.
fn lesson_of(path: &str) -> Option<(u32, u32)> {
    let rest = path.strip_prefix("lessons/module-")?;
    let (m, file) = rest.split_once('/')?;
    let l = file.strip_prefix("lesson-")?.get(..2)?;
    Some((m.parse().ok()?, l.parse().ok()?))
}

/// Lesson of a prompt file `prompts/module-MM/lesson-LL/visual-NN.json`.
fn prompt_lesson_of(path: &str) -> Option<(u32, u32)> {
    let rest = path.strip_prefix("prompts/module-")?;
    let mut parts = rest.split('/');
    let m = parts.next()?.parse().ok()?;
    let l = parts.next()?.strip_prefix("lesson-")?.parse().ok()?;
    Some((m, l))
}

fn finished_lessons(course: &Path) -> usize {
    support::files_under(&course.join("lessons")).iter().filter(|f| f.ends_with(".md.meta.json")).count()
}

fn finished_illustrations(course: &Path) -> usize {
    support::files_under(&course.join("images")).iter().filter(|f| f.ends_with(".png.meta.json")).count()
}

/// True when every `[VISUAL: ...]` tag of a lesson already carries a visual id.
fn tags_are_ids(markdown: &str) -> bool {
    markdown.split("[VISUAL:").skip(1).all(|rest| {
        let inner = rest.split(']').next().unwrap_or("").trim();
        let parts: Vec<&str> = inner.split('-').collect();
        parts.len() == 3 && parts.iter().all(|p| p.len() >= 2 && p.chars().all(|c| c.is_ascii_digit()))
    })
}

fn meta_json(state: &FileState) -> Value {
    serde_json::from_slice(&state.bytes).expect("sidecar is JSON")
}

/// Interrupts a run once `ready` says so, runs the same command again, and checks that the
/// second run finishes the book, rewrites none of the finished outputs and makes exactly the
/// model calls for what was left.
fn interrupt_then_resume(ready: impl Fn(&Path) -> bool, what: &str) {
    let sim = Sim::start(150);
    let tmp = tempfile::tempdir().unwrap();
    let course = tmp.path().join("out").join(project_folder_of(&example("kubernetes-devops.yaml")));

    interrupt_first_run(tmp.path(), &sim, &course, ready, what);
    let left = Interrupted::of(snapshot(&course));
    println!(
        "{what}: interrupted with {} lessons written, {} planned ({} partly), {} illustrations finished, {} files",
        left.lessons_written.len(),
        left.lessons_planned.len(),
        left.partly_planned.len(),
        left.illustrations_done,
        left.before.len()
    );

    // Second run: the same command.
    sim.wait_idle();
    sim.reset();
    let second = spawn_run(tmp.path(), &sim, "second.log");
    let output = second.wait_with_output().expect("second run");
    assert_eq!(output.status.code(), Some(0), "log:\n{}", log(tmp.path(), "second.log"));
    let summary: Value = serde_json::from_slice(&output.stdout).expect("--json summary");
    assert_eq!(summary["result"]["lesson_count"], 12, "{summary:#}");
    assert_eq!(summary["result"]["failed"], 0, "{summary:#}");
    let after = snapshot(&course);
    assert!(after.contains_key("book/index.html"));

    let (text_calls, image_calls) = check_second_run_calls(&sim, &course, &summary, &left);
    let unchanged = check_finished_outputs_unchanged(&left, &after);
    check_unplanned_lessons_not_regenerated(&left, &after);
    println!(
        "{what}: {unchanged} finished files checked unchanged; second run: {text_calls} text, {image_calls} image calls"
    );
    assert!(unchanged >= 2 * left.lessons_planned.len(), "too few finished outputs were checked");
}

/// First run: interrupted with SIGINT (Ctrl-C) once `ready` holds; it must exit as interrupted.
fn interrupt_first_run(cwd: &Path, sim: &Sim, course: &Path, ready: impl Fn(&Path) -> bool, what: &str) {
    let mut first = spawn_run(cwd, sim, "first.log");
    let deadline = Instant::now() + PATIENCE;
    while !ready(course) {
        if let Some(status) = first.try_wait().unwrap() {
            panic!("the run ended ({status}) before {what}; log:\n{}", log(cwd, "first.log"));
        }
        assert!(Instant::now() < deadline, "no {what} within {PATIENCE:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    let sent = std::process::Command::new("kill").args(["-INT", &first.id().to_string()]).status().unwrap();
    assert!(sent.success(), "kill -INT failed");
    let status = wait_with_deadline(&mut first);
    assert_eq!(status.code(), Some(INTERRUPTED), "{status}; log:\n{}", log(cwd, "first.log"));
    assert!(log(cwd, "first.log").contains("interrupted"), "{}", log(cwd, "first.log"));
}

/// What the interrupted run left behind.
struct Interrupted {
    /// The course folder when the first run stopped.
    before: BTreeMap<String, FileState>,
    lessons_written: BTreeSet<(u32, u32)>,
    lessons_planned: BTreeSet<(u32, u32)>,
    /// Prompts stored but the plan not yet recorded: the rerun reuses those prompts.
    partly_planned: BTreeSet<(u32, u32)>,
    /// Quizzes stored with their sidecar.
    quizzes_written: u64,
    illustrations_done: u64,
}

impl Interrupted {
    fn of(before: BTreeMap<String, FileState>) -> Interrupted {
        assert!(!before.contains_key("book/index.html"), "the run finished before it was interrupted");
        let lessons_written =
            before.keys().filter(|k| k.ends_with(".md.meta.json")).filter_map(|k| lesson_of(k)).collect();
        let lessons_planned: BTreeSet<(u32, u32)> = before
            .iter()
            .filter(|(k, s)| k.ends_with(".md.meta.json") && meta_json(s).get("visual_plan").is_some())
            .filter_map(|(k, _)| lesson_of(k))
            .collect();
        let partly_planned =
            before.keys().filter_map(|k| prompt_lesson_of(k)).filter(|l| !lessons_planned.contains(l)).collect();
        let illustrations_done = before.keys().filter(|k| k.ends_with(".png.meta.json")).count() as u64;
        let quizzes_written =
            before.keys().filter(|k| k.starts_with("quizzes/") && k.ends_with(".json.meta.json")).count() as u64;
        Interrupted { before, lessons_written, lessons_planned, partly_planned, quizzes_written, illustrations_done }
    }

    /// Whether `path` was a finished output when the first run stopped.
    fn finished(&self, path: &str, state: &FileState) -> bool {
        if let Some(lesson) = lesson_of(path) {
            if path.ends_with(".meta.json") {
                self.lessons_planned.contains(&lesson)
            } else {
                // A planned lesson whose tags were not yet rewritten to ids is rewritten (tags
                // only) by the rerun's VisualPlanner; every other planned lesson stays as it is.
                self.lessons_planned.contains(&lesson) && tags_are_ids(&String::from_utf8_lossy(&state.bytes))
            }
        } else if let Some(lesson) = prompt_lesson_of(path) {
            self.lessons_planned.contains(&lesson)
        } else if path.starts_with("images/") || path.starts_with("quizzes/") {
            let meta = if path.ends_with(".meta.json") { path.to_string() } else { format!("{path}.meta.json") };
            self.before.contains_key(&meta)
        } else {
            path == "course/outline.yaml"
        }
    }
}

/// Model calls of the second run: one per lesson not yet written, one visual plan per lesson
/// not yet planned, one quiz per lesson without one, one image per illustration not yet
/// rendered. Returns (text, image) calls.
fn check_second_run_calls(sim: &Sim, course: &Path, summary: &Value, left: &Interrupted) -> (u64, u64) {
    let stats = sim.stats();
    let text_calls = stats["converse"].as_u64().unwrap();
    let image_calls = stats["invoke"].as_u64().unwrap();
    let lessons = 12u64;
    let expected_text = (lessons - left.lessons_written.len() as u64)
        + (lessons - left.lessons_planned.len() as u64)
        + (lessons - left.quizzes_written);
    assert!(
        (expected_text - left.partly_planned.len() as u64..=expected_text).contains(&text_calls),
        "second run made {text_calls} text calls; expected {expected_text} (stats {stats})"
    );
    assert!(text_calls < 3 * lessons, "the second run redid everything");
    let manifest = support::read_json(&course.join("book/manifest.json"));
    let illustrations =
        manifest["images"].as_array().unwrap().iter().filter(|i| i["kind"] == "illustration").count() as u64;
    assert_eq!(image_calls, illustrations - left.illustrations_done, "image calls of the second run (stats {stats})");
    assert_eq!(summary["model_calls"]["text"].as_u64(), Some(text_calls), "{summary:#}");
    assert_eq!(summary["model_calls"]["image"].as_u64(), Some(image_calls), "{summary:#}");
    assert_eq!(stats["throttled"], 0);
    (text_calls, image_calls)
}

/// Nothing that had finished was rewritten: same bytes, same file (a rewrite renames a new
/// file into place). Returns how many finished files were checked.
fn check_finished_outputs_unchanged(left: &Interrupted, after: &BTreeMap<String, FileState>) -> usize {
    let mut unchanged = 0;
    for (path, state) in &left.before {
        if left.finished(path, state) {
            let now = after.get(path).unwrap_or_else(|| panic!("{path} disappeared"));
            assert!(now == state, "{path} was rewritten by the second run");
            unchanged += 1;
        }
    }
    unchanged
}

/// Lessons written but not yet planned: their text was not regenerated (ContentGen's part of
/// the sidecar is the same); only the planner's additions are new.
fn check_unplanned_lessons_not_regenerated(left: &Interrupted, after: &BTreeMap<String, FileState>) {
    for lesson in left.lessons_written.difference(&left.lessons_planned) {
        let path = left
            .before
            .keys()
            .find(|k| k.ends_with(".md.meta.json") && lesson_of(k) == Some(*lesson))
            .expect("sidecar of a written lesson");
        let (old, new) = (meta_json(&left.before[path]), meta_json(&after[path]));
        for field in ["fingerprint", "stage", "model", "usage", "words"] {
            assert_eq!(old[field], new[field], "{path}: {field} changed, so the lesson was regenerated");
        }
        assert!(new.get("visual_plan").is_some(), "{path} was not planned by the second run");
    }
}

fn log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

#[test]
fn interrupted_after_three_lessons_the_same_command_resumes_without_rewriting_them() {
    interrupt_then_resume(|course| finished_lessons(course) >= 3, "three finished lessons");
}

#[test]
fn interrupted_after_the_first_image_the_same_command_reuses_lessons_plans_and_images() {
    interrupt_then_resume(|course| finished_illustrations(course) >= 1, "a finished illustration");
}
