//! Helpers shared by the CLI integration tests: running the real `coursegen` binary in a
//! temporary directory (with the host's provider variables removed, or with a hermetic
//! environment for the provider tests), generating outlines, reading the store layout and
//! execution histories, and an S3-compatible server with the simulator's counters on loopback.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::config::{Credentials, Region, SharedCredentialsProvider};
use coursegen_core::contracts::Manifest;
use coursegen_core::Outline;
use serde_json::Value;

/// The `coursegen` binary built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_coursegen");

/// Variables that would make a run depend on the machine it runs on.
const HOST_VARIABLES: &[&str] = &[
    "COURSEGEN_PROVIDER",
    "COURSEGEN_LOG",
    "COURSEGEN_PRICES",
    "TEXT_MODEL_ID",
    "IMAGE_MODEL_ID",
    "BEDROCK_RPM",
    "BEDROCK_TPM",
    "BEDROCK_MAX_CONCURRENCY",
    "BEDROCK_IMAGE_RPM",
    "BEDROCK_IMAGE_MAX_CONCURRENCY",
    "MODEL_DEADLINE_SECONDS",
    "MODEL_ATTEMPT_TIMEOUT_SECONDS",
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
    "OPENAI_MODEL",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
    "AWS_ENDPOINT_URL_S3",
];

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// An example outline by file name (`kubernetes-devops.yaml`).
pub fn example(name: &str) -> PathBuf {
    repo_root().join("examples").join(name)
}

/// The course definition file.
pub fn course_definition() -> PathBuf {
    repo_root().join("statemachine/course.asl.json")
}

/// What a finished `coursegen` process left behind.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// stdout parsed as one JSON document (fails the test when it is anything else).
    pub fn stdout_json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("stdout is not one JSON document ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr)
        })
    }

    /// Panics with both streams unless the exit code is `expected`.
    pub fn expect_code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code, expected,
            "exit code {} (expected {expected})\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

/// A `coursegen` command in `cwd` with a clean environment (offline provider).
pub fn command(cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(cwd).stdin(Stdio::null());
    for var in HOST_VARIABLES {
        cmd.env_remove(var);
    }
    cmd
}

impl From<Output> for Outcome {
    fn from(out: Output) -> Self {
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs `coursegen ARGS` in `cwd` and waits for it.
pub fn coursegen(cwd: &Path, args: &[&str]) -> Outcome {
    command(cwd, args).output().expect("run the coursegen binary").into()
}

/// Every file under `dir`, as `/`-separated paths relative to `dir`, sorted. Empty when `dir`
/// does not exist.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                out.push(rel.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/"));
            }
        }
    }
    out.sort();
    out
}

/// Files under `dir` that are outputs (not sidecars, not temporary files).
pub fn outputs_under(dir: &Path) -> Vec<String> {
    files_under(dir).into_iter().filter(|f| !f.ends_with(".meta.json") && !is_temporary(f)).collect()
}

/// A store temporary file (`.tmp-PID-N`), left behind only by an interrupted write.
pub fn is_temporary(path: &str) -> bool {
    path.rsplit('/').next().is_some_and(|name| name.starts_with(".tmp-"))
}

/// True when `dir` is absent or holds nothing at all.
pub fn is_absent_or_empty(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Reads a history file written with `--history`.
pub fn read_history(path: &Path) -> Vec<Value> {
    match read_json(path) {
        Value::Array(events) => events,
        other => panic!("history is not an array: {other}"),
    }
}

/// Events of `event_type` for `state` in a history, in event order.
pub fn events<'a>(history: &'a [Value], event_type: &str, state: &str) -> Vec<&'a Value> {
    history.iter().filter(|e| e["type"] == event_type && e["stateName"] == state).collect()
}

/// Lab activities and lessons per module of a parsed outline file.
pub struct OutlineCounts {
    pub modules: usize,
    pub lessons_per_module: Vec<usize>,
    pub labs: usize,
    pub language: String,
}

