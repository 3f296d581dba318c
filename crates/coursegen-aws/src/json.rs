//! JSON helpers shared by the providers: `serde_json` ↔ Smithy `Document` conversion, the
//! schema check before a structured call, and extraction of a JSON value from free text.

use std::collections::HashMap;

use aws_smithy_types::{Document, Number};
use serde_json::{Map, Value};

/// Convert a `serde_json` value into a Smithy [`Document`] (the type Bedrock's Converse API uses
/// for tool schemas and tool inputs). Numbers keep their kind: unsigned, negative or float.
pub fn json_to_document(value: &Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Document::Number(Number::PosInt(u))
            } else if let Some(i) = n.as_i64() {
                Document::Number(Number::NegInt(i))
            } else {
                Document::Number(Number::Float(n.as_f64().unwrap_or(0.0)))
            }
        }
        Value::String(s) => Document::String(s.clone()),
        Value::Array(items) => Document::Array(items.iter().map(json_to_document).collect()),
        Value::Object(map) => {
            let mut out = HashMap::with_capacity(map.len());
            for (k, v) in map {
                out.insert(k.clone(), json_to_document(v));
            }
            Document::Object(out)
        }
    }
}

/// Convert a Smithy [`Document`] into a `serde_json` value. Object keys are sorted so the
/// result (and its JSON text) is deterministic. Non-finite floats become `null`, as JSON has
/// no representation for them.
pub fn document_to_json(doc: &Document) -> Value {
    match doc {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null)
        }
        Document::String(s) => Value::String(s.clone()),
        Document::Array(items) => Value::Array(items.iter().map(document_to_json).collect()),
        Document::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::with_capacity(map.len());
            for k in keys {
                if let Some(v) = map.get(k) {
                    out.insert(k.clone(), document_to_json(v));
                }
            }
            Value::Object(out)
        }
    }
}

/// A JSON Schema that does not compile, with the compiler's message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSchema(String);

/// Whether `schema` compiles as a JSON Schema.
pub fn check_schema(schema: &Value) -> Result<(), InvalidSchema> {
    jsonschema::validator_for(schema).map(|_| ()).map_err(|e| InvalidSchema(e.to_string()))
}

pub use coursegen_core::model::extract_json;

/// A rough token estimate for budgeting (about four characters per token, rounded up).
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn document_round_trip_keeps_every_kind_of_value() {
        let v = json!({
            "b": true, "n": null, "s": "text ✓", "u": 18446744073709551615u64, "i": -42, "f": 1.5,
            "a": [1, "two", {"three": [3.25, false]}], "o": {"z": 1, "a": {}}, "empty": []
        });
        let doc = json_to_document(&v);
        assert!(matches!(&doc, Document::Object(m) if m.len() == 9));
        let back = document_to_json(&doc);
        assert_eq!(back, v);
        assert!(matches!(json_to_document(&json!(-1)), Document::Number(Number::NegInt(-1))));
        assert!(matches!(json_to_document(&json!(7)), Document::Number(Number::PosInt(7))));
        assert!(matches!(json_to_document(&json!(0.5)), Document::Number(Number::Float(_))));
    }

    #[test]
    fn document_to_json_sorts_keys_and_maps_non_finite_floats_to_null() {
        let mut m = HashMap::new();
        m.insert("zeta".to_string(), Document::Number(Number::Float(f64::NAN)));
        m.insert("alpha".to_string(), Document::Number(Number::Float(f64::INFINITY)));
        m.insert("mid".to_string(), Document::String("x".into()));
        let v = document_to_json(&Document::Object(m));
        assert_eq!(v.to_string(), r#"{"alpha":null,"mid":"x","zeta":null}"#);
    }

    #[test]
    fn schemas_that_do_not_compile_are_reported() {
        assert!(check_schema(&json!({"type": "object", "required": ["a"]})).is_ok());
        let err = check_schema(&json!({"type": "nonsense"})).unwrap_err();
        assert!(!err.to_string().is_empty());
        assert!(check_schema(&json!({"type": 12})).is_err());
    }

    #[test]
    fn token_estimate_rounds_up() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abc"), 1);
        assert_eq!(estimate_tokens("abcdefghi"), 3);
    }
}
