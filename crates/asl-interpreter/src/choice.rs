//! Choice rules: comparison operators, type tests and the `And`/`Or`/`Not` combinators of a
//! `Choice` state, parsed and type-checked at load time and evaluated against state input.

use std::cmp::Ordering;

use serde_json::Value;

use crate::error::{PathError, StatesError};
use crate::intrinsics::compare_numbers;
use crate::paths;
use crate::time::parse_rfc3339;

/// The data type an operator compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Numeric,
    Boolean,
    Timestamp,
}

/// How two values of a [`Kind`] are related.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relation {
    Equals,
    LessThan,
    GreaterThan,
    LessThanEquals,
    GreaterThanEquals,
}

/// A type test on the Variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TypeTest {
    Null,
    Present,
    Numeric,
    String,
    Boolean,
    Timestamp,
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Literal(Value),
    Path(String),
}

/// One piece of a `StringMatches` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Glob {
    Char(char),
    Star,
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    And(Vec<ChoiceRule>),
    Or(Vec<ChoiceRule>),
    Not(Box<ChoiceRule>),
    Compare { variable: String, kind: Kind, relation: Relation, operand: Operand },
    Matches { variable: String, pattern: Vec<Glob> },
    Test { variable: String, test: TypeTest, expected: bool },
}

/// A parsed Choice rule (top-level rules carry `Next`; nested ones inside `And`/`Or`/`Not`
/// do not).
#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceRule {
    condition: Condition,
    next: Option<String>,
}

const COMPARISONS: &[(&str, Kind, Relation)] = &[
    ("StringEquals", Kind::String, Relation::Equals),
    ("StringLessThan", Kind::String, Relation::LessThan),
    ("StringGreaterThan", Kind::String, Relation::GreaterThan),
    ("StringLessThanEquals", Kind::String, Relation::LessThanEquals),
    ("StringGreaterThanEquals", Kind::String, Relation::GreaterThanEquals),
    ("NumericEquals", Kind::Numeric, Relation::Equals),
    ("NumericLessThan", Kind::Numeric, Relation::LessThan),
    ("NumericGreaterThan", Kind::Numeric, Relation::GreaterThan),
    ("NumericLessThanEquals", Kind::Numeric, Relation::LessThanEquals),
    ("NumericGreaterThanEquals", Kind::Numeric, Relation::GreaterThanEquals),
    ("BooleanEquals", Kind::Boolean, Relation::Equals),
    ("TimestampEquals", Kind::Timestamp, Relation::Equals),
    ("TimestampLessThan", Kind::Timestamp, Relation::LessThan),
    ("TimestampGreaterThan", Kind::Timestamp, Relation::GreaterThan),
    ("TimestampLessThanEquals", Kind::Timestamp, Relation::LessThanEquals),
    ("TimestampGreaterThanEquals", Kind::Timestamp, Relation::GreaterThanEquals),
];

const TYPE_TESTS: &[(&str, TypeTest)] = &[
    ("IsNull", TypeTest::Null),
    ("IsPresent", TypeTest::Present),
    ("IsNumeric", TypeTest::Numeric),
    ("IsString", TypeTest::String),
    ("IsBoolean", TypeTest::Boolean),
    ("IsTimestamp", TypeTest::Timestamp),
];

/// True when `name` is an operator key (comparison, `...Path` variant, `StringMatches`, type
/// test or combinator).
fn is_operator(name: &str) -> bool {
    matches!(name, "And" | "Or" | "Not" | "StringMatches")
        || TYPE_TESTS.iter().any(|(n, _)| *n == name)
        || COMPARISONS.iter().any(|(n, _, _)| *n == name || name.strip_suffix("Path") == Some(n))
}

/// Joins a parent field location and a child field name.
fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

/// A malformed choice rule: the offending field relative to the rule, e.g. `NumericEquals`
/// or `And[1].Variable` (empty when the rule as a whole is malformed; the caller prefixes
/// the rule's position, e.g. `Choices[2].`), and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub(crate) struct RuleError {
    pub field: String,
    pub message: String,
}

impl ChoiceRule {
    /// Parse one rule from the `Choices` array (`top_level` = true requires `Next`; nested
    /// rules forbid it). The error names the offending field relative to the rule.
    pub fn parse(value: &Value, top_level: bool) -> Result<ChoiceRule, RuleError> {
        Self::parse_at(value, top_level, "")
    }

