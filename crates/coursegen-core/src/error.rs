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
    /// Reading or writing the store failed in a way that may pass (a 5xx, a timeout, a lost
    /// connection, S3 `SlowDown`): retryable.
    #[error("store error at {key}: {message}")]
    Store { key: String, message: String },
    /// The store refused access in a way that a retry does not fix (access denied, no such
    /// bucket, invalid credentials, a directory without permission): not retryable.
    #[error("store access denied at {key}: {message}")]
    StoreAccessDenied { key: String, message: String },
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

/// The longest error message put on the wire (Lambda's `errorMessage`, the Step Functions
/// cause), in characters: a module or lab the definition's `Catch` records carries it in the
/// payload, so 200 failed modules stay far below the 256 KiB limit.
pub const WIRE_MESSAGE_CHARS: usize = 400;

impl StageError {
    /// The message as the wire carries it: at most [`WIRE_MESSAGE_CHARS`] characters (the full
    /// message goes to the logs).
    pub fn wire_message(&self) -> String {
        let message = self.to_string();
        if message.chars().count() <= WIRE_MESSAGE_CHARS {
            return message;
        }
        let mut clipped: String = message.chars().take(WIRE_MESSAGE_CHARS - 1).collect();
        clipped.push('…');
        clipped
    }

    /// The stable error name (`errorType`) for Step Functions `Retry`/`Catch`.
    pub fn error_type(&self) -> &'static str {
        match self {
            StageError::InvalidOutline(_) => "InvalidOutline",
            StageError::InvalidRequest(_) => "InvalidRequest",
            StageError::Throttling { .. } => "ThrottlingException",
            StageError::Model { .. } => "ModelError",
            StageError::Store { .. } => "StoreError",
            StageError::StoreAccessDenied { .. } => "StoreAccessDenied",
            StageError::MissingInput { .. } => "MissingInput",
            StageError::Config(_) => "ConfigError",
            StageError::Internal(_) => "InternalError",
        }
    }

    /// Whether Step Functions should retry a task that raised this error (the definition's
    /// `Retry` lists exactly these error types).
    pub fn is_retryable(&self) -> bool {
        matches!(self, StageError::Throttling { .. } | StageError::Store { .. })
    }

    /// The one error to raise when several concurrent parts of a task failed (the lessons of a
    /// module, the images of a module): the first retryable one, so Step Functions retries the
    /// task (the parts that succeeded are reused), else the first. `None` when there is none.
    pub fn prefer_retryable(errors: impl IntoIterator<Item = StageError>) -> Option<StageError> {
        let mut first = None;
        for e in errors {
            if e.is_retryable() {
                return Some(e);
            }
            first.get_or_insert(e);
        }
        first
    }

    /// Shorthand for a single-problem request error.
    pub fn request(path: impl Into<String>, message: impl Into<String>) -> Self {
        StageError::InvalidRequest(Problems(vec![Problem::new(path, message)]))
    }

    /// Shorthand for a store error.
    pub fn store(key: impl Into<String>, message: impl fmt::Display) -> Self {
        StageError::Store { key: key.into(), message: message.to_string() }
    }

    /// Shorthand for a permanent store error (access denied, no such bucket, bad credentials).
    pub fn store_access_denied(key: impl Into<String>, message: impl fmt::Display) -> Self {
        StageError::StoreAccessDenied { key: key.into(), message: message.to_string() }
    }

    /// Shorthand for a model error.
    pub fn model(stage: impl Into<String>, subject: impl Into<String>, message: impl fmt::Display) -> Self {
        StageError::Model { stage: stage.into(), subject: subject.into(), message: message.to_string() }
    }
}

/// Result alias for stage code.
pub type StageResult<T> = Result<T, StageError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn throttled() -> StageError {
        StageError::Throttling { provider: "bedrock".into(), message: "slow down".into() }
    }

    #[test]
    fn transient_store_errors_are_retryable_and_access_denied_is_not() {
        let transient = StageError::store("p/x.md", "S3 PutObject failed: SlowDown");
        assert_eq!(transient.error_type(), "StoreError");
        assert!(transient.is_retryable());
        let denied = StageError::store_access_denied("p/x.md", "S3 PutObject failed: AccessDenied");
        assert_eq!(denied.error_type(), "StoreAccessDenied");
        assert!(!denied.is_retryable());
        assert_eq!(denied.to_string(), "store access denied at p/x.md: S3 PutObject failed: AccessDenied");
        assert!(throttled().is_retryable());
        for permanent in [
            StageError::request("modules", "bad"),
            StageError::model("ContentGen", "module 1 lesson 1", "refused"),
            StageError::MissingInput { key: "k".into(), message: "m".into() },
            StageError::Config("c".into()),
            StageError::Internal("i".into()),
        ] {
            assert!(!permanent.is_retryable(), "{}", permanent.error_type());
        }
    }

    #[test]
    fn prefer_retryable_picks_the_first_retryable_error_else_the_first() {
        let model = || StageError::model("ContentGen", "module 1 lesson 1", "refused");
        let picked = StageError::prefer_retryable([model(), throttled(), StageError::store("k", "503")]).unwrap();
        assert_eq!(picked.error_type(), "ThrottlingException");
        let picked = StageError::prefer_retryable([model(), StageError::store_access_denied("k", "403")]).unwrap();
        assert_eq!(picked.error_type(), "ModelError");
        let picked = StageError::prefer_retryable([StageError::store_access_denied("k", "403"), model()]).unwrap();
        assert_eq!(picked.error_type(), "StoreAccessDenied");
        assert!(StageError::prefer_retryable(Vec::new()).is_none());
    }
}
