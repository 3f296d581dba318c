//! The course workflow definition: `statemachine/course.asl.json`, embedded at build time
//! (the same file SAM deploys), with its `${...FunctionArn}` placeholders filled locally.

use std::collections::HashMap;
use std::path::Path;

use asl_interpreter::history::HistoryEvent;
use asl_interpreter::{LoadError, StateMachine};
use coursegen_stages::Stage;
use serde_json::Value;

use crate::cli::FunctionNames;
use crate::error::CliError;

/// The definition SAM deploys, compiled into the binary so `coursegen run` works from anywhere.
pub(crate) const COURSE_DEFINITION: &str = include_str!("../../../statemachine/course.asl.json");

/// The placeholder SAM fills for a stage: `ContentGen` → `ContentGenFunctionArn`.
pub(crate) fn placeholder(stage: Stage) -> String {
    format!("{}FunctionArn", stage.name())
}

/// The template logical id of a stage's function: `ContentGen` → `ContentGenFunction`.
pub(crate) fn logical_id(stage: Stage) -> String {
    format!("{}Function", stage.name())
}

/// Placeholder values: stage names for in-process runs, function names for an endpoint.
pub(crate) fn substitutions(endpoint: bool, naming: FunctionNames) -> HashMap<String, String> {
    Stage::ALL
        .iter()
        .map(|s| {
            let value = match (endpoint, naming) {
                (false, _) => s.name().to_string(),
                (true, FunctionNames::Binary) => s.binary_name(),
                (true, FunctionNames::Logical) => logical_id(*s),
            };
            (placeholder(*s), value)
        })
        .collect()
}

/// Applies `NAME=VALUE` overrides (`--set`) to the placeholder values.
pub(crate) fn apply_overrides(subs: &mut HashMap<String, String>, overrides: &[String]) -> Result<(), CliError> {
    for pair in overrides {
        match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                subs.insert(k.to_string(), v.to_string());
            }
            _ => return Err(CliError::BadOverride(pair.clone())),
        }
    }
    Ok(())
}

/// The definition text: a file when given, else the embedded course definition.
pub(crate) fn definition_text(path: Option<&Path>) -> std::io::Result<String> {
    match path {
        Some(p) => std::fs::read_to_string(p),
        None => Ok(COURSE_DEFINITION.to_string()),
    }
}

/// Loads a definition `text` with its placeholders filled (the `--set` overrides last);
/// `load_error` says where a definition that does not load came from.
pub(crate) fn load_machine(
    text: &str,
    endpoint: bool,
    naming: FunctionNames,
    overrides: &[String],
    load_error: impl FnOnce(LoadError) -> CliError,
) -> Result<StateMachine, CliError> {
    let mut subs = substitutions(endpoint, naming);
    apply_overrides(&mut subs, overrides)?;
    asl_interpreter::substitute(text, &subs).and_then(|t| StateMachine::from_json(&t)).map_err(load_error)
}

/// Writes an execution's history (`--history`) as a JSON array; a failure is only a warning.
pub(crate) fn write_history(path: &Path, history: &[HistoryEvent]) {
    let events: Vec<Value> = history.iter().map(HistoryEvent::to_json).collect();
    if let Err(e) = std::fs::write(path, serde_json::to_vec_pretty(&Value::Array(events)).unwrap_or_default()) {
        eprintln!("warning: cannot write history to {}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_template_and_binaries() {
        assert_eq!(Stage::ContentGen.binary_name(), "content-gen");
        assert_eq!(Stage::BookBuilder.binary_name(), "book-builder");
        assert_eq!(logical_id(Stage::ImagesGen), "ImagesGenFunction");
        assert_eq!(placeholder(Stage::LabWriter), "LabWriterFunctionArn");
    }

    #[test]
    fn overrides_replace_placeholder_values_and_reject_malformed_pairs() {
        let mut subs = substitutions(true, FunctionNames::Binary);
        apply_overrides(&mut subs, &["ContentGenFunctionArn=coursegen-ContentGen-1".into()]).unwrap();
        assert_eq!(subs["ContentGenFunctionArn"], "coursegen-ContentGen-1");
        assert_eq!(subs["BookBuilderFunctionArn"], "book-builder");
        assert!(apply_overrides(&mut subs, &["no-equals-sign".into()]).is_err());
        assert!(apply_overrides(&mut subs, &["=value".into()]).is_err());
    }

    #[test]
    fn every_placeholder_in_the_course_definition_is_filled() {
        let subs = substitutions(false, FunctionNames::Binary);
        let filled = asl_interpreter::substitute(COURSE_DEFINITION, &subs).expect("all placeholders filled");
        assert!(!filled.contains("${"));
    }
}
