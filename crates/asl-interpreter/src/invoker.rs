//! Task invocation: the pluggable back end that runs Lambda functions (and, optionally,
//! other resources) for `Task` states.

use async_trait::async_trait;
use serde_json::{json, Value};

use crate::error::{names, StatesError};

/// The optimized Lambda integration resource.
pub const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";

/// True for a direct Lambda function ARN (`arn:aws:lambda:REGION:ACCOUNT:function:NAME`,
/// optionally with a `:QUALIFIER`).
pub fn is_lambda_function_arn(resource: &str) -> bool {
    let parts: Vec<&str> = resource.split(':').collect();
    parts.len() >= 7
        && parts.len() <= 8
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "lambda"
        && parts[5] == "function"
        && !parts[6].is_empty()
}

/// True for the resources the executor runs through [`TaskInvoker::invoke_function`]: the
/// `lambda:invoke` integration and direct Lambda function ARNs.
pub fn is_lambda_resource(resource: &str) -> bool {
    resource == LAMBDA_INVOKE || is_lambda_function_arn(resource)
}

/// The bare function name in a Lambda function identifier: `NAME` for
/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`, `ACCOUNT:function:NAME` or
/// `NAME[:QUALIFIER]`; other text is returned unchanged.
pub fn lambda_function_name(identifier: &str) -> &str {
    let parts: Vec<&str> = identifier.split(':').collect();
    match parts.iter().position(|p| *p == "function") {
        Some(i) => parts.get(i + 1).copied().unwrap_or(identifier),
        None => parts.first().copied().unwrap_or(identifier),
    }
}

/// Runs the work behind `Task` states. Invocations are spawned on the tokio runtime, so an
/// implementation may do CPU work and several invocations run at once.
#[async_trait]
pub trait TaskInvoker: Send + Sync {
    /// Invokes a Lambda function. `function` is the identifier exactly as the definition
    /// gives it (the `FunctionName` parameter of `lambda:invoke`, or the direct function ARN;
    /// see [`lambda_function_name`]). Returns the function's response payload; a function
    /// error is `Err` with the function's `errorType` as error and its JSON error object as
    /// cause.
    async fn invoke_function(&self, function: &str, payload: Value) -> Result<Value, StatesError>;

    /// Whether this invoker can run tasks with `resource`. Lambda resources are supported by
    /// default; any other resource only when an implementation says so, and then it is run
    /// through [`TaskInvoker::invoke_resource`].
    fn supports(&self, resource: &str) -> bool {
        is_lambda_resource(resource)
    }

    /// Runs a non-Lambda resource with the task's effective parameters and returns its
    /// result. The default reports that the resource is not supported.
    async fn invoke_resource(&self, resource: &str, parameters: Value) -> Result<Value, StatesError> {
        let _ = parameters;
        Err(StatesError::runtime(format!("the resource '{resource}' is not supported by this task invoker")))
    }
}

/// An invoker for machines without tasks: every invocation fails with `States.TaskFailed`.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopInvoker;

#[async_trait]
impl TaskInvoker for NoopInvoker {
    async fn invoke_function(&self, function: &str, _payload: Value) -> Result<Value, StatesError> {
        Err(StatesError::new(
            names::TASK_FAILED,
            format!("no task invoker is configured, so the function '{function}' cannot be invoked"),
        ))
    }
}

/// The error a Lambda function error surfaces as: the function's `errorType` (or
/// `Lambda.Unknown` when it has none) as error and the JSON error object as cause, e.g.
/// `{"errorMessage": "...", "errorType": "ValueError", "stackTrace": [...]}`.
pub fn lambda_function_error(error_object: &Value) -> StatesError {
    let error = error_object.get("errorType").and_then(Value::as_str).unwrap_or("Lambda.Unknown");
    StatesError::new(error, error_object.to_string())
}

/// Wraps a function response in the envelope the `lambda:invoke` integration returns.
pub fn lambda_invoke_envelope(payload: Value, request_id: &str) -> Value {
    json!({
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {
                "X-Amz-Executed-Version": ["$LATEST"],
                "x-amzn-Remapped-Content-Length": ["0"],
                "Connection": ["keep-alive"],
                "x-amzn-RequestId": [request_id],
                "Content-Type": ["application/json"]
            },
            "HttpHeaders": {
                "Connection": "keep-alive",
                "Content-Type": "application/json",
                "X-Amz-Executed-Version": "$LATEST",
                "x-amzn-Remapped-Content-Length": "0",
                "x-amzn-RequestId": request_id
            },
            "HttpStatusCode": 200
        },
        "SdkResponseMetadata": { "RequestId": request_id },
        "StatusCode": 200
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_lambda_resources() {
        assert!(is_lambda_resource(LAMBDA_INVOKE));
        assert!(is_lambda_resource("arn:aws:lambda:us-east-1:123456789012:function:f"));
        assert!(is_lambda_resource("arn:aws:lambda:us-east-1:123456789012:function:f:prod"));
        assert!(!is_lambda_resource("arn:aws:states:::dynamodb:putItem"));
        assert_eq!(lambda_function_name("arn:aws:lambda:us-east-1:1:function:gen:prod"), "gen");
        assert_eq!(lambda_function_name("gen"), "gen");
        assert_eq!(lambda_function_name("gen:prod"), "gen");
        let err = lambda_function_error(&json!({"errorType": "ValueError", "errorMessage": "bad"}));
        assert_eq!(err.error, "ValueError");
        assert_eq!(err.cause, r#"{"errorType":"ValueError","errorMessage":"bad"}"#);
    }
}
