//! The few AWS operations `coursegen aws` needs, as small traits over plain data, so the logic
//! is tested without AWS. The SDK clients implement them in [`super::sdk`].

use std::time::SystemTime;

use async_trait::async_trait;
use serde::Deserialize;

/// An AWS call that failed: the service's error code (`ExecutionAlreadyExists`, `NoSuchKey`, ...)
/// when there is one, and a readable message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: {}{message}", code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default())]
pub(crate) struct ApiError {
    pub(crate) operation: &'static str,
    pub(crate) code: Option<String>,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// One execution, as DescribeExecution / ListExecutions report it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExecutionInfo {
    pub(crate) arn: String,
    pub(crate) name: String,
    /// RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE.
    pub(crate) status: String,
    pub(crate) start: Option<SystemTime>,
    pub(crate) stop: Option<SystemTime>,
    /// The input JSON (DescribeExecution only).
    pub(crate) input: Option<String>,
    /// The output JSON of a succeeded execution (DescribeExecution only).
    pub(crate) output: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) cause: Option<String>,
    pub(crate) redrive_count: Option<i32>,
}

/// One history event in the shape of GetExecutionHistory (camelCase JSON; recorded histories
/// deserialize into it). Only the details `watch` reads are kept.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Event {
    pub(crate) id: i64,
    #[serde(default)]
    pub(crate) previous_event_id: i64,
    /// Seconds since the epoch (the JSON of the API).
    #[serde(default)]
    pub(crate) timestamp: f64,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) state_entered_event_details: Option<StateDetails>,
    #[serde(default)]
    pub(crate) state_exited_event_details: Option<StateDetails>,
    #[serde(default)]
    pub(crate) map_iteration_started_event_details: Option<IterationDetails>,
    #[serde(default)]
    pub(crate) execution_failed_event_details: Option<FailureDetails>,
    #[serde(default)]
    pub(crate) task_failed_event_details: Option<FailureDetails>,
    #[serde(default)]
    pub(crate) lambda_function_failed_event_details: Option<FailureDetails>,
}

/// `stateEnteredEventDetails` / `stateExitedEventDetails`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(crate) struct StateDetails {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) input: Option<String>,
    #[serde(default)]
    pub(crate) output: Option<String>,
}

/// `mapIterationStartedEventDetails`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(crate) struct IterationDetails {
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) index: i64,
}

/// The error and cause of a failure event.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(crate) struct FailureDetails {
    #[serde(default)]
    pub(crate) error: Option<String>,
    #[serde(default)]
    pub(crate) cause: Option<String>,
}

/// One page of GetExecutionHistory.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HistoryPage {
    pub(crate) events: Vec<Event>,
    #[serde(default)]
    pub(crate) next_token: Option<String>,
}

/// The Step Functions operations `coursegen aws` uses.
#[async_trait]
pub(crate) trait Executions: Send + Sync {
    /// StartExecution; returns the execution ARN. Same name and input as a running execution
    /// returns that execution's ARN (Step Functions' idempotency); a closed execution's name
    /// fails with `ExecutionAlreadyExists`.
    async fn start(&self, state_machine: &str, name: &str, input: &str) -> ApiResult<String>;
    async fn describe(&self, execution: &str) -> ApiResult<ExecutionInfo>;
    /// One page of ListExecutions (newest first), optionally only `status` ones.
    async fn list(
        &self,
        state_machine: &str,
        status: Option<&str>,
        token: Option<String>,
    ) -> ApiResult<(Vec<ExecutionInfo>, Option<String>)>;
    /// One page of GetExecutionHistory, oldest first, with execution data.
    async fn history(&self, execution: &str, token: Option<String>) -> ApiResult<HistoryPage>;
    /// RedriveExecution; returns the redrive date.
    async fn redrive(&self, execution: &str) -> ApiResult<Option<SystemTime>>;
    /// The ARNs and names of the account's state machines in the region.
    async fn state_machines(&self) -> ApiResult<Vec<(String, String)>>;
}

/// One object of a ListObjectsV2 listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectInfo {
    pub(crate) key: String,
    pub(crate) etag: String,
    pub(crate) size: u64,
}

/// The S3 operations `coursegen aws` uses on the course bucket.
#[async_trait]
pub(crate) trait Bucket: Send + Sync {
    fn name(&self) -> &str;
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> ApiResult<()>;
    /// Every object under `prefix` (all pages).
    async fn list(&self, prefix: &str) -> ApiResult<Vec<ObjectInfo>>;
    async fn get(&self, key: &str) -> ApiResult<Vec<u8>>;
}

/// CloudFormation DescribeStacks: a stack's outputs as (key, value) pairs.
#[async_trait]
pub(crate) trait Stacks: Send + Sync {
    async fn outputs(&self, stack: &str) -> ApiResult<Vec<(String, String)>>;
}
