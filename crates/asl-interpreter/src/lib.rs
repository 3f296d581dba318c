//! An Amazon States Language interpreter: runs Step Functions state machine definitions
//! (JSONPath query language) locally, with pluggable task invokers and an injectable clock.

pub mod choice;
pub mod error;
pub mod intrinsics;
pub mod paths;

pub use error::{LoadError, StatesError};
