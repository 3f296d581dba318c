//! Helpers shared by the stages: input checks, outline loading, sidecars, visual tags and the
//! "call, validate, repair once" model loop.

use coursegen_core::contracts::OutputMeta;
use coursegen_core::fingerprint::PROMPT_VERSION;
use coursegen_core::model::extract_json;
use coursegen_core::{
    keys, BlobStore, BlobStoreExt, ModelId, Outline, StageError, StageResult, TextModel, TextRequest, TextResponse,
    Usage,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Reject a project folder that is not `[a-z0-9][a-z0-9-]{0,62}` before any key is built from it.
pub(crate) fn check_project(project: &str) -> StageResult<()> {
    if keys::is_valid_project_folder(project) {
        Ok(())
    } else {
        Err(StageError::request(
            "project_folder",
            format!("{project:?} is not a valid project folder (use lowercase letters, digits and dashes, at most 63)"),
        ))
    }
}

/// Read and parse the outline at `key`.
pub(crate) async fn load_outline(store: &dyn BlobStore, key: &str) -> StageResult<Outline> {
    keys::validate_key(key).map_err(|e| StageError::request("outline_key", e.to_string()))?;
    let text = store.get_text(key).await?;
    coursegen_core::parse_outline(&text)
}

/// The course outline for stages whose input names no outline key: the outline the normalised
/// request points to, else the default outline key. `None` when neither can be read and parsed
/// (those stages then fall back to what the lesson or plan itself says).
pub(crate) async fn course_outline(store: &dyn BlobStore, project: &str) -> StageResult<Option<Outline>> {
    let mut key = keys::outline_key(project);
    if let Some(bytes) = store.get(&keys::request_key(project)).await? {
        if let Ok(request) = serde_json::from_slice::<coursegen_core::Request>(&bytes) {
            if keys::validate_key(&request.outline_key).is_ok() {
                key = request.outline_key;
            }
        }
    }
    let Some(bytes) = store.get(&key).await? else {
        return Ok(None);
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return Ok(None);
    };
    Ok(coursegen_core::parse_outline(&text).ok())
}

/// Check a module number against the outline.
pub(crate) fn check_module(outline: &Outline, module: u32) -> StageResult<&coursegen_core::Module> {
    outline.module(module).ok_or_else(|| {
        StageError::request(
            "module_number",
            format!("module {module} is out of range: the outline has {} module(s)", outline.modules.len()),
        )
    })
}

/// Read an output's sidecar; a missing or unreadable sidecar counts as absent (the output is
/// then regenerated rather than trusted).
pub(crate) async fn read_meta(store: &dyn BlobStore, output_key: &str) -> StageResult<Option<OutputMeta>> {
    let Some(bytes) = store.get(&keys::meta_key(output_key)).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice(&bytes).ok())
}

/// Read a sidecar as loose JSON (to keep fields other stages added).
pub(crate) async fn read_meta_value(store: &dyn BlobStore, output_key: &str) -> StageResult<Option<Value>> {
    let Some(bytes) = store.get(&keys::meta_key(output_key)).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice::<Value>(&bytes).ok().filter(Value::is_object))
}

/// Whether `output_key` exists and its sidecar records `fingerprint`.
pub(crate) async fn is_fresh(store: &dyn BlobStore, output_key: &str, fingerprint: &str) -> StageResult<bool> {
    match read_meta(store, output_key).await? {
        Some(meta) if meta.fingerprint == fingerprint => Ok(store.get(output_key).await?.is_some()),
        _ => Ok(false),
    }
}

/// Build a sidecar for an output made now.
pub(crate) fn new_meta(
    stage: &str,
    fingerprint: String,
    model: ModelId,
    usage: Usage,
    words: Option<u64>,
) -> OutputMeta {
    OutputMeta {
        fingerprint,
        stage: stage.to_string(),
        model,
        prompt_version: PROMPT_VERSION.to_string(),
        usage,
        words,
    }
}

