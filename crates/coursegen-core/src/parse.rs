//! Outline parsing and validation (the format: `schemas/outline.schema.json`).
//!
//! [`parse_outline`] reads YAML in guarded steps, then validates:
//!
//! 1. **Size**: the text must not exceed [`limits::MAX_BYTES`]; nothing is parsed otherwise.
//! 2. **Shape** ([`guard::inspect`]): the YAML parser's event stream is read once, without
//!    building anything, and stops at the first collection nested deeper than
//!    [`limits::MAX_DEPTH`] (aliases included) or as soon as the document would expand to more
//!    than [`MAX_EXPANDED_NODES`] nodes once aliases are replaced by their anchors. Deep
//!    nesting (`[[[[…`, whose cost in the parser grows with the square of the depth) and alias
//!    bombs of every shape (deep "billion laughs" and wide `[*a, *a, …]` lists of a large
//!    anchor alike) are rejected in time proportional to the text, with a clear message.
//! 3. **Value**: only then is a generic [`serde_yaml_ng::Value`] built (syntax errors are
//!    reported with line and column), `<<` merge keys applied, and the value walked.
//!
//! The walk collects *every* problem with its path (`modules[2].lessons[0].title`, 0-based
//! indices) before failing with [`StageError::InvalidOutline`]. Unknown keys are accepted for
//! forward compatibility; a missing required field whose name looks misspelled among the
//! unknown keys is still reported as missing, with a hint.

use serde_yaml_ng::{Mapping, Value};

use crate::error::{Problems, StageError};
use crate::outline::{limits, Course, Item, Language, Lesson, Module, Outline};

/// Most YAML nodes an outline may expand to, counting every node reached through an alias
/// again. A 1 MiB document without aliases holds at most about 520k nodes, so this only
/// ever rejects alias amplification.
pub const MAX_EXPANDED_NODES: u64 = 1_000_000;

/// Most problems reported for one outline; the rest are summarised in one final problem so
/// the error stays small enough for a Step Functions error cause.
pub const MAX_REPORTED_PROBLEMS: usize = 100;

/// The supported language codes as listed in messages.
const LANGUAGE_LIST: &str = "en, es, fr, de, pt, it";

/// Parse and validate an outline, reporting every problem at once.
///
/// Accepts the outline shape authors already use unchanged, `course_metadata` as an alias of `course`, topics
/// and lab activities as strings or `{title, duration_minutes, bloom_level}` objects, and
/// unknown keys (ignored). Returns [`StageError::InvalidOutline`] listing each problem with
/// its path; document-level problems (size, syntax, alias bombs) have an empty path and
/// name the line and column where the YAML parser reports one.
pub fn parse_outline(text: &str) -> Result<Outline, StageError> {
    let value = load(text).map_err(|e| {
        let mut problems = Problems::default();
        problems.push("", e.to_string());
        StageError::InvalidOutline(problems)
    })?;
    let mut walker = Walker::default();
    let outline = walker.outline(&value);
    match outline {
        Some(outline) if walker.problems.is_empty() => Ok(outline),
        _ => Err(StageError::InvalidOutline(walker.finish())),
    }
}

/// Why a document could not be read into a value at all: a document-level problem, shown
/// with an empty path.
#[derive(Debug, thiserror::Error)]
enum DocumentError {
    /// Larger than [`limits::MAX_BYTES`]; nothing was parsed.
    #[error(
        "the outline is {0} bytes; the limit is {max} bytes (1 MiB); split the course into several outlines",
        max = limits::MAX_BYTES
    )]
    TooLarge(usize),
    /// The structural guard stopped it.
    #[error("{}", rejection_message(.0))]
    Shape(guard::Rejection),
    /// The YAML parser failed; the message says what to do.
    #[error("{0}")]
    Syntax(String),
    /// A `<<` merge key could not be applied.
    #[error("invalid `<<` merge key: {0}")]
    Merge(serde_yaml_ng::Error),
}

/// What to do about a document the guard rejected.
fn rejection_message(rejection: &guard::Rejection) -> String {
    match *rejection {
        guard::Rejection::TooDeep { line, column, through_alias } => format!(
            "the document is nested more than {} levels deep{} at line {line} column {column}; an outline \
             needs 7 levels at most, flatten it",
            limits::MAX_DEPTH,
            if through_alias { " through an alias" } else { "" }
        ),
        guard::Rejection::TooManyNodes { line, column } => format!(
            "the document expands to more than {MAX_EXPANDED_NODES} nodes through anchors and aliases \
             (an alias bomb?) by line {line} column {column}; use fewer aliases"
        ),
        guard::Rejection::RecursiveAlias { line, column } => {
            format!("the alias at line {line} column {column} refers to a node that contains it; remove the alias")
        }
        guard::Rejection::SeveralDocuments { line } => format!(
            "the file holds more than one YAML document (the second starts at line {line}); keep one outline \
             per file"
        ),
    }
}

