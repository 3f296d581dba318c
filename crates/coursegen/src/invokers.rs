//! Task invokers for the local runner: the stage handlers in-process (default), or the Lambda
//! Invoke API at an endpoint (`sam local start-lambda`, `cargo lambda watch`, real Lambda).

use std::sync::Arc;

use asl_interpreter::invoker::{lambda_function_name, TaskInvoker};
use asl_interpreter::StatesError;
use async_trait::async_trait;
use coursegen_core::StageError;
use coursegen_stages::{Deps, Stage};
use serde_json::{json, Value};

/// The Lambda error object as a function reports it (the `Cause` Step Functions records).
fn error_cause(error_type: &str, message: &str) -> String {
    json!({ "errorType": error_type, "errorMessage": message }).to_string()
}

/// Maps a stage error to what Step Functions sees when the function raises it.
pub(crate) fn states_error(e: &StageError) -> StatesError {
    StatesError::new(e.error_type(), error_cause(e.error_type(), &e.wire_message()))
}

/// Runs the stage handlers in this process.
pub(crate) struct InProcessInvoker {
    deps: Arc<Deps>,
}

impl InProcessInvoker {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Self { deps }
    }
}

#[async_trait]
impl TaskInvoker for InProcessInvoker {
    async fn invoke_function(&self, function: &str, payload: Value) -> Result<Value, StatesError> {
        let name = lambda_function_name(function);
        let stage = Stage::from_name(name).ok_or_else(|| {
            StatesError::new(
                "Lambda.ResourceNotFoundException",
                format!("Function not found: {name} (in-process functions: {})", stage_list()),
            )
        })?;
        coursegen_stages::invoke(stage, payload, &self.deps).await.map_err(|e| states_error(&e))
    }
}

fn stage_list() -> String {
    Stage::ALL.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
}

/// Calls functions through the Lambda Invoke API.
pub(crate) struct LambdaEndpointInvoker {
    client: aws_sdk_lambda::Client,
}

impl LambdaEndpointInvoker {
    /// A client for `endpoint`. Loopback endpoints (emulators) get placeholder credentials
    /// and region when none are configured; real endpoints use the standard AWS configuration.
    pub(crate) async fn new(endpoint: &str) -> Self {
        let local = endpoint.contains("://127.") || endpoint.contains("://localhost") || endpoint.contains("://[::1]");
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(coursegen_aws::sdk::http_client())
            .endpoint_url(endpoint);
        if local {
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
                loader = loader.credentials_provider(aws_sdk_lambda::config::Credentials::new(
                    "local",
                    "local",
                    None,
                    None,
                    "coursegen-local",
                ));
            }
            if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
                loader = loader.region(aws_config::Region::new("us-east-1"));
            }
        }
        let config = loader.load().await;
        let lambda_config = aws_sdk_lambda::config::Builder::from(&config)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        Self { client: aws_sdk_lambda::Client::from_conf(lambda_config) }
    }
}

#[async_trait]
impl TaskInvoker for LambdaEndpointInvoker {
    async fn invoke_function(&self, function: &str, payload: Value) -> Result<Value, StatesError> {
        use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
        let body = serde_json::to_vec(&payload).map_err(|e| StatesError::runtime(e.to_string()))?;
        let result = self
            .client
            .invoke()
            .function_name(function)
            .payload(aws_sdk_lambda::primitives::Blob::new(body))
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(SdkError::ServiceError(e)) => {
                // Emulators (cargo lambda watch) answer a function error with a 5xx whose body
                // is the function's error object, where Lambda answers 200 with
                // X-Amz-Function-Error: report it as the function's own error either way.
                let body = e.raw().body().bytes().unwrap_or_default();
                if let Some(error) = function_error(body) {
                    return Err(error);
                }
                let err = e.err();
                let code = err.code().unwrap_or("ServiceException");
                return Err(StatesError::new(format!("Lambda.{code}"), err.message().unwrap_or(code).to_string()));
            }
            Err(e @ (SdkError::DispatchFailure(_) | SdkError::TimeoutError(_))) => {
                return Err(StatesError::new("Lambda.SdkClientException", format!("{e:?}")));
            }
            Err(e) => return Err(StatesError::new("Lambda.AWSLambdaException", format!("{e:?}"))),
        };
        let bytes = out.payload().map(|b| b.as_ref().to_vec()).unwrap_or_default();
        if let Some(kind) = out.function_error() {
            // The function raised: Step Functions uses its errorType as the error name.
            return Err(function_error(&bytes)
                .unwrap_or_else(|| StatesError::new(kind, String::from_utf8_lossy(&bytes).into_owned())));
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| StatesError::new("Lambda.AWSLambdaException", format!("function returned invalid JSON: {e}")))
    }
}

/// The function's error from a Lambda error object body (`{"errorType", "errorMessage"}`).
fn function_error(body: &[u8]) -> Option<StatesError> {
    let parsed: Value = serde_json::from_slice(body).ok()?;
    let error_type = parsed.get("errorType").and_then(Value::as_str)?;
    Some(StatesError::new(error_type, String::from_utf8_lossy(body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_error_object_keeps_its_error_type() {
        let e = function_error(br#"{"errorType":"ThrottlingException","errorMessage":"slow down"}"#).unwrap();
        assert_eq!(e.error, "ThrottlingException");
        assert!(e.cause.contains("slow down"));
        assert!(function_error(b"<html>bad gateway</html>").is_none());
        assert!(function_error(br#"{"message":"Service unavailable"}"#).is_none());
    }

    #[test]
    fn stage_errors_surface_with_their_stable_type_and_a_lambda_style_cause() {
        let e = states_error(&StageError::request("module_number", "module 9 does not exist"));
        assert_eq!(e.error, "InvalidRequest");
        let cause: Value = serde_json::from_str(&e.cause).unwrap();
        assert_eq!(cause["errorType"], "InvalidRequest");
        assert!(cause["errorMessage"].as_str().unwrap().contains("module_number"));
    }
}