/// Write text then its sidecar (the sidecar last: it marks the output complete).
pub(crate) async fn put_with_meta(
    store: &dyn BlobStore,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
    meta: &OutputMeta,
) -> StageResult<()> {
    store.put(key, body, content_type).await?;
    store.put_json(&keys::meta_key(key), meta).await
}

/// The model id as JSON, for fingerprints.
pub(crate) fn model_json(id: &ModelId) -> Value {
    serde_json::json!({"provider": id.provider, "model": id.model})
}

/// A deterministic 31-bit number derived from `s` (seeds, variation picks).
pub(crate) fn stable_u32(s: &str) -> u32 {
    let fp = coursegen_core::fingerprint::fingerprint(&Value::String(s.to_string()));
    u32::from_str_radix(fp.get(..8).unwrap_or("0"), 16).unwrap_or(0) & 0x7fff_ffff
}

/// One `[VISUAL: ...]` tag: byte range in the Markdown and the text inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tag {
    pub start: usize,
    pub end: usize,
    pub content: String,
}

/// Every `[VISUAL: ...]` tag (the word `VISUAL` in any case), in document order. A tag ends at
/// the first `]` on the same line; an unclosed tag is plain text.
pub(crate) fn find_tags(md: &str) -> Vec<Tag> {
    const OPEN: &[u8] = b"[visual:";
    let bytes = md.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + OPEN.len() <= bytes.len() {
        if bytes[i] == b'[' && bytes[i..i + OPEN.len()].eq_ignore_ascii_case(OPEN) {
            let body_start = i + OPEN.len();
            let close = bytes[body_start..].iter().position(|b| *b == b']' || *b == b'\n');
            if let Some(off) = close {
                let end = body_start + off;
                if bytes[end] == b']' {
                    let content = md.get(body_start..end).unwrap_or("").trim().to_string();
                    out.push(Tag { start: i, end: end + 1, content });
                    i = end + 1;
                    continue;
                }
            }
        }
        i += 1;
    }
    out
}

/// Replace each tag with `replacement(index)`.
pub(crate) fn replace_tags(md: &str, tags: &[Tag], replacement: impl Fn(usize) -> String) -> String {
    let mut out = String::with_capacity(md.len());
    let mut last = 0;
    for (i, tag) in tags.iter().enumerate() {
        out.push_str(md.get(last..tag.start).unwrap_or(""));
        out.push_str(&replacement(i));
        last = tag.end;
    }
    out.push_str(md.get(last..).unwrap_or(""));
    out
}

/// Check a JSON value against a schema; every error as `path: message`.
pub(crate) fn schema_errors(schema: &Value, value: &Value) -> StageResult<Vec<String>> {
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| StageError::Internal(format!("invalid built-in JSON schema: {e}")))?;
    Ok(validator
        .iter_errors(value)
        .map(|e| {
            let path = e.instance_path().to_string();
            if path.is_empty() {
                e.to_string()
            } else {
                format!("{path}: {e}")
            }
        })
        .collect())
}

/// The structured answer of a response (the provider's parsed value, else the text as JSON),
/// checked against the request's schema, read as a `T` and then checked by `check`: the
/// verdict the repair loop acts on.
pub(crate) fn accept_structured<T: DeserializeOwned>(
    request: &TextRequest,
    response: &TextResponse,
    check: &dyn Fn(&T) -> Vec<String>,
) -> StageResult<Verdict<T>> {
    let Some(value) = response.structured.clone().or_else(|| extract_json(&response.text)) else {
        return Ok(Err(vec!["the answer is not a JSON object".to_string()]));
    };
    if let Some(schema) = &request.json_schema {
        let errors = schema_errors(schema, &value)?;
        if !errors.is_empty() {
            return Ok(Err(errors));
        }
    }
    let answer: T = match serde_json::from_value(value) {
        Ok(a) => a,
        Err(e) => return Ok(Err(vec![format!("the plan does not have the expected shape: {e}")])),
    };
    let errors = check(&answer);
    Ok(if errors.is_empty() { Ok(answer) } else { Err(errors) })
}

