//! The integration tests of the providers, in one binary: Bedrock and OpenAI-compatible text
//! and images over the wire, S3, the shared quota buckets in DynamoDB (moto_server, ignored by
//! default); `support` holds the shared helpers.

mod bedrock;
mod dynamo;
mod openai;
mod s3;
mod support;
