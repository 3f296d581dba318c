//! JSONPath handling as Step Functions uses it: Paths (`$`-rooted against the state input,
//! `$$`-rooted against the context object), reference paths for `ResultPath`, and payload
//! templates (`Parameters`, `ItemSelector`, `ResultSelector`) whose `.$` keys are expanded.
//!
//! Evaluation is delegated to `serde_json_path`; this module only splits off the `$$`
//! context prefix, rewrites dot-notation names that RFC 9535 shorthand does not accept
//! (for example `$.my-key`) into bracket notation, and classifies a path as definite
//! (a single node) or indefinite (wildcards, filters, slices, unions, descent).

use serde_json::{Map, Value};
use serde_json_path::JsonPath;

use crate::error::{names, PathError, PathSyntax, StatesError, TemplateError, TemplateProblem};
use crate::intrinsics;

/// Longest rendition of a JSON document quoted in an error cause.
const MAX_QUOTED_CHARS: usize = 1_000;

/// Which document a path is evaluated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    Input,
    Context,
}

/// One step of a definite (reference) path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(i64),
}

/// A path checked and rewritten into RFC 9535 syntax.
#[derive(Debug)]
struct Prepared {
    root: Root,
    /// The path compiled from its RFC 9535 rewrite.
    compiled: JsonPath,
    /// The segments when the path is definite; `None` when it is indefinite.
    segments: Option<Vec<Segment>>,
}

/// Splits the root, rewrites the path and classifies it; the result has been parsed by
/// `serde_json_path` successfully.
fn prepare(path: &str) -> Result<Prepared, PathError> {
    let (root, rest) = if let Some(rest) = path.strip_prefix("$$") {
        (Root::Context, rest)
    } else if let Some(rest) = path.strip_prefix('$') {
        (Root::Input, rest)
    } else {
        return Err(PathError::Root(path.to_string()));
    };
    let syntax = |reason| PathError::Syntax { path: path.to_string(), reason };
    let (normalized, segments) = normalize(rest).map_err(syntax)?;
    let compiled = JsonPath::parse(&normalized).map_err(|e| syntax(PathSyntax::JsonPath(e.to_string())))?;
    Ok(Prepared { root, compiled, segments })
}

/// True when `name` is a valid RFC 9535 member-name shorthand.
fn is_shorthand_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || !c.is_ascii() => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii())
}

/// Renders `name` as a single-quoted RFC 9535 string literal.
fn quote_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('\'');
    for c in name.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Rewrites the part of a path after its `$` root. Returns the `$`-rooted normalized path
/// and, for a definite path, its segments.
fn normalize(rest: &str) -> Result<(String, Option<Vec<Segment>>), PathSyntax> {
    let chars: Vec<char> = rest.chars().collect();
    let mut out = String::from("$");
    let mut segments = Some(Vec::new());
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let descent = chars.get(i + 1) == Some(&'.');
                if descent {
                    segments = None;
                    out.push_str("..");
                    i += 2;
                    if matches!(chars.get(i), Some('[')) {
                        continue;
                    }
                } else {
                    i += 1;
                }
                if chars.get(i) == Some(&'*') {
                    segments = None;
                    if !descent {
                        out.push('.');
                    }
                    out.push('*');
                    i += 1;
                    continue;
                }
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                if name.is_empty() {
                    return Err(PathSyntax::EmptyMember);
                }
                if name.chars().any(char::is_whitespace) {
                    return Err(PathSyntax::WhitespaceInMember(name));
                }
                if is_shorthand_name(&name) {
                    if !descent {
                        out.push('.');
                    }
                    out.push_str(&name);
                } else {
                    out.push('[');
                    out.push_str(&quote_name(&name));
                    out.push(']');
                }
                if let Some(segs) = segments.as_mut() {
                    segs.push(Segment::Key(name));
                }
            }
            '[' => {
                let end = matching_bracket(&chars, i)?;
                let inner: String = chars[i + 1..end].iter().collect();
                out.push('[');
                out.push_str(&inner);
                out.push(']');
                match classify_selector(inner.trim()) {
                    Some(seg) => {
                        if let Some(segs) = segments.as_mut() {
                            segs.push(seg);
                        }
                    }
                    None => segments = None,
                }
                i = end + 1;
            }
            c => return Err(PathSyntax::UnexpectedChar(c)),
        }
    }
    Ok((out, segments))
}

