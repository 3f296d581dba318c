//! Titan Image Generator v2 and Nova Canvas `TEXT_IMAGE` requests.

use crate::bedrock::parse_object;
use crate::error::ApiError;
use crate::picture;
use crate::rng::mix;
use crate::server::{Plan, Rendered};
use crate::tokens::estimate;
use crate::{CallKind, Config};
use base64::Engine as _;
use serde_json::{json, Map, Value};

/// Output sizes accepted by Titan Image Generator (width, height).
const TITAN_SIZES: &[(u32, u32)] = &[
    (1024, 1024),
    (768, 768),
    (512, 512),
    (768, 1152),
    (384, 576),
    (1152, 768),
    (576, 384),
    (768, 1280),
    (384, 640),
    (1280, 768),
    (640, 384),
    (896, 1152),
    (448, 576),
    (1152, 896),
    (576, 448),
    (768, 1408),
    (384, 704),
    (1408, 768),
    (704, 384),
    (640, 1408),
    (320, 704),
    (1408, 640),
    (704, 320),
    (1152, 640),
    (1173, 640),
];

const MAX_TEXT: usize = 1024;
const MAX_IMAGES: u64 = 5;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::validation(message)
}

fn nova_size_ok(width: u32, height: u32) -> bool {
    let side = |v: u32| (320..=4096).contains(&v) && v.is_multiple_of(16);
    let ratio = f64::from(width) / f64::from(height);
    side(width) && side(height) && (0.25..=4.0).contains(&ratio) && u64::from(width) * u64::from(height) <= 4_194_304
}

fn dimension(config: &Map<String, Value>, key: &str) -> Result<u32, ApiError> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(1024),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| invalid(format!("Malformed input request: #/imageGenerationConfig/{key}: expected a positive integer, please reformat your input and try again."))),
    }
}

/// Plans an image generation request.
pub(crate) fn image_plan(model_id: &str, body: &[u8], config: &Config) -> Result<Plan, ApiError> {
    let body = parse_object(body)?;
    let nova = model_id.to_ascii_lowercase().contains("nova-canvas");
    let (text, negative) = prompt_texts(&body)?;
    let generation = generation(&body, nova)?;
    let input_tokens = estimate(&text).saturating_add(estimate(&negative)).max(1);
    let pattern_seed = mix(config.seed, generation.seed);
    let Generation { count, width, height, .. } = generation;
    Ok(Plan {
        input_tokens,
        max_output: 0,
        images: count,
        kind: CallKind::Image,
        blocking: true,
        render: Box::new(move || {
            let prompt = format!("{text}\u{0}{negative}");
            let images: Result<Vec<Value>, _> = (0..count as u32)
                .map(|i| {
                    let png = picture::render(&prompt, pattern_seed, i, width, height)?;
                    Ok::<_, png::EncodingError>(Value::String(base64::engine::general_purpose::STANDARD.encode(png)))
                })
                .collect();
            // Titan reports a generation failure in the body's `error` field.
            let body = match images {
                Ok(images) => json!({ "images": images, "error": null }),
                Err(e) => json!({ "images": [], "error": format!("image encoding failed: {e}") }),
            };
            Rendered { body: body.to_string().into_bytes(), output_tokens: 0 }
        }),
    })
}

/// The prompt and negative prompt of a `TEXT_IMAGE` task.
fn prompt_texts(body: &Map<String, Value>) -> Result<(String, String), ApiError> {
    match body.get("taskType").and_then(Value::as_str) {
        Some("TEXT_IMAGE") => {}
        Some(other) => {
            return Err(invalid(format!(
                "Malformed input request: taskType {other} is not supported by the simulator; use TEXT_IMAGE, please reformat your input and try again."
            )))
        }
        None => {
            return Err(invalid(
                "Malformed input request: #: required key [taskType] not found, please reformat your input and try again.",
            ))
        }
    }
    let Some(params) = body.get("textToImageParams").and_then(Value::as_object) else {
        return Err(invalid(
            "Malformed input request: #: required key [textToImageParams] not found, please reformat your input and try again.",
        ));
    };
    let text = match params.get("text") {
        Some(Value::String(t)) => t.clone(),
        _ => {
            return Err(invalid(
                "Malformed input request: #/textToImageParams: required key [text] not found, please reformat your input and try again.",
            ))
        }
    };
    let text_len = text.chars().count();
    if text_len == 0 || text_len > MAX_TEXT {
        return Err(invalid(format!(
            "Malformed input request: #/textToImageParams/text: expected length between 1 and {MAX_TEXT} characters, actual: {text_len}, please reformat your input and try again."
        )));
    }
    let negative = match params.get("negativeText") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(n)) if (1..=MAX_TEXT).contains(&n.chars().count()) => n.clone(),
        Some(_) => {
            return Err(invalid(format!(
                "Malformed input request: #/textToImageParams/negativeText: expected a string of 1 to {MAX_TEXT} characters, please reformat your input and try again."
            )))
        }
    };
    Ok((text, negative))
}

