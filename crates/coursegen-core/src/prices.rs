//! What model calls cost: the built-in price table (`prices.json`, embedded at build time),
//! overrides from a file (`coursegen --prices FILE`, or [`PRICES_ENV`] where the manifest is
//! built), and the charge of tokens and images.
//!
//! The table prices text models in USD per 1,000 input and per 1,000 output tokens, and image
//! models in USD per image by quality and size (`up_to` a width × height, compared by pixel
//! count). A model id is looked up as given, then, for an inference profile (`us.`, `eu.`,
//! `apac.`, `global.`, ... before the model id, or an ARN ending in one), as its base model. The
//! offline provider and the local diagram renderer cost nothing. A model the table does not price
//! is never charged zero in silence: [`Charge::Unpriced`] carries the note to show.
//!
//! Price is on the tokens the model reports. Bedrock's output-token burndown (output tokens
//! counting 5 times against tokens-per-minute for some models) affects the quota, not the bill.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::ModelId;

/// The built-in table, as shipped in the repository (`crates/coursegen-core/src/prices.json`).
pub const BUILT_IN_JSON: &str = include_str!("prices.json");

/// The environment variable that overrides prices where the manifest is built (the CLI and the
/// BookBuilder function): a path to a JSON file of the table's shape, or that JSON itself when
/// the value starts with `{`.
pub const PRICES_ENV: &str = "COURSEGEN_PRICES";

/// The image quality every image provider of this project asks for (Nova Canvas and Titan
/// Image v2 requests set `quality: standard`).
pub const STANDARD_QUALITY: &str = "standard";

/// The only currency the table is in.
pub const CURRENCY: &str = "USD";

/// The first segment of an inference profile id that names where it routes
/// (`us.anthropic.claude-...`); the rest is the base model id.
const PROFILE_PREFIXES: &[&str] = &["us", "us-gov", "eu", "apac", "ap", "global", "ca", "jp", "au"];

/// Providers whose calls cost nothing: the offline drafts and the local diagram renderer.
const FREE_PROVIDERS: &[&str] = &["offline", "local"];

const TOP_FIELDS: &[&str] = &["currency", "source", "as_of", "region", "note", "models"];
const MODEL_FIELDS: &[&str] = &["name", "input_per_1k_tokens", "output_per_1k_tokens", "per_image"];
const IMAGE_FIELDS: &[&str] = &["quality", "up_to", "usd"];

/// The price of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelPrice {
    /// A readable name (`Claude Sonnet 4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// USD per 1,000 input tokens (text models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_per_1k_tokens: Option<f64>,
    /// USD per 1,000 output tokens (text models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_per_1k_tokens: Option<f64>,
    /// USD per image by quality and size (image models).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_image: Vec<ImagePrice>,
}

/// The price of one image of a quality, up to a size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImagePrice {
    /// `standard` or `premium`, as the model names it.
    pub quality: String,
    /// The largest size this price covers, `WIDTHxHEIGHT` (compared by pixel count).
    pub up_to: String,
    /// USD per image.
    pub usd: f64,
}

impl ImagePrice {
    fn pixels(&self) -> u64 {
        parse_size(&self.up_to).map(|(w, h)| u64::from(w) * u64::from(h)).unwrap_or(0)
    }
}

/// Where the prices in use come from, as the manifest and the estimate show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceInfo {
    /// The public pricing page the figures were taken from.
    pub source: String,
    /// When they were taken (`YYYY-MM-DD`).
    pub as_of: String,
    /// The region the figures are for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Whether an override file changed or added prices.
    pub overridden: bool,
    /// The override: `--prices FILE`'s path or `COURSEGEN_PRICES`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_from: Option<String>,
    /// The model ids the override priced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overridden_models: Vec<String>,
}

/// A price file that cannot be used: where it came from and what is wrong, with the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct PriceError {
    /// `--prices FILE`, `COURSEGEN_PRICES=PATH`, ...
    pub origin: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// What some tokens or images cost.
#[derive(Debug, Clone, PartialEq)]
pub enum Charge {
    /// Priced by the table entry `priced_as`.
    Usd {
        /// The amount.
        usd: f64,
        /// The table entry used (the base model of an inference profile).
        priced_as: String,
    },
    /// The offline provider or the local renderer: no model, no cost.
    Free,
    /// The table has no price for it; the note says which model and how to add one.
    Unpriced {
        /// `no price for model X: pass --prices FILE ...`.
        note: String,
    },
}

