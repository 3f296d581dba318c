//! Generates JSON values that validate against a JSON Schema.
//!
//! The walk covers what tool and structured-output schemas use in practice:
//! `type` (single or list), `enum`, `const`, objects with `properties`,
//! `required` and `additionalProperties`, arrays with `items`/`prefixItems`,
//! `minItems`/`maxItems`/`uniqueItems`, strings with `minLength`/`maxLength`
//! and common `format`s, integers and numbers within `minimum`/`maximum`
//! (exclusive bounds and `multipleOf` included), booleans, `$ref` to local
//! definitions, `allOf`, `anyOf` and `oneOf`. `pattern` is not interpreted.
//! Output is deterministic for a given random generator state.

use crate::rng::Rng;
use crate::text::{capitalize, phrase};

/// With at least this many words of vocabulary, strings are written from the vocabulary alone
/// (no generic filler words), so an answer about a source (a quiz on a lesson) uses only words
/// the source contains.
const OWN_VOCABULARY: usize = 12;
use serde_json::{Map, Number, Value};

const MAX_DEPTH: usize = 24;
const NODE_BUDGET: u64 = 50_000;
const MAX_ITEMS: u64 = 1_000;
const MAX_STRING: u64 = 1_000_000;

/// Generates a value for `schema`, using `words` as vocabulary for strings.
///
/// The schema is walked with its keys in sorted order, so the same schema gives the same value
/// whatever order the client serialised its maps in.
pub fn generate(schema: &Value, rng: &mut Rng, words: &[String]) -> Value {
    let schema = &sorted_keys(schema);
    let mut generator = Generator { root: schema, rng, words, nodes: 0 };
    generator.value(schema, "value", 0)
}

/// `value` with the keys of every object in sorted order (arrays keep theirs: it is content).
pub fn sorted_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k.clone(), sorted_keys(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted_keys).collect()),
        other => other.clone(),
    }
}

struct Generator<'a> {
    root: &'a Value,
    rng: &'a mut Rng,
    words: &'a [String],
    nodes: u64,
}

fn num(map: &Map<String, Value>, key: &str) -> Option<f64> {
    map.get(key).and_then(Value::as_f64)
}

fn uint(map: &Map<String, Value>, key: &str) -> Option<u64> {
    map.get(key).and_then(|v| v.as_u64().or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)))
}

fn type_names(map: &Map<String, Value>) -> Vec<String> {
    match map.get("type") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

fn infer_type(map: &Map<String, Value>) -> &'static str {
    if map.contains_key("properties") || map.contains_key("required") || map.contains_key("additionalProperties") {
        "object"
    } else if map.contains_key("items") || map.contains_key("prefixItems") {
        "array"
    } else if map.contains_key("minimum")
        || map.contains_key("maximum")
        || map.contains_key("exclusiveMinimum")
        || map.contains_key("exclusiveMaximum")
        || map.contains_key("multipleOf")
    {
        "number"
    } else {
        "string"
    }
}