/// What `imageGenerationConfig` asks for.
struct Generation {
    count: u64,
    width: u32,
    height: u32,
    seed: u64,
}

/// Reads and checks `imageGenerationConfig` against the model's limits.
fn generation(body: &Map<String, Value>, nova: bool) -> Result<Generation, ApiError> {
    let empty = Map::new();
    let gen_config = match body.get("imageGenerationConfig") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(invalid(
                "Malformed input request: #/imageGenerationConfig: expected type: JSONObject, please reformat your input and try again.",
            ))
        }
    };
    let count = image_count(gen_config)?;
    let (width, height) = image_size(gen_config, nova)?;
    check_cfg_scale(gen_config)?;
    let seed = image_seed(gen_config, nova)?;
    check_quality(gen_config)?;
    Ok(Generation { count, width, height, seed })
}

fn image_count(gen_config: &Map<String, Value>) -> Result<u64, ApiError> {
    match gen_config.get("numberOfImages") {
        None | Some(Value::Null) => Ok(1),
        Some(v) => match v.as_u64() {
            Some(n) if (1..=MAX_IMAGES).contains(&n) => Ok(n),
            _ => Err(invalid(format!(
                "Malformed input request: #/imageGenerationConfig/numberOfImages: {v} is not in the range 1 to {MAX_IMAGES}, please reformat your input and try again."
            ))),
        },
    }
}

/// Width and height, one of Titan's sizes or within Nova Canvas's rules.
fn image_size(gen_config: &Map<String, Value>, nova: bool) -> Result<(u32, u32), ApiError> {
    let width = dimension(gen_config, "width")?;
    let height = dimension(gen_config, "height")?;
    let size_ok = if nova { nova_size_ok(width, height) } else { TITAN_SIZES.contains(&(width, height)) };
    if size_ok {
        return Ok((width, height));
    }
    let rule = if nova {
        "width and height must be multiples of 16 between 320 and 4096, with an aspect ratio between 1:4 and 4:1 and at most 4194304 pixels"
    } else {
        "the requested size is not one of the supported Titan Image Generator sizes"
    };
    Err(invalid(format!(
        "Malformed input request: unsupported image size {width}x{height}: {rule}, please reformat your input and try again."
    )))
}

fn check_cfg_scale(gen_config: &Map<String, Value>) -> Result<(), ApiError> {
    match gen_config.get("cfgScale").filter(|v| !v.is_null()) {
        None => Ok(()),
        Some(v) => match v.as_f64() {
            Some(c) if (1.1..=10.0).contains(&c) => Ok(()),
            _ => Err(invalid(format!(
                "Malformed input request: #/imageGenerationConfig/cfgScale: {v} is not in the range 1.1 to 10.0, please reformat your input and try again."
            ))),
        },
    }
}

fn image_seed(gen_config: &Map<String, Value>, nova: bool) -> Result<u64, ApiError> {
    let max_seed: u64 = if nova { 858_993_459 } else { 2_147_483_646 };
    match gen_config.get("seed") {
        None | Some(Value::Null) => Ok(0),
        Some(v) => match v.as_u64() {
            Some(s) if s <= max_seed => Ok(s),
            _ => Err(invalid(format!(
                "Malformed input request: #/imageGenerationConfig/seed: {v} is not in the range 0 to {max_seed}, please reformat your input and try again."
            ))),
        },
    }
}

fn check_quality(gen_config: &Map<String, Value>) -> Result<(), ApiError> {
    match gen_config.get("quality") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(q)) if q == "standard" || q == "premium" => Ok(()),
        Some(v) => Err(invalid(format!(
            "Malformed input request: #/imageGenerationConfig/quality: {v} is not a valid enum value (standard, premium), please reformat your input and try again."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nova_sizes() {
        assert!(nova_size_ok(1024, 1024));
        assert!(nova_size_ok(2048, 2048));
        assert!(!nova_size_ok(2064, 2048));
        assert!(!nova_size_ok(1000, 1000));
        assert!(!nova_size_ok(320, 4096));
    }
}