impl Charge {
    /// The amount, zero when free, `None` when unpriced.
    pub fn usd(&self) -> Option<f64> {
        match self {
            Charge::Usd { usd, .. } => Some(*usd),
            Charge::Free => Some(0.0),
            Charge::Unpriced { .. } => None,
        }
    }
}

/// The prices in use: the built-in table, possibly with an override merged in.
#[derive(Clone, PartialEq)]
pub struct Prices {
    models: BTreeMap<String, ModelPrice>,
    info: PriceInfo,
    /// Notes every report made with these prices carries (an override that was ignored).
    notes: Vec<String>,
}

impl std::fmt::Debug for Prices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prices")
            .field("source", &self.info.source)
            .field("as_of", &self.info.as_of)
            .field("overridden", &self.info.override_from)
            .field("models", &self.models.len())
            .finish()
    }
}

impl Default for Prices {
    fn default() -> Self {
        Prices::built_in()
    }
}

/// The parsed content of a price file.
struct TableFile {
    source: Option<String>,
    as_of: Option<String>,
    region: Option<String>,
    models: BTreeMap<String, ModelPrice>,
}

impl Prices {
    /// The built-in table.
    pub fn built_in() -> Prices {
        // The embedded table is checked by this crate's tests; a broken one is a build defect.
        let file = parse_table(BUILT_IN_JSON).unwrap_or_else(|e| panic!("the built-in price table is invalid: {e}"));
        Prices {
            models: file.models,
            info: PriceInfo {
                source: file.source.unwrap_or_default(),
                as_of: file.as_of.unwrap_or_default(),
                region: file.region,
                overridden: false,
                override_from: None,
                overridden_models: Vec::new(),
            },
            notes: Vec::new(),
        }
    }

    /// The built-in table with the prices of `json` (the table's shape: the whole table or
    /// some models) put over it; `origin` names the override in errors and in [`PriceInfo`].
    pub fn with_override(json: &str, origin: &str) -> Result<Prices, PriceError> {
        let file = parse_table(json).map_err(|message| PriceError { origin: origin.to_string(), message })?;
        let mut prices = Prices::built_in();
        let overridden: Vec<String> = file.models.keys().cloned().collect();
        prices.models.extend(file.models);
        if let Some(source) = file.source {
            prices.info.source = source;
        }
        if let Some(as_of) = file.as_of {
            prices.info.as_of = as_of;
        }
        if file.region.is_some() {
            prices.info.region = file.region;
        }
        prices.info.overridden = true;
        prices.info.override_from = Some(origin.to_string());
        prices.info.overridden_models = overridden;
        Ok(prices)
    }

    /// The built-in table with the price file at `path` over it (`--prices FILE`).
    pub fn from_file(path: &Path) -> Result<Prices, PriceError> {
        let origin = format!("--prices {}", path.display());
        let text = std::fs::read_to_string(path)
            .map_err(|e| PriceError { origin: origin.clone(), message: format!("cannot read the file: {e}") })?;
        Prices::with_override(&text, &origin)
    }

