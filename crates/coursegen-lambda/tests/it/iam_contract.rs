//! # The IAM contract of the stage functions
//!
//! Proves that each function in `template.yaml` may do on AWS everything its stage really does,
//! and nothing more than that except the grants listed in [`ALLOWED`] with their reason.
//!
//! 1. **Record.** For every scenario in [`SCENARIOS`] (Provider bedrock with an inference
//!    profile or a foundation model, openai with and without a key secret, offline, bedrock with
//!    a leftover secret) the seven handlers run in workflow order through
//!    `coursegen_stages::invoke`: a theory, a labs and a both course; a forced re-run of the
//!    both course in which the model plans every visual as the other kind and writes one visual
//!    fewer (ImagesGen deletes the superseded image and its sidecar, VisualPlanner deletes the
//!    stale prompt); and a request whose outline does not exist. The store is a memory store
//!    wrapped in a recorder. Each function's models are built by `coursegen_lambda::deps_for`,
//!    the code the functions run at start-up, from the environment the template gives that
//!    function, with a recording `ModelBuilder`: which function reads the API key secret is
//!    what the real wiring does. Every store call, model call (and its draw on the shared budget in
//!    `QUOTA_TABLE`) and secret read becomes the IAM
//!    action and resource it needs ([`needs_of`]).
//! 2. **Evaluate the template** for the scenario's parameters ([`cfn`]: the intrinsics the
//!    template uses) and collect each function's statements from its `Policies` ([`iam`]).
//! 3. **Check** (a) every recorded need is allowed to its function ([`missing_grants`]) and
//!    (b) every grant reaches only resources its stage was seen to use ([`grants_beyond_use`]):
//!    each granted pattern is matched against everything any stage touched in any scenario
//!    (object keys compared by shape: project folder and numbers generalised) plus probes (other
//!    regions, models, secrets, buckets). S3 needs count across scenarios (a bucket outlives a
//!    parameter change); model and secret needs count only in their scenario.
//!
//! Reading a failure:
//! - `S: F lacks ACTION on RESOURCE (why)`: under scenario S the function F would fail with
//!   AccessDenied doing that. Grant it in F's `Policies`.
//! - `F is granted ACTION on PATTERN by SOURCE, reaching RESOURCE, which its stage was never seen
//!   to use [scenarios]`: RESOURCE is one example of what the grant reaches (a key of another
//!   stage, another region, another model). Narrow or remove the grant; if the recording misses a
//!   real use, add a run that does it; list it in [`ALLOWED`] only with a reason.
//! - `ALLOWED[i] ... explains nothing any more`: the template no longer grants it; remove it.
//! - A panic naming a stage: the recorded pipeline itself broke (read the stage's error).
//!
//! SAM's implicit grants (logs, X-Ray) are not in the template text and are not checked.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use coursegen_aws::config::{ModelBuilder, ProviderConfig};
use coursegen_core::contracts::{
    BookBuilderOutput, ContentGenOutput, ImagesGenOutput, LabPlannerOutput, LabWriterOutput, PrepareCourseOutput,
    VisualPlannerOutput,
};
use coursegen_core::{
    keys, BlobStore, ContentType, ImageModel, ImageRequest, ImageResponse, MemStore, ModelId, StageResult, TextModel,
    TextRequest, TextResponse, TextTask,
};
use coursegen_stages::offline::OfflineText;
use coursegen_stages::{Deps, Stage};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use cfn::Stack;
use iam::{Effect, Need};

/// The key secret the openai scenarios name (the scheme Secrets Manager uses, with its suffix).
const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:coursegen-openai-AbCdEf";

/// One set of stack parameters (the rest keep their defaults).
#[derive(Debug)]
struct Scenario {
    name: &'static str,
    params: &'static [(&'static str, &'static str)],
}

const PROFILE: &str = "bedrock, inference profile";
const FOUNDATION: &str = "bedrock, foundation model";
const OPENAI_SECRET: &str = "openai with a key secret";
const LEFTOVER_SECRET: &str = "bedrock with a leftover key secret";

const SCENARIOS: [Scenario; 6] = [
    Scenario {
        name: PROFILE,
        params: &[("Provider", "bedrock"), ("TextModelId", "us.anthropic.claude-sonnet-4-20250514-v1:0")],
    },
    Scenario { name: FOUNDATION, params: &[("Provider", "bedrock"), ("TextModelId", "amazon.nova-pro-v1:0")] },
    Scenario { name: OPENAI_SECRET, params: &[("Provider", "openai"), ("OpenAiApiKeySecretArn", SECRET)] },
    Scenario { name: "openai without a secret", params: &[("Provider", "openai")] },
    Scenario { name: "offline", params: &[("Provider", "offline")] },
    Scenario { name: LEFTOVER_SECRET, params: &[("Provider", "bedrock"), ("OpenAiApiKeySecretArn", SECRET)] },
];

/// A grant beyond what was recorded that the template keeps on purpose.
struct Allowance {
    /// The function's logical id, or `*` for any.
    function: &'static str,
    action: &'static str,
    /// IAM-style pattern over the resource the grant reaches; `{bucket}` is the course bucket.
    resource: &'static str,
    /// Scenarios it applies to; empty for all.
    scenarios: &'static [&'static str],
    reason: &'static str,
}

const ALLOWED: &[Allowance] = &[
    Allowance {
        function: "*",
        action: "s3:GetObject",
        resource: "arn:aws:s3:::{bucket}/*",
        scenarios: &[],
        reason: "Reads stay bucket-wide: the outline is read from whatever key the request names (any key of \
                 the course bucket), and stages read the sidecars and outputs of the others. Reading changes \
                 nothing; writes and deletes are scoped per stage.",
    },
    Allowance {
        function: "*",
        action: "bedrock:InvokeModel",
        resource: "arn:aws:bedrock:*::foundation-model/*",
        scenarios: &[PROFILE, LEFTOVER_SECRET],
        reason: "A cross-region inference profile sends each request to its foundation model in one of the \
                 profile's regions, chosen by Bedrock, and the profile gains regions over time: the foundation \
                 model is granted in every region. The profile itself is granted exactly.",
    },
];

// ------------------------------------------------------------------------------------------
// The recording
// ------------------------------------------------------------------------------------------

mod record {
    use super::*;

    /// Where a model call goes.
    #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
    pub enum Endpoint {
        Bedrock { model_id: String },
        OpenAi { base_url: String },
    }

    /// One thing a stage did outside its own process.
    #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
    pub enum Op {
        Get {
            key: String,
            found: bool,
        },
        Put {
            key: String,
            if_absent: bool,
        },
        List {
            prefix: String,
        },
        Delete {
            key: String,
        },
        Text {
            endpoint: Endpoint,
        },
        Image {
            endpoint: Endpoint,
        },
        ReadSecret {
            arn: String,
        },
        /// A model call drew on the shared budget in the quota table (`QUOTA_TABLE`).
        QuotaTable {
            table: String,
        },
    }

    /// Everything recorded, in order, with the stage that did it.
    #[derive(Default)]
    pub struct Log(Mutex<Vec<(Stage, Op)>>);

    impl Log {
        pub fn push(&self, stage: Stage, op: Op) {
            self.0.lock().unwrap().push((stage, op));
        }
        pub fn take(&self) -> Vec<(Stage, Op)> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    /// Every [`BlobStore`] method of one function, recorded and passed to the shared memory store.
    pub struct RecordingStore {
        pub inner: Arc<MemStore>,
        pub stage: Stage,
        pub log: Arc<Log>,
    }

    #[async_trait]
    impl BlobStore for RecordingStore {
        async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> StageResult<()> {
            self.log.push(self.stage, Op::Put { key: key.into(), if_absent: false });
            self.inner.put(key, body, content_type).await
        }
        async fn put_if_absent(&self, key: &str, body: Vec<u8>, content_type: &str) -> StageResult<bool> {
            self.log.push(self.stage, Op::Put { key: key.into(), if_absent: true });
            self.inner.put_if_absent(key, body, content_type).await
        }
        async fn get(&self, key: &str) -> StageResult<Option<Vec<u8>>> {
            let got = self.inner.get(key).await?;
            self.log.push(self.stage, Op::Get { key: key.into(), found: got.is_some() });
            Ok(got)
        }
        async fn list(&self, prefix: &str) -> StageResult<Vec<String>> {
            self.log.push(self.stage, Op::List { prefix: prefix.into() });
            self.inner.list(prefix).await
        }
        async fn delete(&self, key: &str) -> StageResult<()> {
            self.log.push(self.stage, Op::Delete { key: key.into() });
            self.inner.delete(key).await
        }
        fn describe(&self) -> String {
            format!("recording {}", self.inner.describe())
        }
    }

