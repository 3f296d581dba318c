//! How a command ends: the process exit codes, and the errors that stop a command before its
//! execution runs (each printed as `error: {error}`).

use std::path::PathBuf;
use std::process::ExitCode;

use asl_interpreter::LoadError;
use coursegen_core::outline::limits;
use coursegen_core::{Problems, StageError};

/// How a command ended; its number is the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 0: done.
    Ok = 0,
    /// 1: the execution failed (or could not store its input).
    Failed = 1,
    /// 2: bad input; nothing was written.
    BadInput = 2,
    /// 130: interrupted by Ctrl-C.
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// Why a command stopped before its execution ran.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// A file named on the command line could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// The outline file is over the size limit.
    #[error("{}: the outline is {bytes} bytes; the limit is {max} bytes (1 MiB)", path.display(), max = limits::MAX_BYTES)]
    OutlineTooLarge { path: PathBuf, bytes: usize },
    /// The outline file is not UTF-8.
    #[error("{}: not UTF-8 text: {source}", path.display())]
    NotUtf8 { path: PathBuf, source: std::string::FromUtf8Error },
    /// The outline does not validate; the request's own problems are listed too, so one
    /// round of fixes is enough.
    #[error("{}: {error}{}", path.display(), request_problems_suffix(request_problems))]
    InvalidOutline { path: PathBuf, error: StageError, request_problems: Problems },
    /// The request does not validate against the outline.
    #[error("{0}")]
    InvalidRequest(StageError),
    /// A `--set` pair without `NAME=`.
    #[error("--set {0:?}: expected NAME=VALUE")]
    BadOverride(String),
    /// The `--definition` file could not be read.
    #[error("cannot read the definition: {0}")]
    DefinitionUnreadable(std::io::Error),
    /// The course definition does not load.
    #[error("definition: {0}")]
    Definition(LoadError),
    /// A definition given by path (`sfn run`) does not load.
    #[error("{}: {source}", path.display())]
    DefinitionAt { path: PathBuf, source: LoadError },
    /// The `sfn run` input could not be read from stdin.
    #[error("cannot read stdin: {0}")]
    Stdin(std::io::Error),
    /// The `sfn run` input is not JSON.
    #[error("input is not valid JSON: {0}")]
    InputJson(serde_json::Error),
    /// `--store` is not `s3://BUCKET`.
    #[error("--store {0:?}: expected s3://BUCKET")]
    StoreUri(String),
    /// The store could not be opened.
    #[error("{0}")]
    Store(StageError),
    /// The model provider could not be set up.
    #[error("provider {provider}: {source}")]
    Provider { provider: &'static str, source: StageError },
    /// A price file (`--prices`, `COURSEGEN_PRICES`) that cannot be used.
    #[error("{0}")]
    Prices(coursegen_core::prices::PriceError),
    /// The provider configuration the estimate reads from the environment is invalid.
    #[error("{0}")]
    Config(StageError),
    /// The estimate could not render a request from the outline.
    #[error("cannot estimate the run: {0}")]
    Estimate(StageError),
}

fn request_problems_suffix(problems: &Problems) -> String {
    if problems.is_empty() {
        String::new()
    } else {
        format!("\ninvalid request: {problems}")
    }
}
