//! An Amazon States Language interpreter: runs Step Functions state machine definitions
//! (JSONPath query language) locally, with pluggable task invokers and an injectable clock.
//!
//! ```
//! use std::sync::Arc;
//! use asl_interpreter::{Executor, NoopInvoker, StateMachine};
//!
//! let machine = StateMachine::from_json(
//!     r#"{"StartAt": "Hello", "States": {"Hello": {"Type": "Pass", "Result": "world", "ResultPath": "$.hello", "End": true}}}"#,
//! )
//! .expect("valid definition");
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
//! let execution = runtime.block_on(Executor::new(Arc::new(NoopInvoker)).execute(
//!     &machine,
//!     serde_json::json!({}),
//!     "example",
//! ));
//! assert_eq!(execution.output(), Some(&serde_json::json!({"hello": "world"})));
//! ```

pub mod bench_support;
mod choice;
mod clock;
mod definition;
mod error;
mod executor;
pub mod history;
mod intrinsics;
pub mod invoker;
mod paths;
mod random;
mod time;

pub use clock::{Clock, FakeClock, SystemClock};
pub use definition::{substitute, StateMachine};
pub use error::{
    names, IntrinsicSyntax, LoadError, PathError, PathSyntax, StatesError, TemplateError, TemplateProblem,
};
pub use executor::{Execution, ExecutionStatus, Executor, DEFAULT_MAX_MAP_CONCURRENCY, DEFAULT_PAYLOAD_LIMIT};
pub use history::{ExecutionStats, HistoryEvent, Observer};
pub use invoker::{
    is_lambda_resource, lambda_function_error, lambda_function_name, NoopInvoker, TaskInvoker, LAMBDA_INVOKE,
};
