//! Helpers shared by the integration tests: an in-process simulator and a client.

use bedrock_sim::{Config, RunningSim};
use serde_json::Value;

pub struct Sim {
    pub sim: RunningSim,
    pub client: reqwest::Client,
}

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }
}

impl Sim {
    pub async fn new(config: Config) -> Self {
        let sim = bedrock_sim::start(config).await.expect("simulator starts");
        let client = reqwest::Client::builder().no_proxy().build().expect("client builds");
        Self { sim, client }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.sim.endpoint_url(), path)
    }

    pub async fn post_raw(&self, path: &str, body: impl Into<String>) -> Resp {
        let response = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.into())
            .send()
            .await
            .expect("request is answered");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body reads");
        Resp { status, headers, text }
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.post_raw(path, body.to_string()).await
    }

    pub async fn stats(&self) -> Value {
        let response = self.client.get(self.url("/_sim/stats")).send().await.expect("stats answered");
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.expect("stats JSON")
    }

    pub async fn calls(&self) -> Value {
        let response = self.client.get(self.url("/_sim/calls")).send().await.expect("calls answered");
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.expect("calls JSON")
    }

    pub async fn reset(&self) -> Value {
        let response = self.client.post(self.url("/_sim/reset")).send().await.expect("reset answered");
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.expect("reset JSON")
    }
}

pub const CLAUDE: &str = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse";

pub fn converse_body(prompt: &str, max_tokens: u64) -> Value {
    serde_json::json!({
        "messages": [{"role": "user", "content": [{"text": prompt}]}],
        "system": [{"text": "You are a helpful course author."}],
        "inferenceConfig": {"maxTokens": max_tokens, "temperature": 0.5}
    })
}

pub fn assert_valid(schema: &Value, instance: &Value) {
    let validator = jsonschema::validator_for(schema).expect("schema compiles");
    let errors: Vec<String> = validator.iter_errors(instance).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "instance {instance} is invalid: {errors:?}");
}
