//! The integration tests of the providers, in one binary: Bedrock and OpenAI-compatible text
//! and images over the wire, S3; `support` holds the shared helpers.

mod bedrock;
mod openai;
mod s3;
mod support;
