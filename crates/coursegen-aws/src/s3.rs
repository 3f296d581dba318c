//! [`BlobStore`] on Amazon S3 (or any S3-compatible server).

use std::fmt;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use coursegen_core::error::{StageError, StageResult};
use coursegen_core::keys::validate_key;
use coursegen_core::store::BlobStore;

use crate::sdk::http_client;

/// Options for building the S3 client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct S3Options {
    /// Use path-style addressing (`http://host/bucket/key`), as local S3-compatible servers need.
    pub force_path_style: bool,
}

/// An S3 client from `sdk`, keeping the SDK's standard retries (S3 throttles with `SlowDown`
/// and 503s that the SDK retries well; model calls are the ones our governor owns).
pub fn s3_client(sdk: &SdkConfig, options: S3Options) -> Client {
    let mut builder = aws_sdk_s3::config::Builder::from(sdk).force_path_style(options.force_path_style);
    if sdk.http_client().is_none() {
        builder = builder.http_client(http_client());
    }
    Client::from_conf(builder.build())
}

/// Check a bucket name against the S3 rules (3–63 characters of lowercase letters, digits,
/// dots and dashes, starting and ending with a letter or digit).
pub fn validate_bucket_name(bucket: &str) -> StageResult<()> {
    let b = bucket.as_bytes();
    let ok = (3..=63).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'.')
        && b.first().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.last().is_some_and(|c| c.is_ascii_alphanumeric())
        && !bucket.contains("..");
    if ok {
        Ok(())
    } else {
        Err(StageError::Config(format!("bucket name {bucket:?} is not a valid S3 bucket name")))
    }
}

/// Objects in one S3 bucket; keys are the store keys, unchanged.
#[derive(Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store").field("bucket", &self.bucket).finish_non_exhaustive()
    }
}

/// S3 error codes a retry does not fix: the caller may not use this bucket (access denied, a
/// disabled account), the bucket does not exist (or lives in another region), or the
/// credentials are refused. Checked by code before status (`RequestTimeTooSkewed` is a 403 that
/// passes).
const PERMANENT_CODES: [&str; 13] = [
    "AccessDenied",
    "AllAccessDisabled",
    "AccountProblem",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "AuthorizationHeaderMalformed",
    "NoSuchBucket",
    "InvalidBucketName",
    "PermanentRedirect",
    "UnauthorizedAccess",
];

/// Codes that pass on a retry whatever their status (`RequestTimeTooSkewed` is a 403, and the
/// SDK corrects a skewed clock).
const TRANSIENT_CODES: [&str; 5] =
    ["RequestTimeTooSkewed", "SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout"];

/// Whether an S3 answer (HTTP status and error code) is a permanent refusal, which
/// [`StageError::StoreAccessDenied`] reports and Step Functions does not retry. Everything else
/// (5xx, `SlowDown`, timeouts, a lost connection, other 4xx) stays a retryable
/// [`StageError::Store`].
pub fn is_permanent_s3_error(status: Option<u16>, code: Option<&str>) -> bool {
    if let Some(code) = code {
        if PERMANENT_CODES.contains(&code) {
            return true;
        }
        if TRANSIENT_CODES.contains(&code) {
            return false;
        }
    }
    // 401/403 without a known code: refused (a HEAD answer has no body, so no code);
    // 301: the bucket is in another region.
    matches!(status, Some(301 | 401 | 403))
}

fn store_error<E>(key: &str, action: &str, err: &SdkError<E, HttpResponse>) -> StageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let detail = match (err.code(), err.message()) {
        (Some(code), Some(msg)) => format!("{code}: {msg}"),
        (Some(code), None) => code.to_string(),
        _ => DisplayErrorContext(err).to_string(),
    };
    let message = format!("S3 {action} failed: {detail}");
    if unsendable(err) || is_permanent_s3_error(http_status(err), err.code()) {
        StageError::store_access_denied(key, message)
    } else {
        StageError::store(key, message)
    }
}

/// A request that was never sent and never will be: it could not be built (a bad endpoint or
/// region), or no credentials could be loaded (none configured, a failing credential process,
/// an expired login). A credential provider that timed out may answer next time.
fn unsendable<E>(err: &SdkError<E, HttpResponse>) -> bool
where
    E: std::error::Error + Send + Sync + 'static,
{
    match err {
        SdkError::ConstructionFailure(_) => true,
        SdkError::DispatchFailure(_) => {
            let text = DisplayErrorContext(err).to_string().to_ascii_lowercase();
            text.contains("loading credentials") && !text.contains("timed out") && !text.contains("timeout")
        }
        _ => false,
    }
}

fn http_status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// The precondition of a write.
#[derive(Debug, Clone, Copy)]
enum Condition<'a> {
    None,
    IfAbsent,
    IfMatch(&'a str),
}

fn is_missing(err: &SdkError<GetObjectError, HttpResponse>) -> bool {
    matches!(err.as_service_error(), Some(GetObjectError::NoSuchKey(_)))
        || (http_status(err) == Some(404) && err.code() != Some("NoSuchBucket"))
}

impl S3Store {
    /// A store over `bucket` using `client`; the bucket name is checked.
    pub fn new(client: Client, bucket: impl Into<String>) -> StageResult<Self> {
        let bucket = bucket.into();
        validate_bucket_name(&bucket)?;
        Ok(Self { client, bucket })
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The underlying S3 client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The content type stored with an object, `None` when the object does not exist.
    pub async fn content_type(&self, key: &str) -> StageResult<Option<String>> {
        validate_key(key)?;
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => Ok(Some(out.content_type().unwrap_or("binary/octet-stream").to_string())),
            Err(err) if http_status(&err) == Some(404) => Ok(None),
            Err(err) => Err(store_error(key, "HeadObject", &err)),
        }
    }

