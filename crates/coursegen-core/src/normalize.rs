//! Request normalisation (PrepareCourse): turn the loosely typed
//! [`RawRequest`] into a [`Request`] checked against the outline, reporting every problem
//! at once with the name of the field it concerns.

use serde_json::Value;

use crate::error::{Problems, StageError};
use crate::keys;
use crate::outline::Outline;
use crate::request::{ContentType, RawRequest, Request, MAX_MAX_CONCURRENCY};

/// The accepted forms of a module selection, for messages.
const MODULE_FORMS: &str = "use \"all\", a list like [1, 3, 4] or a string like \"1,3-5\"";

/// Parse `modules_to_generate`: a list of module numbers (`[1, 3, 4]`, numeric strings
/// allowed), a single number, `"all"`, or a string of numbers and ranges (`"1,3-5"`, spaces
/// allowed), checked against an outline of `module_count` modules.
///
/// Returns the selected module numbers ascending. Zero, out-of-range numbers, reversed
/// ranges (`"5-3"`), duplicates, empty selections and anything that is not a whole number
/// are reported as problems whose path starts with `modules_to_generate` (list entries as
/// `modules_to_generate[i]`).
pub fn parse_module_spec(spec: &Value, module_count: u32) -> Result<Vec<u32>, Problems> {
    parse_spec_at(spec, module_count, "modules_to_generate")
}

/// Module selection parsing with problems reported under `field`.
fn parse_spec_at(spec: &Value, count: u32, field: &str) -> Result<Vec<u32>, Problems> {
    let mut problems = Problems::default();
    // (number, path of the entry it came from)
    let mut picked: Vec<(u64, String)> = Vec::new();
    match spec {
        Value::String(s) => {
            let t = s.trim();
            if t.eq_ignore_ascii_case("all") {
                if count == 0 {
                    problems.push(field, "\"all\" selects nothing: the outline has no modules");
                    return Err(problems);
                }
                return Ok((1..=count).collect());
            }
            if t.is_empty() {
                problems.push(field, format!("is empty; {MODULE_FORMS}"));
            } else {
                for part in t.split(',') {
                    parse_part(part.trim(), s, count, field, &mut picked, &mut problems);
                }
            }
        }
        Value::Array(items) => {
            if items.is_empty() {
                problems.push(field, format!("is an empty list; {MODULE_FORMS}"));
            }
            for (i, item) in items.iter().enumerate() {
                let path = format!("{field}[{i}]");
                match whole_number(item) {
                    Ok(n) => picked.push((n, path)),
                    Err(found) => problems.push(path, format!("must be a module number, found {found}")),
                }
            }
        }
        Value::Number(_) => match whole_number(spec) {
            Ok(n) => picked.push((n, field.to_string())),
            Err(found) => problems.push(field, format!("must be a module number, found {found}; {MODULE_FORMS}")),
        },
        other => {
            problems.push(field, format!("must be a module selection, found {}; {MODULE_FORMS}", json_kind(other)))
        }
    }

    let mut seen = std::collections::BTreeSet::new();
    for (n, path) in picked {
        if n == 0 {
            problems.push(path, "module numbers start at 1; 0 is not a module");
        } else if n > u64::from(count) {
            problems.push(path, format!("module {n} does not exist; the outline has {count} module{}", plural(count)));
        } else if !seen.insert(n) {
            problems.push(path, format!("module {n} is selected more than once"));
        }
    }
    if problems.is_empty() {
        Ok(seen.into_iter().filter_map(|n| u32::try_from(n).ok()).collect())
    } else {
        Err(problems)
    }
}