/// Read `text` into a generic YAML value after the size check and the structural guard.
fn load(text: &str) -> Result<Value, DocumentError> {
    if text.len() > limits::MAX_BYTES {
        return Err(DocumentError::TooLarge(text.len()));
    }
    guard::inspect(text, limits::MAX_DEPTH, MAX_EXPANDED_NODES).map_err(DocumentError::Shape)?;
    let mut value: Value =
        serde_yaml_ng::from_str(text).map_err(|e| DocumentError::Syntax(yaml_error_message(text, &e)))?;
    value.apply_merge().map_err(DocumentError::Merge)?;
    Ok(value)
}

/// Turn a YAML library error into a message that says what to do.
fn yaml_error_message(text: &str, e: &serde_yaml_ng::Error) -> String {
    let raw = e.to_string();
    if raw.contains("repetition limit exceeded") {
        return "the document repeats anchors through aliases too often (an alias bomb?); use fewer aliases"
            .to_string();
    }
    if raw.contains("recursion limit exceeded") {
        return format!(
            "the document is nested too deeply ({raw}); an outline needs at most 7 levels, the limit is {}",
            limits::MAX_DEPTH
        );
    }
    if raw.contains("more than one document") {
        return "the file holds more than one YAML document (`---` separators); keep one outline per file".to_string();
    }
    let tab = e.location().and_then(|loc| text.lines().nth(loc.line().saturating_sub(1))).is_some_and(|line| {
        line.trim_start_matches(' ').starts_with('\t')
            || e.location().is_some_and(|loc| line.chars().nth(loc.column().saturating_sub(1)) == Some('\t'))
    });
    if tab {
        return format!("invalid YAML: {raw}; YAML does not allow tabs for indentation, use spaces");
    }
    format!("invalid YAML: {raw}")
}

mod guard;

/// Collects problems while turning a generic value into an [`Outline`].
#[derive(Default)]
struct Walker {
    problems: Problems,
    dropped: usize,
}

/// How a text field is checked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Text {
    /// A required single-line title: non-empty, at most `MAX_TITLE_CHARS`.
    Title,
    /// An optional single-line label (`level`, `bloom_level`): at most `MAX_TITLE_CHARS`.
    Label,
    /// An optional description or summary: tabs and newlines allowed, at most `MAX_TEXT_CHARS`.
    Prose,
    /// An entry of a list of strings (`audience`, ...): single line, non-empty, at most `MAX_TEXT_CHARS`.
    Entry,
}

const ROOT_KEYS: &[&str] = &["course", "course_metadata", "modules"];
const COURSE_KEYS: &[&str] = &[
    "title",
    "description",
    "language",
    "level",
    "audience",
    "prerequisites",
    "total_duration_minutes",
    "learning_outcomes",
];
const MODULE_KEYS: &[&str] = &["title", "summary", "duration_minutes", "bloom_level", "lessons"];
const LESSON_KEYS: &[&str] = &["title", "summary", "duration_minutes", "bloom_level", "topics", "lab_activities"];
const ITEM_KEYS: &[&str] = &["title", "duration_minutes", "bloom_level"];

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// A short description of what a value is, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "true/false",
        Value::Number(n) if n.is_f64() => "a decimal number",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// Strip YAML tags (`!foo value`): the outline gives them no meaning.
fn untag(v: &Value) -> &Value {
    let mut v = v;
    while let Value::Tagged(t) = v {
        v = &t.value;
    }
    v
}

fn get<'a>(map: &'a Mapping, key: &str) -> Option<&'a Value> {
    map.get(key).map(untag)
}

/// Edit distance with adjacent transpositions (optimal string alignment), on the first 64
/// characters of each side: keys are short, and a longer one is no misspelling anyway.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: String = a.chars().take(64).collect();
    let b: String = b.chars().take(64).collect();
    strsim::osa_distance(&a, &b)
}

fn normalise_key(k: &str) -> String {
    k.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// An unknown key of `map` that looks like a misspelling of `wanted`.
fn misspelling<'a>(map: &'a Mapping, wanted: &str, known: &[&str]) -> Option<&'a str> {
    let target = normalise_key(wanted);
    let allowed = if target.chars().count() >= 5 { 2 } else { 1 };
    map.keys().filter_map(Value::as_str).filter(|k| !known.contains(k)).find(|k| {
        let n = normalise_key(k);
        n == target || edit_distance(&n, &target) <= allowed
    })
}