/// Index of the `]` closing the `[` at `open`, skipping quoted strings and nested brackets.
fn matching_bracket(chars: &[char], open: usize) -> Result<usize, PathSyntax> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut i = open;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            if c == '\\' {
                i += 1;
            } else if c == q {
                quote = None;
            }
        } else {
            match c {
                '\'' | '"' => quote = Some(c),
                '[' => depth += 1,
                ']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Ok(i);
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    Err(PathSyntax::UnclosedBracket)
}

/// Classifies a bracket selector: a single quoted name or a single integer index is
/// definite; anything else (wildcard, slice, union, filter) is not.
fn classify_selector(inner: &str) -> Option<Segment> {
    if let Some(quote) = inner.chars().next().filter(|c| *c == '\'' || *c == '"') {
        return unquote(inner, quote).map(Segment::Key);
    }
    let digits = inner.strip_prefix('-').unwrap_or(inner);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        return inner.parse::<i64>().ok().map(Segment::Index);
    }
    None
}

/// Decodes a complete quoted string literal; `None` when `text` is not exactly one literal.
fn unquote(text: &str, quote: char) -> Option<String> {
    let mut chars = text.chars();
    if chars.next() != Some(quote) {
        return None;
    }
    let mut out = String::new();
    loop {
        let c = chars.next()?;
        if c == quote {
            break;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16).ok()?;
                out.push(char::from_u32(code)?);
            }
            other => out.push(other),
        }
    }
    if chars.next().is_some() {
        return None;
    }
    Some(out)
}

/// Compact JSON text of `value`, shortened for use inside an error cause.
pub(crate) fn quoted(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= MAX_QUOTED_CHARS {
        text
    } else {
        let mut short: String = text.chars().take(MAX_QUOTED_CHARS).collect();
        short.push_str("...");
        short
    }
}

/// Evaluate a Path (`$`, `$.a.b`, `$.list[0]`, `$.a[*].b`, `$..x`, or a context path starting
/// `$$`, e.g. `$$.Map.Item.Value`, `$$.Execution.Id`) against `input` (or `context` for `$$`).
/// A definite path returns the single value and fails with `States.Runtime` naming the path
/// when nothing matches; an indefinite path returns a JSON array of all matches.
pub fn select(path: &str, input: &Value, context: &Value) -> Result<Value, StatesError> {
    match select_opt(path, input, context)? {
        Some(value) => Ok(value),
        None => {
            let (what, doc) = if path.starts_with("$$") { ("context object", context) } else { ("input", input) };
            Err(StatesError::runtime(format!(
                "The JSONPath '{path}' could not be found in the {what} '{}'",
                quoted(doc)
            )))
        }
    }
}

/// Like [`select`] but returns `Ok(None)` instead of an error when a definite path matches
/// nothing (used by Choice `IsPresent` and `Variable`).
pub fn select_opt(path: &str, input: &Value, context: &Value) -> Result<Option<Value>, StatesError> {
    let prepared = prepare(path).map_err(|e| StatesError::runtime(e.to_string()))?;
    let doc = match prepared.root {
        Root::Input => input,
        Root::Context => context,
    };
    let nodes = prepared.compiled.query(doc);
    if prepared.segments.is_some() {
        Ok(nodes.first().cloned())
    } else {
        Ok(Some(Value::Array(nodes.all().into_iter().cloned().collect())))
    }
}

/// Load-time check of a Path string (syntax; `$`/`$$` prefix).
pub fn validate_path(path: &str) -> Result<(), PathError> {
    prepare(path).map(|_| ())
}

/// Segments of a reference path, or why it is not one.
fn reference_segments(path: &str) -> Result<Vec<Segment>, PathError> {
    if path.starts_with("$$") {
        return Err(PathError::ContextReference(path.to_string()));
    }
    let prepared = prepare(path)?;
    prepared.segments.ok_or_else(|| PathError::Indefinite(path.to_string()))
}