    /// Whether the text models "change their mind" (the forced re-run).
    #[derive(Default)]
    pub struct Mind {
        pub changed: AtomicBool,
    }

    /// A text model that records its calls and answers like the offline provider; after a
    /// change of mind it plans every visual as the other kind and writes lesson 2 with one
    /// visual fewer.
    pub struct RecordingText {
        pub stage: Stage,
        pub endpoint: Endpoint,
        pub model: String,
        pub log: Arc<Log>,
        pub mind: Arc<Mind>,
        /// The quota table each call draws on, as the real model's governor does.
        pub quota_table: Option<String>,
    }

    /// The table a model's calls draw on: `QUOTA_TABLE`, when its budget has any bucket (the
    /// governor asks the table only then, `coursegen_aws::quota::Quota::acquire`).
    pub fn quota_table_of(cfg: &ProviderConfig, quota: &coursegen_aws::quota::QuotaConfig) -> Option<String> {
        let budgeted = quota.requests_per_minute.is_some() || quota.tokens_per_minute.is_some();
        cfg.quota_table.clone().filter(|_| budgeted)
    }

    #[async_trait]
    impl TextModel for RecordingText {
        fn id(&self) -> ModelId {
            let provider = match self.endpoint {
                Endpoint::Bedrock { .. } => "bedrock",
                Endpoint::OpenAi { .. } => "openai",
            };
            ModelId { provider: provider.into(), model: self.model.clone() }
        }
        async fn generate(&self, request: &TextRequest) -> StageResult<TextResponse> {
            if let Some(table) = &self.quota_table {
                self.log.push(self.stage, Op::QuotaTable { table: table.clone() });
            }
            self.log.push(self.stage, Op::Text { endpoint: self.endpoint.clone() });
            let mut answer = OfflineText.generate(request).await?;
            if !self.mind.changed.load(Ordering::SeqCst) {
                return Ok(answer);
            }
            match request.task {
                TextTask::VisualPlan => {
                    let mut plan = answer.structured.take().expect("offline visual plans are structured");
                    for v in plan["visuals"].as_array_mut().expect("a visual list") {
                        let other = if v["kind"] == "diagram" { "illustration" } else { "diagram" };
                        v["kind"] = json!(other);
                    }
                    answer.text = serde_json::to_string_pretty(&plan).unwrap();
                    answer.structured = Some(plan);
                }
                TextTask::Lesson if request.subject.ends_with("lesson 2") => {
                    let start = answer.text.rfind("[VISUAL:").expect("offline lessons have visuals");
                    let end = start + answer.text[start..].find(']').expect("a closed tag") + 1;
                    answer.text.replace_range(start..end, "");
                }
                _ => {}
            }
            Ok(answer)
        }
    }

    /// A 1×1 PNG: what the Bedrock image models return.
    const PNG: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00,
        0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D,
        0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ];

    /// An image model that records its calls and returns a PNG (so a visual that changes kind
    /// changes extension, as with Bedrock).
    pub struct RecordingImage {
        pub stage: Stage,
        pub model_id: String,
        pub log: Arc<Log>,
        pub quota_table: Option<String>,
    }

    #[async_trait]
    impl ImageModel for RecordingImage {
        fn id(&self) -> ModelId {
            ModelId { provider: "bedrock".into(), model: self.model_id.clone() }
        }
        async fn generate(&self, _request: &ImageRequest) -> StageResult<ImageResponse> {
            if let Some(table) = &self.quota_table {
                self.log.push(self.stage, Op::QuotaTable { table: table.clone() });
            }
            self.log.push(self.stage, Op::Image { endpoint: Endpoint::Bedrock { model_id: self.model_id.clone() } });
            Ok(ImageResponse { bytes: PNG.to_vec(), content_type: "image/png".into(), extension: "png".into() })
        }
    }

    /// The [`ModelBuilder`] one function's start-up uses, recording what it asks for.
    pub struct RecordingBuilder {
        pub stage: Stage,
        pub log: Arc<Log>,
        pub mind: Arc<Mind>,
    }

    #[async_trait]
    impl ModelBuilder for RecordingBuilder {
        async fn read_api_key_secret(&self, arn: &str) -> StageResult<String> {
            self.log.push(self.stage, Op::ReadSecret { arn: arn.into() });
            Ok("sk-recorded".into())
        }
        async fn bedrock_text(&self, cfg: &ProviderConfig) -> StageResult<Arc<dyn TextModel>> {
            Ok(Arc::new(RecordingText {
                stage: self.stage,
                endpoint: Endpoint::Bedrock { model_id: cfg.text_model_id.clone() },
                model: cfg.text_model_id.clone(),
                log: self.log.clone(),
                mind: self.mind.clone(),
                quota_table: quota_table_of(cfg, &cfg.text_quota),
            }))
        }
        async fn openai_text(&self, cfg: &ProviderConfig, _key: Option<String>) -> StageResult<Arc<dyn TextModel>> {
            Ok(Arc::new(RecordingText {
                stage: self.stage,
                endpoint: Endpoint::OpenAi { base_url: cfg.openai.base_url.clone() },
                model: cfg.openai.model.clone(),
                log: self.log.clone(),
                mind: self.mind.clone(),
                quota_table: quota_table_of(cfg, &cfg.text_quota),
            }))
        }
        async fn bedrock_image(&self, cfg: &ProviderConfig, model_id: &str) -> StageResult<Arc<dyn ImageModel>> {
            Ok(Arc::new(RecordingImage {
                stage: self.stage,
                model_id: model_id.into(),
                log: self.log.clone(),
                quota_table: quota_table_of(cfg, &cfg.image_quota),
            }))
        }
    }
}

use record::{Endpoint, Op};

/// What one scenario recorded.
struct Recording {
    scenario: &'static Scenario,
    bucket: String,
    ops: Vec<(Stage, Op)>,
    /// Per stage name: each need with why it is needed.
    needs: BTreeMap<&'static str, BTreeMap<Need, String>>,
}

impl Recording {
    fn ops_of(&self, stage: Stage) -> impl Iterator<Item = &Op> {
        self.ops.iter().filter(move |(s, _)| *s == stage).map(|(_, op)| op)
    }
}

/// The regions a cross-region inference profile routes to, by geography prefix: the ones the
/// scenarios use (the template grants every region, see [`ALLOWED`]).
const PROFILE_ROUTES: &[(&str, &[&str])] = &[("us", &["us-east-1", "us-east-2", "us-west-2"])];

/// The resources one `bedrock:InvokeModel` call of `model_id` needs: the foundation model in the
/// function's region, or the inference profile there and its foundation model in every region
/// the profile routes to.
fn bedrock_resources(model_id: &str) -> Vec<(String, String)> {
    let geo = model_id.split('.').next().unwrap_or("");
    let profile_geos = ["us", "eu", "apac", "global", "us-gov", "jp", "au", "ca"];
    if !profile_geos.contains(&geo) {
        return vec![(
            format!("arn:aws:bedrock:{}::foundation-model/{model_id}", cfn::REGION),
            format!("invoke the model {model_id}"),
        )];
    }
    let base = &model_id[geo.len() + 1..];
    let regions = PROFILE_ROUTES
        .iter()
        .find(|(g, _)| *g == geo)
        .unwrap_or_else(|| panic!("add the regions the {geo} profiles route to, to PROFILE_ROUTES"))
        .1;
    let mut out = vec![(
        format!("arn:aws:bedrock:{}:{}:inference-profile/{model_id}", cfn::REGION, cfn::ACCOUNT),
        format!("invoke through the inference profile {model_id}"),
    )];
    for r in regions {
        out.push((
            format!("arn:aws:bedrock:{r}::foundation-model/{base}"),
            format!("the profile {model_id} invokes {base} in {r}"),
        ));
    }
    out
}