    /// The prices [`PRICES_ENV`] asks for through `get` (a variable name → its value): the
    /// built-in table when it is unset or empty; else with the file it names, or the JSON it
    /// holds, over it.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Prices, PriceError> {
        let Some(value) = get(PRICES_ENV).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) else {
            return Ok(Prices::built_in());
        };
        if value.starts_with('{') {
            return Prices::with_override(&value, &format!("{PRICES_ENV} (inline JSON)"));
        }
        let origin = format!("{PRICES_ENV}={value}");
        let text = std::fs::read_to_string(&value).map_err(|e| PriceError {
            origin: origin.clone(),
            message: format!("cannot read the file: {e} (set {PRICES_ENV} to a price file's path, or unset it)"),
        })?;
        Prices::with_override(&text, &origin)
    }

    /// [`Prices::from_env`] for a process that must not stop over prices (the BookBuilder
    /// function): an unusable override is noted in every report (see [`Prices::notes`]) and
    /// the built-in table is used.
    pub fn from_env_or_built_in(get: impl Fn(&str) -> Option<String>) -> Prices {
        Prices::from_env(get).unwrap_or_else(|e| {
            let mut prices = Prices::built_in();
            prices.notes.push(format!("{e}; the built-in prices were used instead"));
            prices
        })
    }

    /// Where these prices come from.
    pub fn info(&self) -> &PriceInfo {
        &self.info
    }

    /// Notes to carry into every report made with these prices.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Every priced model id, sorted.
    pub fn model_ids(&self) -> impl Iterator<Item = &str> {
        self.models.keys().map(String::as_str)
    }

    /// The table entry for `model_id` and its key: the id itself, else (an inference profile
    /// or its ARN) the base model's.
    pub fn find(&self, model_id: &str) -> Option<(&str, &ModelPrice)> {
        let id = model_id.trim();
        let id = id.rsplit('/').next().unwrap_or(id);
        if let Some((k, p)) = self.models.get_key_value(id) {
            return Some((k.as_str(), p));
        }
        let (prefix, base) = id.split_once('.')?;
        if PROFILE_PREFIXES.contains(&prefix.to_ascii_lowercase().as_str()) {
            return self.models.get_key_value(base).map(|(k, p)| (k.as_str(), p));
        }
        None
    }

    /// What `input` and `output` tokens of `model` cost.
    pub fn charge_text(&self, model: &ModelId, input: u64, output: u64) -> Charge {
        if is_free(model) {
            return Charge::Free;
        }
        let entry = self.find(&model.model);
        match entry.and_then(|(k, p)| Some((k, p.input_per_1k_tokens?, p.output_per_1k_tokens?))) {
            Some((key, inp, out)) => Charge::Usd {
                usd: input as f64 / 1000.0 * inp + output as f64 / 1000.0 * out,
                priced_as: key.to_string(),
            },
            None => Charge::Unpriced {
                note: match entry {
                    Some((key, _)) => format!(
                        "no token price for model {} (its entry {key} prices images only): pass --prices FILE or set {PRICES_ENV} (docs/cost.md)",
                        model.model
                    ),
                    None => unpriced_note(model),
                },
            },
        }
    }

    /// What `count` images of `width` × `height` at `quality` from `model` cost: the price of
    /// the smallest size tier of that quality that covers the image.
    pub fn charge_images(&self, model: &ModelId, count: u64, width: u32, height: u32, quality: &str) -> Charge {
        if is_free(model) {
            return Charge::Free;
        }
        let Some((key, price)) = self.find(&model.model) else {
            return Charge::Unpriced { note: unpriced_note(model) };
        };
        let pixels = u64::from(width) * u64::from(height);
        let tier = price
            .per_image
            .iter()
            .filter(|t| t.quality.eq_ignore_ascii_case(quality) && t.pixels() >= pixels)
            .min_by_key(|t| t.pixels());
        match tier {
            Some(t) => Charge::Usd { usd: count as f64 * t.usd, priced_as: key.to_string() },
            None => Charge::Unpriced {
                note: format!(
                    "no price for {} image(s) of model {} at {width}x{height}, quality {quality} (entry {key} has {}): pass --prices FILE or set {PRICES_ENV} (docs/cost.md)",
                    count,
                    model.model,
                    if price.per_image.is_empty() {
                        "no per_image prices".to_string()
                    } else {
                        price.per_image.iter().map(|t| format!("{} up to {}", t.quality, t.up_to)).collect::<Vec<_>>().join(", ")
                    }
                ),
            },
        }
    }
}

/// Whether calls of `model` cost nothing (the offline provider, the local diagram renderer).
pub fn is_free(model: &ModelId) -> bool {
    FREE_PROVIDERS.contains(&model.provider.as_str())
}

fn unpriced_note(model: &ModelId) -> String {
    format!(
        "no price for model {}: pass --prices FILE or set {PRICES_ENV} to a price file that names it (docs/cost.md)",
        model.model
    )
}

/// `1024x1024` → (1024, 1024).
fn parse_size(s: &str) -> Option<(u32, u32)> {
    let (w, h) = s.trim().split_once(['x', 'X', '×'])?;
    let (w, h) = (w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?);
    (w > 0 && h > 0).then_some((w, h))
}

/// What the file should look like, for error messages.
const SHAPE: &str = "a price file is {\"models\": {\"MODEL_ID\": {\"input_per_1k_tokens\": 0.003, \"output_per_1k_tokens\": 0.015}}} for text models, or {\"per_image\": [{\"quality\": \"standard\", \"up_to\": \"1024x1024\", \"usd\": 0.04}]} for image models (docs/cost.md)";

