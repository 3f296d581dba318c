//! Error responses in the Bedrock (Smithy restJson1) and OpenAI shapes.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The message Bedrock sends with a `ThrottlingException`.
pub const THROTTLING_MESSAGE: &str = "Too many requests, please wait before trying again.";

/// Which API's error convention to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Bedrock: `x-amzn-ErrorType` header and `{"message": ...}` body.
    Bedrock,
    /// OpenAI: `{"error": {"message", "type", "param", "code"}}` body.
    OpenAi,
}

/// An error answered to the client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Bedrock error type (e.g. `ValidationException`).
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// The request parameter at fault (OpenAI `param`), if known.
    pub param: Option<&'static str>,
    /// Seconds to wait before retrying (sent as `retry-after` on OpenAI throttles).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// HTTP 400 `ValidationException`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "ValidationException",
            message: message.into(),
            param: None,
            retry_after: None,
        }
    }

    /// Sets the OpenAI `param` field.
    pub fn with_param(mut self, param: &'static str) -> Self {
        self.param = Some(param);
        self
    }

    /// HTTP 429 `ThrottlingException`.
    pub fn throttling(retry_after: u64) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "ThrottlingException",
            message: THROTTLING_MESSAGE.to_string(),
            param: None,
            retry_after: Some(retry_after),
        }
    }

    /// HTTP 500 `InternalServerException`.
    pub fn internal() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "InternalServerException",
            message: "An internal server error occurred. Retry your request.".to_string(),
            param: None,
            retry_after: None,
        }
    }

    /// HTTP 503 `ServiceUnavailableException`.
    pub fn unavailable() -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "ServiceUnavailableException",
            message: "The service isn't currently available. Try again later.".to_string(),
            param: None,
            retry_after: None,
        }
    }

    /// HTTP 404 for paths the simulator does not serve.
    pub fn unknown_operation(path: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "UnknownOperationException",
            message: format!("The simulator does not implement {path}"),
            param: None,
            retry_after: None,
        }
    }

    /// Renders the error in the given API's convention.
    pub fn into_flavored(self, flavor: Flavor) -> Response {
        let (body, error_type) = match flavor {
            Flavor::Bedrock => (json!({ "message": self.message }), None),
            Flavor::OpenAi => {
                let (kind, code) = match self.status.as_u16() {
                    429 => ("rate_limit_exceeded", Some("rate_limit_exceeded")),
                    400 => ("invalid_request_error", None),
                    404 => ("invalid_request_error", Some("unknown_url")),
                    503 => ("server_error", Some("service_unavailable")),
                    _ => ("server_error", None),
                };
                (
                    json!({ "error": {
                        "message": self.message,
                        "type": kind,
                        "param": self.param,
                        "code": code,
                    }}),
                    Some(kind),
                )
            }
        };
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        match flavor {
            Flavor::Bedrock => {
                headers.insert("x-amzn-ErrorType", HeaderValue::from_static(self.code));
            }
            Flavor::OpenAi => {
                if let (Some(secs), Some(_)) = (self.retry_after, error_type) {
                    if self.status == StatusCode::TOO_MANY_REQUESTS {
                        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
                    }
                }
            }
        }
        response
    }
}