    fn parse_at(value: &Value, top_level: bool, at: &str) -> Result<ChoiceRule, RuleError> {
        let err = |field: &str, message: String| Err(RuleError { field: join(at, field), message });
        let Some(map) = value.as_object() else {
            return err("", "a choice rule must be a JSON object".to_string());
        };
        for key in map.keys() {
            if !(is_operator(key) || matches!(key.as_str(), "Variable" | "Next" | "Comment")) {
                return err(key, format!("unknown field '{key}' in a choice rule"));
            }
        }
        let next = match (map.get("Next"), top_level) {
            (Some(Value::String(s)), true) if !s.is_empty() => Some(s.clone()),
            (Some(_), true) => return err("Next", "must be a non-empty string".to_string()),
            (None, true) => return err("Next", "a top-level choice rule requires Next".to_string()),
            (Some(_), false) => {
                return err("Next", "a rule nested inside And, Or or Not must not have Next".to_string())
            }
            (None, false) => None,
        };
        if let Some(comment) = map.get("Comment") {
            if !comment.is_string() {
                return err("Comment", "must be a string".to_string());
            }
        }
        let operators: Vec<&String> = map.keys().filter(|k| is_operator(k)).collect();
        let op = match operators.as_slice() {
            [op] => op.as_str(),
            [] => return err("", "a choice rule needs exactly one comparison operator, And, Or or Not".to_string()),
            many => {
                let names: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
                return err(
                    many[1],
                    format!("a choice rule must have exactly one operator, found {}", names.join(", ")),
                );
            }
        };
        let operand = &map[op];
        let condition = match op {
            "And" | "Or" => {
                if map.contains_key("Variable") {
                    return err("Variable", format!("a rule using {op} must not have a Variable"));
                }
                let Some(items) = operand.as_array().filter(|a| !a.is_empty()) else {
                    return err(op, "must be a non-empty array of choice rules".to_string());
                };
                let rules = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| Self::parse_at(item, false, &join(at, &format!("{op}[{i}]"))))
                    .collect::<Result<Vec<_>, _>>()?;
                if op == "And" {
                    Condition::And(rules)
                } else {
                    Condition::Or(rules)
                }
            }
            "Not" => {
                if map.contains_key("Variable") {
                    return err("Variable", "a rule using Not must not have a Variable".to_string());
                }
                Condition::Not(Box::new(Self::parse_at(operand, false, &join(at, "Not"))?))
            }
            _ => {
                let variable = match map.get("Variable") {
                    Some(Value::String(v)) => v.clone(),
                    Some(_) => return err("Variable", "must be a string holding a path".to_string()),
                    None => return err("Variable", format!("the {op} operator requires a Variable")),
                };
                if let Err(e) = paths::validate_path(&variable) {
                    return err("Variable", e.to_string());
                }
                match parse_comparison(op, operand) {
                    Ok(build) => build(variable),
                    Err(e) => return err(op, e.to_string()),
                }
            }
        };
        Ok(ChoiceRule { condition, next })
    }

    /// Evaluates the rule against the state input (and the context object for `$$` paths).
    /// Type mismatches evaluate to false; a Variable (or `...Path` operand) matching nothing
    /// fails with `States.Runtime`, except under `IsPresent`, where it is false.
    pub fn evaluate(&self, input: &Value, context: &Value) -> Result<bool, StatesError> {
        match &self.condition {
            Condition::And(rules) => {
                for rule in rules {
                    if !rule.evaluate(input, context)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Condition::Or(rules) => {
                for rule in rules {
                    if rule.evaluate(input, context)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Condition::Not(rule) => Ok(!rule.evaluate(input, context)?),
            Condition::Test { variable, test: TypeTest::Present, expected } => {
                let present = paths::select_opt(variable, input, context)?.is_some();
                Ok(present == *expected)
            }
            Condition::Test { variable, test, expected } => {
                let value = resolve(variable, input, context)?;
                let actual = match test {
                    TypeTest::Null => value.is_null(),
                    TypeTest::Numeric => value.is_number(),
                    TypeTest::String => value.is_string(),
                    TypeTest::Boolean => value.is_boolean(),
                    TypeTest::Timestamp => value.as_str().and_then(parse_rfc3339).is_some(),
                    TypeTest::Present => true,
                };
                Ok(actual == *expected)
            }
            Condition::Matches { variable, pattern } => {
                let value = resolve(variable, input, context)?;
                Ok(value.as_str().is_some_and(|s| glob_matches(pattern, s)))
            }
            Condition::Compare { variable, kind, relation, operand } => {
                let left = resolve(variable, input, context)?;
                let right = match operand {
                    Operand::Literal(v) => v.clone(),
                    Operand::Path(p) => resolve(p, input, context)?,
                };
                Ok(compare(*kind, &left, &right).is_some_and(|ordering| holds(*relation, ordering)))
            }
        }
    }

    /// The `Next` state name of a top-level rule.
    pub fn next(&self) -> Option<&str> {
        self.next.as_deref()
    }
}

type Builder = Box<dyn FnOnce(String) -> Condition>;

/// Why the operand of a comparison operator is unusable.
#[derive(Debug, thiserror::Error)]
enum OperandError {
    #[error("must be {0}")]
    WrongType(&'static str),
    #[error("unknown comparison operator '{0}'")]
    UnknownOperator(String),
    #[error(transparent)]
    Path(#[from] PathError),
}

/// Type-checks the operand of a comparison operator and returns how to build the condition
/// once the Variable is known.
fn parse_comparison(op: &str, operand: &Value) -> Result<Builder, OperandError> {
    if op == "StringMatches" {
        let Some(pattern) = operand.as_str() else {
            return Err(OperandError::WrongType("a string pattern"));
        };
        let pattern = parse_glob(pattern);
        return Ok(Box::new(move |variable| Condition::Matches { variable, pattern }));
    }
    if let Some((_, test)) = TYPE_TESTS.iter().find(|(n, _)| *n == op) {
        let Some(expected) = operand.as_bool() else {
            return Err(OperandError::WrongType("a boolean"));
        };
        let test = *test;
        return Ok(Box::new(move |variable| Condition::Test { variable, test, expected }));
    }
    if let Some((_, kind, relation)) = COMPARISONS.iter().find(|(n, _, _)| op.strip_suffix("Path") == Some(n)) {
        let Some(path) = operand.as_str() else {
            return Err(OperandError::WrongType("a string holding a path"));
        };
        paths::validate_path(path)?;
        let (kind, relation, operand) = (*kind, *relation, Operand::Path(path.to_string()));
        return Ok(Box::new(move |variable| Condition::Compare { variable, kind, relation, operand }));
    }
    let Some((_, kind, relation)) = COMPARISONS.iter().find(|(n, _, _)| *n == op) else {
        return Err(OperandError::UnknownOperator(op.to_string()));
    };
    let valid = match kind {
        Kind::String => operand.is_string(),
        Kind::Numeric => operand.is_number(),
        Kind::Boolean => operand.is_boolean(),
        Kind::Timestamp => operand.as_str().and_then(parse_rfc3339).is_some(),
    };
    if !valid {
        return Err(OperandError::WrongType(match kind {
            Kind::String => "a string",
            Kind::Numeric => "a number",
            Kind::Boolean => "a boolean",
            Kind::Timestamp => "an RFC 3339 timestamp string such as 2016-08-18T17:33:00Z",
        }));
    }
    let (kind, relation, operand) = (*kind, *relation, Operand::Literal(operand.clone()));
    Ok(Box::new(move |variable| Condition::Compare { variable, kind, relation, operand }))
}

/// Selects the value at a definite or indefinite path; nothing there is a runtime error.
fn resolve(path: &str, input: &Value, context: &Value) -> Result<Value, StatesError> {
    paths::select_opt(path, input, context)?.ok_or_else(|| {
        StatesError::runtime(format!(
            "Invalid path '{path}': The choice state's condition path references an invalid value."
        ))
    })
}

/// Orders two values as `kind`; `None` when either is not of that kind.
fn compare(kind: Kind, left: &Value, right: &Value) -> Option<Ordering> {
    match (kind, left, right) {
        (Kind::String, Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Kind::Numeric, Value::Number(a), Value::Number(b)) => compare_numbers(a, b),
        (Kind::Boolean, Value::Bool(a), Value::Bool(b)) => (a == b).then_some(Ordering::Equal),
        (Kind::Timestamp, Value::String(a), Value::String(b)) => Some(parse_rfc3339(a)?.cmp(&parse_rfc3339(b)?)),
        _ => None,
    }
}

fn holds(relation: Relation, ordering: Ordering) -> bool {
    match relation {
        Relation::Equals => ordering == Ordering::Equal,
        Relation::LessThan => ordering == Ordering::Less,
        Relation::GreaterThan => ordering == Ordering::Greater,
        Relation::LessThanEquals => ordering != Ordering::Greater,
        Relation::GreaterThanEquals => ordering != Ordering::Less,
    }
}

/// Parses a `StringMatches` pattern: `*` matches any run of characters, `\*` is a literal
/// asterisk and `\\` a literal backslash.
fn parse_glob(pattern: &str) -> Vec<Glob> {
    let mut out = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&next @ ('*' | '\\')) => {
                    chars.next();
                    out.push(Glob::Char(next));
                }
                _ => out.push(Glob::Char('\\')),
            },
            '*' => out.push(Glob::Star),
            c => out.push(Glob::Char(c)),
        }
    }
    out
}

/// Wildcard matching with backtracking to the most recent `*` (linear in practice).
fn glob_matches(pattern: &[Glob], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Glob::Char(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            Some(Glob::Star) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|g| *g == Glob::Star)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::names;
    use crate::time::parse_rfc3339;
    use serde_json::json;

    fn input() -> Value {
        json!({
            "s": "banana",
            "s2": "cherry",
            "n": 10,
            "f": 2.5,
            "b": true,
            "z": null,
            "t": "2024-01-01T12:00:00Z",
            "t_off": "2024-01-01T13:00:00+01:00",
            "t2": "2024-06-01T00:00:00.5Z",
            "file": "log-2024.txt",
            "star": "a*b",
            "arr": [1, 2]
        })
    }

    fn rule(v: Value) -> ChoiceRule {
        match ChoiceRule::parse(&v, false) {
            Ok(r) => r,
            Err(e) => panic!("parse failed: {e:?}"),
        }
    }

    fn eval(v: Value) -> bool {
        match rule(v).evaluate(&input(), &json!({"Execution": {"Name": "banana"}})) {
            Ok(b) => b,
            Err(e) => panic!("evaluate failed: {e}"),
        }
    }

    fn parse_err(v: Value, top: bool) -> (String, String) {
        let e = ChoiceRule::parse(&v, top).expect_err("expected a parse error");
        (e.field, e.message)
    }

    #[test]
    fn top_level_rule_exposes_next() {
        let r = ChoiceRule::parse(&json!({"Variable": "$.n", "NumericEquals": 10, "Next": "Done"}), true).unwrap();
        assert_eq!(r.next(), Some("Done"));
        assert!(r.evaluate(&input(), &Value::Null).unwrap());
    }

    #[test]
    fn top_level_rule_requires_next_and_nested_forbids_it() {
        assert_eq!(parse_err(json!({"Variable": "$.n", "NumericEquals": 1}), true).0, "Next");
        assert_eq!(parse_err(json!({"Variable": "$.n", "NumericEquals": 1, "Next": "X"}), false).0, "Next");
    }

    #[test]
    fn string_comparisons() {
        assert!(eval(json!({"Variable": "$.s", "StringEquals": "banana"})));
        assert!(!eval(json!({"Variable": "$.s", "StringEquals": "apple"})));
        assert!(eval(json!({"Variable": "$.s", "StringLessThan": "cherry"})));
        assert!(!eval(json!({"Variable": "$.s", "StringLessThan": "banana"})));
        assert!(eval(json!({"Variable": "$.s", "StringGreaterThan": "apple"})));
        assert!(eval(json!({"Variable": "$.s", "StringLessThanEquals": "banana"})));
        assert!(eval(json!({"Variable": "$.s", "StringGreaterThanEquals": "banana"})));
        assert!(!eval(json!({"Variable": "$.s", "StringGreaterThanEquals": "c"})));
    }

    #[test]
    fn string_path_variants_compare_two_paths() {
        assert!(eval(json!({"Variable": "$.s", "StringLessThanPath": "$.s2"})));
        assert!(!eval(json!({"Variable": "$.s", "StringEqualsPath": "$.s2"})));
        assert!(eval(json!({"Variable": "$.s", "StringEqualsPath": "$$.Execution.Name"})));
        assert!(eval(json!({"Variable": "$.s2", "StringGreaterThanPath": "$.s"})));
        assert!(eval(json!({"Variable": "$.s", "StringLessThanEqualsPath": "$.s"})));
        assert!(eval(json!({"Variable": "$.s", "StringGreaterThanEqualsPath": "$.s"})));
    }

    #[test]
    fn numeric_comparisons_mix_integers_and_floats() {
        assert!(eval(json!({"Variable": "$.n", "NumericEquals": 10.0})));
        assert!(eval(json!({"Variable": "$.f", "NumericLessThan": 3})));
        assert!(eval(json!({"Variable": "$.n", "NumericGreaterThan": 9.5})));
        assert!(eval(json!({"Variable": "$.n", "NumericLessThanEquals": 10})));
        assert!(!eval(json!({"Variable": "$.n", "NumericLessThanEquals": 9})));
        assert!(eval(json!({"Variable": "$.f", "NumericGreaterThanEquals": 2.5})));
    }

    #[test]
    fn numeric_path_variants() {
        assert!(eval(json!({"Variable": "$.f", "NumericLessThanPath": "$.n"})));
        assert!(eval(json!({"Variable": "$.n", "NumericEqualsPath": "$.n"})));
        assert!(eval(json!({"Variable": "$.n", "NumericGreaterThanPath": "$.f"})));
        assert!(eval(json!({"Variable": "$.n", "NumericGreaterThanEqualsPath": "$.n"})));
        assert!(!eval(json!({"Variable": "$.n", "NumericLessThanEqualsPath": "$.f"})));
    }

    #[test]
    fn boolean_equals_and_path_variant() {
        assert!(eval(json!({"Variable": "$.b", "BooleanEquals": true})));
        assert!(!eval(json!({"Variable": "$.b", "BooleanEquals": false})));
        assert!(eval(json!({"Variable": "$.b", "BooleanEqualsPath": "$.b"})));
    }

    #[test]
    fn timestamps_compare_as_instants() {
        assert!(eval(json!({"Variable": "$.t", "TimestampEquals": "2024-01-01T12:00:00Z"})));
        assert!(eval(json!({"Variable": "$.t_off", "TimestampEquals": "2024-01-01T12:00:00Z"})));
        assert!(eval(json!({"Variable": "$.t", "TimestampLessThan": "2024-01-01T12:00:00.001Z"})));
        assert!(eval(json!({"Variable": "$.t", "TimestampGreaterThan": "2023-12-31T23:59:59Z"})));
        assert!(eval(json!({"Variable": "$.t", "TimestampLessThanEquals": "2024-01-01T12:00:00Z"})));
        assert!(eval(json!({"Variable": "$.t", "TimestampGreaterThanEquals": "2024-01-01T11:00:00-01:00"})));
        assert!(!eval(json!({"Variable": "$.t", "TimestampGreaterThan": "2024-01-01T11:00:00-01:00"})));
    }

    #[test]
    fn timestamp_path_variants() {
        assert!(eval(json!({"Variable": "$.t", "TimestampLessThanPath": "$.t2"})));
        assert!(eval(json!({"Variable": "$.t", "TimestampEqualsPath": "$.t_off"})));
        assert!(eval(json!({"Variable": "$.t2", "TimestampGreaterThanPath": "$.t"})));
        assert!(eval(json!({"Variable": "$.t", "TimestampLessThanEqualsPath": "$.t_off"})));
        assert!(eval(json!({"Variable": "$.t", "TimestampGreaterThanEqualsPath": "$.t_off"})));
    }

    #[test]
    fn timestamp_parsing_is_strict() {
        assert!(parse_rfc3339("2016-08-18T17:33:00Z").is_some());
        assert!(parse_rfc3339("2016-08-18T17:33:00.123456789012Z").is_some());
        assert!(parse_rfc3339("2024-02-29T00:00:00Z").is_some());
        for bad in [
            "2016-08-18t17:33:00Z",
            "2016-08-18T17:33:00z",
            "2016-08-18T17:33:00",
            "2016-08-18 17:33:00Z",
            "2023-02-29T00:00:00Z",
            "2016-13-01T00:00:00Z",
            "2016-08-18T24:00:00Z",
            "2016-08-18T17:33:00.Z",
            "2016-08-18T17:33:00+0100",
            "not a date",
        ] {
            assert!(parse_rfc3339(bad).is_none(), "{bad}");
        }
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(parse_rfc3339("1970-01-02T00:00:00.25Z"), Some((86_400, 250_000_000)));
    }

    #[test]
    fn type_mismatch_is_false_not_error() {
        assert!(!eval(json!({"Variable": "$.s", "NumericEquals": 10})));
        assert!(!eval(json!({"Variable": "$.n", "StringEquals": "10"})));
        assert!(!eval(json!({"Variable": "$.s", "BooleanEquals": true})));
        assert!(!eval(json!({"Variable": "$.s", "TimestampEquals": "2024-01-01T12:00:00Z"})));
        assert!(!eval(json!({"Variable": "$.n", "StringMatches": "*"})));
        assert!(!eval(json!({"Variable": "$.s", "NumericLessThanPath": "$.n"})));
    }

    #[test]
    fn string_matches_wildcards() {
        assert!(eval(json!({"Variable": "$.file", "StringMatches": "log-*.txt"})));
        assert!(eval(json!({"Variable": "$.file", "StringMatches": "*"})));
        assert!(eval(json!({"Variable": "$.file", "StringMatches": "*2024*"})));
        assert!(eval(json!({"Variable": "$.file", "StringMatches": "log-2024.txt"})));
        assert!(!eval(json!({"Variable": "$.file", "StringMatches": "log-*.csv"})));
        assert!(!eval(json!({"Variable": "$.file", "StringMatches": "og*"})));
    }

    #[test]
    fn string_matches_escaped_star_is_literal() {
        assert!(eval(json!({"Variable": "$.star", "StringMatches": "a\\*b"})));
        assert!(!eval(json!({"Variable": "$.file", "StringMatches": "log\\*"})));
        assert!(glob_matches(&parse_glob("c:\\\\dir*"), "c:\\dir\\x"));
        assert!(!glob_matches(&parse_glob("a\\*"), "abc"));
    }

    #[test]
    fn is_present_never_errors() {
        assert!(eval(json!({"Variable": "$.s", "IsPresent": true})));
        assert!(eval(json!({"Variable": "$.missing", "IsPresent": false})));
        assert!(!eval(json!({"Variable": "$.missing", "IsPresent": true})));
        assert!(eval(json!({"Variable": "$.z", "IsPresent": true})));
    }

    #[test]
    fn type_tests() {
        assert!(eval(json!({"Variable": "$.z", "IsNull": true})));
        assert!(eval(json!({"Variable": "$.s", "IsNull": false})));
        assert!(eval(json!({"Variable": "$.f", "IsNumeric": true})));
        assert!(eval(json!({"Variable": "$.s", "IsNumeric": false})));
        assert!(eval(json!({"Variable": "$.s", "IsString": true})));
        assert!(eval(json!({"Variable": "$.b", "IsBoolean": true})));
        assert!(eval(json!({"Variable": "$.n", "IsBoolean": false})));
        assert!(eval(json!({"Variable": "$.t", "IsTimestamp": true})));
        assert!(eval(json!({"Variable": "$.s", "IsTimestamp": false})));
    }

    #[test]
    fn missing_variable_is_states_runtime() {
        let err =
            rule(json!({"Variable": "$.missing", "StringEquals": "x"})).evaluate(&input(), &Value::Null).unwrap_err();
        assert_eq!(err.error, names::RUNTIME);
        assert!(err.cause.contains("$.missing"));
        let err = rule(json!({"Variable": "$.missing", "IsNull": true})).evaluate(&input(), &Value::Null).unwrap_err();
        assert_eq!(err.error, names::RUNTIME);
    }

    #[test]
    fn missing_operand_path_is_states_runtime() {
        let err = rule(json!({"Variable": "$.n", "NumericEqualsPath": "$.nope"}))
            .evaluate(&input(), &Value::Null)
            .unwrap_err();
        assert_eq!(err.error, names::RUNTIME);
    }

    #[test]
    fn and_or_not_combine() {
        let yes = json!({"Variable": "$.n", "NumericEquals": 10});
        let no = json!({"Variable": "$.n", "NumericEquals": 11});
        assert!(eval(json!({"And": [yes, yes]})));
        assert!(!eval(json!({"And": [yes, no]})));
        assert!(eval(json!({"Or": [no, yes]})));
        assert!(!eval(json!({"Or": [no, no]})));
        assert!(eval(json!({"Not": no})));
        assert!(!eval(json!({"Not": yes})));
        assert!(eval(json!({"Not": {"And": [yes, {"Not": yes}]}})));
    }

    #[test]
    fn and_short_circuits_before_missing_variable() {
        let missing = json!({"Variable": "$.missing", "StringEquals": "x"});
        let no = json!({"Variable": "$.n", "NumericEquals": 11});
        assert!(!eval(json!({"And": [no, missing]})));
        assert!(eval(json!({"Or": [{"Variable": "$.b", "BooleanEquals": true}, missing]})));
    }

    #[test]
    fn parse_rejects_wrong_operand_types() {
        assert_eq!(
            parse_err(json!({"Variable": "$.n", "NumericEquals": "1"}), false),
            ("NumericEquals".to_string(), "must be a number".to_string())
        );
        assert_eq!(parse_err(json!({"Variable": "$.s", "StringEquals": 1}), false).0, "StringEquals");
        assert_eq!(parse_err(json!({"Variable": "$.b", "BooleanEquals": "true"}), false).0, "BooleanEquals");
        assert_eq!(parse_err(json!({"Variable": "$.t", "TimestampEquals": "yesterday"}), false).0, "TimestampEquals");
        assert_eq!(parse_err(json!({"Variable": "$.t", "IsNull": "yes"}), false).0, "IsNull");
        assert_eq!(parse_err(json!({"Variable": "$.t", "StringEqualsPath": "nope"}), false).0, "StringEqualsPath");
        assert_eq!(parse_err(json!({"Variable": "$.t", "StringMatches": 3}), false).0, "StringMatches");
    }

    #[test]
    fn parse_requires_exactly_one_operator() {
        let (field, message) = parse_err(json!({"Variable": "$.n", "NumericEquals": 1, "NumericLessThan": 2}), false);
        assert!(field.starts_with("Numeric"), "{field}");
        assert!(message.contains("exactly one"));
        assert_eq!(parse_err(json!({"Variable": "$.n"}), false).0, "");
    }

    #[test]
    fn parse_requires_valid_variable() {
        assert_eq!(parse_err(json!({"NumericEquals": 1}), false).0, "Variable");
        assert_eq!(parse_err(json!({"Variable": "n", "NumericEquals": 1}), false).0, "Variable");
        assert_eq!(parse_err(json!({"Variable": 3, "NumericEquals": 1}), false).0, "Variable");
    }

    #[test]
    fn parse_checks_combinators() {
        assert_eq!(parse_err(json!({"And": []}), false).0, "And");
        assert_eq!(parse_err(json!({"Or": {}}), false).0, "Or");
        assert_eq!(
            parse_err(json!({"Variable": "$.n", "Not": {"Variable": "$.n", "IsNull": true}}), false).0,
            "Variable"
        );
        let (field, _) = parse_err(
            json!({"And": [{"Variable": "$.n", "IsNull": true}, {"Variable": "$.n", "NumericEquals": "x"}], "Next": "A"}),
            true,
        );
        assert_eq!(field, "And[1].NumericEquals");
        let (field, _) = parse_err(json!({"Not": {"Variable": "$.n", "IsNull": true, "Next": "A"}, "Next": "B"}), true);
        assert_eq!(field, "Not.Next");
    }

    #[test]
    fn parse_rejects_unknown_fields_and_non_objects() {
        assert_eq!(parse_err(json!({"Variable": "$.n", "NumericEqual": 1}), false).0, "NumericEqual");
        assert_eq!(parse_err(json!({"Variable": "$.n", "StringMatchesPath": "$.x"}), false).0, "StringMatchesPath");
        assert_eq!(parse_err(json!([1]), false).0, "");
        assert!(ChoiceRule::parse(&json!({"Variable": "$.n", "IsNull": false, "Comment": "c"}), false).is_ok());
    }

    #[test]
    fn variable_may_use_context_and_indefinite_paths() {
        assert!(eval(json!({"Variable": "$$.Execution.Name", "StringEquals": "banana"})));
        assert!(!eval(json!({"Variable": "$.arr[*]", "NumericEquals": 1})));
        assert!(eval(json!({"Variable": "$.arr[*]", "IsPresent": true})));
    }
}
