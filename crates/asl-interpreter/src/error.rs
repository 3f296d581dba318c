//! Errors: runtime errors as Step Functions names them, and load-time errors naming the state and field.

use std::fmt;

/// Well-known Step Functions error names.
pub mod names {
    pub const ALL: &str = "States.ALL";
    pub const RUNTIME: &str = "States.Runtime";
    pub const TASK_FAILED: &str = "States.TaskFailed";
    pub const TIMEOUT: &str = "States.Timeout";
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
    pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
    pub const BRANCH_FAILED: &str = "States.BranchFailed";
    pub const PERMISSIONS: &str = "States.Permissions";
}

/// A runtime error as Step Functions reports it: an error name (matched by `Retry`/`Catch`
/// `ErrorEquals`) and a human-readable cause.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatesError {
    pub error: String,
    pub cause: String,
}

impl StatesError {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self { error: error.into(), cause: cause.into() }
    }
    pub fn runtime(cause: impl Into<String>) -> Self {
        Self::new(names::RUNTIME, cause)
    }
}

impl fmt::Display for StatesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.cause)
    }
}

impl std::error::Error for StatesError {}

/// A definition that cannot be run: names the state (or `<root>`) and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state {state:?}, field {field}: {message}")]
pub struct LoadError {
    pub state: String,
    pub field: String,
    pub message: String,
}

impl LoadError {
    pub fn new(state: impl Into<String>, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { state: state.into(), field: field.into(), message: message.into() }
    }
}

/// A Path or reference path that cannot be used; the message names the path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path '{0}' must begin with '$' or '$$'")]
    Root(String),
    #[error("invalid path '{path}': {reason}")]
    Syntax { path: String, reason: PathSyntax },
    #[error("the reference path '{0}' must not refer to the context object ('$$')")]
    ContextReference(String),
    #[error(
        "the reference path '{0}' must identify a single node: wildcards, filters, slices, \
         unions and descent ('..') are not allowed"
    )]
    Indefinite(String),
}

/// Why the text after `$`/`$$` is not a JSONPath.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathSyntax {
    #[error("empty member name after '.'")]
    EmptyMember,
    #[error("member name '{0}' contains whitespace; use bracket notation")]
    WhitespaceInMember(String),
    #[error("unexpected character '{0}'")]
    UnexpectedChar(char),
    #[error("unclosed '['")]
    UnclosedBracket,
    /// Rejected by the JSONPath parser itself (its message).
    #[error("{0}")]
    JsonPath(String),
}

/// An intrinsic function call that does not parse or has the wrong number of arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntrinsicSyntax {
    #[error("unexpected text '{0}' after the intrinsic function call")]
    TrailingText(String),
    #[error("intrinsic functions can be nested at most {0} deep")]
    TooDeep(usize),
    #[error("an intrinsic function name must start with 'States.'")]
    MissingPrefix,
    #[error("unsupported intrinsic function '{0}'")]
    Unsupported(String),
    #[error("expected '(' after '{0}'")]
    ExpectedOpenParen(String),
    #[error("unexpected character '{found}' in the arguments of {function}")]
    UnexpectedInArguments { found: char, function: String },
    #[error("missing ')' to close {0}")]
    MissingCloseParen(String),
    #[error("unexpected argument '{0}'")]
    UnexpectedArgument(String),
    #[error("unexpected character '{0}' where an argument was expected")]
    UnexpectedChar(char),
    #[error("missing argument")]
    MissingArgument,
    #[error("unterminated string literal")]
    UnterminatedString,
    #[error("invalid escape sequence '\\{0}' in a string literal (only \\', \\{{, \\}} and \\\\ are allowed)")]
    InvalidEscape(char),
    #[error("invalid number '{0}'")]
    InvalidNumber(String),
    #[error("{function} takes {expected} argument(s) but {given} were given")]
    Arity { function: String, expected: String, given: usize },
    #[error("States.Format has {placeholders} placeholder(s) but {values} value argument(s)")]
    FormatPlaceholders { placeholders: usize, values: usize },
    #[error(transparent)]
    Path(#[from] PathError),
}

/// A payload template whose `.$` field cannot be evaluated: where (a JSON Pointer to the key,
/// e.g. `/items/0/name.$`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {problem}")]
pub struct TemplateError {
    pub location: String,
    pub problem: TemplateProblem,
}

/// Why a `.$` field of a payload template is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateProblem {
    #[error("the value of '{0}' must be a string holding a path or an intrinsic function")]
    NotAString(String),
    #[error(transparent)]
    Path(#[from] PathError),
    #[error(transparent)]
    Intrinsic(#[from] IntrinsicSyntax),
}