    /// Read an object with its ETag, `None` when it does not exist. Pair with
    /// [`S3Store::put_if_match`] for compare-and-swap updates.
    pub async fn get_with_etag(&self, key: &str) -> StageResult<Option<(Vec<u8>, String)>> {
        validate_key(key)?;
        match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => {
                let etag = out.e_tag().unwrap_or_default().to_string();
                let bytes = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| StageError::store(key, format!("S3 GetObject body could not be read: {e}")))?;
                Ok(Some((bytes.into_bytes().to_vec(), etag)))
            }
            Err(err) if is_missing(&err) => Ok(None),
            Err(err) => Err(store_error(key, "GetObject", &err)),
        }
    }

    /// Replace an object only if its ETag is still `etag` (`If-Match`); false (nothing
    /// written) when it changed or no longer exists.
    pub async fn put_if_match(&self, key: &str, body: Vec<u8>, content_type: &str, etag: &str) -> StageResult<bool> {
        self.put_inner(key, body, content_type, Condition::IfMatch(etag)).await
    }

    async fn put_inner(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        condition: Condition<'_>,
    ) -> StageResult<bool> {
        validate_key(key)?;
        let mut call = self.client.put_object().bucket(&self.bucket).key(key).body(ByteStream::from(body));
        if !content_type.is_empty() {
            call = call.content_type(content_type);
        }
        call = match condition {
            Condition::None => call,
            Condition::IfAbsent => call.if_none_match("*"),
            Condition::IfMatch(etag) => call.if_match(etag),
        };
        match call.send().await {
            Ok(_) => Ok(true),
            Err(err) => {
                let conditional = !matches!(condition, Condition::None);
                let status = http_status(&err);
                let code = err.code().unwrap_or("");
                // 412: the condition failed. 409: a concurrent conditional write on the same
                // key is in progress, so the object is not absent (or no longer matches).
                let lost = status == Some(412)
                    || status == Some(409)
                    || code == "PreconditionFailed"
                    || code == "ConditionalRequestConflict";
                // If-Match on a missing object answers 404 NoSuchKey.
                let vanished =
                    matches!(condition, Condition::IfMatch(_)) && (status == Some(404) && code != "NoSuchBucket");
                if conditional && (lost || vanished) {
                    return Ok(false);
                }
                Err(store_error(key, "PutObject", &err))
            }
        }
    }
}

#[async_trait]
impl BlobStore for S3Store {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> StageResult<()> {
        self.put_inner(key, body, content_type, Condition::None).await.map(|_| ())
    }

    async fn put_if_absent(&self, key: &str, body: Vec<u8>, content_type: &str) -> StageResult<bool> {
        self.put_inner(key, body, content_type, Condition::IfAbsent).await
    }

    async fn get(&self, key: &str) -> StageResult<Option<Vec<u8>>> {
        validate_key(key)?;
        match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => {
                let bytes = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| StageError::store(key, format!("S3 GetObject body could not be read: {e}")))?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(err) if is_missing(&err) => Ok(None),
            Err(err) => Err(store_error(key, "GetObject", &err)),
        }
    }

    async fn list(&self, prefix: &str) -> StageResult<Vec<String>> {
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| store_error(prefix, "ListObjectsV2", &err))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    async fn delete(&self, key: &str) -> StageResult<()> {
        validate_key(key)?;
        match self.client.delete_object().bucket(&self.bucket).key(key).send().await {
            Ok(_) => Ok(()),
            Err(err) if http_status(&err) == Some(404) && err.code() != Some("NoSuchBucket") => Ok(()),
            Err(err) => Err(store_error(key, "DeleteObject", &err)),
        }
    }

    fn describe(&self) -> String {
        format!("s3://{}", self.bucket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_bucket_and_credential_refusals_are_permanent_and_the_rest_transient() {
        for (status, code) in [
            (403, Some("AccessDenied")),
            (403, Some("InvalidAccessKeyId")),
            (403, Some("SignatureDoesNotMatch")),
            (400, Some("ExpiredToken")),
            (400, Some("AuthorizationHeaderMalformed")),
            (404, Some("NoSuchBucket")),
            (301, Some("PermanentRedirect")),
            (403, None),
            (401, None),
        ] {
            assert!(is_permanent_s3_error(Some(status), code), "{status} {code:?}");
        }
        for (status, code) in [
            (Some(503), Some("SlowDown")),
            (Some(500), Some("InternalError")),
            (Some(503), Some("ServiceUnavailable")),
            (Some(400), Some("RequestTimeout")),
            (Some(403), Some("RequestTimeTooSkewed")),
            (Some(502), None),
            (Some(429), None),
            (Some(409), Some("OperationAborted")),
            (None, None),
        ] {
            assert!(!is_permanent_s3_error(status, code), "{status:?} {code:?}");
        }
    }

    #[test]
    fn bucket_names_follow_the_s3_rules() {
        for ok in ["abc", "my-course-bucket", "a.b.c", "0bucket9"] {
            assert!(validate_bucket_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "ab", "Upper", "-start", "end-", "a..b", "under_score", &"a".repeat(64)] {
            let err = validate_bucket_name(bad).unwrap_err();
            assert_eq!(err.error_type(), "ConfigError", "{bad}");
        }
    }
}