/// The IAM actions and resources one recorded operation needs on AWS. The S3 store
/// (`coursegen-aws/src/s3.rs`) calls GetObject, PutObject (also for the conditional put),
/// ListObjectsV2 and DeleteObject; text models call Converse (permission `bedrock:InvokeModel`),
/// image models InvokeModel; the secret is read with GetSecretValue; the shared budget
/// (`coursegen-aws/src/dynamo.rs`) is read with GetItem and taken from and refunded with
/// UpdateItem (two buckets at once inside TransactWriteItems, which needs no other permission).
fn needs_of(op: &Op, bucket: &str) -> Vec<(Need, String)> {
    let object = |key: &str| format!("arn:aws:s3:::{bucket}/{key}");
    let need = |action: &str, resource: String, why: &str| (Need::new(action, resource), why.to_string());
    match op {
        Op::Get { key, found: true } => vec![need("s3:GetObject", object(key), "read an object")],
        Op::Get { key, found: false } => vec![
            need("s3:GetObject", object(key), "read a key that does not exist (yet)"),
            need(
                "s3:ListBucket",
                format!("arn:aws:s3:::{bucket}"),
                "S3 answers GetObject of a missing key with 404 only to a caller that may list the bucket, \
                 else 403 AccessDenied",
            ),
        ],
        Op::Put { key, if_absent: false } => vec![need("s3:PutObject", object(key), "write an object")],
        Op::Put { key, if_absent: true } => {
            vec![need("s3:PutObject", object(key), "write an object if absent (a conditional PutObject)")]
        }
        Op::List { .. } => {
            vec![need("s3:ListBucket", format!("arn:aws:s3:::{bucket}"), "list a prefix (ListObjectsV2)")]
        }
        Op::Delete { key } => vec![need("s3:DeleteObject", object(key), "delete an object")],
        Op::Text { endpoint: Endpoint::Bedrock { model_id } }
        | Op::Image { endpoint: Endpoint::Bedrock { model_id } } => {
            bedrock_resources(model_id).into_iter().map(|(r, why)| (Need::new("bedrock:InvokeModel", r), why)).collect()
        }
        // An OpenAI-compatible endpoint is outside AWS: no IAM.
        Op::Text { endpoint: Endpoint::OpenAi { .. } } | Op::Image { endpoint: Endpoint::OpenAi { .. } } => vec![],
        Op::ReadSecret { arn } => {
            vec![need("secretsmanager:GetSecretValue", arn.clone(), "read the API key secret at start-up")]
        }
        Op::QuotaTable { table } => {
            let arn = format!("arn:aws:dynamodb:{}:{}:table/{table}", cfn::REGION, cfn::ACCOUNT);
            vec![
                need("dynamodb:GetItem", arn.clone(), "read the model's budget buckets before a call"),
                need(
                    "dynamodb:UpdateItem",
                    arn,
                    "take from the budget before a call and refund the unused tokens after",
                ),
            ]
        }
    }
}

/// An outline of two modules of two lessons (the second with three topics, so it has four
/// visuals and can lose one), each lesson with a lab.
fn outline_yaml() -> String {
    let mut y = String::from(
        "course:\n  title: IAM Contract Course\n  description: A course that exercises every stage.\n  language: en\n  \
         level: intermediate\n  audience: [Platform engineers]\n  prerequisites: [A shell]\n  \
         learning_outcomes: [Ship a service]\nmodules:\n",
    );
    for m in 1..=2 {
        y.push_str(&format!(
            "  - title: Module {m} Foundations\n    summary: What module {m} covers.\n    duration_minutes: 60\n    \
             bloom_level: Understand\n    lessons:\n"
        ));
        for l in 1..=2 {
            y.push_str(&format!(
                "      - title: Lesson {l} of module {m}\n        duration_minutes: 30\n        bloom_level: Apply\n        \
                 topics:\n          - Topic A of {m}.{l}\n          - Topic B of {m}.{l}\n"
            ));
            if l == 2 {
                y.push_str(&format!("          - Topic C of {m}.{l}\n"));
            }
            y.push_str(&format!(
                "        lab_activities:\n          - {{title: \"Hands-on {m}.{l}\", duration_minutes: 45}}\n"
            ));
        }
    }
    y
}

/// The functions of one stack: their stage's dependencies, as each function builds them.
type Functions = HashMap<Stage, Deps>;

async fn call<T: DeserializeOwned>(fns: &Functions, stage: Stage, payload: Value) -> T {
    let out = coursegen_stages::invoke(stage, payload.clone(), &fns[&stage])
        .await
        .unwrap_or_else(|e| panic!("{stage} failed on {payload}: {e}"));
    serde_json::from_value(out).unwrap_or_else(|e| panic!("{stage} output does not decode: {e}"))
}

/// One execution, stage by stage as the workflow runs them.
async fn execute(fns: &Functions, project: &str, content_type: &str, force: bool) {
    let request = json!({"project_folder": project, "modules_to_generate": "all", "content_type": content_type,
        "force": force});
    let course: PrepareCourseOutput = call(fns, Stage::PrepareCourse, request).await;
    let (p, o) = (&course.project_folder, &course.outline_key);
    let (mut lesson_keys, mut image_mappings, mut lab_keys) = (Vec::new(), Vec::new(), Vec::new());
    if matches!(course.content_type, ContentType::Theory | ContentType::Both) {
        for module in &course.modules {
            let m = module.module_number;
            let content: ContentGenOutput = call(
                fns,
                Stage::ContentGen,
                json!({"project_folder": p, "outline_key": o, "module_number": m, "force": force}),
            )
            .await;
            let mut prompt_keys = Vec::new();
            for lesson in &content.lessons {
                let input = json!({"project_folder": p, "module_number": m, "lesson_number": lesson.lesson_number,
                    "lesson_key": lesson.key, "force": force});
                let plan: VisualPlannerOutput = call(fns, Stage::VisualPlanner, input).await;
                prompt_keys.extend(plan.prompt_keys);
            }
            let input = json!({"project_folder": p, "module_number": m, "prompt_keys": prompt_keys, "force": force});
            let images: ImagesGenOutput = call(fns, Stage::ImagesGen, input).await;
            lesson_keys.extend(content.lesson_keys);
            image_mappings.push(images.image_mappings);
        }
    }
    if matches!(course.content_type, ContentType::Labs | ContentType::Both) {
        let input = json!({"project_folder": p, "outline_key": o, "modules": course.module_numbers, "force": force});
        let plan: LabPlannerOutput = call(fns, Stage::LabPlanner, input).await;
        for lab_id in &plan.lab_ids {
            let input = json!({"project_folder": p, "plan_key": plan.plan_key, "lab_id": lab_id, "force": force});
            let lab: LabWriterOutput = call(fns, Stage::LabWriter, input).await;
            lab_keys.push(lab.lab_key);
        }
    }
    let input = json!({"project_folder": p, "outline_key": o, "content_type": course.content_type,
        "module_numbers": course.module_numbers, "all_lesson_keys": lesson_keys,
        "all_image_mappings": image_mappings, "lab_keys": lab_keys});
    let book: BookBuilderOutput = call(fns, Stage::BookBuilder, input).await;
    assert_eq!(book.failed, 0, "{project} ({content_type}): the book lists failures");
}

/// Function logical id -> the stage its `Handler` names.
fn function_stages(stack: &Stack) -> BTreeMap<String, Stage> {
    let global = stack.template["Globals"]["Function"]["Handler"].as_str();
    let out: BTreeMap<String, Stage> = stack
        .resources()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(id, r)| {
            let handler = r["Properties"]["Handler"].as_str().or(global);
            let stage = coursegen_lambda::stage_from_handler(handler).unwrap_or_else(|e| panic!("{id}: {e}"));
            (id.clone(), stage)
        })
        .collect();
    let stages: Vec<Stage> = out.values().copied().collect();
    for s in Stage::ALL {
        assert_eq!(stages.iter().filter(|x| **x == s).count(), 1, "exactly one function serves {s}: {out:?}");
    }
    out
}

/// The environment the template gives a function: Globals, then the function's own variables.
fn function_env(stack: &Stack, id: &str) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let own = &stack.resources()[id]["Properties"]["Environment"]["Variables"];
    for vars in [&stack.template["Globals"]["Function"]["Environment"]["Variables"], own] {
        if vars.is_null() {
            continue;
        }
        let vars = stack.eval(vars).unwrap_or_else(|e| panic!("{id} environment: {e}")).unwrap_or(Value::Null);
        for (k, v) in vars.as_object().into_iter().flatten() {
            env.insert(k.clone(), cfn::scalar_text(v));
        }
    }
    env
}

