//! Fingerprints of stage inputs: an output whose recorded fingerprint matches is reused.

use sha2::{Digest, Sha256};

/// Bumped whenever prompts or renderers change what a stage would produce.
pub const PROMPT_VERSION: &str = "2026-11-27.1";

/// SHA-256 over the canonical JSON of `parts` (object keys sorted), hex encoded.
pub fn fingerprint(parts: &serde_json::Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(canonical_json(parts).as_bytes());
    hex::encode(hasher.finalize())
}

/// JSON with object keys sorted recursively, so key order never changes a fingerprint.
pub(crate) fn canonical_json(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let body: Vec<String> =
                keys.into_iter().map(|k| format!("{}:{}", Value::String(k.clone()), canonical_json(&map[k]))).collect();
            format!("{{{}}}", body.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical_json).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_change_the_fingerprint_but_values_do() {
        let a = json!({"a": 1, "b": {"x": [1, 2], "y": "z"}});
        let b = json!({"b": {"y": "z", "x": [1, 2]}, "a": 1});
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&json!({"a": 2, "b": {"x": [1, 2], "y": "z"}})));
        assert_ne!(fingerprint(&json!({"x": [1, 2]})), fingerprint(&json!({"x": [2, 1]})));
    }
}