/// One comma-separated part of a string selection: `3` or `3-5`.
fn parse_part(
    part: &str,
    whole: &str,
    count: u32,
    field: &str,
    picked: &mut Vec<(u64, String)>,
    problems: &mut Problems,
) {
    if part.is_empty() {
        problems.push(field, format!("{whole:?} has an empty entry between commas; {MODULE_FORMS}"));
        return;
    }
    let bad = |problems: &mut Problems| {
        problems.push(field, format!("{part:?} is not a module number or a range like 3-5; {MODULE_FORMS}"));
    };
    match part.split_once('-') {
        Some((a, b)) => {
            let (Some(a), Some(b)) = (digits(a.trim()), digits(b.trim())) else {
                return bad(problems);
            };
            if a > b {
                problems.push(field, format!("range \"{part}\" is reversed; write \"{b}-{a}\""));
            } else if a == 0 {
                problems.push(field, format!("range \"{part}\" includes 0; module numbers start at 1"));
            } else if b > u64::from(count) {
                problems.push(
                    field,
                    format!(
                        "range \"{part}\" goes past the last module; the outline has {count} module{}",
                        plural(count)
                    ),
                );
            } else {
                picked.extend((a..=b).map(|n| (n, field.to_string())));
            }
        }
        None => match digits(part) {
            Some(n) => picked.push((n, field.to_string())),
            None => bad(problems),
        },
    }
}

/// A non-empty run of ASCII digits as a number (saturating, so huge numbers stay huge).
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |n, c| n.saturating_mul(10).saturating_add(u64::from(c - b'0'))))
}

