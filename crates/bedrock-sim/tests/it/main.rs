//! Integration tests of the simulator, one binary: the Bedrock and OpenAI wire formats, quotas and faults, and the command line.

mod bedrock;
mod behaviour;
mod cli;
mod kinds;
mod openai;
mod support;
