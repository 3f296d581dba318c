//! The outline and request checks `run` and `validate` share: every problem is reported,
//! nothing is written.

use std::path::Path;

use coursegen_core::outline::limits;
use coursegen_core::{Module, Outline, RawRequest, Request};
use serde_json::Value;

use crate::cli::RequestArgs;
use crate::error::CliError;

/// What `run` and `validate` ask for, as given on the command line.
pub(crate) struct Asked<'a> {
    pub(crate) outline: &'a Path,
    pub(crate) project: Option<&'a str>,
    pub(crate) modules: Option<&'a str>,
    pub(crate) content: &'a str,
    pub(crate) concurrency: Option<u32>,
    pub(crate) lesson_concurrency: Option<u32>,
    pub(crate) force: bool,
}

impl<'a> Asked<'a> {
    /// What `args` ask for, for the outline at `outline`.
    pub(crate) fn new(outline: &'a Path, args: &'a RequestArgs, force: bool) -> Self {
        Asked {
            outline,
            project: args.project.as_deref(),
            modules: args.modules.as_deref(),
            content: &args.content,
            concurrency: args.concurrency,
            lesson_concurrency: args.lesson_concurrency,
            force,
        }
    }
}

/// Read and check the outline and the request; returns them with the outline's text.
pub(crate) fn load_and_validate(asked: &Asked<'_>) -> Result<(Outline, Request, String), CliError> {
    let path = asked.outline;
    let text = std::fs::read(path).map_err(|source| CliError::Read { path: path.to_path_buf(), source })?;
    if text.len() > limits::MAX_BYTES {
        return Err(CliError::OutlineTooLarge { path: path.to_path_buf(), bytes: text.len() });
    }
    let text = String::from_utf8(text).map_err(|source| CliError::NotUtf8 { path: path.to_path_buf(), source })?;
    let raw = RawRequest {
        outline_key: None,
        project_folder: asked.project.map(str::to_string),
        modules_to_generate: asked.modules.map(|m| Value::String(m.to_string())),
        module_number: None,
        content_type: Some(Value::String(asked.content.to_string())),
        max_concurrency: asked.concurrency.map(Value::from),
        lesson_concurrency: asked.lesson_concurrency.map(Value::from),
        force: Some(Value::Bool(asked.force)),
    };
    let outline = coursegen_core::parse_outline(&text).map_err(|error| CliError::InvalidOutline {
        path: path.to_path_buf(),
        error,
        request_problems: coursegen_core::request_problems_without_outline(&raw),
    })?;
    let default_project = coursegen_core::default_project_folder(&outline);
    let request =
        coursegen_core::normalize_request(&raw, &outline, &default_project).map_err(CliError::InvalidRequest)?;
    Ok((outline, request, text))
}

/// The modules the request selects, with their numbers, in request order.
pub(crate) fn selected_modules<'a>(
    outline: &'a Outline,
    request: &'a Request,
) -> impl Iterator<Item = (u32, &'a Module)> {
    request.modules.iter().filter_map(|n| outline.module(*n).map(|m| (*n, m)))
}
