//! Intrinsic functions (`States.Format`, `States.Array`, `States.Hash`, ...) usable in the
//! `.$` fields of payload templates of JSONPath states.
//!
//! The call grammar is parsed here; Path arguments are evaluated through [`crate::paths`].

use std::cmp::Ordering;

use base64::Engine as _;
use rand::Rng as _;
use serde_json::{Map, Number, Value};

use crate::error::{names, IntrinsicSyntax, StatesError};
use crate::{paths, random};

/// Most intrinsic calls that may be nested inside one another in a field.
const MAX_NESTING: usize = 10;
/// Longest string accepted by `States.Base64Encode`, `States.Base64Decode` and `States.Hash`.
const MAX_INPUT_CHARS: usize = 10_000;
/// Most elements `States.ArrayRange` may produce.
const MAX_RANGE_ELEMENTS: i64 = 1_000;

/// An argument of an intrinsic call, as written.
#[derive(Debug, Clone, PartialEq)]
enum Arg {
    /// A single-quoted literal: its decoded value, and its text with escapes kept (needed by
    /// `States.Format` to tell an escaped `\{` from a placeholder).
    Str {
        value: String,
        raw: String,
    },
    Number(Number),
    Bool(bool),
    Null,
    Path(String),
    Call(Call),
}

/// A parsed intrinsic call.
#[derive(Debug, Clone, PartialEq)]
struct Call {
    name: String,
    args: Vec<Arg>,
}

/// Allowed argument counts per function: (name, minimum, maximum).
const FUNCTIONS: &[(&str, usize, Option<usize>)] = &[
    ("States.Format", 1, None),
    ("States.StringToJson", 1, Some(1)),
    ("States.JsonToString", 1, Some(1)),
    ("States.Array", 0, None),
    ("States.ArrayPartition", 2, Some(2)),
    ("States.ArrayContains", 2, Some(2)),
    ("States.ArrayRange", 3, Some(3)),
    ("States.ArrayGetItem", 2, Some(2)),
    ("States.ArrayLength", 1, Some(1)),
    ("States.ArrayUnique", 1, Some(1)),
    ("States.Base64Encode", 1, Some(1)),
    ("States.Base64Decode", 1, Some(1)),
    ("States.Hash", 2, Some(2)),
    ("States.JsonMerge", 3, Some(3)),
    ("States.MathRandom", 2, Some(3)),
    ("States.MathAdd", 2, Some(2)),
    ("States.StringSplit", 2, Some(2)),
    ("States.UUID", 0, Some(0)),
];