async fn record_scenario(template: &Value, scenario: &'static Scenario) -> Recording {
    let stack = Stack::new(template, scenario.params).unwrap_or_else(|e| panic!("{}: {e}", scenario.name));
    let mem = Arc::new(MemStore::new());
    let log = Arc::new(record::Log::default());
    let mind = Arc::new(record::Mind::default());
    let mut fns = Functions::new();
    let mut bucket = String::new();
    for (id, stage) in function_stages(&stack) {
        let env = function_env(&stack, &id);
        bucket = env.get("COURSE_BUCKET").cloned().unwrap_or_else(|| panic!("{id} has no COURSE_BUCKET"));
        let cfg = ProviderConfig::from_lookup(|k| env.get(k).cloned()).unwrap_or_else(|e| panic!("{id}: {e}"));
        let store = Arc::new(record::RecordingStore { inner: mem.clone(), stage, log: log.clone() });
        let builder = record::RecordingBuilder { stage, log: log.clone(), mind: mind.clone() };
        let deps = coursegen_lambda::deps_for(stage, store, &cfg, &builder)
            .await
            .unwrap_or_else(|e| panic!("{}: {id} does not start: {e}", scenario.name));
        fns.insert(stage, deps);
    }
    let outline = outline_yaml();
    for (project, content_type) in [("theory-course", "theory"), ("labs-course", "labs"), ("both-course", "both")] {
        // The user uploads the outline; no function does.
        mem.put(&keys::outline_key(project), outline.clone().into_bytes(), "application/yaml").await.unwrap();
        execute(&fns, project, content_type, false).await;
    }
    // The model changes its mind: every visual becomes the other kind, lesson 2 loses one.
    mind.changed.store(true, Ordering::SeqCst);
    execute(&fns, "both-course", "both", true).await;
    // A request for a course whose outline was never uploaded.
    let missing = json!({"project_folder": "missing-course", "content_type": "theory"});
    let err = coursegen_stages::invoke(Stage::PrepareCourse, missing, &fns[&Stage::PrepareCourse]).await.unwrap_err();
    assert_eq!(err.error_type(), "MissingInput", "{err}");

    let ops = log.take();
    let mut needs: BTreeMap<&'static str, BTreeMap<Need, String>> = BTreeMap::new();
    for (stage, op) in &ops {
        for (need, why) in needs_of(op, &bucket) {
            needs.entry(stage.name()).or_default().entry(need).or_insert(why);
        }
    }
    Recording { scenario, bucket, ops, needs }
}

fn template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(cfn::load_template)
}

/// Every scenario recorded once per test process.
fn recordings() -> &'static [Recording] {
    static RECORDINGS: OnceLock<Vec<Recording>> = OnceLock::new();
    RECORDINGS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let mut out = Vec::new();
            for scenario in &SCENARIOS {
                out.push(record_scenario(template(), scenario).await);
            }
            out
        })
    })
}

fn recording(name: &str) -> &'static Recording {
    recordings().iter().find(|r| r.scenario.name == name).unwrap()
}

/// Why the checker cannot evaluate the template or read a policy: the message names the
/// parameter, resource, intrinsic or statement it stopped at.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct CheckError(String);

impl From<String> for CheckError {
    fn from(message: String) -> Self {
        CheckError(message)
    }
}

impl From<&str> for CheckError {
    fn from(message: &str) -> Self {
        CheckError(message.to_string())
    }
}

// ------------------------------------------------------------------------------------------
// The template: CloudFormation intrinsics
// ------------------------------------------------------------------------------------------

mod cfn {
    use std::collections::BTreeMap;

    use serde_json::{json, Map, Value};

    use super::CheckError;

    pub const PARTITION: &str = "aws";
    pub const REGION: &str = "us-east-1";
    pub const ACCOUNT: &str = "123456789012";
    pub const STACK: &str = "coursegen";