impl OutlineCounts {
    pub fn of(path: &Path) -> OutlineCounts {
        let text = std::fs::read_to_string(path).expect("read outline");
        let outline = coursegen_core::parse_outline(&text).expect("valid outline");
        OutlineCounts {
            modules: outline.modules.len(),
            lessons_per_module: outline.modules.iter().map(|m| m.lessons.len()).collect(),
            labs: outline.modules.iter().flat_map(|m| &m.lessons).map(|l| l.lab_activities.len()).sum(),
            language: outline.course.language.code().to_string(),
        }
    }

    pub fn lessons(&self) -> usize {
        self.lessons_per_module.iter().sum()
    }
}

/// The default project folder of an outline (where `run` puts its course).
pub fn project_folder_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read outline");
    let outline = coursegen_core::parse_outline(&text).expect("valid outline");
    coursegen_core::default_project_folder(&outline)
}

/// A title of exactly `len` characters that starts with `prefix`.
pub fn title_of_len(prefix: &str, len: usize) -> String {
    const FILLER: &str = " with practical patterns, trade-offs and worked production examples";
    let mut t = prefix.to_string();
    for c in FILLER.chars().cycle() {
        if t.chars().count() >= len {
            break;
        }
        t.push(c);
    }
    t.trim_end().to_string()
}

/// A generated outline: `modules` modules of `lessons` lessons each, titles of about
/// `title_len` characters, two topics per lesson and `labs_per_lesson` lab activities.
pub fn outline_yaml(title: &str, modules: u32, lessons: u32, labs_per_lesson: u32, title_len: usize) -> String {
    let mut y = String::new();
    y.push_str(&format!("course:\n  title: {title}\n  language: en\n  level: intermediate\nmodules:\n"));
    for m in 1..=modules {
        y.push_str(&format!("  - title: \"{}\"\n    lessons:\n", title_of_len(&format!("Module {m} —"), title_len)));
        for l in 1..=lessons {
            y.push_str(&format!("      - title: \"{}\"\n", title_of_len(&format!("Lesson {m}.{l}"), title_len)));
            y.push_str(&format!("        topics: [\"Topic {m}.{l}.a\", \"Topic {m}.{l}.b\"]\n"));
            if labs_per_lesson > 0 {
                y.push_str("        lab_activities:\n");
                for k in 1..=labs_per_lesson {
                    y.push_str(&format!("          - \"Lab {m}.{l}.{k}: practise what the lesson shows\"\n"));
                }
            }
        }
    }
    y
}

/// The largest serialized size of any state input or output (and of the execution input and
/// output) recorded in a history.
pub fn largest_payload(history: &[Value]) -> (usize, String) {
    let mut best = (0usize, String::new());
    for e in history {
        for field in ["input", "output"] {
            if let Some(v) = e["details"].get(field) {
                let size = match v {
                    // A history may store payloads as JSON text, as GetExecutionHistory does.
                    Value::String(s) => s.len(),
                    other => serde_json::to_string(other).map(|s| s.len()).unwrap_or(0),
                };
                if size > best.0 {
                    let state = e["stateName"].as_str().unwrap_or("(execution)");
                    best = (size, format!("{} {field} of {state}", e["type"].as_str().unwrap_or("?")));
                }
            }
        }
    }
    best
}

/// For one Map state in a history: how many iterations started before the first one
/// finished, and the largest number in flight at once (from the events alone).
pub fn map_waves(history: &[Value], map_state: &str) -> (usize, usize) {
    let mut in_flight = 0usize;
    let mut peak = 0usize;
    let mut before_first_finish = None;
    let mut started = 0usize;
    for e in history.iter().filter(|e| e["stateName"] == map_state) {
        match e["type"].as_str() {
            Some("MapIterationStarted") => {
                started += 1;
                in_flight += 1;
                peak = peak.max(in_flight);
            }
            Some("MapIterationSucceeded" | "MapIterationFailed" | "MapIterationAborted") => {
                before_first_finish.get_or_insert(started);
                in_flight = in_flight.saturating_sub(1);
            }
            _ => {}
        }
    }
    (before_first_finish.unwrap_or(started), peak)
}

/// File bytes by relative path for every file under `dir` (temporary files excluded).
pub fn snapshot(dir: &Path) -> BTreeMap<String, FileState> {
    files_under(dir)
        .into_iter()
        .filter(|f| !is_temporary(f))
        .map(|f| {
            let state = FileState::of(&dir.join(&f));
            (f, state)
        })
        .collect()
}