impl Walker {
    fn push(&mut self, path: &str, message: impl Into<String>) {
        if self.problems.len() < MAX_REPORTED_PROBLEMS {
            self.problems.push(path, message);
        } else {
            self.dropped += 1;
        }
    }

    fn finish(mut self) -> Problems {
        if self.dropped > 0 {
            let n = self.dropped;
            self.problems.push("", format!("{n} more problem{} not shown; fix the ones above first", plural(n)));
        }
        self.problems
    }

    fn missing(&mut self, map: &Mapping, parent: &str, key: &str, known: &[&str], what: &str) {
        let path = join(parent, key);
        match misspelling(map, key, known) {
            Some(found) => {
                self.push(&path, format!("is required ({what}); found \"{found}\": did you mean \"{key}\"?"))
            }
            None => self.push(&path, format!("is required ({what})")),
        }
    }

    fn mapping<'a>(&mut self, v: &'a Value, path: &str, what: &str) -> Option<&'a Mapping> {
        match untag(v) {
            Value::Mapping(m) => Some(m),
            other => {
                self.push(path, format!("must be {what}, found {}", kind(other)));
                None
            }
        }
    }

    fn outline(&mut self, v: &Value) -> Option<Outline> {
        let root = match untag(v) {
            Value::Null => {
                self.push("", "the outline is empty; it needs a `course` section and a list of `modules`");
                return None;
            }
            Value::Mapping(m) => m,
            other => {
                self.push(
                    "",
                    format!(
                        "the outline must be a mapping with `course` and `modules` at the top level, found {}",
                        kind(other)
                    ),
                );
                return None;
            }
        };
        let course = match (get(root, "course"), get(root, "course_metadata")) {
            (Some(c), Some(_)) => {
                self.push(
                    "course_metadata",
                    "`course_metadata` is another name for `course` and both are present; keep only one",
                );
                self.course(c, "course");
                None
            }
            (Some(c), None) => self.course(c, "course"),
            (None, Some(c)) => self.course(c, "course_metadata"),
            (None, None) => {
                self.missing(root, "", "course", ROOT_KEYS, "the course title and facts; `course_metadata` also works");
                None
            }
        };
        let modules = match get(root, "modules") {
            Some(m) => self.modules(m),
            None => {
                self.missing(root, "", "modules", ROOT_KEYS, "a list of at least one module");
                None
            }
        };
        Some(Outline { course: course?, modules: modules? })
    }

    fn course(&mut self, v: &Value, path: &str) -> Option<Course> {
        let m = self.mapping(v, path, "a mapping with at least a title")?;
        let title = self.required_title(m, path, COURSE_KEYS);
        let description = self.optional_text(m, path, "description", Text::Prose);
        let language = match get(m, "language") {
            None | Some(Value::Null) => Some(Language::En),
            Some(Value::String(s)) => match Language::from_code(s) {
                Some(l) => Some(l),
                None => {
                    self.push(&join(path, "language"), format!("{s:?} is not supported; use one of {LANGUAGE_LIST}"));
                    None
                }
            },
            Some(other) => {
                self.push(
                    &join(path, "language"),
                    format!("must be a language code, found {}; use one of {LANGUAGE_LIST}", kind(other)),
                );
                None
            }
        };
        let level = self.optional_text(m, path, "level", Text::Label);
        let audience = self.string_list(m, path, "audience");
        let prerequisites = self.string_list(m, path, "prerequisites");
        let total = self.duration(m, path, "total_duration_minutes");
        let learning_outcomes = self.string_list(m, path, "learning_outcomes");
        Some(Course {
            title: title?,
            description: description?,
            language: language?,
            level: level?,
            audience: audience?,
            prerequisites: prerequisites?,
            total_duration_minutes: total?,
            learning_outcomes: learning_outcomes?,
        })
    }

    fn modules(&mut self, v: &Value) -> Option<Vec<Module>> {
        let path = "modules";
        let list = self.required_list(v, path, "module")?;
        let max = limits::MAX_MODULES;
        let too_many = || format!("{} modules exceed the limit of {max}; split the course", list.len());
        self.each_entry(list, path, max, too_many, Self::module)
    }

    fn module(&mut self, v: &Value, path: &str) -> Option<Module> {
        let m = self.mapping(v, path, "a mapping with a title and lessons")?;
        let title = self.required_title(m, path, MODULE_KEYS);
        let summary = self.optional_text(m, path, "summary", Text::Prose);
        let duration = self.duration(m, path, "duration_minutes");
        let bloom = self.optional_text(m, path, "bloom_level", Text::Label);
        let lessons = match get(m, "lessons") {
            None => {
                self.missing(m, path, "lessons", MODULE_KEYS, "a list of at least one lesson");
                None
            }
            Some(v) => self.lessons(v, &join(path, "lessons")),
        };
        Some(Module {
            title: title?,
            summary: summary?,
            duration_minutes: duration?,
            bloom_level: bloom?,
            lessons: lessons?,
        })
    }

    fn lessons(&mut self, v: &Value, path: &str) -> Option<Vec<Lesson>> {
        let list = self.required_list(v, path, "lesson")?;
        let max = limits::MAX_LESSONS_PER_MODULE;
        let too_many = || format!("{} lessons exceed the limit of {max} per module; split the module", list.len());
        self.each_entry(list, path, max, too_many, Self::lesson)
    }

    /// A list that must hold at least one `noun`.
    fn required_list<'a>(&mut self, v: &'a Value, path: &str, noun: &str) -> Option<&'a [Value]> {
        match untag(v) {
            Value::Sequence(s) if !s.is_empty() => Some(s),
            Value::Sequence(_) | Value::Null => {
                self.push(path, format!("must list at least one {noun}"));
                None
            }
            other => {
                self.push(path, format!("must be a list of {noun}s, found {}", kind(other)));
                None
            }
        }
    }

    /// Walk every entry of `list` (at `path[i]`) with `entry`, reporting `too_many()` when it
    /// holds more than `max`. `None` when the length or any entry is a problem.
    fn each_entry<T>(
        &mut self,
        list: &[Value],
        path: &str,
        max: usize,
        too_many: impl FnOnce() -> String,
        entry: impl Fn(&mut Self, &Value, &str) -> Option<T>,
    ) -> Option<Vec<T>> {
        let mut ok = true;
        if list.len() > max {
            self.push(path, too_many());
            ok = false;
        }
        let mut out = Vec::with_capacity(list.len().min(max));
        for (i, v) in list.iter().enumerate() {
            match entry(self, v, &format!("{path}[{i}]")) {
                Some(t) => out.push(t),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn lesson(&mut self, v: &Value, path: &str) -> Option<Lesson> {
        let m = self.mapping(v, path, "a mapping with a title")?;
        let title = self.required_title(m, path, LESSON_KEYS);
        let summary = self.optional_text(m, path, "summary", Text::Prose);
        let duration = self.duration(m, path, "duration_minutes");
        let bloom = self.optional_text(m, path, "bloom_level", Text::Label);
        let topics = self.items(m, path, "topics", limits::MAX_TOPICS_PER_LESSON);
        let labs = self.items(m, path, "lab_activities", limits::MAX_LAB_ACTIVITIES_PER_LESSON);
        Some(Lesson {
            title: title?,
            summary: summary?,
            duration_minutes: duration?,
            bloom_level: bloom?,
            topics: topics?,
            lab_activities: labs?,
        })
    }

    fn items(&mut self, m: &Mapping, parent: &str, key: &str, max: usize) -> Option<Vec<Item>> {
        let path = join(parent, key);
        let list = match get(m, key) {
            None | Some(Value::Null) => return Some(Vec::new()),
            Some(Value::Sequence(s)) => s,
            Some(other) => {
                self.push(&path, format!("must be a list of strings or objects with a title, found {}", kind(other)));
                return None;
            }
        };
        let too_many = || {
            let what = key.replace('_', " ");
            format!("{} {what} exceed the limit of {max} per lesson; split the lesson", list.len())
        };
        self.each_entry(list, &path, max, too_many, Self::item)
    }

    fn item(&mut self, v: &Value, path: &str) -> Option<Item> {
        match untag(v) {
            Value::String(s) => {
                let title = self.text(s, path, Text::Title)?;
                Some(Item { title, duration_minutes: None, bloom_level: None })
            }
            Value::Mapping(m) => {
                let title = self.required_title(m, path, ITEM_KEYS);
                let duration = self.duration(m, path, "duration_minutes");
                let bloom = self.optional_text(m, path, "bloom_level", Text::Label);
                Some(Item { title: title?, duration_minutes: duration?, bloom_level: bloom? })
            }
            other => {
                self.push(path, format!("must be a string or an object with a title, found {}", kind(other)));
                None
            }
        }
    }

    fn required_title(&mut self, m: &Mapping, parent: &str, known: &[&str]) -> Option<String> {
        let path = join(parent, "title");
        match get(m, "title") {
            None => {
                self.missing(m, parent, "title", known, "a non-empty title");
                None
            }
            Some(Value::Null) => {
                self.push(&path, "must not be empty");
                None
            }
            Some(Value::String(s)) => self.text(s, &path, Text::Title),
            Some(other) => {
                self.push(&path, format!("must be text, found {}; put it in quotes", kind(other)));
                None
            }
        }
    }

    /// An optional text field: `Some(None)` when absent or empty, `None` on a problem.
    fn optional_text(&mut self, m: &Mapping, parent: &str, key: &str, rule: Text) -> Option<Option<String>> {
        let path = join(parent, key);
        match get(m, key) {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(s)) if s.trim().is_empty() => Some(None),
            Some(Value::String(s)) => self.text(s, &path, rule).map(Some),
            Some(other) => {
                self.push(&path, format!("must be text, found {}; put it in quotes", kind(other)));
                None
            }
        }
    }

    fn string_list(&mut self, m: &Mapping, parent: &str, key: &str) -> Option<Vec<String>> {
        let path = join(parent, key);
        match get(m, key) {
            None | Some(Value::Null) => Some(Vec::new()),
            Some(Value::String(s)) => Some(vec![self.text(s, &path, Text::Entry)?]),
            Some(Value::Sequence(list)) => {
                let mut out = Vec::with_capacity(list.len());
                let mut ok = true;
                for (i, v) in list.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    match untag(v) {
                        Value::String(s) => match self.text(s, &p, Text::Entry) {
                            Some(t) => out.push(t),
                            None => ok = false,
                        },
                        other => {
                            self.push(&p, format!("must be text, found {}; put it in quotes", kind(other)));
                            ok = false;
                        }
                    }
                }
                ok.then_some(out)
            }
            Some(other) => {
                self.push(&path, format!("must be a list of strings, found {}", kind(other)));
                None
            }
        }
    }

    /// Check (and trim) one string.
    fn text(&mut self, s: &str, path: &str, rule: Text) -> Option<String> {
        let t = s.trim();
        if t.is_empty() {
            self.push(path, "must not be empty");
            return None;
        }
        let max = match rule {
            Text::Title | Text::Label => limits::MAX_TITLE_CHARS,
            Text::Prose | Text::Entry => limits::MAX_TEXT_CHARS,
        };
        let mut ok = true;
        let len = t.chars().count();
        if len > max {
            self.push(path, format!("is {len} characters long; the limit is {max}, shorten it"));
            ok = false;
        }
        let allowed = |c: char| rule == Text::Prose && (c == '\t' || c == '\n');
        if let Some((pos, c)) = t.chars().enumerate().find(|(_, c)| c.is_control() && !allowed(*c)) {
            let hint = if rule == Text::Prose {
                "only tabs and line breaks are allowed"
            } else {
                "it must be a single line of printable text"
            };
            self.push(
                path,
                format!(
                    "contains the control character U+{:04X} at position {}; remove it ({hint})",
                    c as u32,
                    pos + 1
                ),
            );
            ok = false;
        }
        ok.then(|| t.to_string())
    }

    /// An optional positive whole number of minutes: `Some(None)` when absent.
    fn duration(&mut self, m: &Mapping, parent: &str, key: &str) -> Option<Option<u32>> {
        let path = join(parent, key);
        let v = match get(m, key) {
            None | Some(Value::Null) => return Some(None),
            Some(v) => v,
        };
        let fail = |w: &mut Self, found: String| {
            w.push(&path, format!("must be a positive whole number of minutes, found {found}"));
            None
        };
        match v {
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    if u == 0 {
                        return fail(self, "0".into());
                    }
                    match u32::try_from(u) {
                        Ok(u) => Some(Some(u)),
                        Err(_) => fail(self, format!("{u}, which is too large")),
                    }
                } else if let Some(i) = n.as_i64() {
                    fail(self, format!("{i}"))
                } else {
                    fail(self, format!("{n} (a decimal)"))
                }
            }
            Value::String(s) => {
                let t = s.trim();
                if !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()) {
                    match t.parse::<u32>() {
                        Ok(0) => fail(self, format!("{s:?}")),
                        Ok(u) => Some(Some(u)),
                        Err(_) => fail(self, format!("{s:?}, which is too large")),
                    }
                } else {
                    fail(self, format!("{s:?}"))
                }
            }
            other => fail(self, kind(other).to_string()),
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_handles_transpositions() {
        assert_eq!(edit_distance("title", "titel"), 1);
        assert_eq!(edit_distance("modules", "modlues"), 1);
        assert_eq!(edit_distance("lessons", "lesson"), 1);
        assert_eq!(edit_distance("abc", "xyz"), 3);
    }
}
