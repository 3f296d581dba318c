//! PrepareCourse: validate the outline and the request, normalise the module selection, write
//! the normalised request. Fails fast: on any problem nothing is written.

use coursegen_core::contracts::{ModuleItem, PrepareCourseInput, PrepareCourseOutput};
use coursegen_core::{keys, BlobStoreExt, StageError, StageResult};

use crate::common::check_project;
use crate::Deps;

/// Validate and normalise a request. The outline is read from `outline_key`, or
/// from the project's default outline key; the project folder defaults to one derived from the
/// course title when only an outline key is given.
pub async fn prepare_course(input: PrepareCourseInput, deps: &Deps) -> StageResult<PrepareCourseOutput> {
    let store = deps.store.as_ref();
    let given_project = input.project_folder.as_deref().map(str::trim).filter(|p| !p.is_empty());
    let outline_key = match (input.outline_key.as_deref().map(str::trim).filter(|k| !k.is_empty()), given_project) {
        (Some(key), _) => key.to_string(),
        (None, Some(project)) => {
            check_project(project)?;
            keys::outline_key(project)
        }
        (None, None) => {
            return Err(StageError::request("outline_key", "give outline_key or project_folder (or both)"));
        }
    };
    keys::validate_key(&outline_key).map_err(|e| StageError::request("outline_key", e.to_string()))?;
    let text = store.get_text(&outline_key).await?;
    let outline = coursegen_core::parse_outline(&text)?;
    let mut raw = input.clone();
    raw.outline_key = Some(outline_key);
    let default_project = coursegen_core::default_project_folder(&outline);
    let request = coursegen_core::normalize_request(&raw, &outline, &default_project)?;
    check_project(&request.project_folder)?;

    let mut modules = Vec::with_capacity(request.modules.len());
    for &m in &request.modules {
        let module = outline
            .module(m)
            .ok_or_else(|| StageError::request("modules_to_generate", format!("module {m} is not in the outline")))?;
        modules.push(ModuleItem { module_number: m, lesson_count: module.lessons.len() as u32 });
    }
    let request_key = keys::request_key(&request.project_folder);
    store.put_json(&request_key, &request).await?;
    tracing::info!(project = %request.project_folder, modules = ?request.modules, "request prepared");
    Ok(PrepareCourseOutput {
        project_folder: request.project_folder.clone(),
        outline_key: request.outline_key.clone(),
        request_key,
        content_type: request.content_type,
        module_numbers: request.modules.clone(),
        modules,
        max_concurrency: request.max_concurrency,
        lesson_concurrency: request.lesson_concurrency,
        force: request.force,
        course_title: outline.course.title.clone(),
    })
}
