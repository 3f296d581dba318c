//! Helpers of the provider tests: the `coursegen` binary run with a hermetic environment, an
//! S3-compatible server (s3s-fs over hyper) and the simulator's counters, all on loopback.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::config::{Credentials, Region, SharedCredentialsProvider};
use coursegen_core::contracts::Manifest;
use coursegen_core::Outline;
use serde_json::Value;

/// The fake access key of every client and server in these tests.
pub const ACCESS_KEY: &str = "AKIDPROVIDERTESTS";
/// The fake secret key of every client and server in these tests.
pub const SECRET_KEY: &str = "provider-tests-secret";

/// The example course with both theory and labs.
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name)
}

/// The parsed outline at `path`.
pub fn outline(path: &Path) -> Outline {
    coursegen_core::parse_outline(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The result of one `coursegen` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with both streams unless the run exited with `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "exit code\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }

    /// The `--json` summary printed on stdout.
    pub fn summary(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("summary is not JSON ({e}):\n{}", self.stdout))
    }
}

/// `coursegen ARGS` in `dir` with nothing from the caller's environment but `env`, fake static
/// credentials, region us-east-1, and no profile files or instance metadata to fall back on.
/// Runs on the blocking pool so the in-process servers keep answering.
pub async fn coursegen(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coursegen"));
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
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run coursegen")).await.unwrap();
    Run::from(out)
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
