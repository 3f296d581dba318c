//! The traits of [`super::api`] over the AWS SDK clients, and the clients themselves, built
//! once at the edge from the standard AWS configuration (profile, region, credentials,
//! `AWS_ENDPOINT_URL_SFN`, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_CLOUDFORMATION`).

use std::time::SystemTime;

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sfn::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sfn::primitives::DateTime;

use super::api::{
    ApiError, ApiResult, Bucket, Event, ExecutionInfo, Executions, FailureDetails, HistoryPage, IterationDetails,
    ObjectInfo, Stacks, StateDetails,
};

/// The AWS clients of one command.
pub(crate) struct Clients {
    pub(crate) sdk: aws_config::SdkConfig,
}

impl Clients {
    /// Loads the standard AWS configuration.
    pub(crate) async fn load() -> Self {
        Self { sdk: coursegen_aws::sdk::load_sdk_config().await }
    }

    pub(crate) fn sfn(&self) -> SfnClient {
        SfnClient(aws_sdk_sfn::Client::new(&self.sdk))
    }

    pub(crate) fn cloudformation(&self) -> CfnClient {
        CfnClient(aws_sdk_cloudformation::Client::new(&self.sdk))
    }

    /// The bucket's client; path-style addressing when `AWS_ENDPOINT_URL_S3` points at a
    /// local server (as `--store s3://` does).
    pub(crate) fn bucket(&self, name: &str) -> Result<S3Bucket, String> {
        coursegen_aws::s3::validate_bucket_name(name).map_err(|e| e.to_string())?;
        let force_path_style =
            coursegen_aws::config::s3_force_path_style(|n| std::env::var(n).ok()).map_err(|e| e.to_string())?;
        let client = coursegen_aws::s3::s3_client(&self.sdk, coursegen_aws::s3::S3Options { force_path_style });
        Ok(S3Bucket { client, name: name.to_string() })
    }
}

fn api_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    operation: &'static str,
    err: SdkError<E, R>,
) -> ApiError {
    let code = err.code().map(str::to_string);
    let message = match err.message() {
        Some(m) => m.to_string(),
        None => DisplayErrorContext(&err).to_string(),
    };
    ApiError { operation, code, message }
}

fn time(d: &DateTime) -> Option<SystemTime> {
    SystemTime::try_from(*d).ok()
}

fn seconds(d: &DateTime) -> f64 {
    d.as_secs_f64()
}

/// Step Functions.
pub(crate) struct SfnClient(aws_sdk_sfn::Client);

fn failure(error: Option<&str>, cause: Option<&str>) -> Option<FailureDetails> {
    Some(FailureDetails { error: error.map(str::to_string), cause: cause.map(str::to_string) })
}

fn event(e: &aws_sdk_sfn::types::HistoryEvent) -> Event {
    Event {
        id: e.id,
        previous_event_id: e.previous_event_id,
        timestamp: seconds(&e.timestamp),
        kind: e.r#type.as_str().to_string(),
        state_entered_event_details: e.state_entered_event_details.as_ref().map(|d| StateDetails {
            name: d.name.clone(),
            input: d.input.clone(),
            output: None,
        }),
        state_exited_event_details: e.state_exited_event_details.as_ref().map(|d| StateDetails {
            name: d.name.clone(),
            input: None,
            output: d.output.clone(),
        }),
        map_iteration_started_event_details: e
            .map_iteration_started_event_details
            .as_ref()
            .map(|d| IterationDetails { name: d.name.clone().unwrap_or_default(), index: i64::from(d.index) }),
        execution_failed_event_details: e
            .execution_failed_event_details
            .as_ref()
            .and_then(|d| failure(d.error(), d.cause())),
        task_failed_event_details: e.task_failed_event_details.as_ref().and_then(|d| failure(d.error(), d.cause())),
        lambda_function_failed_event_details: e
            .lambda_function_failed_event_details
            .as_ref()
            .and_then(|d| failure(d.error(), d.cause())),
    }
}

#[async_trait]
impl Executions for SfnClient {
    async fn start(&self, state_machine: &str, name: &str, input: &str) -> ApiResult<String> {
        let out = self
            .0
            .start_execution()
            .state_machine_arn(state_machine)
            .name(name)
            .input(input)
            .send()
            .await
            .map_err(|e| api_error("StartExecution", e))?;
        Ok(out.execution_arn)
    }

