//! AWS and OpenAI-compatible providers for coursegen: Bedrock, OpenAI chat completions, S3, quota discipline.