/// Recursive-descent parser over the characters of a call expression.
struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn new(text: &str) -> Self {
        Self { chars: text.chars().collect(), pos: 0 }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn rest_starts_with(&self, prefix: &str) -> bool {
        let mut rest = self.chars.iter().skip(self.pos);
        prefix.chars().all(|c| rest.next() == Some(&c))
    }

    /// Parses a whole expression: exactly one call and nothing after it.
    fn parse_expression(mut self) -> Result<Call, IntrinsicSyntax> {
        self.skip_ws();
        let call = self.parse_call(1)?;
        self.skip_ws();
        if self.pos != self.chars.len() {
            let trailing: String = self.chars[self.pos..].iter().collect();
            return Err(IntrinsicSyntax::TrailingText(trailing));
        }
        Ok(call)
    }

    fn parse_call(&mut self, depth: usize) -> Result<Call, IntrinsicSyntax> {
        if depth > MAX_NESTING {
            return Err(IntrinsicSyntax::TooDeep(MAX_NESTING));
        }
        if !self.rest_starts_with("States.") {
            return Err(IntrinsicSyntax::MissingPrefix);
        }
        self.pos += "States.".len();
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
            self.pos += 1;
        }
        let name = format!("States.{}", self.chars[start..self.pos].iter().collect::<String>());
        if !FUNCTIONS.iter().any(|(n, _, _)| *n == name) {
            return Err(IntrinsicSyntax::Unsupported(name));
        }
        self.skip_ws();
        if self.peek() != Some('(') {
            return Err(IntrinsicSyntax::ExpectedOpenParen(name));
        }
        self.pos += 1;
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(')') {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                args.push(self.parse_arg(depth)?);
                self.skip_ws();
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    Some(found) => return Err(IntrinsicSyntax::UnexpectedInArguments { found, function: name }),
                    None => return Err(IntrinsicSyntax::MissingCloseParen(name)),
                }
            }
        }
        let call = Call { name, args };
        check_arity(&call)?;
        Ok(call)
    }

    fn parse_arg(&mut self, depth: usize) -> Result<Arg, IntrinsicSyntax> {
        match self.peek() {
            Some('\'') => self.parse_string(),
            Some('$') => self.parse_path(),
            Some(c) if c == '-' || c.is_ascii_digit() => self.parse_number(),
            Some('S') if self.rest_starts_with("States.") => self.parse_call(depth + 1).map(Arg::Call),
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
                    self.pos += 1;
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                match word.as_str() {
                    "true" => Ok(Arg::Bool(true)),
                    "false" => Ok(Arg::Bool(false)),
                    "null" => Ok(Arg::Null),
                    _ => Err(IntrinsicSyntax::UnexpectedArgument(word)),
                }
            }
            Some(c) => Err(IntrinsicSyntax::UnexpectedChar(c)),
            None => Err(IntrinsicSyntax::MissingArgument),
        }
    }

    fn parse_string(&mut self) -> Result<Arg, IntrinsicSyntax> {
        self.pos += 1;
        let mut value = String::new();
        let mut raw = String::new();
        loop {
            match self.peek() {
                None => return Err(IntrinsicSyntax::UnterminatedString),
                Some('\'') => {
                    self.pos += 1;
                    return Ok(Arg::Str { value, raw });
                }
                Some('\\') => {
                    let escaped = self.chars.get(self.pos + 1).copied();
                    match escaped {
                        Some(c @ ('\'' | '{' | '}' | '\\')) => {
                            value.push(c);
                            raw.push('\\');
                            raw.push(c);
                            self.pos += 2;
                        }
                        Some(c) => return Err(IntrinsicSyntax::InvalidEscape(c)),
                        None => return Err(IntrinsicSyntax::UnterminatedString),
                    }
                }
                Some(c) => {
                    value.push(c);
                    raw.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn parse_path(&mut self) -> Result<Arg, IntrinsicSyntax> {
        let start = self.pos;
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        while let Some(c) = self.peek() {
            if let Some(q) = quote {
                if c == '\\' {
                    self.pos += 1;
                } else if c == q {
                    quote = None;
                }
            } else {
                match c {
                    '\'' | '"' if depth > 0 => quote = Some(c),
                    '[' | '(' => depth += 1,
                    ']' => depth = depth.saturating_sub(1),
                    ')' if depth == 0 => break,
                    ')' => depth -= 1,
                    ',' if depth == 0 => break,
                    _ => {}
                }
            }
            self.pos += 1;
        }
        let end = self.pos.min(self.chars.len());
        let path: String = self.chars[start..end].iter().collect::<String>().trim_end().to_string();
        paths::validate_path(&path)?;
        Ok(Arg::Path(path))
    }

    fn parse_number(&mut self) -> Result<Arg, IntrinsicSyntax> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')) {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        text.parse::<Number>().map(Arg::Number).map_err(|_| IntrinsicSyntax::InvalidNumber(text))
    }
}

/// Checks the argument count, and for `States.Format` with a literal template, that the
/// number of placeholders matches.
fn check_arity(call: &Call) -> Result<(), IntrinsicSyntax> {
    let Some((_, min, max)) = FUNCTIONS.iter().find(|(n, _, _)| *n == call.name) else {
        return Err(IntrinsicSyntax::Unsupported(call.name.clone()));
    };
    let count = call.args.len();
    let too_many = max.is_some_and(|m| count > m);
    if count < *min || too_many {
        let expected = match max {
            Some(m) if m == min => format!("{min}"),
            Some(m) => format!("{min} to {m}"),
            None => format!("at least {min}"),
        };
        return Err(IntrinsicSyntax::Arity { function: call.name.clone(), expected, given: count });
    }
    if call.name == "States.Format" {
        if let Some(Arg::Str { raw, .. }) = call.args.first() {
            let placeholders = format_pieces(raw, true).iter().filter(|p| p.is_none()).count();
            if placeholders != count - 1 {
                return Err(IntrinsicSyntax::FormatPlaceholders { placeholders, values: count - 1 });
            }
        }
    }
    Ok(())
}

/// Splits a Format template into literal pieces (`Some`) and placeholders (`None`). With
/// `escaped`, `\x` stands for the literal character `x`.
fn format_pieces(template: &str, escaped: bool) -> Vec<Option<String>> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if escaped && c == '\\' {
            if let Some(next) = chars.next() {
                literal.push(next);
            }
        } else if c == '{' && chars.peek() == Some(&'}') {
            chars.next();
            pieces.push(Some(std::mem::take(&mut literal)));
            pieces.push(None);
        } else {
            literal.push(c);
        }
    }
    pieces.push(Some(literal));
    pieces
}