    /// `template.yaml` as JSON, each short tag (`!Ref x`) in its long form (`{"Ref": x}`).
    pub fn load_template() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        to_json(yaml)
    }

    fn to_json(v: serde_yaml_ng::Value) -> Value {
        use serde_yaml_ng::Value as Y;
        match v {
            Y::Null => Value::Null,
            Y::Bool(b) => Value::Bool(b),
            Y::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => json!(i),
                (_, Some(u), _) => json!(u),
                (_, _, f) => json!(f),
            },
            Y::String(s) => Value::String(s),
            Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
            Y::Mapping(m) => {
                Value::Object(m.into_iter().map(|(k, v)| (scalar_text(&to_json(k)), to_json(v))).collect())
            }
            Y::Tagged(t) => {
                let tag = t.tag.to_string();
                let name = tag.trim_start_matches('!');
                let key = match name {
                    "Ref" | "Condition" => name.to_string(),
                    other => format!("Fn::{other}"),
                };
                let mut m = Map::new();
                m.insert(key, to_json(t.value));
                Value::Object(m)
            }
        }
    }

    /// A scalar as it reads in a string context (`10`, `true`, `text`; null is empty).
    pub fn scalar_text(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    }

    /// The physical id a resource gets (what `Ref` returns for it).
    fn physical_id(id: &str, ty: &str) -> String {
        match ty {
            "AWS::S3::Bucket" => format!("{STACK}-{}", id.to_ascii_lowercase()),
            "AWS::IAM::ManagedPolicy" => format!("arn:{PARTITION}:iam::{ACCOUNT}:policy/{id}"),
            _ => format!("{STACK}-{id}"),
        }
    }

    /// The template under one set of parameter values.
    pub struct Stack<'t> {
        pub template: &'t Value,
        params: BTreeMap<String, String>,
    }

    impl<'t> Stack<'t> {
        pub fn new(template: &'t Value, overrides: &[(&str, &str)]) -> Result<Self, CheckError> {
            let declared = template["Parameters"].as_object().ok_or("the template has no Parameters")?;
            let mut params = BTreeMap::new();
            for (name, decl) in declared {
                if let Some(d) = decl.get("Default") {
                    params.insert(name.clone(), scalar_text(d));
                }
            }
            for (name, value) in overrides {
                let decl =
                    declared.get(*name).ok_or_else(|| CheckError(format!("the template has no parameter {name}")))?;
                if let Some(allowed) = decl["AllowedValues"].as_array() {
                    if !allowed.iter().any(|a| scalar_text(a) == *value) {
                        return Err(format!("{name}={value:?} is not one of its AllowedValues").into());
                    }
                }
                params.insert(name.to_string(), value.to_string());
            }
            if let Some(name) = declared.keys().find(|n| !params.contains_key(*n)) {
                return Err(format!("parameter {name} has no Default and no value").into());
            }
            Ok(Stack { template, params })
        }

        pub fn resources(&self) -> &'t Map<String, Value> {
            self.template["Resources"].as_object().expect("the template has Resources")
        }

        pub fn resource_type(&self, id: &str) -> Option<&'t str> {
            self.resources().get(id)?.get("Type")?.as_str()
        }

        /// Whether a resource exists for these parameters (no `Condition`, or it holds).
        pub fn resource_exists(&self, id: &str) -> Result<bool, CheckError> {
            match self.resources().get(id).and_then(|r| r.get("Condition")).and_then(Value::as_str) {
                Some(c) => self.condition(c),
                None => Ok(true),
            }
        }

        pub fn condition(&self, name: &str) -> Result<bool, CheckError> {
            let c = self.template["Conditions"].get(name).ok_or_else(|| CheckError(format!("no condition {name}")))?;
            self.boolean(c).map_err(|e| CheckError(format!("condition {name}: {e}")))
        }

        /// Evaluate every intrinsic in `v`; `None` is `AWS::NoValue` (dropped from lists and maps).
        pub fn eval(&self, v: &Value) -> Result<Option<Value>, CheckError> {
            match v {
                Value::Array(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        if let Some(x) = self.eval(item)? {
                            out.push(x);
                        }
                    }
                    Ok(Some(Value::Array(out)))
                }
                Value::Object(m) if m.len() == 1 => {
                    let (k, arg) = m.iter().next().unwrap();
                    if k == "Ref" || k.starts_with("Fn::") || (k == "Condition" && arg.is_string()) {
                        self.intrinsic(k, arg)
                    } else {
                        self.eval_map(m)
                    }
                }
                Value::Object(m) => self.eval_map(m),
                other => Ok(Some(other.clone())),
            }
        }

        fn eval_map(&self, m: &Map<String, Value>) -> Result<Option<Value>, CheckError> {
            let mut out = Map::new();
            for (k, v) in m {
                if let Some(x) = self.eval(v)? {
                    out.insert(k.clone(), x);
                }
            }
            Ok(Some(Value::Object(out)))
        }

        fn value(&self, v: &Value) -> Result<Value, CheckError> {
            self.eval(v)?.ok_or_else(|| CheckError(format!("AWS::NoValue where a value is needed: {v}")))
        }

        fn text(&self, v: &Value) -> Result<String, CheckError> {
            match self.value(v)? {
                Value::String(s) => Ok(s),
                n @ Value::Number(_) => Ok(n.to_string()),
                other => Err(format!("expected a string, got {other}").into()),
            }
        }

        fn boolean(&self, v: &Value) -> Result<bool, CheckError> {
            match self.value(v)? {
                Value::Bool(b) => Ok(b),
                other => Err(format!("expected a boolean, got {other}").into()),
            }
        }

        fn args<'a>(name: &str, arg: &'a Value, n: usize) -> Result<&'a [Value], CheckError> {
            arg.as_array()
                .filter(|a| a.len() == n)
                .map(Vec::as_slice)
                .ok_or_else(|| CheckError(format!("{name} takes a list of {n}, got {arg}")))
        }

        fn intrinsic(&self, name: &str, arg: &Value) -> Result<Option<Value>, CheckError> {
            let string = |s: String| Ok(Some(Value::String(s)));
            let boolean = |b: bool| Ok(Some(Value::Bool(b)));
            match name {
                "Ref" => self.reference(arg.as_str().ok_or_else(|| CheckError(format!("Ref of {arg}")))?),
                "Condition" => boolean(self.condition(arg.as_str().unwrap_or_default())?),
                "Fn::If" => {
                    let a = Self::args(name, arg, 3)?;
                    let c = a[0].as_str().ok_or_else(|| CheckError(format!("Fn::If names its condition: {arg}")))?;
                    if self.condition(c)? {
                        self.eval(&a[1])
                    } else {
                        self.eval(&a[2])
                    }
                }
                "Fn::Equals" => {
                    let a = Self::args(name, arg, 2)?;
                    boolean(scalar_text(&self.value(&a[0])?) == scalar_text(&self.value(&a[1])?))
                }
                "Fn::Not" => boolean(!self.boolean(&Self::args(name, arg, 1)?[0])?),
                "Fn::Or" | "Fn::And" => {
                    let items = arg.as_array().ok_or_else(|| CheckError(format!("{name} takes a list")))?;
                    let values = items.iter().map(|i| self.boolean(i)).collect::<Result<Vec<bool>, CheckError>>()?;
                    boolean(if name == "Fn::Or" { values.contains(&true) } else { !values.contains(&false) })
                }
                "Fn::Select" => {
                    let a = Self::args(name, arg, 2)?;
                    let i: usize =
                        self.text(&a[0])?.parse().map_err(|e| CheckError(format!("Fn::Select index: {e}")))?;
                    let list = self.value(&a[1])?;
                    let list = list.as_array().ok_or("Fn::Select from a non-list")?;
                    let item =
                        list.get(i).ok_or_else(|| CheckError(format!("Fn::Select {i} of {} items", list.len())))?;
                    Ok(Some(item.clone()))
                }
                "Fn::Split" => {
                    let a = Self::args(name, arg, 2)?;
                    let (sep, s) = (self.text(&a[0])?, self.text(&a[1])?);
                    Ok(Some(Value::Array(s.split(sep.as_str()).map(|p| Value::String(p.into())).collect())))
                }
                "Fn::Join" => {
                    let a = Self::args(name, arg, 2)?;
                    let sep = self.text(&a[0])?;
                    let list = self.value(&a[1])?;
                    let parts = list.as_array().ok_or("Fn::Join of a non-list")?;
                    let parts = parts
                        .iter()
                        .map(|p| p.as_str().map(str::to_string).ok_or_else(|| CheckError(format!("Fn::Join of {p}"))))
                        .collect::<Result<Vec<String>, CheckError>>()?;
                    string(parts.join(&sep))
                }
                "Fn::GetAtt" => {
                    let (id, attr) = match arg {
                        Value::String(s) => s.split_once('.').ok_or_else(|| CheckError(format!("Fn::GetAtt {s}")))?,
                        Value::Array(a) if a.len() == 2 => {
                            (a[0].as_str().unwrap_or_default(), a[1].as_str().unwrap_or_default())
                        }
                        other => return Err(format!("Fn::GetAtt {other}").into()),
                    };
                    string(self.get_att(id, attr)?)
                }
                "Fn::Sub" => match arg {
                    Value::String(s) => string(self.sub(s, &Map::new())?),
                    Value::Array(a) if a.len() == 2 => {
                        let vars = self.value(&a[1])?;
                        let vars = vars.as_object().ok_or("Fn::Sub variables must be a map")?;
                        string(self.sub(a[0].as_str().ok_or("Fn::Sub template")?, vars)?)
                    }
                    other => Err(format!("Fn::Sub {other}").into()),
                },
                other => Err(format!("{other} is not supported by this checker: teach cfn::Stack::intrinsic").into()),
            }
        }

        fn reference(&self, name: &str) -> Result<Option<Value>, CheckError> {
            let string = |s: String| Ok(Some(Value::String(s)));
            match name {
                "AWS::NoValue" => Ok(None),
                "AWS::Region" => string(REGION.into()),
                "AWS::AccountId" => string(ACCOUNT.into()),
                "AWS::Partition" => string(PARTITION.into()),
                "AWS::StackName" => string(STACK.into()),
                "AWS::URLSuffix" => string("amazonaws.com".into()),
                _ if self.params.contains_key(name) => string(self.params[name].clone()),
                _ => match self.resource_type(name) {
                    Some(ty) if self.resource_exists(name)? => string(physical_id(name, ty)),
                    Some(_) => Err(format!("Ref {name}: its Condition is false for these parameters").into()),
                    None => Err(format!("Ref {name}: no such parameter or resource").into()),
                },
            }
        }

        fn get_att(&self, id: &str, attr: &str) -> Result<String, CheckError> {
            let ty =
                self.resource_type(id).ok_or_else(|| CheckError(format!("GetAtt {id}.{attr}: no such resource")))?;
            let name = physical_id(id, ty);
            Ok(match (ty, attr) {
                ("AWS::S3::Bucket", "Arn") => format!("arn:{PARTITION}:s3:::{name}"),
                ("AWS::Serverless::Function", "Arn") => {
                    format!("arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{name}")
                }
                ("AWS::Logs::LogGroup", "Arn") => format!("arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"),
                ("AWS::DynamoDB::Table", "Arn") => format!("arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{name}"),
                _ => return Err(format!("GetAtt {id}.{attr} ({ty}) is not supported by this checker").into()),
            })
        }

        fn sub(&self, template: &str, vars: &Map<String, Value>) -> Result<String, CheckError> {
            let mut out = String::new();
            let mut rest = template;
            while let Some(i) = rest.find("${") {
                out.push_str(&rest[..i]);
                let after = &rest[i + 2..];
                let end =
                    after.find('}').ok_or_else(|| CheckError(format!("Fn::Sub {template:?}: unclosed variable")))?;
                let name = &after[..end];
                if let Some(literal) = name.strip_prefix('!') {
                    out.push_str(&format!("${{{literal}}}"));
                } else if let Some(v) = vars.get(name) {
                    out.push_str(&scalar_text(v));
                } else if let Some((id, attr)) = name.split_once('.') {
                    out.push_str(&self.get_att(id, attr)?);
                } else {
                    let v = self
                        .reference(name)?
                        .ok_or_else(|| CheckError(format!("Fn::Sub {template:?}: {name} is NoValue")))?;
                    out.push_str(&scalar_text(&v));
                }
                rest = &after[end + 1..];
            }
            out.push_str(rest);
            Ok(out)
        }
    }
}

// ------------------------------------------------------------------------------------------
// IAM: statements, matching, the two checks
// ------------------------------------------------------------------------------------------

mod iam {
    use super::cfn::{self, Stack};
    use super::CheckError;
    use serde_json::Value;

    /// An action on a resource.
    #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
    pub struct Need {
        pub action: String,
        pub resource: String,
    }