/// Load-time check of a reference path (used by `ResultPath`): only definite, `$`-rooted,
/// no `$$`.
pub fn validate_reference_path(path: &str) -> Result<(), PathError> {
    reference_segments(path).map(|_| ())
}

/// Apply `ResultPath`. `None` = field absent = `$` (result replaces input); `Some(None)` = JSON
/// null (discard the result, keep the input); `Some(Some(path))` = place the result at that
/// reference path inside a copy of the input, creating intermediate objects. An intermediate
/// that exists and is not an object (or a missing array element) fails with
/// `States.ResultPathMatchFailure`.
pub fn apply_result_path(
    input: &Value,
    result_path: Option<Option<&str>>,
    result: Value,
) -> Result<Value, StatesError> {
    let path = match result_path {
        None => return Ok(result),
        Some(None) => return Ok(input.clone()),
        Some(Some(path)) => path,
    };
    let segments = reference_segments(path).map_err(|e| StatesError::runtime(e.to_string()))?;
    if segments.is_empty() {
        return Ok(result);
    }
    let mut output = input.clone();
    place(&mut output, &segments, result).map_err(|()| {
        StatesError::new(
            names::RESULT_PATH_MATCH_FAILURE,
            format!("Unable to apply ResultPath \"{path}\" to input \"{}\"", quoted(input)),
        )
    })?;
    Ok(output)
}

/// Writes `result` at `segments` below `target`, creating missing object members.
fn place(target: &mut Value, segments: &[Segment], result: Value) -> Result<(), ()> {
    let Some((first, rest)) = segments.split_first() else {
        *target = result;
        return Ok(());
    };
    let slot = match (first, target) {
        (Segment::Key(key), Value::Object(map)) => {
            if rest.is_empty() {
                map.insert(key.clone(), result);
                return Ok(());
            }
            map.entry(key.clone()).or_insert_with(|| Value::Object(Map::new()))
        }
        (Segment::Index(index), Value::Array(items)) => {
            let len = i64::try_from(items.len()).map_err(|_| ())?;
            let position = if *index < 0 { len + index } else { *index };
            let position = usize::try_from(position).map_err(|_| ())?;
            items.get_mut(position).ok_or(())?
        }
        _ => return Err(()),
    };
    place(slot, rest, result)
}