/// True when the string looks like an intrinsic call (starts with `States.` and has a `(`).
pub fn is_intrinsic(expr: &str) -> bool {
    expr.trim_start().starts_with("States.") && expr.contains('(')
}

/// Load-time check: parses the call and checks the function name is supported and the
/// argument count is valid. `Err` carries the message.
pub fn validate(expr: &str) -> Result<(), IntrinsicSyntax> {
    Parser::new(expr).parse_expression().map(|_| ())
}

/// Evaluate an intrinsic function call string such as `States.Format('Hello {}', $.name)`.
/// Arguments may be single-quoted string literals (with `\'`, `\{`, `\}`, `\\` escapes),
/// numbers, booleans, null, Paths (`$.x`, `$$.y`) or nested intrinsic calls. Errors are
/// `States.IntrinsicFailure` with a precise cause; a Path argument matching nothing fails
/// with `States.Runtime` as any other Path does.
pub fn evaluate(expr: &str, input: &Value, context: &Value) -> Result<Value, StatesError> {
    let call = Parser::new(expr)
        .parse_expression()
        .map_err(|m| failure(format!("Invalid intrinsic function '{expr}': {m}")))?;
    eval_call(&call, input, context)
}

fn failure(cause: impl Into<String>) -> StatesError {
    StatesError::new(names::INTRINSIC_FAILURE, cause)
}

fn eval_arg(arg: &Arg, input: &Value, context: &Value) -> Result<Value, StatesError> {
    match arg {
        Arg::Str { value, .. } => Ok(Value::String(value.clone())),
        Arg::Number(n) => Ok(Value::Number(n.clone())),
        Arg::Bool(b) => Ok(Value::Bool(*b)),
        Arg::Null => Ok(Value::Null),
        Arg::Path(path) => paths::select(path, input, context),
        Arg::Call(call) => eval_call(call, input, context),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Accessors that fail with a cause naming the function and argument position.
struct Args<'a> {
    name: &'a str,
    values: Vec<Value>,
}

impl Args<'_> {
    fn wrong(&self, index: usize, expected: &str) -> StatesError {
        let found = self.values.get(index).map_or("nothing", type_name);
        failure(format!("Invalid arguments in {}: argument {} must be {expected}, found {found}", self.name, index + 1))
    }

    fn value(&self, index: usize) -> Result<&Value, StatesError> {
        self.values.get(index).ok_or_else(|| self.wrong(index, "present"))
    }

    fn string(&self, index: usize) -> Result<&str, StatesError> {
        self.value(index)?.as_str().ok_or_else(|| self.wrong(index, "a string"))
    }

    fn array(&self, index: usize) -> Result<&Vec<Value>, StatesError> {
        self.value(index)?.as_array().ok_or_else(|| self.wrong(index, "an array"))
    }

    fn object(&self, index: usize) -> Result<&Map<String, Value>, StatesError> {
        self.value(index)?.as_object().ok_or_else(|| self.wrong(index, "an object"))
    }

    fn integer(&self, index: usize) -> Result<i64, StatesError> {
        let value = self.value(index)?;
        let Value::Number(n) = value else {
            return Err(self.wrong(index, "an integer"));
        };
        if let Some(i) = n.as_i64() {
            return Ok(i);
        }
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f <= i64::MAX as f64 => Ok(f as i64),
            _ => Err(self.wrong(index, "an integer")),
        }
    }

    fn fail(&self, detail: impl std::fmt::Display) -> StatesError {
        failure(format!("Invalid arguments in {}: {detail}", self.name))
    }
}

