//! AWS and OpenAI-compatible providers for coursegen: Bedrock, OpenAI chat completions, S3,
//! quota discipline.
//!
//! * [`bedrock::BedrockText`] and [`bedrock::BedrockImage`] implement the text and image model
//!   ports over the Bedrock Converse and InvokeModel APIs.
//! * [`openai::OpenAiText`] implements the text port over any OpenAI-compatible server.
//! * [`s3::S3Store`] implements the blob store port over S3.
//! * [`quota`] keeps every model call inside a requests/tokens-per-minute budget per model id or
//!   inference profile, with an adaptive concurrency limit, and retries throttles and transient
//!   failures with full-jitter backoff until a deadline; [`buckets`] is its token-bucket
//!   arithmetic and the in-process store, [`dynamo`] the DynamoDB store every process shares
//!   (`QUOTA_TABLE`).
//! * [`config`] reads the environment and builds all of the above.

#![warn(missing_docs)]

pub mod bedrock;
pub mod buckets;
pub mod config;
pub mod dynamo;
pub mod json;
pub mod openai;
pub mod quota;
pub mod s3;
pub mod sdk;
mod structured;

pub use config::{build_image_model, build_text_model, s3_store, ProviderConfig, ProviderKind};