/// Expand a payload template (`Parameters`, `ItemSelector`, `ResultSelector`): recursively
/// copies `template`; every object key ending in `.$` must hold a string that is a Path
/// (evaluated with [`select`] against input/context) or an intrinsic function call
/// (evaluated with [`intrinsics::evaluate`]); the key loses its `.$` suffix. Failures carry
/// `States.Runtime` (path) or `States.IntrinsicFailure` (intrinsic).
pub fn expand_template(template: &Value, input: &Value, context: &Value) -> Result<Value, StatesError> {
    match template {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (key, value) in map {
                match key.strip_suffix(".$") {
                    Some(name) => {
                        let expanded = expand_dynamic(key, value, input, context)?;
                        out.insert(name.to_string(), expanded);
                    }
                    None => {
                        out.insert(key.clone(), expand_template(value, input, context)?);
                    }
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => items
            .iter()
            .map(|item| expand_template(item, input, context))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

/// Evaluates the value of one `.$` key.
fn expand_dynamic(key: &str, value: &Value, input: &Value, context: &Value) -> Result<Value, StatesError> {
    let Some(expr) = value.as_str() else {
        return Err(StatesError::runtime(format!(
            "The value for the field '{key}' must be a STRING that contains a JSONPath or an intrinsic function"
        )));
    };
    if intrinsics::is_intrinsic(expr) {
        return intrinsics::evaluate(expr, input, context);
    }
    if !expr.starts_with('$') {
        return Err(StatesError::runtime(format!(
            "The value '{expr}' for the field '{key}' is neither a JSONPath nor an intrinsic function"
        )));
    }
    match select_opt(expr, input, context)? {
        Some(v) => Ok(v),
        None => {
            let (what, doc) = if expr.starts_with("$$") { ("context object", context) } else { ("input", input) };
            Err(StatesError::runtime(format!(
                "The JSONPath '{expr}' specified for the field '{key}' could not be found in the {what} '{}'",
                quoted(doc)
            )))
        }
    }
}

/// Escapes one JSON Pointer reference token (RFC 6901).
fn pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Load-time validation of a payload template: every `.$` value is a string that is a valid
/// path or a valid intrinsic call; the error locates the offending key.
pub fn validate_template(template: &Value) -> Result<(), TemplateError> {
    validate_at(template, "")
}

fn validate_at(template: &Value, location: &str) -> Result<(), TemplateError> {
    match template {
        Value::Object(map) => {
            for (key, value) in map {
                let here = format!("{location}/{}", pointer_token(key));
                if key.ends_with(".$") {
                    let Some(expr) = value.as_str() else {
                        return Err(TemplateError {
                            location: here,
                            problem: TemplateProblem::NotAString(key.clone()),
                        });
                    };
                    let checked = if intrinsics::is_intrinsic(expr) {
                        intrinsics::validate(expr).map_err(TemplateProblem::from)
                    } else {
                        validate_path(expr).map_err(TemplateProblem::from)
                    };
                    checked.map_err(|problem| TemplateError { location: here, problem })?;
                } else {
                    validate_at(value, &here)?;
                }
            }
            Ok(())
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                validate_at(item, &format!("{location}/{index}"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::IntrinsicSyntax;
    use serde_json::json;

    fn input() -> Value {
        json!({
            "a": {"b": 1, "c": [10, 20, 30]},
            "items": [{"id": 1, "tag": "x"}, {"id": 2, "tag": "y"}, {"id": 3}],
            "my-key": "dash",
            "n": null,
            "name": "World"
        })
    }

    fn context() -> Value {
        json!({
            "Execution": {"Id": "arn:exec:1", "Input": {"k": 1}},
            "Map": {"Item": {"Index": 2, "Value": {"v": "item"}}}
        })
    }

    #[test]
    fn dollar_selects_whole_input() {
        assert_eq!(select("$", &input(), &context()).unwrap(), input());
    }

    #[test]
    fn definite_path_returns_single_value() {
        assert_eq!(select("$.a.b", &input(), &context()).unwrap(), json!(1));
        assert_eq!(select("$.a.c[1]", &input(), &context()).unwrap(), json!(20));
        assert_eq!(select("$['a']['c'][0]", &input(), &context()).unwrap(), json!(10));
    }

    #[test]
    fn definite_path_returns_null_value_not_absent() {
        assert_eq!(select("$.n", &input(), &context()).unwrap(), Value::Null);
        assert_eq!(select_opt("$.n", &input(), &context()).unwrap(), Some(Value::Null));
    }

    #[test]
    fn negative_index_is_definite() {
        assert_eq!(select("$.a.c[-1]", &input(), &context()).unwrap(), json!(30));
    }

    #[test]
    fn dotted_name_with_dash_is_supported() {
        assert_eq!(select("$.my-key", &input(), &context()).unwrap(), json!("dash"));
    }

    #[test]
    fn missing_definite_path_is_states_runtime() {
        let err = select("$.a.zzz", &input(), &context()).unwrap_err();
        assert_eq!(err.error, names::RUNTIME);
        assert!(err.cause.contains("$.a.zzz"), "{}", err.cause);
    }

    #[test]
    fn missing_definite_path_gives_none_with_select_opt() {
        assert_eq!(select_opt("$.nope", &input(), &context()).unwrap(), None);
        assert_eq!(select_opt("$.a.c[7]", &input(), &context()).unwrap(), None);
    }

    #[test]
    fn wildcard_path_returns_array_of_matches() {
        assert_eq!(select("$.items[*].id", &input(), &context()).unwrap(), json!([1, 2, 3]));
        assert_eq!(select("$.items[*].tag", &input(), &context()).unwrap(), json!(["x", "y"]));
    }

    #[test]
    fn indefinite_path_without_matches_is_empty_array() {
        assert_eq!(select("$.items[*].missing", &input(), &context()).unwrap(), json!([]));
    }

    #[test]
    fn descent_slice_union_and_filter_are_indefinite() {
        assert_eq!(select("$..b", &input(), &context()).unwrap(), json!([1]));
        assert_eq!(select("$.a.c[0:2]", &input(), &context()).unwrap(), json!([10, 20]));
        assert_eq!(select("$.a.c[0,2]", &input(), &context()).unwrap(), json!([10, 30]));
        assert_eq!(select("$.items[?(@.id > 1)].id", &input(), &context()).unwrap(), json!([2, 3]));
    }

    #[test]
    fn context_paths_read_the_context_object() {
        assert_eq!(select("$$.Execution.Id", &input(), &context()).unwrap(), json!("arn:exec:1"));
        assert_eq!(select("$$.Map.Item.Value", &input(), &context()).unwrap(), json!({"v": "item"}));
        assert_eq!(select("$$", &input(), &context()).unwrap(), context());
    }

    #[test]
    fn missing_context_path_names_the_context_object() {
        let err = select("$$.Task.Token", &input(), &context()).unwrap_err();
        assert_eq!(err.error, names::RUNTIME);
        assert!(err.cause.contains("$$.Task.Token") && err.cause.contains("context"));
    }

    #[test]
    fn invalid_path_at_runtime_is_states_runtime() {
        let err = select("a.b", &input(), &context()).unwrap_err();
        assert_eq!(err.error, names::RUNTIME);
        assert!(select("$.a[", &input(), &context()).is_err());
    }

    #[test]
    fn validate_path_accepts_good_and_rejects_bad() {
        for good in ["$", "$.a", "$$.Execution.Id", "$.a[*].b", "$..x", "$['a b']", "$.x[?(@.y == 'z')]"] {
            assert!(validate_path(good).is_ok(), "{good}");
        }
        for bad in ["", "a", "$.", "$.a[", "$a", "$.a b", "$.a..", "$[?]"] {
            assert!(validate_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reference_paths_must_be_definite_and_input_rooted() {
        assert!(validate_reference_path("$").is_ok());
        assert!(validate_reference_path("$.a.b[0]['c d']").is_ok());
        assert!(validate_reference_path("$.a[*]").is_err());
        assert!(validate_reference_path("$..a").is_err());
        assert!(validate_reference_path("$.a[0:1]").is_err());
        assert_eq!(validate_reference_path("$$.Execution"), Err(PathError::ContextReference("$$.Execution".into())));
        assert!(validate_reference_path("a").is_err());
    }

    #[test]
    fn result_path_absent_replaces_input() {
        let out = apply_result_path(&input(), None, json!({"r": 1})).unwrap();
        assert_eq!(out, json!({"r": 1}));
    }

    #[test]
    fn result_path_dollar_replaces_input() {
        let out = apply_result_path(&input(), Some(Some("$")), json!(5)).unwrap();
        assert_eq!(out, json!(5));
    }

    #[test]
    fn result_path_null_discards_result() {
        let out = apply_result_path(&input(), Some(None), json!({"r": 1})).unwrap();
        assert_eq!(out, input());
    }

    #[test]
    fn result_path_merges_into_copy_of_input() {
        let inp = json!({"x": 1});
        let out = apply_result_path(&inp, Some(Some("$.result")), json!("ok")).unwrap();
        assert_eq!(out, json!({"x": 1, "result": "ok"}));
        assert_eq!(inp, json!({"x": 1}));
    }

    #[test]
    fn result_path_overwrites_existing_field_in_place() {
        let inp = json!({"a": 1, "b": 2});
        let out = apply_result_path(&inp, Some(Some("$.a")), json!(9)).unwrap();
        assert_eq!(out.to_string(), r#"{"a":9,"b":2}"#);
    }

    #[test]
    fn result_path_creates_intermediate_objects() {
        let out = apply_result_path(&json!({"x": 1}), Some(Some("$.a.b.c")), json!(true)).unwrap();
        assert_eq!(out, json!({"x": 1, "a": {"b": {"c": true}}}));
    }

    #[test]
    fn result_path_into_existing_array_element() {
        let out = apply_result_path(&json!({"l": [1, {"k": 0}]}), Some(Some("$.l[1].k")), json!(7)).unwrap();
        assert_eq!(out, json!({"l": [1, {"k": 7}]}));
    }

    #[test]
    fn result_path_through_non_object_is_match_failure() {
        let err = apply_result_path(&json!({"a": 5}), Some(Some("$.a.b")), json!(1)).unwrap_err();
        assert_eq!(err.error, names::RESULT_PATH_MATCH_FAILURE);
        let err = apply_result_path(&json!("text"), Some(Some("$.a")), json!(1)).unwrap_err();
        assert_eq!(err.error, names::RESULT_PATH_MATCH_FAILURE);
        let err = apply_result_path(&json!({"l": [1]}), Some(Some("$.l[3]")), json!(1)).unwrap_err();
        assert_eq!(err.error, names::RESULT_PATH_MATCH_FAILURE);
    }

    #[test]
    fn result_path_rejects_indefinite_path_at_runtime() {
        let err = apply_result_path(&json!({}), Some(Some("$.a[*]")), json!(1)).unwrap_err();
        assert_eq!(err.error, names::RUNTIME);
    }

    #[test]
    fn template_expands_paths_and_strips_suffix() {
        let template = json!({"greeting.$": "$.name", "static": "v", "id.$": "$$.Execution.Id"});
        let out = expand_template(&template, &input(), &context()).unwrap();
        assert_eq!(out, json!({"greeting": "World", "static": "v", "id": "arn:exec:1"}));
    }

    #[test]
    fn template_expands_nested_objects_and_arrays() {
        let template = json!({
            "outer": {"inner.$": "$.a.b", "list": [{"x.$": "$.items[*].id"}, 3, "lit"]},
            "keep": [true, null]
        });
        let out = expand_template(&template, &input(), &context()).unwrap();
        assert_eq!(out, json!({"outer": {"inner": 1, "list": [{"x": [1, 2, 3]}, 3, "lit"]}, "keep": [true, null]}));
    }

    #[test]
    fn template_evaluates_intrinsics() {
        let template = json!({"msg.$": "States.Format('Hello {}', $.name)"});
        let out = expand_template(&template, &input(), &context()).unwrap();
        assert_eq!(out, json!({"msg": "Hello World"}));
    }

    #[test]
    fn template_missing_path_is_states_runtime_naming_field() {
        let err = expand_template(&json!({"v.$": "$.missing"}), &input(), &context()).unwrap_err();
        assert_eq!(err.error, names::RUNTIME);
        assert!(err.cause.contains("$.missing") && err.cause.contains("v.$"), "{}", err.cause);
    }

    #[test]
    fn template_intrinsic_failure_is_reported() {
        let err = expand_template(&json!({"v.$": "States.StringToJson('{bad')"}), &input(), &context()).unwrap_err();
        assert_eq!(err.error, names::INTRINSIC_FAILURE);
    }

    #[test]
    fn template_non_string_dynamic_value_is_an_error() {
        let err = expand_template(&json!({"v.$": 3}), &input(), &context()).unwrap_err();
        assert_eq!(err.error, names::RUNTIME);
    }

    #[test]
    fn validate_template_reports_json_pointer_location() {
        assert!(validate_template(&json!({"a.$": "$.x", "b": [{"c.$": "States.UUID()"}]})).is_ok());
        let e = validate_template(&json!({"b": [1, {"c.$": "nope"}]})).unwrap_err();
        assert_eq!(e.location, "/b/1/c.$");
        assert_eq!(e.problem, TemplateProblem::Path(PathError::Root("nope".into())));
        let e = validate_template(&json!({"x/y.$": 1})).unwrap_err();
        assert_eq!(e.location, "/x~1y.$");
        assert!(e.problem.to_string().contains("string"));
        let e = validate_template(&json!({"f.$": "States.Nope(1)"})).unwrap_err();
        assert_eq!(e.location, "/f.$");
        assert_eq!(e.problem, TemplateProblem::Intrinsic(IntrinsicSyntax::Unsupported("States.Nope".into())));
    }
}