    impl Need {
        pub fn new(action: &str, resource: String) -> Need {
            Need { action: action.to_string(), resource }
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Effect {
        Allow,
        Deny,
    }

    /// One policy statement, evaluated.
    #[derive(Debug, Clone)]
    pub struct Statement {
        pub effect: Effect,
        pub actions: Vec<String>,
        pub resources: Vec<String>,
        /// Carries an IAM `Condition`: may not apply, so it never counts as granting.
        pub conditional: bool,
        /// A policy whose content this checker cannot see: grants nothing it can verify.
        pub opaque: bool,
        /// Where it comes from: `Policy/Sid`.
        pub source: String,
    }

    impl Statement {
        fn opaque(source: String) -> Statement {
            Statement {
                effect: Effect::Allow,
                actions: vec!["*".into()],
                resources: vec!["*".into()],
                conditional: false,
                opaque: true,
                source,
            }
        }

        pub fn covers(&self, action: &str, resource: &str) -> bool {
            self.actions.iter().any(|a| glob(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
                && self.resources.iter().any(|r| glob(r, resource))
        }
    }

    /// IAM wildcard matching: `*` any run of characters (`/` and `:` included), `?` one.
    pub fn glob(pattern: &str, text: &str) -> bool {
        let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
        let (mut pi, mut ti) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
                pi += 1;
                ti += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some((pi, ti));
                pi += 1;
            } else if let Some((sp, st)) = star {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|c| *c == '*')
    }

    /// Whether `statements` allow `action` on `resource` (an explicit deny wins).
    pub fn allows(statements: &[Statement], action: &str, resource: &str) -> bool {
        let denied = statements.iter().any(|s| s.effect == Effect::Deny && s.covers(action, resource));
        !denied
            && statements
                .iter()
                .any(|s| s.effect == Effect::Allow && !s.conditional && !s.opaque && s.covers(action, resource))
    }

    fn strings(v: &Value, what: &str) -> Result<Vec<String>, CheckError> {
        match v {
            Value::String(s) => Ok(vec![s.clone()]),
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().map(str::to_string).ok_or_else(|| CheckError(format!("{what}: {x}"))))
                .collect(),
            other => Err(format!("{what}: {other}").into()),
        }
    }

    fn statements(doc: &Value, source: &str) -> Result<Vec<Statement>, CheckError> {
        let list = match &doc["Statement"] {
            Value::Array(a) => a.clone(),
            s @ Value::Object(_) => vec![s.clone()],
            other => return Err(format!("{source}: Statement is {other}").into()),
        };
        let mut out = Vec::new();
        for (i, s) in list.iter().enumerate() {
            for unsupported in ["NotAction", "NotResource", "NotPrincipal"] {
                if s.get(unsupported).is_some() {
                    return Err(format!("{source}: {unsupported} is not supported by this checker").into());
                }
            }
            let effect = match s["Effect"].as_str() {
                Some("Allow") => Effect::Allow,
                Some("Deny") => Effect::Deny,
                other => return Err(format!("{source}: Effect {other:?}").into()),
            };
            let sid = s["Sid"].as_str().map(str::to_string).unwrap_or_else(|| format!("Statement[{i}]"));
            out.push(Statement {
                effect,
                actions: strings(&s["Action"], &format!("{source}/{sid} Action"))?,
                resources: strings(&s["Resource"], &format!("{source}/{sid} Resource"))?,
                conditional: s.get("Condition").is_some(),
                opaque: false,
                source: format!("{source}/{sid}"),
            });
        }
        Ok(out)
    }

    /// The statements resource `id`'s `Policies` grant under `stack`'s parameters: managed
    /// policies of the template by `Ref`, inline policy documents, and the SAM policy templates
    /// this checker knows (LambdaInvokePolicy); anything else is an opaque grant.
    pub fn policies_of(stack: &Stack, id: &str) -> Result<Vec<Statement>, CheckError> {
        let props = &stack.resources()[id]["Properties"];
        if props.get("Role").is_some() {
            return Err(format!("{id} names its own Role: this checker reads only Policies").into());
        }
        let Some(policies) = props.get("Policies") else { return Ok(Vec::new()) };
        let items = match stack.eval(policies).map_err(|e| CheckError(format!("{id} Policies: {e}")))? {
            Some(Value::Array(a)) => a,
            Some(one) => vec![one],
            None => Vec::new(),
        };
        let policy_prefix = format!("arn:{}:iam::{}:policy/", cfn::PARTITION, cfn::ACCOUNT);
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(arn) => {
                    match arn
                        .strip_prefix(&policy_prefix)
                        .filter(|p| stack.resource_type(p) == Some("AWS::IAM::ManagedPolicy"))
                    {
                        Some(policy) => {
                            let doc = stack
                                .eval(&stack.resources()[policy]["Properties"]["PolicyDocument"])
                                .map_err(|e| CheckError(format!("{policy}: {e}")))?
                                .unwrap_or(Value::Null);
                            out.extend(statements(&doc, policy)?);
                        }
                        None => out.push(Statement::opaque(format!("managed policy {arn} (contents unknown here)"))),
                    }
                }
                Value::Object(m) if m.contains_key("Statement") => {
                    out.extend(statements(item, &format!("{id}.Policies[{i}]"))?);
                }
                Value::Object(m) if m.len() == 1 => {
                    let (name, args) = m.iter().next().unwrap();
                    let source = format!("{id}.Policies[{i}] {name}");
                    match name.as_str() {
                        "LambdaInvokePolicy" => {
                            let f = args["FunctionName"]
                                .as_str()
                                .ok_or_else(|| CheckError(format!("{source}: FunctionName")))?;
                            let arn =
                                format!("arn:{}:lambda:{}:{}:function:{f}", cfn::PARTITION, cfn::REGION, cfn::ACCOUNT);
                            out.push(Statement {
                                effect: Effect::Allow,
                                actions: vec!["lambda:InvokeFunction".into()],
                                resources: vec![arn.clone(), format!("{arn}:*")],
                                conditional: false,
                                opaque: false,
                                source,
                            });
                        }
                        _ => out.push(Statement::opaque(format!("{source} (SAM policy template unknown here)"))),
                    }
                }
                other => return Err(format!("{id}.Policies[{i}]: unexpected {other}").into()),
            }
        }
        Ok(out)
    }
}

/// A recorded need its function is not granted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Missing {
    scenario: &'static str,
    function: String,
    action: String,
    resource: String,
    why: String,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} lacks {} on {} ({})", self.scenario, self.function, self.action, self.resource, self.why)
    }
}

/// A grant that reaches a resource its function's stage was never seen to use.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Excess {
    scenario: &'static str,
    function: String,
    action: String,
    granted: String,
    /// The resource reached (an example of its shape), or the granted pattern when it reaches
    /// nothing anyone uses.
    resource: String,
    source: String,
}

impl std::fmt::Display for Excess {
    /// Without the scenario: [`excess_report`] lists the scenarios of each line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is granted {} on {} by {}, reaching {}, which its stage was never seen to use",
            self.function, self.action, self.granted, self.source, self.resource
        )
    }
}

/// (a) Every recorded need of every function, checked against its statements.
fn missing_grants(template: &Value, rec: &Recording) -> Vec<Missing> {
    let stack = Stack::new(template, rec.scenario.params).unwrap();
    let mut out = Vec::new();
    for (function, stage) in function_stages(&stack) {
        let statements = iam::policies_of(&stack, &function).unwrap_or_else(|e| panic!("{}: {e}", rec.scenario.name));
        for (need, why) in rec.needs.get(stage.name()).into_iter().flatten() {
            if !iam::allows(&statements, &need.action, &need.resource) {
                out.push(Missing {
                    scenario: rec.scenario.name,
                    function: function.clone(),
                    action: need.action.clone(),
                    resource: need.resource.clone(),
                    why: format!("{stage}: {why}"),
                });
            }
        }
    }
    out
}

fn is_s3(resource: &str) -> bool {
    resource.starts_with("arn:aws:s3:::")
}

/// An object ARN with its project folder and every number generalised, so that what a stage
/// did to one lesson, visual or module stands for all of them. Other ARNs stay as they are.
fn shape(resource: &str) -> String {
    let Some((bucket, key)) = resource.strip_prefix("arn:aws:s3:::").and_then(|r| r.split_once('/')) else {
        return resource.to_string();
    };
    let rest = key.split_once('/').map_or(key, |(_, rest)| rest);
    let mut generalised = String::with_capacity(rest.len());
    for c in rest.chars() {
        if !c.is_ascii_digit() {
            generalised.push(c);
        } else if !generalised.ends_with('#') {
            generalised.push('#');
        }
    }
    format!("arn:aws:s3:::{bucket}/{{project}}/{generalised}")
}

/// Whether `action` applies to `resource`'s type (object-level S3 actions to objects, bucket
/// listing to the bucket, each service to its own ARNs).
fn reaches(action: &str, resource: &str) -> bool {
    let service = action.split(':').next().unwrap_or("").to_ascii_lowercase();
    match service.as_str() {
        "s3" if action.eq_ignore_ascii_case("s3:ListBucket") => is_s3(resource) && !resource.contains('/'),
        "s3" => is_s3(resource) && resource.contains('/'),
        other => resource.starts_with(&format!("arn:aws:{other}:")),
    }
}

/// Everything any stage touched in any scenario, one example per shape, plus probes that no
/// grant should reach: other regions of the models used, other models, secrets and buckets.
fn universe(recs: &[Recording]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut add = |r: String| {
        out.entry(shape(&r)).or_insert(r);
    };
    for rec in recs {
        for needs in rec.needs.values() {
            for need in needs.keys() {
                add(need.resource.clone());
                if let Some((_, model)) = need.resource.split_once("::foundation-model/") {
                    for region in ["us-west-1", "eu-west-1", "ap-southeast-2"] {
                        add(format!("arn:aws:bedrock:{region}::foundation-model/{model}"));
                    }
                }
            }
        }
        add(format!("arn:aws:s3:::{}/other-folder/notes.txt", rec.bucket));
    }
    let (region, account) = (cfn::REGION, cfn::ACCOUNT);
    add("arn:aws:s3:::another-bucket".into());
    add("arn:aws:s3:::another-bucket/course/lessons/module-01/lesson-01-x.md".into());
    add(format!("arn:aws:bedrock:{region}::foundation-model/another.model-v1:0"));
    add(format!("arn:aws:bedrock:{region}:{account}:inference-profile/us.another.model-v1:0"));
    add(format!("arn:aws:secretsmanager:{region}:{account}:secret:another-secret-AbCdEf"));
    add(format!("arn:aws:dynamodb:{region}:{account}:table/another-table"));
    out
}

