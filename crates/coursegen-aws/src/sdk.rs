//! AWS SDK plumbing: the shared HTTPS client, `SdkConfig` loading, and the classification of
//! SDK errors into retry decisions.

use std::error::Error as StdError;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_bedrockruntime::config::SharedHttpClient;
use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use coursegen_core::error::StageError;

use crate::quota::Failure;

/// The HTTPS client every AWS client of this crate uses: hyper with rustls on the `ring` crypto
/// provider (no C toolchain needed to build or cross-compile), trusting the platform's roots.
pub fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// Load the AWS configuration the standard way (environment, profiles, container and instance
/// credentials, `AWS_REGION`, `AWS_ENDPOINT_URL_<SERVICE>`), using [`http_client`].
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client()).load().await
}

/// The retry decision for a failed AWS SDK call.
pub(crate) struct Classified {
    /// Throttled, transient or fatal, with the message to report.
    pub failure: Failure,
    /// The service error code (`ThrottlingException`, `ValidationException`, ...), if any.
    pub code: Option<String>,
}

const THROTTLE_CODES: &[&str] = &[
    "ThrottlingException",
    "ServiceQuotaExceededException",
    "TooManyRequestsException",
    "Throttling",
    "SlowDown",
    "RequestLimitExceeded",
];

const TRANSIENT_CODES: &[&str] = &[
    "InternalServerException",
    "ServiceUnavailableException",
    "ModelNotReadyException",
    "ModelTimeoutException",
    "ModelErrorException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "RequestTimeout",
    "RequestTimeoutException",
];

const CONFIG_CODES: &[&str] = &[
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "ResourceNotFoundException",
];

/// Classify an SDK error of a model call. `stage`/`subject` name the call in fatal errors.
pub(crate) fn classify<E, R>(err: &SdkError<E, R>, http_status: Option<u16>, stage: &str, subject: &str) -> Classified
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let detail = DisplayErrorContext(err).to_string();
    match err {
        SdkError::ConstructionFailure(_) => Classified {
            failure: Failure::Fatal(StageError::Config(format!("could not build the request: {detail}"))),
            code: None,
        },
        SdkError::TimeoutError(_) => {
            Classified { failure: Failure::Transient { message: format!("timeout: {detail}") }, code: None }
        }
        SdkError::DispatchFailure(d) => {
            if d.is_user() {
                Classified {
                    failure: Failure::Fatal(StageError::Config(format!("request could not be sent: {detail}"))),
                    code: None,
                }
            } else {
                Classified {
                    failure: Failure::Transient { message: format!("connection error: {detail}") },
                    code: None,
                }
            }
        }
        SdkError::ResponseError(_) => Classified {
            failure: Failure::Transient { message: format!("malformed response: {}", clip(&detail)) },
            code: None,
        },
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().map(str::to_string);
            let message = e.message().map(str::to_string).unwrap_or_else(|| detail.clone());
            let code_str = code.as_deref().unwrap_or("");
            let status = http_status.unwrap_or(0);
            let labelled = if code_str.is_empty() { message.clone() } else { format!("{code_str}: {message}") };
            let failure = if code_str.is_empty() && (200..300).contains(&status) {
                // A success status whose body could not be read: a truncated or garbled answer.
                Failure::Transient { message: format!("malformed response: {}", clip(&detail)) }
            } else if THROTTLE_CODES.contains(&code_str) || status == 429 {
                Failure::Throttled { message: labelled, retry_after: None }
            } else if TRANSIENT_CODES.contains(&code_str) || status >= 500 {
                Failure::Transient { message: labelled }
            } else if CONFIG_CODES.contains(&code_str) || status == 401 || status == 403 {
                Failure::Fatal(StageError::Config(labelled))
            } else {
                Failure::Fatal(StageError::model(stage, subject, labelled))
            };
            Classified { failure, code }
        }
        _ => Classified { failure: Failure::Transient { message: detail }, code: None },
    }
}

/// The HTTP status of the raw response behind an SDK error, if there was one.
pub(crate) fn status_of<E>(err: &SdkError<E, aws_sdk_bedrockruntime::config::http::HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// The timeouts put on model clients: connecting should be quick; a whole attempt is bounded
/// by the governor (retry policy and deadline), not by the SDK.
pub(crate) fn model_timeouts() -> aws_sdk_bedrockruntime::config::timeout::TimeoutConfig {
    aws_sdk_bedrockruntime::config::timeout::TimeoutConfig::builder().connect_timeout(Duration::from_secs(10)).build()
}

/// At most 300 characters of an error detail: a malformed answer's detail holds its whole body,
/// which would flood the logs on every retry.
fn clip(detail: &str) -> String {
    const MAX: usize = 300;
    match detail.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}… ({} bytes in all)", &detail[..i], detail.len()),
        None => detail.to_string(),
    }
}

#[cfg(test)]
mod clip_tests {
    #[test]
    fn long_details_are_clipped_and_short_ones_kept() {
        assert_eq!(super::clip("short"), "short");
        let long = "x".repeat(5000);
        let clipped = super::clip(&long);
        assert!(clipped.len() < 400 && clipped.ends_with("(5000 bytes in all)"), "{clipped}");
    }
}