fn eval_call(call: &Call, input: &Value, context: &Value) -> Result<Value, StatesError> {
    let values = call.args.iter().map(|arg| eval_arg(arg, input, context)).collect::<Result<Vec<_>, _>>()?;
    let args = Args { name: &call.name, values };
    match call.name.as_str() {
        "States.Format" => format(call, &args),
        "States.StringToJson" => {
            let text = args.string(0)?;
            serde_json::from_str(text).map_err(|e| args.fail(format!("the string is not valid JSON: {e}")))
        }
        "States.JsonToString" => Ok(Value::String(args.value(0)?.to_string())),
        "States.Array" => Ok(Value::Array(args.values.clone())),
        "States.ArrayPartition" => {
            let items = args.array(0)?;
            let size = args.integer(1)?;
            let size = usize::try_from(size)
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| args.fail(format!("the chunk size must be a positive integer, got {size}")))?;
            Ok(Value::Array(items.chunks(size).map(|c| Value::Array(c.to_vec())).collect()))
        }
        "States.ArrayContains" => {
            let items = args.array(0)?;
            let needle = args.value(1)?;
            Ok(Value::Bool(items.iter().any(|item| json_equal(item, needle))))
        }
        "States.ArrayRange" => array_range(&args),
        "States.ArrayGetItem" => {
            let items = args.array(0)?;
            let index = args.integer(1)?;
            usize::try_from(index).ok().and_then(|i| items.get(i)).cloned().ok_or_else(|| {
                args.fail(format!("index {index} is out of bounds for an array of length {}", items.len()))
            })
        }
        "States.ArrayLength" => Ok(Value::from(args.array(0)?.len())),
        "States.ArrayUnique" => {
            let mut unique: Vec<Value> = Vec::new();
            for item in args.array(0)? {
                if !unique.iter().any(|u| json_equal(u, item)) {
                    unique.push(item.clone());
                }
            }
            Ok(Value::Array(unique))
        }
        "States.Base64Encode" => {
            let text = limited_string(&args, 0)?;
            Ok(Value::String(base64::engine::general_purpose::STANDARD.encode(text.as_bytes())))
        }
        "States.Base64Decode" => {
            let text = limited_string(&args, 0)?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map_err(|e| args.fail(format!("the string is not valid base64: {e}")))?;
            String::from_utf8(bytes).map(Value::String).map_err(|_| args.fail("the decoded data is not valid UTF-8"))
        }
        "States.Hash" => hash(&args),
        "States.JsonMerge" => json_merge(&args),
        "States.MathRandom" => math_random(&args),
        "States.MathAdd" => {
            let a = args.integer(0)?;
            let b = args.integer(1)?;
            for (i, v) in [a, b].into_iter().enumerate() {
                if i32::try_from(v).is_err() {
                    return Err(args.fail(format!(
                        "argument {} ({v}) is outside the range {} to {}",
                        i + 1,
                        i32::MIN,
                        i32::MAX
                    )));
                }
            }
            Ok(Value::from(a + b))
        }
        "States.StringSplit" => {
            let text = args.string(0)?;
            let delimiters = args.string(1)?;
            let parts: Vec<Value> = if delimiters.is_empty() {
                vec![Value::String(text.to_string())]
            } else {
                text.split(|c| delimiters.contains(c))
                    .filter(|p| !p.is_empty())
                    .map(|p| Value::String(p.to_string()))
                    .collect()
            };
            Ok(Value::Array(parts))
        }
        "States.UUID" => Ok(Value::String(uuid::Uuid::new_v4().to_string())),
        other => Err(failure(format!("unsupported intrinsic function '{other}'"))),
    }
}