/// (b) Every grant of every function, checked against what its stage was seen to use.
fn grants_beyond_use(template: &Value, recs: &[Recording]) -> Vec<Excess> {
    let universe = universe(recs);
    let mut s3_used: BTreeSet<(&str, String, String)> = BTreeSet::new();
    for rec in recs {
        for (stage, needs) in &rec.needs {
            for need in needs.keys().filter(|n| is_s3(&n.resource)) {
                s3_used.insert((*stage, need.action.to_ascii_lowercase(), shape(&need.resource)));
            }
        }
    }
    let mut out = BTreeSet::new();
    for rec in recs {
        let stack = Stack::new(template, rec.scenario.params).unwrap();
        for (function, stage) in function_stages(&stack) {
            let used_here = rec.needs.get(stage.name());
            let used = |action: &str, resource: &str| {
                if is_s3(resource) {
                    s3_used.contains(&(stage.name(), action.to_ascii_lowercase(), shape(resource)))
                } else {
                    used_here
                        .into_iter()
                        .flat_map(|n| n.keys())
                        .any(|n| n.action.eq_ignore_ascii_case(action) && n.resource == resource)
                }
            };
            let excess = |action: &str, granted: &str, resource: &str, source: &str| Excess {
                scenario: rec.scenario.name,
                function: function.clone(),
                action: action.to_string(),
                granted: granted.to_string(),
                resource: resource.to_string(),
                source: source.to_string(),
            };
            let statements =
                iam::policies_of(&stack, &function).unwrap_or_else(|e| panic!("{}: {e}", rec.scenario.name));
            for st in statements.iter().filter(|s| s.effect == Effect::Allow) {
                for action in &st.actions {
                    if st.opaque || action.contains(['*', '?']) {
                        let all = st.resources.join(", ");
                        out.insert(excess(action, &all, &all, &st.source));
                        continue;
                    }
                    for granted in &st.resources {
                        let reached: Vec<&String> =
                            universe.values().filter(|u| reaches(action, u) && iam::glob(granted, u)).collect();
                        if reached.is_empty() {
                            out.insert(excess(action, granted, granted, &st.source));
                        }
                        for u in reached.into_iter().filter(|u| !used(action, u)) {
                            out.insert(excess(action, granted, u, &st.source));
                        }
                    }
                }
            }
        }
    }
    out.into_iter().collect()
}

/// The allowance that explains `e`, if any.
fn allowance_for(e: &Excess, bucket: &str) -> Option<usize> {
    ALLOWED.iter().position(|a| {
        (a.function == "*" || a.function == e.function)
            && a.action.eq_ignore_ascii_case(&e.action)
            && iam::glob(&a.resource.replace("{bucket}", bucket), &e.resource)
            && (a.scenarios.is_empty() || a.scenarios.contains(&e.scenario))
    })
}

/// The excess grants no allowance explains.
fn unexplained(template: &Value, recs: &[Recording]) -> Vec<Excess> {
    let bucket = &recs[0].bucket;
    grants_beyond_use(template, recs).into_iter().filter(|e| allowance_for(e, bucket).is_none()).collect()
}

fn lines<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(|i| format!("  {i}")).collect::<Vec<_>>().join("\n")
}

/// Excess grants, one line per grant and resource shape, with the scenarios it shows in.
fn excess_report(items: &[Excess]) -> String {
    // Keyed by the grant and the shape of what it reaches: the line (with one example) and
    // the scenarios it shows in.
    let mut grouped: BTreeMap<String, (String, BTreeSet<&str>)> = BTreeMap::new();
    for e in items {
        let key = format!("{} {} {} {} {}", e.function, e.action, e.granted, e.source, shape(&e.resource));
        grouped.entry(key).or_insert((e.to_string(), BTreeSet::new())).1.insert(e.scenario);
    }
    let lines: Vec<String> = grouped
        .into_values()
        .map(|(line, scenarios)| format!("  {line} [{}]", scenarios.into_iter().collect::<Vec<_>>().join("; ")))
        .collect();
    lines.join("\n")
}

/// Per stage: each action with the resource shapes it was used on, over all scenarios.
fn needs_table(recs: &[Recording]) -> String {
    let mut table: BTreeMap<&str, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for rec in recs {
        for (stage, needs) in &rec.needs {
            for need in needs.keys() {
                table.entry(stage).or_default().entry(need.action.clone()).or_default().insert(shape(&need.resource));
            }
        }
    }
    let mut out = String::new();
    for stage in Stage::ALL {
        out.push_str(&format!("{stage}\n"));
        for (action, shapes) in table.get(stage.name()).into_iter().flatten() {
            for s in shapes {
                out.push_str(&format!("  {action:32} {s}\n"));
            }
        }
    }
    out
}

// ------------------------------------------------------------------------------------------
// Template mutations for the tests that must fail
// ------------------------------------------------------------------------------------------

fn policies_mut<'a>(t: &'a mut Value, function: &str) -> &'a mut Vec<Value> {
    t["Resources"][function]["Properties"]["Policies"].as_array_mut().expect("a Policies list")
}

/// Remove `action` from every inline statement of `function` (and statements left empty).
fn remove_inline_action(t: &mut Value, function: &str, action: &str) {
    for policy in policies_mut(t, function).iter_mut() {
        let Some(statements) = policy.get_mut("Statement").and_then(Value::as_array_mut) else { continue };
        for st in statements.iter_mut() {
            match &mut st["Action"] {
                Value::Array(actions) => actions.retain(|a| a.as_str() != Some(action)),
                a if a.as_str() == Some(action) => *a = Value::Array(Vec::new()),
                _ => {}
            }
        }
        statements.retain(|st| st["Action"].as_array().is_none_or(|a| !a.is_empty()));
    }
    policies_mut(t, function).retain(|p| p.get("Statement").and_then(Value::as_array).is_none_or(|s| !s.is_empty()));
}

/// Whether a `Policies` item references `policy` (directly or in an `Fn::If` branch).
fn references(item: &Value, policy: &str) -> bool {
    match item {
        Value::Object(m) if m.get("Ref").and_then(Value::as_str) == Some(policy) => true,
        Value::Object(m) => m.values().any(|v| references(v, policy)),
        Value::Array(a) => a.iter().any(|v| references(v, policy)),
        _ => false,
    }
}

// ------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------

#[test]
fn every_recorded_action_is_granted_to_its_function_in_every_scenario() {
    eprintln!("Recorded needs per stage (all scenarios):\n{}", needs_table(recordings()));
    let missing: Vec<Missing> = recordings().iter().flat_map(|r| missing_grants(template(), r)).collect();
    assert!(missing.is_empty(), "missing grants:\n{}", lines(&missing));
}

#[test]
fn no_function_is_granted_more_than_its_stage_uses_except_the_listed_grants() {
    for a in ALLOWED {
        eprintln!("allowed: {} {} on {}: {}", a.function, a.action, a.resource, a.reason);
    }
    let excess = unexplained(template(), recordings());
    assert!(
        excess.is_empty(),
        "grants beyond use (narrow them, or list them in ALLOWED with a reason):\n{}",
        excess_report(&excess)
    );
}

#[test]
fn every_listed_grant_is_still_needed() {
    let bucket = &recordings()[0].bucket;
    let used: BTreeSet<usize> =
        grants_beyond_use(template(), recordings()).iter().filter_map(|e| allowance_for(e, bucket)).collect();
    for (i, a) in ALLOWED.iter().enumerate() {
        assert!(
            used.contains(&i),
            "ALLOWED[{i}] ({} {} on {}) explains nothing any more: remove it",
            a.function,
            a.action,
            a.resource
        );
    }
}