/// A checked answer: the usable value, or every problem found (fed back in the repair call).
pub(crate) type Verdict<T> = Result<T, Vec<String>>;

const MAX_ECHO_CHARS: usize = 24_000;

/// The repair request: the original prompt, what was wrong, and the previous answer.
fn repair_request(request: &TextRequest, previous: &str, errors: &[String]) -> TextRequest {
    let mut repair = request.clone();
    let echoed: String = previous.chars().take(MAX_ECHO_CHARS).collect();
    let list: Vec<String> = errors.iter().map(|e| format!("- {e}")).collect();
    repair.prompt = format!(
        "{}\n\n---\nYour previous answer could not be used:\n{}\n\nPrevious answer:\n<<<\n{}\n>>>\n\n\
         Write the complete answer again, fixing every problem listed above and keeping everything else.",
        request.prompt,
        list.join("\n"),
        echoed
    );
    if let Value::Object(map) = &mut repair.brief {
        map.insert("repair".to_string(), serde_json::json!({ "errors": errors }));
    }
    repair
}

/// The one "call, validate, repair once" loop every provider goes through: call the model; if
/// `accept` rejects the answer (schema or stage rules), make one repair call that lists the
/// problems; if that is rejected too, raise `StageError::Model` naming the stage and subject.
/// Providers make one model call per request and never repair, so a call here is at most two
/// model calls. Errors the model raises (throttling, provider failures) propagate unchanged.
pub(crate) async fn call_with_repair<T>(
    model: &dyn TextModel,
    request: &TextRequest,
    accept: &(dyn Fn(&TextResponse) -> StageResult<Verdict<T>> + Sync),
) -> StageResult<(T, Usage)> {
    let mut usage = Usage::default();
    let first = model.generate(request).await?;
    add_usage(&mut usage, &first.usage);
    let errors = match accept(&first)? {
        Ok(v) => return Ok((v, usage)),
        Err(errors) => errors,
    };
    tracing::warn!(stage = request.task.stage(), subject = %request.subject, ?errors, "answer rejected; repairing once");
    let repair = repair_request(request, &first.text, &errors);
    let second = model.generate(&repair).await?;
    add_usage(&mut usage, &second.usage);
    match accept(&second)? {
        Ok(v) => Ok((v, usage)),
        Err(errors) => Err(StageError::model(
            request.task.stage(),
            request.subject.clone(),
            format!("unusable answer after one repair: {}", errors.join("; ")),
        )),
    }
}

/// Add one call's usage (a provider that reports no calls still made one).
pub(crate) fn add_usage(total: &mut Usage, one: &Usage) {
    let mut u = *one;
    if u.calls == 0 {
        u.calls = 1;
    }
    total.add(&u);
}

/// The subject string errors and logs use for a lesson.
pub(crate) fn lesson_subject(module: u32, lesson: u32) -> String {
    format!("module {module} lesson {lesson}")
}

/// The first `max` characters of `s` (by characters, never splitting one).
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_found_in_order_and_replaced_in_place() {
        let md = "a [VISUAL: one] b [visual:two ] [VISUAL: open\n] c [VISUAL: three]";
        let tags = find_tags(md);
        let contents: Vec<&str> = tags.iter().map(|t| t.content.as_str()).collect();
        assert_eq!(contents, ["one", "two", "three"]);
        let out = replace_tags(md, &tags, |i| format!("<{i}>"));
        assert_eq!(out, "a <0> b <1> [VISUAL: open\n] c <2>");
    }

    #[test]
    fn json_is_extracted_from_fenced_answers() {
        assert_eq!(extract_json("```json\n{\"a\": 1}\n```"), Some(serde_json::json!({"a": 1})));
        assert_eq!(extract_json("no json"), None);
        assert_eq!(extract_json("} {"), None);
    }

    #[test]
    fn clip_never_splits_characters() {
        assert_eq!(clip("ñandú", 10), "ñandú");
        assert_eq!(clip("ñandúñandú", 4), "ñan…");
    }
}