fn limited_string<'a>(args: &'a Args<'_>, index: usize) -> Result<&'a str, StatesError> {
    let text = args.string(index)?;
    if text.chars().count() > MAX_INPUT_CHARS {
        return Err(args.fail(format!("the input string is longer than {MAX_INPUT_CHARS} characters")));
    }
    Ok(text)
}

fn format(call: &Call, args: &Args<'_>) -> Result<Value, StatesError> {
    let pieces = match call.args.first() {
        Some(Arg::Str { raw, .. }) => format_pieces(raw, true),
        _ => format_pieces(args.string(0)?, false),
    };
    let placeholders = pieces.iter().filter(|p| p.is_none()).count();
    let supplied = args.values.len().saturating_sub(1);
    if placeholders != supplied {
        return Err(args.fail(format!(
            "the template has {placeholders} placeholder(s) but {supplied} value argument(s) were given"
        )));
    }
    let mut out = String::new();
    let mut next = 1;
    for piece in pieces {
        match piece {
            Some(text) => out.push_str(&text),
            None => {
                let value = args.value(next)?;
                match value {
                    Value::String(s) => out.push_str(s),
                    Value::Number(_) | Value::Bool(_) | Value::Null => out.push_str(&value.to_string()),
                    _ => return Err(args.wrong(next, "a string, number, boolean or null")),
                }
                next += 1;
            }
        }
    }
    Ok(Value::String(out))
}

fn array_range(args: &Args<'_>) -> Result<Value, StatesError> {
    let start = args.integer(0)?;
    let end = args.integer(1)?;
    let step = args.integer(2)?;
    if step == 0 {
        return Err(args.fail("the step must not be 0"));
    }
    let span = i128::from(end) - i128::from(start);
    let count = if (span >= 0) == (step > 0) || span == 0 { span / i128::from(step) + 1 } else { 0 };
    if count > i128::from(MAX_RANGE_ELEMENTS) {
        return Err(
            args.fail(format!("the range would have {count} elements; at most {MAX_RANGE_ELEMENTS} are allowed"))
        );
    }
    let mut items = Vec::new();
    let mut current = i128::from(start);
    for _ in 0..count {
        items.push(Value::from(current as i64));
        current += i128::from(step);
    }
    Ok(Value::Array(items))
}

fn hash(args: &Args<'_>) -> Result<Value, StatesError> {
    use sha2::Digest as _;
    let data = limited_string(args, 0)?.as_bytes();
    let algorithm = args.string(1)?;
    let digest: Vec<u8> = match algorithm {
        "MD5" => md5::Md5::digest(data).to_vec(),
        "SHA-1" => sha1::Sha1::digest(data).to_vec(),
        "SHA-256" => sha2::Sha256::digest(data).to_vec(),
        "SHA-384" => sha2::Sha384::digest(data).to_vec(),
        "SHA-512" => sha2::Sha512::digest(data).to_vec(),
        other => {
            return Err(args.fail(format!(
                "unsupported hash algorithm '{other}' (expected MD5, SHA-1, SHA-256, SHA-384 or SHA-512)"
            )))
        }
    };
    Ok(Value::String(digest.iter().map(|b| format!("{b:02x}")).collect()))
}

fn json_merge(args: &Args<'_>) -> Result<Value, StatesError> {
    let left = args.object(0)?;
    let right = args.object(1)?;
    match args.value(2)? {
        Value::Bool(false) => {}
        Value::Bool(true) => return Err(args.fail("deep merging is not supported; the third argument must be false")),
        _ => return Err(args.wrong(2, "the boolean false")),
    }
    let mut merged = left.clone();
    for (key, value) in right {
        merged.insert(key.clone(), value.clone());
    }
    Ok(Value::Object(merged))
}

