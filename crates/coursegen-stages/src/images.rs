//! ImagesGen: render exactly the prompts a module's planners produced (never a folder listing):
//! diagrams locally as SVG, illustrations through the image model.

use std::collections::BTreeMap;

use coursegen_core::contracts::{ImagesGenInput, ImagesGenOutput, VisualKind, VisualPrompt};
use coursegen_core::fingerprint::{fingerprint, PROMPT_VERSION};
use coursegen_core::{keys, BlobStore, BlobStoreExt, ImageRequest, ModelId, StageError, StageResult, Usage};
use futures::stream::{self, StreamExt};
use serde_json::json;

use crate::common::{check_project, is_fresh, model_json, new_meta, put_with_meta, stable_u32};
use crate::{diagram, Deps};

const STAGE: &str = "ImagesGen";
/// Extensions an image may have (BookBuilder probes these).
pub(crate) const IMAGE_EXTENSIONS: [&str; 2] = ["svg", "png"];

/// The identity of the local diagram renderer (fingerprints and the manifest).
pub(crate) fn diagram_renderer() -> ModelId {
    ModelId { provider: "local".into(), model: "diagram-svg-v1".into() }
}

/// Parse `{project}/prompts/module-MM/lesson-LL/visual-NN.json` into (lesson, n), accepting only
/// keys that `keys::prompt_key` builds for this project and module.
fn parse_prompt_key(project: &str, module: u32, key: &str) -> Option<(u32, u32)> {
    let parts: Vec<&str> = key.split('/').collect();
    let [p, "prompts", _module_dir, lesson_dir, file] = parts.as_slice() else {
        return None;
    };
    if *p != project {
        return None;
    }
    let l: u32 = lesson_dir.strip_prefix("lesson-")?.parse().ok()?;
    let n: u32 = file.strip_prefix("visual-")?.strip_suffix(".json")?.parse().ok()?;
    (keys::prompt_key(project, module, l, n) == key).then_some((l, n))
}