impl Generator<'_> {
    fn resolve(&self, reference: &str) -> Option<&Value> {
        let pointer = reference.strip_prefix('#')?;
        if pointer.is_empty() {
            return Some(self.root);
        }
        self.root.pointer(pointer)
    }

    fn value(&mut self, schema: &Value, name: &str, depth: usize) -> Value {
        self.nodes += 1;
        let map = match schema {
            Value::Object(map) => map,
            Value::Bool(false) => return Value::Null,
            _ => return Value::String(self.text(name, None, None)),
        };
        if depth > MAX_DEPTH {
            return Value::Null;
        }
        if self.nodes > NODE_BUDGET {
            return Self::minimal(map);
        }
        if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
            return match self.resolve(reference) {
                Some(target) => {
                    let target = target.clone();
                    self.value(&target, name, depth + 1)
                }
                None => Value::String(self.text(name, None, None)),
            };
        }
        if let Some(constant) = map.get("const") {
            return constant.clone();
        }
        if let Some(Value::Array(options)) = map.get("enum") {
            if let Some(choice) = self.rng.pick(options) {
                return choice.clone();
            }
        }
        if let Some(Value::Array(parts)) = map.get("allOf") {
            let merged = self.merge_all_of(map, parts);
            return self.value(&Value::Object(merged), name, depth + 1);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(Value::Array(options)) = map.get(key) {
                let chosen = options
                    .iter()
                    .find(|o| {
                        o.get("type").and_then(Value::as_str) != Some("null")
                            && o.get("const").map(Value::is_null) != Some(true)
                    })
                    .or_else(|| options.first());
                if let Some(option) = chosen {
                    let mut base = map.clone();
                    base.remove(key);
                    let merged = match option {
                        Value::Object(o) => {
                            for (k, v) in o {
                                base.insert(k.clone(), v.clone());
                            }
                            Value::Object(base)
                        }
                        other => other.clone(),
                    };
                    return self.value(&merged, name, depth + 1);
                }
            }
        }
        let types = type_names(map);
        let ty = types
            .iter()
            .find(|t| t.as_str() != "null")
            .or_else(|| types.first())
            .map(String::as_str)
            .unwrap_or_else(|| infer_type(map));
        match ty {
            "null" => Value::Null,
            "boolean" => Value::Bool(self.rng.below(2) == 0),
            "integer" => self.integer(map),
            "number" => self.number(map),
            "array" => self.array(map, name, depth),
            "object" => self.object(map, depth),
            _ => Value::String(self.string(map, name)),
        }
    }

    /// A cheap placeholder once the node budget is spent (e.g. for schemas
    /// whose required properties recurse without end).
    fn minimal(map: &Map<String, Value>) -> Value {
        if let Some(constant) = map.get("const") {
            return constant.clone();
        }
        if let Some(first) = map.get("enum").and_then(Value::as_array).and_then(|e| e.first()) {
            return first.clone();
        }
        let types = type_names(map);
        let ty = types.first().map(String::as_str).unwrap_or_else(|| infer_type(map));
        match ty {
            "null" => Value::Null,
            "boolean" => Value::Bool(false),
            "integer" | "number" => {
                Value::Number(Number::from(num(map, "minimum").map_or(0, |m| m.ceil().clamp(-9.0e15, 9.0e15) as i64)))
            }
            "array" => Value::Array(Vec::new()),
            "object" => Value::Object(Map::new()),
            _ => Value::String(String::new()),
        }
    }

    fn merge_all_of(&self, outer: &Map<String, Value>, parts: &[Value]) -> Map<String, Value> {
        let mut merged = outer.clone();
        merged.remove("allOf");
        let mut properties = match merged.remove("properties") {
            Some(Value::Object(p)) => p,
            _ => Map::new(),
        };
        let mut required: Vec<Value> = match merged.remove("required") {
            Some(Value::Array(r)) => r,
            _ => Vec::new(),
        };
        for part in parts {
            let part = match part.get("$ref").and_then(Value::as_str) {
                Some(reference) => self.resolve(reference).unwrap_or(part),
                None => part,
            };
            let Value::Object(part) = part else { continue };
            for (key, value) in part {
                match key.as_str() {
                    "properties" => {
                        if let Value::Object(p) = value {
                            for (pk, pv) in p {
                                properties.entry(pk.clone()).or_insert_with(|| pv.clone());
                            }
                        }
                    }
                    "required" => {
                        if let Value::Array(r) = value {
                            for item in r {
                                if !required.contains(item) {
                                    required.push(item.clone());
                                }
                            }
                        }
                    }
                    _ => {
                        merged.entry(key.clone()).or_insert_with(|| value.clone());
                    }
                }
            }
        }
        if !properties.is_empty() {
            merged.insert("properties".into(), Value::Object(properties));
        }
        if !required.is_empty() {
            merged.insert("required".into(), Value::Array(required));
        }
        merged
    }

    fn integer(&mut self, map: &Map<String, Value>) -> Value {
        let mut lo = num(map, "minimum").map(|v| v.ceil());
        let mut hi = num(map, "maximum").map(|v| v.floor());
        match map.get("exclusiveMinimum") {
            Some(Value::Bool(true)) => lo = lo.map(|v| v + 1.0),
            Some(v) => {
                if let Some(x) = v.as_f64() {
                    let bound = x.floor() + 1.0;
                    lo = Some(lo.map_or(bound, |l| l.max(bound)));
                }
            }
            None => {}
        }
        match map.get("exclusiveMaximum") {
            Some(Value::Bool(true)) => hi = hi.map(|v| v - 1.0),
            Some(v) => {
                if let Some(x) = v.as_f64() {
                    let bound = x.ceil() - 1.0;
                    hi = Some(hi.map_or(bound, |h| h.min(bound)));
                }
            }
            None => {}
        }
        let clamp = |v: f64| v.clamp(-9.0e15, 9.0e15) as i64;
        let (lo, hi) = match (lo.map(clamp), hi.map(clamp)) {
            (Some(l), Some(h)) => (l, h.max(l)),
            (Some(l), None) => (l, l.saturating_add(99)),
            (None, Some(h)) => (if h >= 1 { 1 } else { h.saturating_sub(99) }, h),
            (None, None) => (1, 100),
        };
        let multiple = num(map, "multipleOf").filter(|m| *m >= 1.0 && m.fract() == 0.0).map(|m| m as i64);
        let value = match multiple {
            Some(m) => {
                let first = lo.div_euclid(m) + i64::from(lo.rem_euclid(m) != 0);
                let last = hi.div_euclid(m);
                if first <= last {
                    self.rng.range_i64(first, last.min(first.saturating_add(20))) * m
                } else {
                    lo
                }
            }
            None => self.rng.range_i64(lo, hi.min(lo.saturating_add(1_000))),
        };
        Value::Number(Number::from(value))
    }

    fn number(&mut self, map: &Map<String, Value>) -> Value {
        let min = num(map, "minimum");
        let max = num(map, "maximum");
        let xmin = match map.get("exclusiveMinimum") {
            Some(Value::Bool(true)) => min,
            Some(v) => v.as_f64(),
            None => None,
        };
        let xmax = match map.get("exclusiveMaximum") {
            Some(Value::Bool(true)) => max,
            Some(v) => v.as_f64(),
            None => None,
        };
        let lo = match (min, xmin) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let hi = match (max, xmax) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let (lo, hi) = match (lo, hi) {
            (Some(l), Some(h)) => (l, h.max(l)),
            (Some(l), None) => (l, l + 100.0),
            (None, Some(h)) => (h - 100.0, h),
            (None, None) => (0.0, 100.0),
        };
        let ok = |v: f64| {
            v.is_finite()
                && min.is_none_or(|m| v >= m)
                && max.is_none_or(|m| v <= m)
                && xmin.is_none_or(|m| v > m)
                && xmax.is_none_or(|m| v < m)
        };
        let mut candidates = Vec::new();
        if let Some(m) = num(map, "multipleOf").filter(|m| *m > 0.0 && m.is_finite()) {
            let first = (lo / m).ceil();
            let last = (hi / m).floor();
            if first.is_finite() && last.is_finite() && first <= last {
                let span = (last - first).min(20.0) as u64;
                let k = first + self.rng.below(span + 1) as f64;
                candidates.push(k * m);
                candidates.push(first * m);
                candidates.push((first + 1.0) * m);
            }
        } else {
            let t = self.rng.unit_f64();
            let raw = lo + (hi - lo) * t;
            candidates.push((raw * 100.0).round() / 100.0);
            candidates.push(raw);
            candidates.push((lo + hi) / 2.0);
        }
        let value = candidates.into_iter().find(|v| ok(*v)).unwrap_or((lo + hi) / 2.0);
        Number::from_f64(value).map(Value::Number).unwrap_or_else(|| Value::Number(Number::from(0)))
    }

    fn array(&mut self, map: &Map<String, Value>, name: &str, depth: usize) -> Value {
        let min = uint(map, "minItems").unwrap_or(0).min(MAX_ITEMS);
        let max = uint(map, "maxItems").unwrap_or(u64::MAX).min(MAX_ITEMS);
        let (lo, hi) = if max < min {
            (min, min)
        } else {
            let natural_lo = min.max(2).min(max);
            (natural_lo, max.min(natural_lo + 2))
        };
        let count = if self.nodes > NODE_BUDGET { min } else { self.rng.range_u64(lo, hi) };
        let prefix: Vec<Value> = match (map.get("prefixItems"), map.get("items")) {
            (Some(Value::Array(p)), _) => p.clone(),
            (None, Some(Value::Array(p))) => p.clone(),
            _ => Vec::new(),
        };
        let rest = match map.get("items") {
            Some(Value::Array(_)) => map.get("additionalItems").cloned().unwrap_or(Value::Bool(true)),
            Some(items) => items.clone(),
            None => Value::Bool(true),
        };
        let unique = map.get("uniqueItems").and_then(Value::as_bool) == Some(true);
        let item_name = name.strip_suffix('s').unwrap_or(name).to_string();
        let mut out: Vec<Value> = Vec::new();
        let mut index = 0usize;
        let mut attempts = 0u64;
        while (out.len() as u64) < count && attempts < count * 10 + 10 {
            attempts += 1;
            if self.nodes > NODE_BUDGET && out.len() as u64 >= min {
                break;
            }
            let item_schema = prefix.get(index).unwrap_or(&rest);
            let item = if item_schema == &Value::Bool(true) {
                Value::String(self.text(&item_name, None, None))
            } else {
                self.value(item_schema, &item_name, depth + 1)
            };
            if unique && out.contains(&item) {
                continue;
            }
            out.push(item);
            index += 1;
        }
        Value::Array(out)
    }

    fn object(&mut self, map: &Map<String, Value>, depth: usize) -> Value {
        let empty = Map::new();
        let properties = match map.get("properties") {
            Some(Value::Object(p)) => p,
            _ => &empty,
        };
        let required: Vec<&str> = map
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let include_optional = depth < 8 && self.nodes < NODE_BUDGET;
        let mut out = Map::new();
        for (key, sub) in properties {
            if include_optional || required.contains(&key.as_str()) {
                let value = self.value(sub, key, depth + 1);
                out.insert(key.clone(), value);
            }
        }
        let additional = map.get("additionalProperties");
        let extra_schema = match additional {
            Some(Value::Bool(false)) => None,
            Some(Value::Object(_)) => additional.cloned(),
            _ => Some(Value::Bool(true)),
        };
        if let Some(extra) = &extra_schema {
            for key in &required {
                if !out.contains_key(*key) {
                    let value = self.value(extra, key, depth + 1);
                    out.insert((*key).to_string(), value);
                }
            }
            let min_props = uint(map, "minProperties").unwrap_or(0).min(MAX_ITEMS);
            let mut n = 0;
            while (out.len() as u64) < min_props {
                n += 1;
                let key = format!("extra_{n}");
                let value = self.value(extra, &key, depth + 1);
                out.insert(key, value);
            }
        }
        Value::Object(out)
    }

    fn string(&mut self, map: &Map<String, Value>, name: &str) -> String {
        let min = uint(map, "minLength");
        let max = uint(map, "maxLength");
        if let Some(format) = map.get("format").and_then(Value::as_str) {
            let formatted = match format {
                "date-time" => Some(format!(
                    "2024-{:02}-{:02}T{:02}:{:02}:00Z",
                    1 + self.rng.below(12),
                    1 + self.rng.below(28),
                    self.rng.below(24),
                    self.rng.below(60)
                )),
                "date" => Some(format!("2024-{:02}-{:02}", 1 + self.rng.below(12), 1 + self.rng.below(28))),
                "time" => Some(format!("{:02}:{:02}:00Z", self.rng.below(24), self.rng.below(60))),
                "email" => Some(format!("user{}@example.com", self.rng.below(1000))),
                "uri" | "url" | "iri" | "uri-reference" => Some(format!("https://example.com/{}", self.slug(2))),
                "uuid" => Some(self.rng.uuid()),
                "hostname" => Some("example.com".to_string()),
                "ipv4" => Some(format!("192.0.2.{}", 1 + self.rng.below(254))),
                "ipv6" => Some("2001:db8::1".to_string()),
                _ => None,
            };
            if let Some(s) = formatted {
                let len = s.chars().count() as u64;
                if min.is_none_or(|m| len >= m) && max.is_none_or(|m| len <= m) {
                    return s;
                }
            }
        }
        self.text(name, min, max)
    }

    /// `n` words: from the vocabulary alone when it is large enough (see [`OWN_VOCABULARY`]),
    /// else the vocabulary mixed with generic words.
    fn phrase(&mut self, n: usize) -> String {
        if self.words.len() < OWN_VOCABULARY {
            return phrase(self.words, self.rng, n);
        }
        (0..n).filter_map(|_| self.rng.pick(self.words).cloned()).collect::<Vec<_>>().join(" ")
    }

    fn slug(&mut self, n: usize) -> String {
        self.phrase(n)
            .to_lowercase()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("-")
    }

    fn text(&mut self, name: &str, min: Option<u64>, max: Option<u64>) -> String {
        let lower = name.to_lowercase();
        let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
        let mut s = if has(&["url", "link", "href"]) {
            format!("https://example.com/{}", self.slug(2))
        } else if has(&["email"]) {
            format!("user{}@example.com", self.rng.below(1000))
        } else if lower == "id" || lower.ends_with("_id") || name.ends_with("Id") || has(&["slug", "key"]) {
            let n = 2 + self.rng.below(2) as usize;
            self.slug(n)
        } else if has(&["title", "name", "heading", "label"]) {
            let n = 2 + self.rng.below(4) as usize;
            self.phrase(n).split(' ').map(capitalize).collect::<Vec<_>>().join(" ")
        } else if has(&[
            "description",
            "summary",
            "content",
            "body",
            "text",
            "explanation",
            "markdown",
            "answer",
            "detail",
            "reason",
            "note",
            "prompt",
            "paragraph",
            "narration",
            "script",
        ]) {
            let n = 12 + self.rng.below(18) as usize;
            let mut sentence = capitalize(&self.phrase(n));
            sentence.push('.');
            sentence
        } else {
            let n = 2 + self.rng.below(5) as usize;
            self.phrase(n)
        };
        if let Some(min) = min.map(|m| m.min(MAX_STRING)) {
            while (s.chars().count() as u64) < min {
                let extra = self.phrase(8);
                if !s.is_empty() {
                    s.push(' ');
                }
                s.push_str(if extra.is_empty() { "text" } else { &extra });
            }
        }
        self.nodes += s.len() as u64 / 16;
        if let Some(max) = max {
            if crate::text::truncate_chars(&mut s, max) {
                let trimmed_len = s.trim_end().chars().count() as u64;
                if min.is_none_or(|m| trimmed_len >= m) {
                    let keep = s.trim_end().len();
                    s.truncate(keep);
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_same_schema_in_another_key_order_gives_the_same_value() {
        let a = json!({"type": "object", "required": ["kind", "title"], "properties": {
            "kind": {"type": "string", "enum": ["diagram", "illustration"]},
            "title": {"type": "string"}, "steps": {"type": "array", "items": {"type": "string"}}}});
        let b = json!({"properties": {"steps": {"items": {"type": "string"}, "type": "array"},
            "title": {"type": "string"}, "kind": {"enum": ["diagram", "illustration"], "type": "string"}},
            "required": ["kind", "title"], "type": "object"});
        let words = vec!["alpha".to_string(), "beta".to_string()];
        for seed in 0..20 {
            assert_eq!(generate(&a, &mut Rng::new(seed), &words), generate(&b, &mut Rng::new(seed), &words));
        }
    }

    use super::*;
    use serde_json::json;

    fn gen(schema: Value) -> Value {
        generate(&schema, &mut Rng::new(11), &["ownership".into(), "borrowing".into()])
    }

    #[test]
    fn object_with_constraints() {
        let v = gen(json!({
            "type": "object",
            "required": ["title", "items", "level", "score", "done"],
            "properties": {
                "title": {"type": "string", "minLength": 5, "maxLength": 40},
                "items": {"type": "array", "minItems": 3, "maxItems": 5,
                          "items": {"type": "string", "enum": ["a", "b", "c"]}},
                "level": {"type": "integer", "minimum": 2, "maximum": 4},
                "score": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                "done": {"type": "boolean"}
            },
            "additionalProperties": false
        }));
        let title = v["title"].as_str().unwrap();
        assert!((5..=40).contains(&title.chars().count()));
        let items = v["items"].as_array().unwrap();
        assert!((3..=5).contains(&items.len()));
        let level = v["level"].as_i64().unwrap();
        assert!((2..=4).contains(&level));
        let score = v["score"].as_f64().unwrap();
        assert!(score > 0.0 && score <= 1.0);
        assert!(v["done"].is_boolean());
    }

    #[test]
    fn refs_and_recursion_terminate() {
        let v = gen(json!({
            "$defs": {"node": {"type": "object", "required": ["children"],
                "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
            "$ref": "#/$defs/node"
        }));
        assert!(v.is_object());
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        for schema in [
            json!(null),
            json!(true),
            json!(false),
            json!({"type": "integer", "minimum": 10, "maximum": 1}),
            json!({"type": "integer", "multipleOf": 7, "minimum": 1, "maximum": 6}),
            json!({"type": "number", "multipleOf": 0.25, "minimum": 1, "maximum": 2}),
            json!({"type": "array", "minItems": 5, "maxItems": 2}),
            json!({"type": "string", "maxLength": 0}),
            json!({"$ref": "#/nowhere"}),
            json!({"type": ["null", "string"]}),
            json!({"anyOf": [{"type": "null"}, {"type": "integer"}]}),
            json!({"allOf": [{"properties": {"a": {"type": "integer"}}, "required": ["a"]}]}),
            json!({"type": "integer", "minimum": 1e300}),
            json!({"type": "object", "required": ["a", "b", "c"], "properties": {
                "a": {"$ref": "#"}, "b": {"$ref": "#"}, "c": {"$ref": "#"}}}),
            json!({"type": "array", "minItems": 1000, "items": {"type": "array", "minItems": 1000,
                "items": {"type": "string", "minLength": 1000}}}),
        ] {
            let _ = gen(schema);
        }
    }
}