/// What was found where a non-negative whole number was expected, as messages show it.
#[derive(Debug, thiserror::Error)]
enum NotWholeNumber {
    #[error("{0} (a negative number)")]
    Negative(i64),
    #[error("{0} (not a whole number)")]
    Fraction(serde_json::Number),
    #[error("{0:?}")]
    Text(String),
    #[error("{0}")]
    Other(&'static str),
}

/// A JSON number or numeric string that is a non-negative whole number.
fn whole_number(v: &Value) -> Result<u64, NotWholeNumber> {
    match v {
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Ok(u),
            (None, Some(i)) => Err(NotWholeNumber::Negative(i)),
            _ => Err(NotWholeNumber::Fraction(n.clone())),
        },
        Value::String(s) => digits(s.trim()).ok_or_else(|| NotWholeNumber::Text(s.clone())),
        other => Err(NotWholeNumber::Other(json_kind(other))),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A present, non-null request field.
fn given(v: &Option<Value>) -> Option<&Value> {
    v.as_ref().filter(|v| !v.is_null())
}

/// The default project folder for an outline: its course title slugified to at most 63
/// characters, which always satisfies [`keys::is_valid_project_folder`].
pub fn default_project_folder(outline: &Outline) -> String {
    let slug = keys::slugify(&outline.course.title, 63);
    if keys::is_valid_project_folder(&slug) {
        slug
    } else {
        "course".to_string()
    }
}

/// Normalise a raw request against its (already validated) outline.
///
/// Defaults: `project_folder` = `default_project`, `outline_key` =
/// [`keys::outline_key`] of the project, all modules, `theory`, module concurrency = the
/// selected modules and lesson concurrency = the largest selected module's lessons (each at
/// most [`MAX_MAX_CONCURRENCY`]), no `force`. A JSON `null` counts as not given. Every problem
/// is reported at once in [`StageError::InvalidRequest`], each under the field it concerns
/// (`project_folder`, `outline_key`, `modules_to_generate`, `module_number`, `content_type`,
/// `max_concurrency`, `lesson_concurrency`, `force`).
pub fn normalize_request(raw: &RawRequest, outline: &Outline, default_project: &str) -> Result<Request, StageError> {
    let mut problems = Problems::default();
    let project_folder =
        check_project_folder(raw.project_folder.as_deref().unwrap_or(default_project), "project_folder", &mut problems);
    let outline_key = check_outline_key(raw, project_folder.as_deref(), &mut problems);
    let count = u32::try_from(outline.modules.len()).unwrap_or(u32::MAX);
    let modules = select_modules(raw, count, &mut problems);
    let content_type = check_content_type(raw, &mut problems);
    if let (Some(ct), Some(selected)) = (content_type, modules.as_ref()) {
        check_labs_exist(ct, selected, outline, &mut problems);
    }
    // The estimates when the request gives no concurrency: the whole fan-out of the selection.
    let selected = modules.as_deref().unwrap_or_default();
    let module_estimate = u32::try_from(selected.len()).unwrap_or(u32::MAX);
    let lesson_estimate = selected
        .iter()
        .filter_map(|n| outline.module(*n))
        .map(|m| u32::try_from(m.lessons.len()).unwrap_or(u32::MAX))
        .max()
        .unwrap_or(1);
    let max_concurrency = check_concurrency("max_concurrency", &raw.max_concurrency, module_estimate, &mut problems);
    let lesson_concurrency =
        check_concurrency("lesson_concurrency", &raw.lesson_concurrency, lesson_estimate, &mut problems);
    let force = check_force(raw, &mut problems);

    match (project_folder, outline_key, modules, content_type, max_concurrency, lesson_concurrency, force) {
        (
            Some(project_folder),
            Some(outline_key),
            Some(modules),
            Some(content_type),
            Some(max_concurrency),
            Some(lesson_concurrency),
            Some(force),
        ) if problems.is_empty() => Ok(Request {
            project_folder,
            outline_key,
            modules,
            content_type,
            max_concurrency,
            lesson_concurrency,
            force,
        }),
        _ => Err(StageError::InvalidRequest(problems)),
    }
}

/// `outline_key`: a safe store key when given, else the project's default key.
fn check_outline_key(raw: &RawRequest, project_folder: Option<&str>, problems: &mut Problems) -> Option<String> {
    let Some(k) = raw.outline_key.as_deref() else {
        return project_folder.map(keys::outline_key);
    };
    match keys::validate_key(k) {
        Ok(()) => Some(k.to_string()),
        Err(e) => {
            let why = match e {
                StageError::Store { message, .. } => message,
                other => other.to_string(),
            };
            problems.push(
                "outline_key",
                format!(
                    "{k:?} is not a safe store key ({why}); use a relative key like \"my-course/course/outline.yaml\""
                ),
            );
            None
        }
    }
}

/// `content_type`: theory (the default), labs or both.
fn check_content_type(raw: &RawRequest, problems: &mut Problems) -> Option<ContentType> {
    match given(&raw.content_type) {
        None => Some(ContentType::default()),
        Some(Value::String(s)) => match ContentType::parse(s) {
            Some(c) => Some(c),
            None => {
                problems.push("content_type", format!("{s:?} is not a content type; use theory, labs or both"));
                None
            }
        },
        Some(other) => {
            problems.push("content_type", format!("must be theory, labs or both, found {}", json_kind(other)));
            None
        }
    }
}

/// A content type with labs needs at least one lab activity in the selected modules.
fn check_labs_exist(ct: ContentType, selected: &[u32], outline: &Outline, problems: &mut Problems) {
    if ct == ContentType::Theory {
        return;
    }
    let has_labs = selected
        .iter()
        .filter_map(|n| outline.module(*n))
        .any(|m| m.lessons.iter().any(|l| !l.lab_activities.is_empty()));
    if !has_labs {
        let list = selected.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
        problems.push(
            "content_type",
            format!(
                "{} asks for labs, but the selected module{} ({list}) {} no lab_activities; add \
                 lab_activities to their lessons or use content_type theory",
                ct.as_str(),
                plural(u32::try_from(selected.len()).unwrap_or(u32::MAX)),
                if selected.len() == 1 { "has" } else { "have" }
            ),
        );
    }
}

/// `max_concurrency` or `lesson_concurrency` (`field`): a whole number from 1 to
/// [`MAX_MAX_CONCURRENCY`]; `estimate` (clamped to that range) when not given.
fn check_concurrency(field: &str, value: &Option<Value>, estimate: u32, problems: &mut Problems) -> Option<u32> {
    let Some(v) = given(value) else {
        return Some(estimate.clamp(1, MAX_MAX_CONCURRENCY));
    };
    match whole_number(v) {
        Ok(n) if (1..=u64::from(MAX_MAX_CONCURRENCY)).contains(&n) => u32::try_from(n).ok(),
        Ok(n) => {
            problems.push(
                field,
                format!(
                    "{n} is out of range; use 1 to {MAX_MAX_CONCURRENCY} (a Map runs at most 40 iterations at once), \
                     or leave it out to run the whole fan-out the quota allows"
                ),
            );
            None
        }
        Err(found) => {
            problems.push(field, format!("must be a whole number from 1 to {MAX_MAX_CONCURRENCY}, found {found}"));
            None
        }
    }
}

/// `force`: a boolean, or the text `true` / `false`.
fn check_force(raw: &RawRequest, problems: &mut Problems) -> Option<bool> {
    match given(&raw.force) {
        None => Some(false),
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("true") => Some(true),
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("false") => Some(false),
        Some(other) => {
            let found = match other {
                Value::String(s) => format!("{s:?}"),
                v => json_kind(v).to_string(),
            };
            problems.push("force", format!("must be true or false, found {found}"));
            None
        }
    }
}

/// Check a project folder, pushing a problem that quotes the rule and suggests a fix.
fn check_project_folder(p: &str, field: &str, problems: &mut Problems) -> Option<String> {
    if keys::is_valid_project_folder(p) {
        return Some(p.to_string());
    }
    let rule = "it must match [a-z0-9][a-z0-9-]{0,62}: lowercase letters, digits and dashes, at most 63 characters, \
                starting with a letter or digit";
    if p.is_empty() {
        problems.push(field, format!("is empty; {rule}"));
    } else {
        let suggestion = keys::slugify(p, 63);
        problems.push(field, format!("{p:?} is not a valid project folder; {rule}; try {suggestion:?}"));
    }
    None
}

/// Resolve `modules_to_generate` and the legacy `module_number`.
fn select_modules(raw: &RawRequest, count: u32, problems: &mut Problems) -> Option<Vec<u32>> {
    let spec = given(&raw.modules_to_generate).map(|v| parse_spec_at(v, count, "modules_to_generate"));
    let legacy = given(&raw.module_number).map(|v| parse_spec_at(v, count, "module_number"));
    let mut take = |r: Result<Vec<u32>, Problems>| match r {
        Ok(v) => Some(v),
        Err(p) => {
            problems.0.extend(p.0);
            None
        }
    };
    match (spec, legacy) {
        (None, None) => Some((1..=count).collect()),
        (Some(s), None) => take(s),
        (None, Some(l)) => take(l),
        (Some(s), Some(l)) => {
            let (s, l) = (take(s), take(l));
            let (s, l) = (s?, l?);
            if s == l {
                Some(s)
            } else {
                let show = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
                problems.push(
                    "module_number",
                    format!(
                        "selects module{} {} but modules_to_generate selects {}; give only modules_to_generate",
                        if l.len() == 1 { "" } else { "s" },
                        show(&l),
                        show(&s)
                    ),
                );
                None
            }
        }
    }
}

/// The problems of a request that do not depend on the outline (project folder, content type,
/// concurrency, force, the syntax of the module selection), for reporting them together with
/// an outline that does not parse. Checked against the largest outline the limits allow.
pub fn request_problems_without_outline(raw: &RawRequest) -> Problems {
    use crate::outline::{limits, Course, Item, Language, Lesson, Module};
    let lesson = Lesson {
        title: "lesson".into(),
        summary: None,
        duration_minutes: None,
        bloom_level: None,
        topics: Vec::new(),
        lab_activities: vec![Item { title: "lab".into(), duration_minutes: None, bloom_level: None }],
    };
    let module = Module {
        title: "module".into(),
        summary: None,
        duration_minutes: None,
        bloom_level: None,
        lessons: vec![lesson],
    };
    let outline = Outline {
        course: Course {
            title: "course".into(),
            description: None,
            language: Language::En,
            level: None,
            audience: Vec::new(),
            prerequisites: Vec::new(),
            total_duration_minutes: None,
            learning_outcomes: Vec::new(),
        },
        modules: vec![module; limits::MAX_MODULES],
    };
    match normalize_request(raw, &outline, "course") {
        Err(StageError::InvalidRequest(problems)) => problems,
        _ => Problems::default(),
    }
}