/// Render one module's visuals from the given prompt keys. A key that is not a prompt of this
/// project's module is rejected before anything is rendered. Images whose sidecar records the
/// same fingerprint are reused (unless `force`). Every image is attempted; when several fail, a
/// retryable error is raised in preference to a permanent one.
pub async fn images_gen(input: ImagesGenInput, deps: &Deps) -> StageResult<ImagesGenOutput> {
    let project = input.project_folder.as_str();
    check_project(project)?;
    let m = input.module_number;
    let mut wanted: Vec<(String, u32, u32)> = Vec::with_capacity(input.prompt_keys.len());
    for (i, key) in input.prompt_keys.iter().enumerate() {
        let Some((l, n)) = parse_prompt_key(project, m, key) else {
            return Err(StageError::request(
                format!("prompt_keys[{i}]"),
                format!("{key} is not a visual prompt of module {m} in project {project}"),
            ));
        };
        if !wanted.iter().any(|(k, _, _)| k == key) {
            wanted.push((key.clone(), l, n));
        }
    }
    let concurrency = deps.settings.image_concurrency.max(1);
    let results: Vec<StageResult<(String, String)>> = stream::iter(wanted)
        .map(|(key, l, n)| render_one(project, m, l, n, key, input.force, deps))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut image_mappings = BTreeMap::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok((id, key)) => {
                image_mappings.insert(id, key);
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.len() > 1 {
        let all: Vec<String> = errors.iter().map(|e| format!("{}: {e}", e.error_type())).collect();
        tracing::warn!(module = m, failed = errors.len(), errors = ?all, "images failed");
    }
    // Several images failed: raise a retryable error if there is one, so Step Functions retries
    // the module (finished images are reused) rather than failing it for good.
    if let Some(e) = StageError::prefer_retryable(errors) {
        return Err(e);
    }
    Ok(ImagesGenOutput { module_number: m, image_mappings })
}

async fn render_one(
    project: &str,
    m: u32,
    l: u32,
    n: u32,
    prompt_key: String,
    force: bool,
    deps: &Deps,
) -> StageResult<(String, String)> {
    let store = deps.store.as_ref();
    let prompt: VisualPrompt = store.get_json(&prompt_key).await?.ok_or_else(|| StageError::MissingInput {
        key: prompt_key.clone(),
        message: "visual prompt not found (run VisualPlanner for this lesson first)".into(),
    })?;
    let id = keys::visual_id(m, l, n);
    if prompt.id != id {
        return Err(StageError::store(
            &prompt_key,
            format!("the prompt's id {} does not match its key ({id})", prompt.id),
        ));
    }
    let diagram_spec = match (prompt.kind, &prompt.diagram) {
        (VisualKind::Diagram, Some(spec)) => Some(spec),
        _ => None,
    };
    let renderer = if diagram_spec.is_some() { diagram_renderer() } else { deps.image.id() };
    let (w, h) = (deps.settings.image_width, deps.settings.image_height);
    let fp = fingerprint(&json!({
        "stage": STAGE,
        "id": id,
        "kind": prompt.kind,
        "title": prompt.title,
        "prompt": prompt.prompt,
        "description": prompt.description,
        "diagram": diagram_spec,
        "size": [w, h],
        "renderer": model_json(&renderer),
        "prompt_version": PROMPT_VERSION,
    }));
    if !force {
        for ext in IMAGE_EXTENSIONS {
            let key = keys::image_key(project, &id, ext);
            if is_fresh(store, &key, &fp).await? {
                return Ok((id, key));
            }
        }
    }
    let (bytes, ext, content_type, usage) = match diagram_spec {
        Some(spec) => {
            let svg = diagram::render_svg(spec, &prompt.title);
            (svg.into_bytes(), "svg".to_string(), "image/svg+xml".to_string(), Usage::default())
        }
        None => {
            let text = if prompt.prompt.trim().is_empty() {
                format!("{}: {}", prompt.title, prompt.description)
            } else {
                prompt.prompt.clone()
            };
            let request =
                ImageRequest { visual_id: id.clone(), prompt: text, width: w, height: h, seed: stable_u32(&id) };
            let image = deps.image.generate(&request).await?;
            if !IMAGE_EXTENSIONS.contains(&image.extension.as_str()) || image.bytes.is_empty() {
                return Err(StageError::model(
                    STAGE,
                    format!("visual {id}"),
                    format!(
                        "the image model returned an unusable image ({} bytes, .{})",
                        image.bytes.len(),
                        image.extension
                    ),
                ));
            }
            (image.bytes, image.extension, image.content_type, Usage { input_tokens: 0, output_tokens: 0, calls: 1 })
        }
    };
    let key = keys::image_key(project, &id, &ext);
    let meta = new_meta(STAGE, fp, renderer, usage, None);
    put_with_meta(store, &key, bytes, &content_type, &meta).await?;
    remove_other_extensions(store, project, &id, &ext).await?;
    tracing::info!(visual = %id, %key, "image written");
    Ok((id, key))
}

/// An image that changed type (an illustration became a diagram) leaves no stale file behind.
async fn remove_other_extensions(store: &dyn BlobStore, project: &str, id: &str, keep: &str) -> StageResult<()> {
    for ext in IMAGE_EXTENSIONS.iter().filter(|e| **e != keep) {
        let key = keys::image_key(project, id, ext);
        if store.get(&key).await?.is_some() {
            store.delete(&key).await?;
            store.delete(&keys::meta_key(&key)).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_modules_prompt_keys_parse() {
        let k = keys::prompt_key("p", 2, 3, 4);
        assert_eq!(parse_prompt_key("p", 2, &k), Some((3, 4)));
        assert_eq!(parse_prompt_key("p", 1, &k), None);
        assert_eq!(parse_prompt_key("q", 2, &k), None);
        assert_eq!(parse_prompt_key("p", 2, "p/prompts/module-02/lesson-03/visual-04.json.bak"), None);
        assert_eq!(parse_prompt_key("p", 2, "p/prompts/module-02/../lesson-03/visual-04.json"), None);
        assert_eq!(parse_prompt_key("p", 2, "p/prompts/module-2/lesson-3/visual-4.json"), None);
    }
}