    async fn describe(&self, execution: &str) -> ApiResult<ExecutionInfo> {
        let d = self
            .0
            .describe_execution()
            .execution_arn(execution)
            .send()
            .await
            .map_err(|e| api_error("DescribeExecution", e))?;
        Ok(ExecutionInfo {
            arn: d.execution_arn.clone(),
            name: d.name.clone().unwrap_or_default(),
            status: d.status.as_str().to_string(),
            start: time(&d.start_date),
            stop: d.stop_date.as_ref().and_then(time),
            input: d.input.clone(),
            output: d.output.clone(),
            error: d.error.clone(),
            cause: d.cause.clone(),
            redrive_count: d.redrive_count,
        })
    }

    async fn list(
        &self,
        state_machine: &str,
        status: Option<&str>,
        token: Option<String>,
    ) -> ApiResult<(Vec<ExecutionInfo>, Option<String>)> {
        let mut call = self.0.list_executions().state_machine_arn(state_machine).set_next_token(token);
        if let Some(s) = status {
            call = call.status_filter(aws_sdk_sfn::types::ExecutionStatus::from(s));
        }
        let out = call.send().await.map_err(|e| api_error("ListExecutions", e))?;
        let items = out
            .executions
            .iter()
            .map(|x| ExecutionInfo {
                arn: x.execution_arn.clone(),
                name: x.name.clone(),
                status: x.status.as_str().to_string(),
                start: time(&x.start_date),
                stop: x.stop_date.as_ref().and_then(time),
                input: None,
                output: None,
                error: None,
                cause: None,
                redrive_count: x.redrive_count,
            })
            .collect();
        Ok((items, out.next_token))
    }

    async fn history(&self, execution: &str, token: Option<String>) -> ApiResult<HistoryPage> {
        let out = self
            .0
            .get_execution_history()
            .execution_arn(execution)
            .include_execution_data(true)
            .max_results(1000)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| api_error("GetExecutionHistory", e))?;
        Ok(HistoryPage { events: out.events.iter().map(event).collect(), next_token: out.next_token })
    }

    async fn redrive(&self, execution: &str) -> ApiResult<Option<SystemTime>> {
        let out = self
            .0
            .redrive_execution()
            .execution_arn(execution)
            .send()
            .await
            .map_err(|e| api_error("RedriveExecution", e))?;
        Ok(time(&out.redrive_date))
    }

    async fn state_machines(&self) -> ApiResult<Vec<(String, String)>> {
        let mut all = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .0
                .list_state_machines()
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| api_error("ListStateMachines", e))?;
            all.extend(out.state_machines.iter().map(|m| (m.state_machine_arn.clone(), m.name.clone())));
            match out.next_token {
                Some(t) => token = Some(t),
                None => return Ok(all),
            }
        }
    }
}

/// The course bucket.
pub(crate) struct S3Bucket {
    client: aws_sdk_s3::Client,
    name: String,
}

#[async_trait]
impl Bucket for S3Bucket {
    fn name(&self) -> &str {
        &self.name
    }

    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> ApiResult<()> {
        self.client
            .put_object()
            .bucket(&self.name)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| api_error("PutObject", e))
    }

    async fn list(&self, prefix: &str) -> ApiResult<Vec<ObjectInfo>> {
        let mut pages = self.client.list_objects_v2().bucket(&self.name).prefix(prefix).into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| api_error("ListObjectsV2", e))?;
            out.extend(page.contents().iter().filter_map(|o| {
                Some(ObjectInfo {
                    key: o.key()?.to_string(),
                    etag: o.e_tag().unwrap_or_default().to_string(),
                    size: o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                })
            }));
        }
        Ok(out)
    }

    async fn get(&self, key: &str) -> ApiResult<Vec<u8>> {
        let out =
            self.client.get_object().bucket(&self.name).key(key).send().await.map_err(|e| api_error("GetObject", e))?;
        let bytes = out.body.collect().await.map_err(|e| ApiError {
            operation: "GetObject",
            code: None,
            message: format!("{key}: the body could not be read: {e}"),
        })?;
        Ok(bytes.into_bytes().to_vec())
    }
}

/// CloudFormation.
pub(crate) struct CfnClient(aws_sdk_cloudformation::Client);

#[async_trait]
impl Stacks for CfnClient {
    async fn outputs(&self, stack: &str) -> ApiResult<Vec<(String, String)>> {
        let out =
            self.0.describe_stacks().stack_name(stack).send().await.map_err(|e| api_error("DescribeStacks", e))?;
        Ok(out
            .stacks()
            .first()
            .map(|s| {
                s.outputs()
                    .iter()
                    .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
                    .collect()
            })
            .unwrap_or_default())
    }
}