#[test]
fn only_the_stages_that_call_the_text_model_read_the_api_key_secret_once_at_start_up() {
    let rec = recording(OPENAI_SECRET);
    let mut readers: Vec<&str> = rec
        .ops
        .iter()
        .filter(|(_, op)| matches!(op, Op::ReadSecret { arn } if arn == SECRET))
        .map(|(s, _)| s.name())
        .collect();
    readers.sort();
    assert_eq!(readers, ["ContentGen", "LabPlanner", "LabWriter", "VisualPlanner"]);
    let openai_calls = rec.ops.iter().filter(|(_, op)| {
        matches!(op, Op::Text { endpoint: Endpoint::OpenAi { base_url } } if base_url.starts_with("https://"))
    });
    assert!(openai_calls.count() > 0, "the text stages call the OpenAI-compatible endpoint");
    for other in recordings().iter().filter(|r| r.scenario.name != OPENAI_SECRET) {
        assert!(
            !other.ops.iter().any(|(_, op)| matches!(op, Op::ReadSecret { .. })),
            "{}: no secret is read unless the provider is openai with a secret",
            other.scenario.name
        );
    }
}

#[test]
fn prepare_course_and_book_builder_call_no_model_and_images_gen_only_the_image_model() {
    for rec in recordings() {
        for (stage, op) in &rec.ops {
            let allowed = match op {
                Op::Text { .. } => !matches!(stage, Stage::PrepareCourse | Stage::BookBuilder | Stage::ImagesGen),
                Op::Image { .. } => *stage == Stage::ImagesGen,
                _ => true,
            };
            assert!(allowed, "{}: {stage} called {op:?}", rec.scenario.name);
        }
    }
    let bedrock = recording(FOUNDATION);
    assert!(bedrock.ops_of(Stage::ImagesGen).any(|op| matches!(op, Op::Image { .. })), "illustrations use the model");
}

#[test]
fn images_gen_deletes_the_superseded_image_and_its_sidecar_when_a_visual_changes_kind() {
    let rec = recording(PROFILE);
    let deleted: BTreeSet<&str> = rec
        .ops_of(Stage::ImagesGen)
        .filter_map(|op| match op {
            Op::Delete { key } => Some(key.as_str()),
            _ => None,
        })
        .collect();
    // Lesson 1 of module 1: visuals 1 and 2 were diagrams (SVG) and became illustrations (PNG),
    // visual 3 the other way round.
    for key in [
        "both-course/images/module-01/01-01-01.svg",
        "both-course/images/module-01/01-01-01.svg.meta.json",
        "both-course/images/module-01/01-01-03.png",
        "both-course/images/module-01/01-01-03.png.meta.json",
    ] {
        assert!(deleted.contains(key), "{key} not deleted; ImagesGen deleted {deleted:?}");
    }
    assert!(deleted.iter().all(|k| k.starts_with("both-course/images/")), "{deleted:?}");
}

#[test]
fn visual_planner_deletes_only_stale_prompts_and_images_gen_never_lists() {
    let rec = recording(PROFILE);
    let deleted: Vec<&str> = rec
        .ops_of(Stage::VisualPlanner)
        .filter_map(|op| match op {
            Op::Delete { key } => Some(key.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        deleted,
        [
            "both-course/prompts/module-01/lesson-02/visual-04.json",
            "both-course/prompts/module-02/lesson-02/visual-04.json"
        ]
    );
    for rec in recordings() {
        for (stage, op) in &rec.ops {
            if matches!(op, Op::Delete { .. }) {
                assert!(matches!(stage, Stage::VisualPlanner | Stage::ImagesGen), "{stage} deleted {op:?}");
            }
            if let Op::List { prefix } = op {
                assert_eq!(*stage, Stage::VisualPlanner, "only VisualPlanner lists: {op:?}");
                assert!(
                    prefix.contains("/prompts/module-") && prefix.contains("/lesson-"),
                    "one lesson's prompts: {prefix}"
                );
            }
        }
    }
}

#[test]
fn the_state_machine_may_invoke_exactly_the_seven_stage_functions() {
    let stack = Stack::new(template(), &[]).unwrap();
    let expected: BTreeSet<String> = function_stages(&stack)
        .keys()
        .map(|id| format!("arn:aws:lambda:{}:{}:function:{}-{id}", cfn::REGION, cfn::ACCOUNT, cfn::STACK))
        .collect();
    let statements = iam::policies_of(&stack, "CourseStateMachine").unwrap();
    let invocable: BTreeSet<String> = statements
        .iter()
        .filter(|s| s.actions.iter().any(|a| iam::glob(&a.to_ascii_lowercase(), "lambda:invokefunction")))
        .flat_map(|s| s.resources.iter().filter(|r| !r.ends_with(":*")).cloned())
        .collect();
    assert_eq!(invocable, expected);
    for f in &expected {
        assert!(iam::allows(&statements, "lambda:InvokeFunction", f));
    }
    let other = format!("arn:aws:lambda:{}:{}:function:someone-elses-function", cfn::REGION, cfn::ACCOUNT);
    assert!(!iam::allows(&statements, "lambda:InvokeFunction", &other));
}

#[test]
fn the_checker_names_function_action_and_resource_when_images_gen_loses_delete_object() {
    let mut t = template().clone();
    remove_inline_action(&mut t, "ImagesGenFunction", "s3:DeleteObject");
    let missing: Vec<Missing> = recordings().iter().flat_map(|r| missing_grants(&t, r)).collect();
    let what: BTreeSet<(&str, &str)> = missing.iter().map(|m| (m.function.as_str(), m.action.as_str())).collect();
    assert_eq!(what, BTreeSet::from([("ImagesGenFunction", "s3:DeleteObject")]), "{}", lines(&missing));
    let bucket = &recordings()[0].bucket;
    assert!(missing.iter().all(|m| iam::glob(&format!("arn:aws:s3:::{bucket}/*/images/*"), &m.resource)));
    let expected = format!(
        "{PROFILE}: ImagesGenFunction lacks s3:DeleteObject on arn:aws:s3:::{bucket}/both-course/images/module-01/01-01-01.svg"
    );
    assert!(missing.iter().any(|m| m.to_string().starts_with(&expected)), "{}", lines(&missing));
}

#[test]
fn the_checker_names_function_action_and_secret_when_content_gen_loses_the_secret_policy() {
    let mut t = template().clone();
    policies_mut(&mut t, "ContentGenFunction").retain(|p| !references(p, "OpenAiSecretPolicy"));
    let missing: Vec<Missing> = recordings().iter().flat_map(|r| missing_grants(&t, r)).collect();
    let what: Vec<(&str, &str, &str, &str)> =
        missing.iter().map(|m| (m.scenario, m.function.as_str(), m.action.as_str(), m.resource.as_str())).collect();
    assert_eq!(what, [(OPENAI_SECRET, "ContentGenFunction", "secretsmanager:GetSecretValue", SECRET)]);
}

#[test]
fn the_checker_reports_a_grant_no_stage_uses() {
    let mut t = template().clone();
    policies_mut(&mut t, "BookBuilderFunction")
        .push(json!({"Fn::If": ["UseOpenAiSecret", {"Ref": "OpenAiSecretPolicy"}, {"Ref": "AWS::NoValue"}]}));
    let bucket = recordings()[0].bucket.clone();
    policies_mut(&mut t, "PrepareCourseFunction").push(json!({"Statement": [{"Sid": "TooWide", "Effect": "Allow",
        "Action": "s3:PutObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}]}));
    let excess = unexplained(&t, recordings());
    let what: BTreeSet<(&str, &str, &str)> =
        excess.iter().map(|e| (e.scenario, e.function.as_str(), e.action.as_str())).collect();
    assert!(
        what.contains(&(OPENAI_SECRET, "BookBuilderFunction", "secretsmanager:GetSecretValue")),
        "{}",
        excess_report(&excess)
    );
    assert!(
        excess.iter().any(|e| e.function == "PrepareCourseFunction"
            && shape(&e.resource) == shape(&format!("arn:aws:s3:::{bucket}/any-course/course/outline.yaml"))),
        "{}",
        excess_report(&excess)
    );
    assert!(
        excess.iter().all(|e| matches!(
            (e.function.as_str(), e.action.as_str()),
            ("BookBuilderFunction", "secretsmanager:GetSecretValue") | ("PrepareCourseFunction", "s3:PutObject")
        )),
        "{}",
        excess_report(&excess)
    );
}

#[test]
fn the_evaluator_resolves_the_inference_profile_grant_to_the_profile_and_its_foundation_model() {
    let stack = Stack::new(template(), SCENARIOS[0].params).unwrap();
    let statements = iam::policies_of(&stack, "ContentGenFunction").unwrap();
    for (resource, _) in bedrock_resources("us.anthropic.claude-sonnet-4-20250514-v1:0") {
        assert!(iam::allows(&statements, "bedrock:InvokeModel", &resource), "{resource}");
    }
    let other = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0";
    assert!(!iam::allows(&statements, "bedrock:InvokeModel", other));
    assert!(iam::glob("a*c?e", "abxxcde") && !iam::glob("a*c", "abd") && iam::glob("*", ""));
}
