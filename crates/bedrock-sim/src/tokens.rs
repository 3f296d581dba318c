//! Deterministic token estimates.
//!
//! The simulator does not tokenize: it estimates one token per four characters
//! (rounded up), which is close to what English text costs on most models and,
//! above all, stable across runs.

use serde_json::Value;

/// Estimated tokens for a number of characters: `ceil(chars / 4)`.
pub fn tokens_for_chars(chars: u64) -> u64 {
    chars.div_ceil(4)
}

/// Estimated tokens for a piece of text.
pub fn estimate(text: &str) -> u64 {
    tokens_for_chars(text.chars().count() as u64)
}

/// Number of characters in all string leaves of a JSON value (numbers and
/// booleans count with their textual form), skipping the values of the
/// structural keys `role` and `type`.
pub fn leaf_chars(value: &Value) -> u64 {
    match value {
        Value::Null => 0,
        Value::Bool(b) => {
            if *b {
                4
            } else {
                5
            }
        }
        Value::Number(n) => n.to_string().len() as u64,
        Value::String(s) => s.chars().count() as u64,
        Value::Array(items) => items.iter().map(leaf_chars).sum(),
        Value::Object(map) => {
            map.iter().filter(|(k, _)| k.as_str() != "role" && k.as_str() != "type").map(|(_, v)| leaf_chars(v)).sum()
        }
    }
}

/// Number of characters of the compact JSON serialization of a value.
pub fn json_chars(value: &Value) -> u64 {
    serde_json::to_string(value).map(|s| s.chars().count() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rounds_up() {
        assert_eq!(estimate(""), 0);
        assert_eq!(estimate("abc"), 1);
        assert_eq!(estimate("abcd"), 1);
        assert_eq!(estimate("abcde"), 2);
    }

    #[test]
    fn leaf_chars_skips_roles() {
        let v = json!({"role": "user", "content": [{"text": "hello"}]});
        assert_eq!(leaf_chars(&v), 5);
    }
}