/// `unknown field` with the closest known one when there is a close one.
fn unknown_field(path: &str, field: &str, known: &[&str]) -> String {
    let close = known
        .iter()
        .map(|k| (strsim::normalized_levenshtein(field, k), *k))
        .filter(|(score, _)| *score > 0.5)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match close {
        Some((_, k)) => format!("{path}{field}: unknown field; did you mean {k}? (known fields: {})", known.join(", ")),
        None => format!("{path}{field}: unknown field (known fields: {}); {SHAPE}", known.join(", ")),
    }
}

fn check_fields(obj: &Map<String, Value>, path: &str, known: &[&str]) -> Result<(), String> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(unknown_field(path, k, known)),
        None => Ok(()),
    }
}

/// A price: a finite number ≥ 0.
fn price(v: &Value, path: &str, unit: &str) -> Result<f64, String> {
    match v.as_f64() {
        Some(x) if x.is_finite() && x >= 0.0 => Ok(x),
        Some(x) => Err(format!("{path}: {x} is negative; a price is USD ≥ 0 {unit}")),
        None => Err(format!("{path}: {v} is not a number; give the price in USD {unit}, e.g. 0.003")),
    }
}

fn text(v: &Value, path: &str) -> Result<String, String> {
    v.as_str().map(str::to_string).ok_or_else(|| format!("{path}: {v} is not a string"))
}

fn parse_table(json: &str) -> Result<TableFile, String> {
    let value: Value = serde_json::from_str(json).map_err(|e| format!("not valid JSON: {e}; {SHAPE}"))?;
    let Value::Object(top) = value else {
        return Err(format!("the file holds {}, not an object; {SHAPE}", kind(&value)));
    };
    check_fields(&top, "", TOP_FIELDS)?;
    if let Some(c) = top.get("currency") {
        let c = text(c, "currency")?;
        if c != CURRENCY {
            return Err(format!("currency: {c:?} is not supported; prices are in USD (\"currency\": \"USD\")"));
        }
    }
    let field = |name: &str| top.get(name).map(|v| text(v, name)).transpose();
    let (source, as_of, region) = (field("source")?, field("as_of")?, field("region")?);
    if let Some(note) = top.get("note") {
        text(note, "note")?;
    }
    let models = match top.get("models") {
        Some(Value::Object(m)) if !m.is_empty() => m,
        Some(Value::Object(_)) => return Err(format!("models: empty; name at least one model; {SHAPE}")),
        Some(other) => return Err(format!("models: {} instead of an object keyed by model id; {SHAPE}", kind(other))),
        None => return Err(format!("models: missing; {SHAPE}")),
    };
    let mut out = BTreeMap::new();
    for (id, entry) in models {
        let path = format!("models[{id:?}]");
        if id.trim().is_empty() {
            return Err(format!("{path}: an empty model id"));
        }
        out.insert(id.clone(), parse_model(entry, &path)?);
    }
    Ok(TableFile { source, as_of, region, models: out })
}