fn math_random(args: &Args<'_>) -> Result<Value, StatesError> {
    let start = args.integer(0)?;
    let end = args.integer(1)?;
    if start >= end {
        return Err(args.fail(format!("the start ({start}) must be less than the end ({end})")));
    }
    let seed = if args.values.len() > 2 { args.integer(2)? as u64 } else { random::entropy_seed() };
    Ok(Value::from(random::seeded(seed).random_range(start..end)))
}

/// JSON equality where numbers compare by value (`1` equals `1.0`).
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y) == Some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// Orders two JSON numbers by value, exactly for integers.
pub(crate) fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input() -> Value {
        json!({
            "name": "World",
            "n": 3,
            "list": [1, 2, 3, 4, 5],
            "dup": [1, "a", 1, {"k": 1}, {"k": 1}, 2.0, 2],
            "obj": {"a": 1, "b": {"x": 1}},
            "other": {"b": {"y": 2}, "c": 3},
            "json": "{\"k\":[1,2]}",
            "arn": "arn:aws:imagebuilder:us-east-1:123:image/my-recipe.x/1.0.0"
        })
    }

    fn eval(expr: &str) -> Result<Value, StatesError> {
        evaluate(expr, &input(), &json!({"Execution": {"Name": "exec-1"}}))
    }

    fn fails(expr: &str) -> StatesError {
        let err = eval(expr).unwrap_err();
        assert_eq!(err.error, names::INTRINSIC_FAILURE, "{expr}: {}", err.cause);
        err
    }

    #[test]
    fn recognises_intrinsic_strings() {
        assert!(is_intrinsic("States.Format('x')"));
        assert!(!is_intrinsic("$.States"));
        assert!(!is_intrinsic("States.Format"));
    }

    #[test]
    fn format_substitutes_values_in_order() {
        assert_eq!(eval("States.Format('Hello {}, n={}', $.name, $.n)").unwrap(), json!("Hello World, n=3"));
        assert_eq!(eval("States.Format('{}{}{}', true, null, 1.5)").unwrap(), json!("truenull1.5"));
    }

    #[test]
    fn format_honours_escapes() {
        let out = eval(r"States.Format('\{\} it\'s a \\ {}', $.name)").unwrap();
        assert_eq!(out, json!(r"{} it's a \ World"));
    }

    #[test]
    fn format_reads_context_paths() {
        assert_eq!(eval("States.Format('run {}', $$.Execution.Name)").unwrap(), json!("run exec-1"));
    }

    #[test]
    fn format_placeholder_count_must_match() {
        assert!(validate("States.Format('{} {}', $.name)").is_err());
        let err = evaluate("States.Format($.t, 1)", &json!({"t": "{} and {}"}), &Value::Null).unwrap_err();
        assert_eq!(err.error, names::INTRINSIC_FAILURE);
        assert!(err.cause.contains("placeholder"));
    }

    #[test]
    fn format_rejects_object_values() {
        fails("States.Format('x {}', $.obj)");
    }

    #[test]
    fn string_to_json_parses() {
        assert_eq!(eval("States.StringToJson($.json)").unwrap(), json!({"k": [1, 2]}));
        fails("States.StringToJson('{nope')");
        fails("States.StringToJson($.n)");
    }

    #[test]
    fn json_to_string_is_compact() {
        assert_eq!(eval("States.JsonToString($.obj)").unwrap(), json!(r#"{"a":1,"b":{"x":1}}"#));
    }

    #[test]
    fn array_builds_from_mixed_arguments() {
        assert_eq!(eval("States.Array('a', 1, $.n, States.Array())").unwrap(), json!(["a", 1, 3, []]));
        assert_eq!(eval("States.Array()").unwrap(), json!([]));
    }

    #[test]
    fn array_partition_chunks_with_remainder() {
        assert_eq!(eval("States.ArrayPartition($.list, 2)").unwrap(), json!([[1, 2], [3, 4], [5]]));
        fails("States.ArrayPartition($.list, 0)");
        fails("States.ArrayPartition($.name, 2)");
    }

    #[test]
    fn array_contains_compares_deeply() {
        assert_eq!(eval("States.ArrayContains($.list, 3)").unwrap(), json!(true));
        assert_eq!(eval("States.ArrayContains($.list, 9)").unwrap(), json!(false));
        assert_eq!(eval("States.ArrayContains($.dup, States.StringToJson('{\"k\":1}'))").unwrap(), json!(true));
    }

    #[test]
    fn array_range_is_inclusive_and_limited() {
        assert_eq!(eval("States.ArrayRange(1, 9, 2)").unwrap(), json!([1, 3, 5, 7, 9]));
        assert_eq!(eval("States.ArrayRange(5, 1, -2)").unwrap(), json!([5, 3, 1]));
        assert_eq!(eval("States.ArrayRange(5, 1, 1)").unwrap(), json!([]));
        assert_eq!(eval("States.ArrayRange(1, 1000, 1)").unwrap().as_array().map(Vec::len), Some(1000));
        fails("States.ArrayRange(0, 1000, 1)");
        fails("States.ArrayRange(0, 5, 0)");
        fails("States.ArrayRange(0, 5, 1.5)");
    }

    #[test]
    fn array_get_item_by_index() {
        assert_eq!(eval("States.ArrayGetItem($.list, 1)").unwrap(), json!(2));
        let err = fails("States.ArrayGetItem($.list, 5)");
        assert!(err.cause.contains("out of bounds"));
        fails("States.ArrayGetItem($.list, -1)");
    }

    #[test]
    fn array_length_counts() {
        assert_eq!(eval("States.ArrayLength($.list)").unwrap(), json!(5));
        fails("States.ArrayLength($.obj)");
    }

    #[test]
    fn array_unique_keeps_first_occurrences() {
        assert_eq!(eval("States.ArrayUnique($.dup)").unwrap(), json!([1, "a", {"k": 1}, 2.0]));
    }

    #[test]
    fn base64_round_trip() {
        assert_eq!(eval("States.Base64Encode('Data to encode')").unwrap(), json!("RGF0YSB0byBlbmNvZGU="));
        assert_eq!(eval("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')").unwrap(), json!("Data to encode"));
        fails("States.Base64Decode('***')");
    }

    #[test]
    fn base64_input_length_is_limited() {
        let long = "a".repeat(10_001);
        let err = evaluate("States.Base64Encode($.s)", &json!({"s": long}), &Value::Null).unwrap_err();
        assert_eq!(err.error, names::INTRINSIC_FAILURE);
    }

    #[test]
    fn hash_supports_all_algorithms() {
        assert_eq!(eval("States.Hash('abc', 'MD5')").unwrap(), json!("900150983cd24fb0d6963f7d28e17f72"));
        assert_eq!(eval("States.Hash('abc', 'SHA-1')").unwrap(), json!("a9993e364706816aba3e25717850c26c9cd0d89d"));
        assert_eq!(
            eval("States.Hash('abc', 'SHA-256')").unwrap(),
            json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        let sha384 = eval("States.Hash('abc', 'SHA-384')").unwrap();
        assert!(sha384.as_str().is_some_and(|s| s.starts_with("cb00753f45a35e8b") && s.len() == 96));
        let sha512 = eval("States.Hash('abc', 'SHA-512')").unwrap();
        assert!(sha512.as_str().is_some_and(|s| s.starts_with("ddaf35a193617aba") && s.len() == 128));
    }

    #[test]
    fn hash_rejects_unknown_algorithm() {
        let err = fails("States.Hash('abc', 'SHA-3')");
        assert!(err.cause.contains("SHA-3"));
    }

    #[test]
    fn json_merge_is_shallow() {
        assert_eq!(eval("States.JsonMerge($.obj, $.other, false)").unwrap(), json!({"a": 1, "b": {"y": 2}, "c": 3}));
        fails("States.JsonMerge($.obj, $.other, true)");
        fails("States.JsonMerge($.obj, $.list, false)");
    }

    #[test]
    fn math_random_is_in_range_and_deterministic_with_seed() {
        let a = eval("States.MathRandom(1, 999, 1234)").unwrap();
        let b = eval("States.MathRandom(1, 999, 1234)").unwrap();
        assert_eq!(a, b);
        for _ in 0..50 {
            let v = eval("States.MathRandom(5, 8)").unwrap().as_i64().unwrap_or(-1);
            assert!((5..8).contains(&v), "{v}");
        }
        fails("States.MathRandom(5, 5)");
    }

    #[test]
    fn math_add_adds_integers() {
        assert_eq!(eval("States.MathAdd($.n, -1)").unwrap(), json!(2));
        assert_eq!(eval("States.MathAdd(2147483647, 1)").unwrap(), json!(2147483648i64));
        fails("States.MathAdd(1.5, 1)");
        fails("States.MathAdd(2147483648, 1)");
    }

    #[test]
    fn string_split_on_any_delimiter_character() {
        assert_eq!(eval("States.StringSplit('1,2,3', ',')").unwrap(), json!(["1", "2", "3"]));
        assert_eq!(
            eval("States.StringSplit('This.is+a,test=string', '.+,=')").unwrap(),
            json!(["This", "is", "a", "test", "string"])
        );
    }

    #[test]
    fn nested_calls_evaluate_inside_out() {
        let out = eval(
            "States.Format('{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.arn, '/'), 1), '.'), 0), States.ArrayLength($.list))",
        )
        .unwrap();
        assert_eq!(out, json!("my-recipe.5"));
    }

    #[test]
    fn uuid_is_a_random_v4() {
        let a = eval("States.UUID()").unwrap();
        let b = eval("States.UUID()").unwrap();
        assert_ne!(a, b);
        let text = a.as_str().unwrap_or_default();
        assert_eq!(text.len(), 36);
        assert_eq!(text.chars().nth(14), Some('4'));
    }

    #[test]
    fn validate_checks_names_arity_and_syntax() {
        assert!(validate("States.Array($.a, 'x', 1, true, null)").is_ok());
        assert_eq!(validate("States.Unknown(1)"), Err(IntrinsicSyntax::Unsupported("States.Unknown".into())));
        let arity = validate("States.ArrayLength()").unwrap_err();
        assert_eq!(arity.to_string(), "States.ArrayLength takes 1 argument(s) but 0 were given");
        assert!(validate("States.UUID(1)").is_err());
        assert_eq!(validate("States.Array('open"), Err(IntrinsicSyntax::UnterminatedString));
        assert!(validate("States.Array(1) extra").is_err());
        assert!(validate("States.Array(1,)").is_err());
        let escape = validate("States.Array('bad \\n escape')").unwrap_err();
        assert_eq!(
            escape.to_string(),
            r"invalid escape sequence '\n' in a string literal (only \', \{, \} and \\ are allowed)"
        );
        assert!(validate("States.Array($.a[)").is_err());
        assert!(validate("States.Array(maybe)").is_err());
    }

    #[test]
    fn nesting_deeper_than_ten_is_rejected() {
        let ten = format!("{}1{}", "States.Array(".repeat(10), ")".repeat(10));
        assert!(validate(&ten).is_ok());
        let eleven = format!("{}1{}", "States.Array(".repeat(11), ")".repeat(11));
        assert_eq!(validate(&eleven), Err(IntrinsicSyntax::TooDeep(10)));
    }

    #[test]
    fn path_arguments_with_filters_and_commas_parse() {
        let out = evaluate(
            "States.Array($.items[?(@.tag == 'a,b')].id, 2)",
            &json!({"items": [{"tag": "a,b", "id": 1}, {"tag": "c", "id": 3}]}),
            &Value::Null,
        )
        .unwrap();
        assert_eq!(out, json!([[1], 2]));
    }

    #[test]
    fn missing_path_argument_is_states_runtime() {
        let err = eval("States.Format('{}', $.missing)").unwrap_err();
        assert_eq!(err.error, names::RUNTIME);
    }

    #[test]
    fn malformed_call_at_runtime_is_intrinsic_failure() {
        fails("States.Format('x'");
        fails("States.Nope()");
    }
}
