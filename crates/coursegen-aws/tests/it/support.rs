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
