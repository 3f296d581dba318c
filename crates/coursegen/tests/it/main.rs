//! Integration tests of the `coursegen` command line, in one test binary: the CLI as a user
//! runs it, the course workflow, resuming after an interruption, and the model providers.

mod aws;
mod cli;
mod cost;
mod incomplete;
mod kill;
mod providers;
mod resume;
mod support;
mod workflow;