/// A file's bytes and identity. The store writes a temporary file and renames it into place,
/// so a rewritten file gets a new inode even when its bytes are the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    pub bytes: Vec<u8>,
    pub inode: u64,
    pub modified: std::time::SystemTime,
}

impl FileState {
    pub fn of(path: &Path) -> FileState {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("stat {}: {e}", path.display()));
        FileState {
            bytes: std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())),
            inode: meta.ino(),
            modified: meta.modified().expect("modification time"),
        }
    }
}

/// The fake access key of every client and server in these tests.
pub const ACCESS_KEY: &str = "AKIDPROVIDERTESTS";
/// The fake secret key of every client and server in these tests.
pub const SECRET_KEY: &str = "provider-tests-secret";

/// The parsed outline at `path`.
pub fn outline(path: &Path) -> Outline {
    coursegen_core::parse_outline(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `coursegen ARGS` in `dir` with nothing from the caller's environment but `env`, fake static
/// credentials, region us-east-1, and no profile files or instance metadata to fall back on.
/// Runs on the blocking pool so the in-process servers keep answering.
pub async fn hermetic_coursegen(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Outcome {
    let mut cmd = hermetic_command(dir, args, env);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run coursegen")).await.unwrap();
    out.into()
}

/// The command [`hermetic_coursegen`] runs, to spawn it instead.
pub fn hermetic_command(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .args(args)
        .env_clear()
        .env("HOME", dir)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-aws-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("COURSEGEN_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// `GET path` on a loopback HTTP/1.0 server; the body as JSON.
pub fn get_json(addr: SocketAddr, path: &str) -> Value {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP body in {raw:?}"));
    assert!(head.starts_with("HTTP/1.") && head.contains(" 200 "), "{head}");
    serde_json::from_str(body).unwrap()
}

/// The simulator's counters (`GET /_sim/stats`).
pub fn sim_stats(sim: &bedrock_sim::RunningSim) -> Value {
    get_json(sim.addr(), "/_sim/stats")
}

/// A counter of the simulator's stats.
pub fn stat(stats: &Value, name: &str) -> u64 {
    stats[name].as_u64().unwrap_or_else(|| panic!("no counter {name} in {stats}"))
}

/// An S3-compatible server (s3s-fs over a temporary directory) on a free loopback port, with
/// An S3-compatible server on loopback (see the `s3-local` crate).
pub struct S3Server {
    /// Keeps the server running while the tests use it.
    _server: s3_local::LocalS3,
    pub endpoint: String,
    pub bucket: String,
}

impl S3Server {
    pub async fn start(bucket: &str) -> Self {
        let inner = s3_local::LocalS3::start(bucket, ACCESS_KEY, SECRET_KEY).await.unwrap();
        Self { endpoint: inner.endpoint().to_string(), bucket: bucket.to_string(), _server: inner }
    }

    /// An independent S3 client (path-style, fake credentials) for checking what was written.
    pub fn client(&self) -> aws_sdk_s3::Client {
        let sdk: SdkConfig = SdkConfig::builder()
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                ACCESS_KEY,
                SECRET_KEY,
                None,
                None,
                "provider-tests",
            )))
            .behavior_version(BehaviorVersion::latest())
            .http_client(coursegen_aws::sdk::http_client())
            .build();
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build())
    }

    /// Every key in the bucket (ListObjectsV2, all pages).
    pub async fn keys(&self) -> BTreeSet<String> {
        let client = self.client();
        let mut keys = BTreeSet::new();
        let mut pages = client.list_objects_v2().bucket(&self.bucket).max_keys(100).into_paginator().send();
        while let Some(page) = pages.next().await {
            for object in page.unwrap().contents() {
                keys.insert(object.key().unwrap().to_string());
            }
        }
        keys
    }

    /// One object's bytes.
    pub async fn get(&self, key: &str) -> Vec<u8> {
        let out = self.client().get_object().bucket(&self.bucket).key(key).send().await.unwrap();
        out.body.collect().await.unwrap().into_bytes().to_vec()
    }
}

/// Every key under the directory store `root`, `/`-separated like the bucket's.
pub fn dir_keys(root: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap();
                out.insert(rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"));
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

/// The outputs (not sidecar metadata) among `keys` under `{project}/{folder}/`.
pub fn outputs(keys: &BTreeSet<String>, project: &str, folder: &str) -> BTreeSet<String> {
    let prefix = format!("{project}/{folder}/");
    keys.iter().filter(|k| k.starts_with(&prefix) && !k.ends_with(".meta.json")).cloned().collect()
}

/// Checks that `manifest` describes a complete book of `outline` whose every file is among
/// `keys`, with nothing missing or duplicated: the lessons, images and lab guides in the store
/// are exactly those the manifest lists, and every lesson has as many images as visuals.
pub fn assert_complete_book(manifest: &Manifest, outline: &Outline, keys: &BTreeSet<String>, labs: bool) {
    let project = manifest.project_folder.as_str();
    assert!(manifest.failures.is_empty(), "failures: {:?}", manifest.failures);
    for key in ["book/index.html", "book/course.epub", "book/course.md", "book/manifest.json"] {
        assert!(keys.contains(&format!("{project}/{key}")), "{project}/{key} is missing");
    }

    let expected_lessons: usize = outline.modules.iter().map(|m| m.lessons.len()).sum();
    let lessons: Vec<&str> = manifest.modules.iter().flat_map(|m| &m.lessons).map(|l| l.key.as_str()).collect();
    assert_eq!(manifest.modules.len(), outline.modules.len());
    assert_eq!(lessons.len(), expected_lessons);
    assert_eq!(manifest.totals.lessons as usize, expected_lessons);
    let lesson_set: BTreeSet<String> = lessons.iter().map(|k| k.to_string()).collect();
    assert_eq!(lesson_set.len(), lessons.len(), "a lesson is listed twice");
    assert_eq!(outputs(keys, project, "lessons"), lesson_set, "lessons in the store vs the manifest");

    let image_set: BTreeSet<String> = manifest.images.iter().map(|i| i.key.clone()).collect();
    let image_ids: BTreeSet<&str> = manifest.images.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(image_set.len(), manifest.images.len(), "an image key is listed twice");
    assert_eq!(image_ids.len(), manifest.images.len(), "an image id is listed twice");
    assert!(!image_set.is_empty());
    assert_eq!(outputs(keys, project, "images"), image_set, "images in the store vs the manifest");
    assert_eq!(manifest.totals.images as usize, image_set.len());
    for module in &manifest.modules {
        for lesson in &module.lessons {
            let prefix = format!("{:02}-{:02}-", module.module_number, lesson.lesson_number);
            let expected: Vec<String> = (1..=lesson.visuals.len()).map(|n| format!("{prefix}{n:02}")).collect();
            assert!(!lesson.visuals.is_empty(), "{} has no visuals", lesson.key);
            assert_eq!(lesson.visuals, expected, "visual ids of {}", lesson.key);
            let images = image_ids.iter().filter(|id| id.starts_with(&prefix)).count();
            assert_eq!(images, lesson.visuals.len(), "images of {}", lesson.key);
        }
    }

    let expected_labs: usize = outline.modules.iter().flat_map(|m| &m.lessons).map(|l| l.lab_activities.len()).sum();
    let lab_set: BTreeSet<String> = manifest.labs.iter().map(|l| l.key.clone()).collect();
    let lab_ids: BTreeSet<&str> = manifest.labs.iter().map(|l| l.lab_id.as_str()).collect();
    let stored_labs: BTreeSet<String> =
        outputs(keys, project, "labs").into_iter().filter(|k| k.ends_with(".md")).collect();
    if labs {
        assert!(expected_labs > 0);
        assert_eq!(manifest.labs.len(), expected_labs);
        assert_eq!(lab_set.len(), expected_labs, "a lab key is listed twice");
        assert_eq!(lab_ids.len(), expected_labs, "a lab id is listed twice");
        assert_eq!(manifest.totals.labs as usize, expected_labs);
    } else {
        assert!(manifest.labs.is_empty());
    }
    assert_eq!(stored_labs, lab_set, "lab guides in the store vs the manifest");
}
