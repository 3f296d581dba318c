//! Helpers shared by the integration tests: hermetic AWS configuration for loopback servers.

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_bedrockruntime::config::{Credentials, Region, SharedCredentialsProvider};
use coursegen_aws::quota::{Governor, Quota, QuotaConfig, RetryPolicy, TokioClock};
use coursegen_core::model::{TextRequest, TextTask};
use serde_json::Value;

/// The fake access key every test client signs with.
pub const ACCESS_KEY: &str = "AKIDTESTTESTTEST";
/// The fake secret key every test client signs with.
pub const SECRET_KEY: &str = "test-secret-key";

/// An SDK configuration pointing every service at `endpoint`, with fake static credentials and
/// region us-east-1: nothing is read from the environment or profile files.
pub fn sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            ACCESS_KEY,
            SECRET_KEY,
            None,
            None,
            "static-test",
        )))
        .behavior_version(BehaviorVersion::latest())
        .http_client(coursegen_aws::sdk::http_client())
        .build()
}

/// A retry policy with short backoffs so tests finish quickly.
pub fn fast_policy(budget: Duration) -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(1_000),
        budget,
        attempt_timeout: Duration::from_secs(10),
        max_attempts: 1_000,
    }
}

/// A governor over a fresh budget (not the process-wide registry, so tests stay independent).
pub fn governor(provider: &str, quota: QuotaConfig, budget: Duration) -> Governor {
    Governor::new(provider, Quota::new(&quota, Arc::new(TokioClock)), fast_policy(budget))
}

/// A text request for `task`.
pub fn request(task: TextTask, subject: &str, prompt: &str, schema: Option<Value>) -> TextRequest {
    TextRequest {
        task,
        subject: subject.to_string(),
        system: "You write course material for DevOps engineers.".to_string(),
        prompt: prompt.to_string(),
        max_tokens: 800,
        temperature: 0.3,
        json_schema: schema,
        brief: Value::Null,
    }
}

/// The simulator's counters.
pub async fn sim_stats(endpoint: &str) -> Value {
    reqwest::get(format!("{endpoint}/_sim/stats")).await.unwrap().json().await.unwrap()
}

/// The visual-plan schema used by the structured tests.
pub fn visual_plan_schema() -> Value {
    serde_json::json!({
        "type": "object",
        "required": ["visuals"],
        "properties": {
            "visuals": {
                "type": "array",
                "minItems": 1,
                "maxItems": 4,
                "items": {
                    "type": "object",
                    "required": ["id", "kind", "description"],
                    "properties": {
                        "id": {"type": "string", "minLength": 1},
                        "kind": {"type": "string", "enum": ["diagram", "illustration"]},
                        "description": {"type": "string", "minLength": 3}
                    }
                }
            }
        }
    })
}

/// Every way `instance` breaks `schema`, as `path: message` lines; `Ok` when it is valid.
pub fn validate_against_schema(schema: &Value, instance: &Value) -> Result<(), Vec<String>> {
    let validator = jsonschema::validator_for(schema).expect("test schemas compile");
    let errors: Vec<String> = validator.iter_errors(instance).map(|e| format!("{}: {e}", e.instance_path())).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A `moto_server` (the fidelity venv's local AWS API) on a free loopback port, killed when
/// dropped. Tests using it are `#[ignore]`d (scripts/check runs them with `--ignored`), and
/// fail, naming the fix, when the venv is missing.
///
/// It serves one request at a time: `moto_server` normally answers requests on threads, and
/// moto evaluates a conditional write's condition and applies it without a lock, so two
/// concurrent conditional `UpdateItem`s on one item can both succeed, which DynamoDB never
/// allows (and the shared quota relies on).
///
/// With `TEST_DYNAMO_ENGINE=lean` it is the lean DynamoDB of the load scripts' quota table
/// (`scripts/quota-table.py --engine lean`) instead, so the same tests hold it to moto's
/// answers (scripts/check runs them both ways).
pub struct MotoServer {
    child: std::process::Child,
    endpoint: String,
}

/// `moto_server`'s own entry point with threading off (see [`MotoServer`]).
const MOTO_SINGLE_THREADED: &str = "import sys\n\
import moto.server as ms\n\
serve = ms.run_simple\n\
ms.run_simple = lambda *a, **k: serve(*a, **{**k, 'threaded': False})\n\
sys.exit(ms.main(sys.argv[1:]))\n";

impl MotoServer {
    /// Start moto's server from the fidelity venv (`.venv-fidelity` at the workspace root, or
    /// the venv `MOTO_VENV` names) and wait until it accepts connections.
    pub async fn start() -> MotoServer {
        let venv = std::env::var_os("MOTO_VENV")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-fidelity"));
        let (python, server) = (venv.join("bin/python3"), venv.join("bin/moto_server"));
        assert!(
            python.exists() && server.exists(),
            "moto_server not found in {}: create the fidelity venv (.venv-fidelity with moto[server,dynamodb]) or set MOTO_VENV",
            venv.display()
        );
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
            probe.local_addr().expect("its address").port()
        };
        let mut command = std::process::Command::new(&python);
        if std::env::var("TEST_DYNAMO_ENGINE").as_deref() == Ok("lean") {
            // The lean engine of the load scripts' quota table, held to the same answers.
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            let addr_file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("lean-dynamo-{port}.addr"));
            command.arg(root.join("scripts/quota-table.py")).args(["--engine", "lean", "--table", "lean-self"]);
            command.args(["--port", &port.to_string()]).arg("--addr-file").arg(addr_file);
        } else {
            command.args(["-c", MOTO_SINGLE_THREADED, "-H", "127.0.0.1", "-p", &port.to_string()]);
        }
        let mut child = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto_server with {}: {e}", python.display()));
        let started = std::time::Instant::now();
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("moto_server exited before listening on port {port}: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto_server did not listen on port {port} within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        MotoServer { child, endpoint: format!("http://127.0.0.1:{port}") }
    }

    /// The server's URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A DynamoDB client for this server (fake credentials).
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk_config(&self.endpoint)).build(),
        )
    }

    /// Create the quota table `name` as template.yaml does: a string partition key `pk`,
    /// on-demand billing.
    pub async fn create_quota_table(&self, name: &str) {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        self.dynamodb()
            .create_table()
            .table_name(name)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .unwrap();
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