fn parse_model(entry: &Value, path: &str) -> Result<ModelPrice, String> {
    let Value::Object(obj) = entry else {
        return Err(format!("{path}: {} instead of an object; {SHAPE}", kind(entry)));
    };
    check_fields(obj, &format!("{path}."), MODEL_FIELDS)?;
    let per_1k = "per 1,000 tokens";
    let name = obj.get("name").map(|v| text(v, &format!("{path}.name"))).transpose()?;
    let input =
        obj.get("input_per_1k_tokens").map(|v| price(v, &format!("{path}.input_per_1k_tokens"), per_1k)).transpose()?;
    let output = obj
        .get("output_per_1k_tokens")
        .map(|v| price(v, &format!("{path}.output_per_1k_tokens"), per_1k))
        .transpose()?;
    match (input, output) {
        (Some(_), None) => {
            return Err(format!("{path}.output_per_1k_tokens: missing; a text model needs both token prices"))
        }
        (None, Some(_)) => {
            return Err(format!("{path}.input_per_1k_tokens: missing; a text model needs both token prices"))
        }
        _ => {}
    }
    let mut per_image = Vec::new();
    if let Some(v) = obj.get("per_image") {
        let Value::Array(tiers) = v else {
            return Err(format!("{path}.per_image: {} instead of a list of {{quality, up_to, usd}}", kind(v)));
        };
        for (i, tier) in tiers.iter().enumerate() {
            let at = format!("{path}.per_image[{i}]");
            let Value::Object(t) = tier else {
                return Err(format!("{at}: {} instead of {{quality, up_to, usd}}", kind(tier)));
            };
            check_fields(t, &format!("{at}."), IMAGE_FIELDS)?;
            let need = |f: &str| {
                t.get(f).ok_or_else(|| format!("{at}.{f}: missing (an image price has quality, up_to and usd)"))
            };
            let quality = text(need("quality")?, &format!("{at}.quality"))?;
            if quality.trim().is_empty() {
                return Err(format!("{at}.quality: empty; use the model's quality name (standard, premium)"));
            }
            let up_to = text(need("up_to")?, &format!("{at}.up_to"))?;
            if parse_size(&up_to).is_none() {
                return Err(format!("{at}.up_to: {up_to:?} is not a size; write WIDTHxHEIGHT, e.g. \"1024x1024\""));
            }
            let usd = price(need("usd")?, &format!("{at}.usd"), "per image")?;
            per_image.push(ImagePrice { quality, up_to, usd });
        }
    }
    if input.is_none() && per_image.is_empty() {
        return Err(format!(
            "{path}: no price; give input_per_1k_tokens and output_per_1k_tokens (a text model) or per_image (an image model)"
        ));
    }
    Ok(ModelPrice { name, input_per_1k_tokens: input, output_per_1k_tokens: output, per_image })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bedrock(id: &str) -> ModelId {
        ModelId { provider: "bedrock".into(), model: id.into() }
    }

    #[test]
    fn the_built_in_table_parses_and_names_its_source_and_date() {
        let p = Prices::built_in();
        assert_eq!(p.info().source, "https://aws.amazon.com/bedrock/pricing/");
        assert_eq!(p.info().as_of.len(), 10, "as_of is YYYY-MM-DD: {}", p.info().as_of);
        assert!(!p.info().overridden);
        assert!(p.model_ids().count() >= 8);
    }

    #[test]
    fn inference_profiles_and_arns_resolve_to_the_base_model() {
        let p = Prices::built_in();
        let base = "anthropic.claude-sonnet-4-20250514-v1:0";
        for id in [
            base.to_string(),
            format!("us.{base}"),
            format!("eu.{base}"),
            format!("global.{base}"),
            format!("APAC.{base}"),
            format!("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{base}"),
        ] {
            assert_eq!(p.find(&id).map(|(k, _)| k), Some(base), "{id}");
        }
        assert!(p.find("xx.anthropic.claude-sonnet-4-20250514-v1:0").is_none(), "unknown prefixes do not resolve");
        assert!(p.find("anthropic.claude-unknown").is_none());
    }

    #[test]
    fn tokens_are_charged_per_thousand_and_images_by_the_smallest_covering_tier() {
        let p = Prices::built_in();
        let c = p.charge_text(&bedrock("us.anthropic.claude-sonnet-4-20250514-v1:0"), 2000, 1000);
        assert!((c.usd().unwrap() - (2.0 * 0.003 + 0.015)).abs() < 1e-12, "{c:?}");
        let canvas = bedrock("amazon.nova-canvas-v1:0");
        assert!((p.charge_images(&canvas, 3, 1024, 1024, "standard").usd().unwrap() - 0.12).abs() < 1e-12);
        assert!((p.charge_images(&canvas, 1, 1280, 720, "standard").usd().unwrap() - 0.04).abs() < 1e-12);
        assert!((p.charge_images(&canvas, 1, 2048, 1024, "premium").usd().unwrap() - 0.08).abs() < 1e-12);
        match p.charge_images(&canvas, 1, 4096, 4096, "standard") {
            Charge::Unpriced { note } => assert!(note.contains("4096x4096") && note.contains("--prices"), "{note}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn offline_and_local_cost_nothing_and_unknown_models_say_so() {
        let p = Prices::built_in();
        let offline = ModelId { provider: "offline".into(), model: "offline-draft-v1".into() };
        assert_eq!(p.charge_text(&offline, 1000, 1000), Charge::Free);
        let local = ModelId { provider: "local".into(), model: "diagram-svg-v1".into() };
        assert_eq!(p.charge_images(&local, 4, 1024, 1024, "standard"), Charge::Free);
        match p.charge_text(&bedrock("meta.llama9"), 10, 10) {
            Charge::Unpriced { note } => {
                assert!(note.contains("no price for model meta.llama9") && note.contains("--prices"), "{note}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(p.charge_text(&bedrock("amazon.nova-canvas-v1:0"), 1, 1), Charge::Unpriced { .. }));
    }

    #[test]
    fn an_override_replaces_and_adds_models_and_says_so() {
        let json = r#"{"as_of": "2030-01-01", "models": {
            "anthropic.claude-sonnet-4-20250514-v1:0": {"input_per_1k_tokens": 0.001, "output_per_1k_tokens": 0.002},
            "meta.llama9": {"input_per_1k_tokens": 0.0005, "output_per_1k_tokens": 0.0007}}}"#;
        let p = Prices::with_override(json, "--prices p.json").unwrap();
        assert!(p.info().overridden);
        assert_eq!(p.info().as_of, "2030-01-01");
        assert_eq!(p.info().source, Prices::built_in().info().source, "the built-in source stays unless given");
        assert_eq!(p.info().overridden_models.len(), 2);
        let c = p.charge_text(&bedrock("us.anthropic.claude-sonnet-4-20250514-v1:0"), 1000, 1000);
        assert!((c.usd().unwrap() - 0.003).abs() < 1e-12);
        assert!(p.charge_text(&bedrock("meta.llama9"), 1000, 0).usd().is_some());
        assert!(p.charge_images(&bedrock("amazon.nova-canvas-v1:0"), 1, 1024, 1024, "standard").usd().is_some());
    }

    #[test]
    fn bad_price_files_name_the_field_and_the_fix() {
        let err = |json: &str| Prices::with_override(json, "--prices bad.json").unwrap_err().to_string();
        let e = err(r#"{"models": {"m": {"input_per_1k_tokens": -0.1, "output_per_1k_tokens": 0.1}}}"#);
        assert!(e.starts_with("--prices bad.json: "), "{e}");
        assert!(e.contains(r#"models["m"].input_per_1k_tokens: -0.1 is negative"#), "{e}");
        let e = err(r#"{"models": {"m": {"input_per_1k": 0.1, "output_per_1k_tokens": 0.1}}}"#);
        assert!(e.contains(r#"models["m"].input_per_1k: unknown field; did you mean input_per_1k_tokens?"#), "{e}");
        let e = err(r#"{"prices": {}}"#);
        assert!(e.contains("prices: unknown field") && e.contains("\"models\""), "{e}");
        let e = err(r#"{"models": {"m": {"input_per_1k_tokens": 0.1}}}"#);
        assert!(e.contains(r#"models["m"].output_per_1k_tokens: missing"#), "{e}");
        let e = err(r#"{"models": {"m": {"name": "x"}}}"#);
        assert!(e.contains(r#"models["m"]: no price"#), "{e}");
        let e = err(r#"{"models": {"m": {"per_image": [{"quality": "standard", "up_to": "big", "usd": 0.1}]}}}"#);
        assert!(e.contains(r#"models["m"].per_image[0].up_to: "big" is not a size"#), "{e}");
        let e = err(r#"{"models": {"m": {"input_per_1k_tokens": "0.1", "output_per_1k_tokens": 0.1}}}"#);
        assert!(e.contains("is not a number"), "{e}");
        let e = err(r#"{"currency": "EUR", "models": {"m": {"input_per_1k_tokens": 1, "output_per_1k_tokens": 1}}}"#);
        assert!(e.contains("currency") && e.contains("USD"), "{e}");
        let e = err("[1, 2]");
        assert!(e.contains("not an object"), "{e}");
        let e = err("{not json");
        assert!(e.contains("not valid JSON"), "{e}");
    }

    #[test]
    fn the_environment_names_a_file_or_holds_the_json() {
        assert!(!Prices::from_env(|_| None).unwrap().info().overridden);
        assert!(!Prices::from_env(|_| Some("  ".into())).unwrap().info().overridden);
        let inline = r#"{"models": {"meta.llama9": {"input_per_1k_tokens": 0.1, "output_per_1k_tokens": 0.2}}}"#;
        let p = Prices::from_env(|_| Some(inline.into())).unwrap();
        assert_eq!(p.info().override_from.as_deref(), Some("COURSEGEN_PRICES (inline JSON)"));
        let e = Prices::from_env(|_| Some("/nonexistent/prices.json".into())).unwrap_err().to_string();
        assert!(e.starts_with("COURSEGEN_PRICES=/nonexistent/prices.json: cannot read the file"), "{e}");
        let lenient = Prices::from_env_or_built_in(|_| Some("{\"models\": {}}".into()));
        assert!(!lenient.info().overridden);
        assert!(lenient.notes()[0].contains("models: empty") && lenient.notes()[0].contains("built-in prices"));
    }
}
