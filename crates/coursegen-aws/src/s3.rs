//! [`BlobStore`] on Amazon S3 (or any S3-compatible server).

use std::fmt;

use async_trait::async_trait;
use aws_config::SdkConfig;
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

fn store_error<E, R>(key: &str, action: &str, err: &SdkError<E, R>) -> StageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug,
{
    let detail = match (err.code(), err.message()) {
        (Some(code), Some(msg)) => format!("{code}: {msg}"),
        (Some(code), None) => code.to_string(),
        _ => DisplayErrorContext(err).to_string(),
    };
    StageError::store(key, format!("S3 {action} failed: {detail}"))
}

fn http_status<E>(err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// The precondition of a write.
#[derive(Debug, Clone, Copy)]
enum Condition<'a> {
    None,
    IfAbsent,
    IfMatch(&'a str),
}

fn is_missing(err: &SdkError<GetObjectError, aws_sdk_s3::config::http::HttpResponse>) -> bool {
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
