//! One error type for every stage, with a stable `error_type` that Step Functions can match.

use std::fmt;

/// One problem found in an outline or a request, with the path of the offending field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    /// Where the problem is, e.g. `modules[2].lessons[0].title`.
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found, in the order found.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem::new(path, message));
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn iter(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter()
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(f, "{n} problem{}", if n == 1 { "" } else { "s" })?;
        for p in &self.0 {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

/// The error every stage raises. `error_type()` is the stable name reported to Step Functions
/// as the Lambda `errorType`, so `Retry` and `Catch` can match it.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The outline is malformed or breaks a limit; nothing was written.
    #[error("invalid outline: {0}")]
    InvalidOutline(Problems),
    /// The request (modules, content type, project folder, ...) is invalid; nothing was written.
    #[error("invalid request: {0}")]
    InvalidRequest(Problems),
    /// A model quota was exhausted and retries ran out of time: retry the task later.
    #[error("throttled by {provider}: {message}")]
    Throttling { provider: String, message: String },
    /// The model failed or answered something unusable, naming the stage and subject.
    #[error("model error in {stage} ({subject}): {message}")]
    Model { stage: String, subject: String, message: String },
    /// Reading or writing the store failed.
    #[error("store error at {key}: {message}")]
    Store { key: String, message: String },
    /// An input the stage needs (a lesson, a plan, a prompt) does not exist in the store.
    #[error("missing input {key}: {message}")]
    MissingInput { key: String, message: String },
    /// Configuration (environment variables, provider settings) is invalid.
    #[error("configuration error: {0}")]
    Config(String),
    /// A bug or an unexpected state; not retryable.
    #[error("internal error: {0}")]
    Internal(String),
}

impl StageError {
    /// The stable error name (`errorType`) for Step Functions `Retry`/`Catch`.
    pub fn error_type(&self) -> &'static str {
        match self {
            StageError::InvalidOutline(_) => "InvalidOutline",
            StageError::InvalidRequest(_) => "InvalidRequest",
            StageError::Throttling { .. } => "ThrottlingException",
            StageError::Model { .. } => "ModelError",
            StageError::Store { .. } => "StoreError",
            StageError::MissingInput { .. } => "MissingInput",
            StageError::Config(_) => "ConfigError",
            StageError::Internal(_) => "InternalError",
        }
    }

    /// Whether Step Functions should retry a task that raised this error.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StageError::Throttling { .. } | StageError::Store { .. })
    }

    /// Shorthand for a single-problem request error.
    pub fn request(path: impl Into<String>, message: impl Into<String>) -> Self {
        StageError::InvalidRequest(Problems(vec![Problem::new(path, message)]))
    }

    /// Shorthand for a store error.
    pub fn store(key: impl Into<String>, message: impl fmt::Display) -> Self {
        StageError::Store { key: key.into(), message: message.to_string() }
    }

    /// Shorthand for a model error.
    pub fn model(stage: impl Into<String>, subject: impl Into<String>, message: impl fmt::Display) -> Self {
        StageError::Model { stage: stage.into(), subject: subject.into(), message: message.to_string() }
    }
}

/// Result alias for stage code.
pub type StageResult<T> = Result<T, StageError>;
