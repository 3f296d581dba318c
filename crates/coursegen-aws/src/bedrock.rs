//! Amazon Bedrock providers: text through the Converse API (structured output by forced tool
//! use) and images through InvokeModel (Titan Image Generator v2, Nova Canvas).
//!
//! Default model ids (any model id or inference profile id / ARN can be configured):
//! * text: [`DEFAULT_TEXT_MODEL_ID`] (`us.anthropic.claude-sonnet-4-20250514-v1:0`, a
//!   cross-region inference profile); [`NOVA_PRO_MODEL_ID`] (`amazon.nova-pro-v1:0`) also works.
//! * images: [`DEFAULT_IMAGE_MODEL_ID`] (`amazon.nova-canvas-v1:0`) or
//!   [`TITAN_IMAGE_V2_MODEL_ID`] (`amazon.titan-image-generator-v2:0`).

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    AnyToolChoice, ContentBlock, ConversationRole, ConverseOutput, InferenceConfiguration, Message, SpecificToolChoice,
    StopReason, SystemContentBlock, Tool, ToolChoice, ToolConfiguration, ToolInputSchema, ToolResultContentBlock,
    ToolSpecification,
};
use aws_sdk_bedrockruntime::Client;
use base64::Engine as _;
use coursegen_core::error::{StageError, StageResult};
use coursegen_core::model::{
    ImageModel, ImageRequest, ImageResponse, ModelId, TextModel, TextRequest, TextResponse, Usage,
};
use serde_json::{json, Value};

use crate::json::{document_to_json, estimate_tokens, extract_json, json_to_document};
use crate::quota::{CallInfo, Failure, Governor};
use crate::sdk::{classify, http_client, model_timeouts, status_of};
use crate::structured::{answer_in_best_mode, check_request_schema, structured_response, Attempt, Ladder, ModeCell};

/// Default text model: Claude Sonnet 4 through the US cross-region inference profile.
pub const DEFAULT_TEXT_MODEL_ID: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
/// Amazon Nova Pro, a text model that also supports forced tool use.
pub const NOVA_PRO_MODEL_ID: &str = "amazon.nova-pro-v1:0";
/// Default image model: Amazon Nova Canvas.
pub const DEFAULT_IMAGE_MODEL_ID: &str = "amazon.nova-canvas-v1:0";
/// Amazon Titan Image Generator v2.
pub const TITAN_IMAGE_V2_MODEL_ID: &str = "amazon.titan-image-generator-v2:0";
/// The name of the single tool offered for structured output.
pub const STRUCTURED_TOOL_NAME: &str = "submit_result";
/// The stage named in image errors.
pub const IMAGE_STAGE: &str = "ImagesGen";

/// A Bedrock Runtime client for model calls: built from `sdk` (endpoint, region, credentials)
/// with the SDK's own retries disabled, since [`Governor`] owns retries and backoff.
pub fn bedrock_client(sdk: &SdkConfig) -> Client {
    let mut builder = aws_sdk_bedrockruntime::config::Builder::from(sdk)
        .retry_config(RetryConfig::disabled())
        .timeout_config(model_timeouts());
    if sdk.http_client().is_none() {
        builder = builder.http_client(http_client());
    }
    Client::from_conf(builder.build())
}

/// How the structured-output tool is forced, strongest first. Some models reject a specific
/// tool choice; the client then steps down and remembers the mode that works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToolChoiceMode {
    /// `toolChoice: {tool: {name}}`: this tool must be called.
    Specific,
    /// `toolChoice: {any: {}}`: some tool must be called (the only one offered).
    Any,
    /// No tool choice: the tool is offered and the prompt asks for it.
    Auto,
}

impl Ladder for ToolChoiceMode {
    const ORDER: &'static [Self] = &[ToolChoiceMode::Specific, ToolChoiceMode::Any, ToolChoiceMode::Auto];
}

/// Text generation through the Bedrock Converse API.
#[derive(Clone)]
pub struct BedrockText {
    client: Client,
    model_id: String,
    governor: Governor,
    tool_choice: ModeCell<ToolChoiceMode>,
}

impl fmt::Debug for BedrockText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BedrockText").field("model_id", &self.model_id).finish_non_exhaustive()
    }
}

struct Turn {
    message: Option<Message>,
    stop: StopReason,
    usage: Usage,
}

enum TurnOutcome {
    Answer(Turn),
    /// The service refused the request as invalid (`ValidationException`), with its message.
    Rejected(String),
}

impl BedrockText {
    /// A text model calling `model_id` (a model id, inference profile id or ARN) through
    /// `client`, with calls run under `governor`.
    pub fn new(client: Client, model_id: impl Into<String>, governor: Governor) -> Self {
        Self { client, model_id: model_id.into(), governor, tool_choice: ModeCell::new() }
    }

    /// The same model, whose calls (retries included) finish by `deadline`.
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.governor = self.governor.with_deadline(deadline);
        self
    }

    /// The configured model id.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// The governor (quota, retry policy) calls run under.
    pub fn governor(&self) -> &Governor {
        &self.governor
    }

    fn inference(request: &TextRequest) -> InferenceConfiguration {
        let max_tokens = i32::try_from(request.max_tokens.max(1)).unwrap_or(i32::MAX);
        let temperature = if request.temperature.is_finite() { request.temperature.clamp(0.0, 1.0) } else { 0.5 };
        InferenceConfiguration::builder().max_tokens(max_tokens).temperature(temperature).build()
    }

    async fn turn(
        &self,
        request: &TextRequest,
        messages: &[Message],
        tools: Option<&ToolConfiguration>,
        reserve_tokens: u64,
    ) -> StageResult<TurnOutcome> {
        let stage = request.task.stage();
        let subject = request.subject.as_str();
        let info = CallInfo { stage, subject, reserve_tokens };
        self.governor
            .run(info, || {
                let mut call = self
                    .client
                    .converse()
                    .model_id(&self.model_id)
                    .set_messages(Some(messages.to_vec()))
                    .inference_config(Self::inference(request));
                if !request.system.trim().is_empty() {
                    call = call.system(SystemContentBlock::Text(request.system.clone()));
                }
                if let Some(t) = tools {
                    call = call.tool_config(t.clone());
                }
                async move {
                    match call.send().await {
                        Ok(out) => {
                            let usage = match out.usage() {
                                Some(u) => Usage {
                                    input_tokens: u64::try_from(u.input_tokens()).unwrap_or(0),
                                    output_tokens: u64::try_from(u.output_tokens()).unwrap_or(0),
                                    calls: 1,
                                },
                                // No usage reported: count the whole reservation as input.
                                None => Usage { input_tokens: reserve_tokens, output_tokens: 0, calls: 1 },
                            };
                            let message = match out.output() {
                                Some(ConverseOutput::Message(m)) => Some(m.clone()),
                                _ => None,
                            };
                            let used = self.governor.charge(usage.input_tokens, usage.output_tokens);
                            Ok((TurnOutcome::Answer(Turn { message, stop: out.stop_reason().clone(), usage }), used))
                        }
                        Err(err) => {
                            let classified = classify(&err, status_of(&err), stage, subject);
                            if classified.code.as_deref() == Some("ValidationException") {
                                let msg = err.message().unwrap_or("request rejected as invalid").to_string();
                                Ok((TurnOutcome::Rejected(msg), 0))
                            } else {
                                Err(classified.failure)
                            }
                        }
                    }
                }
            })
            .await
    }

    async fn generate_text(&self, request: &TextRequest) -> StageResult<TextResponse> {
        let stage = request.task.stage();
        let messages = vec![user_text(&request.prompt, request)?];
        let input = estimate_tokens(&request.system) + estimate_tokens(&request.prompt);
        let reserve = self.governor.charge(input, u64::from(request.max_tokens));
        let turn = match self.turn(request, &messages, None, reserve).await? {
            TurnOutcome::Answer(t) => t,
            TurnOutcome::Rejected(msg) => {
                return Err(StageError::model(stage, &request.subject, format!("Bedrock rejected the request: {msg}")))
            }
        };
        refuse_blocked(&turn, request)?;
        let text = turn.message.as_ref().map(message_text).unwrap_or_default();
        if text.trim().is_empty() {
            return Err(StageError::model(stage, &request.subject, "the model returned an empty answer"));
        }
        if turn.stop == StopReason::MaxTokens {
            tracing::warn!(stage, subject = %request.subject, max_tokens = request.max_tokens, "answer cut at max_tokens");
        }
        Ok(TextResponse { text, structured: None, usage: turn.usage })
    }

    fn tool_config(
        &self,
        schema: &Value,
        request: &TextRequest,
        mode: ToolChoiceMode,
    ) -> StageResult<ToolConfiguration> {
        let stage = request.task.stage();
        let internal = |e: aws_sdk_bedrockruntime::error::BuildError| {
            StageError::model(stage, &request.subject, format!("could not build the tool request: {e}"))
        };
        let spec = ToolSpecification::builder()
            .name(STRUCTURED_TOOL_NAME)
            .description("Submit the result. The input must be valid against the input schema.")
            .input_schema(ToolInputSchema::Json(json_to_document(schema)))
            .build()
            .map_err(internal)?;
        let mut builder = ToolConfiguration::builder().tools(Tool::ToolSpec(spec));
        match mode {
            ToolChoiceMode::Specific => {
                let choice = SpecificToolChoice::builder().name(STRUCTURED_TOOL_NAME).build().map_err(internal)?;
                builder = builder.tool_choice(ToolChoice::Tool(choice));
            }
            ToolChoiceMode::Any => builder = builder.tool_choice(ToolChoice::Any(AnyToolChoice::builder().build())),
            ToolChoiceMode::Auto => {}
        }
        builder.build().map_err(internal)
    }

    /// One forced-tool-use turn; its answer is returned unvalidated (see [`crate::structured`]).
    async fn generate_structured(&self, request: &TextRequest, schema: &Value) -> StageResult<TextResponse> {
        check_request_schema(request, schema)?;
        let prompt = format!(
            "{}\n\nSubmit your answer by calling the `{STRUCTURED_TOOL_NAME}` tool; its input must match the tool's input schema.",
            request.prompt
        );
        let messages = vec![user_text(&prompt, request)?];
        let input = estimate_tokens(&request.system) + estimate_tokens(&schema.to_string()) + estimate_tokens(&prompt);
        let reserve = self.governor.charge(input, u64::from(request.max_tokens));
        let turn = answer_in_best_mode(&self.tool_choice, request, "Bedrock", |mode| {
            let messages = &messages;
            async move {
                let tools = self.tool_config(schema, request, mode)?;
                Ok(match self.turn(request, messages, Some(&tools), reserve).await? {
                    TurnOutcome::Answer(turn) => Attempt::Answered(turn),
                    TurnOutcome::Rejected(message) => {
                        Attempt::Rejected { names_mode: mentions_tool_choice(&message), message }
                    }
                })
            }
        })
        .await?;
        refuse_blocked(&turn, request)?;
        let raw_text = turn.message.as_ref().map(message_text).unwrap_or_default();
        let candidate = turn.message.as_ref().and_then(structured_candidate);
        Ok(structured_response(candidate, raw_text, turn.usage))
    }
}

fn mentions_tool_choice(message: &str) -> bool {
    let m = message.to_ascii_lowercase().replace([' ', '_', '.'], "");
    m.contains("toolchoice")
}

fn refuse_blocked(turn: &Turn, request: &TextRequest) -> StageResult<()> {
    match turn.stop {
        StopReason::ContentFiltered | StopReason::GuardrailIntervened => Err(StageError::model(
            request.task.stage(),
            &request.subject,
            format!("the answer was blocked ({})", turn.stop.as_str()),
        )),
        _ => Ok(()),
    }
}

fn user_text(text: &str, request: &TextRequest) -> StageResult<Message> {
    Message::builder().role(ConversationRole::User).content(ContentBlock::Text(text.to_string())).build().map_err(|e| {
        StageError::model(request.task.stage(), &request.subject, format!("could not build the message: {e}"))
    })
}

/// The text of a message: its text blocks joined.
fn message_text(message: &Message) -> String {
    let mut out = String::new();
    for block in message.content() {
        match block {
            ContentBlock::Text(t) => {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(t);
            }
            ContentBlock::ToolUse(t) => out.push_str(&document_to_json(t.input()).to_string()),
            ContentBlock::ToolResult(r) => {
                for c in r.content() {
                    if let ToolResultContentBlock::Text(t) = c {
                        out.push_str(t);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The structured value of an answer: the input of its tool call (preferring the structured
/// tool), else the first JSON value in its text.
fn structured_candidate(message: &Message) -> Option<Value> {
    let tool_uses: Vec<_> = message
        .content()
        .iter()
        .filter_map(|b| match b {
            ContentBlock::ToolUse(t) => Some(t),
            _ => None,
        })
        .collect();
    let chosen = tool_uses.iter().find(|t| t.name() == STRUCTURED_TOOL_NAME).or(tool_uses.first());
    match chosen {
        Some(t) => Some(document_to_json(t.input())),
        None => extract_json(&message_text(message)),
    }
}

#[async_trait]
impl TextModel for BedrockText {
    fn id(&self) -> ModelId {
        ModelId { provider: "bedrock".into(), model: self.model_id.clone() }
    }

    async fn generate(&self, request: &TextRequest) -> StageResult<TextResponse> {
        match &request.json_schema {
            None => self.generate_text(request).await,
            Some(schema) => self.generate_structured(request, schema).await,
        }
    }
}

/// Builds InvokeModel request bodies and reads responses for one family of image models.
/// Adding a family means adding one implementation and a line in [`adapter_for`].
pub trait ImageBodyAdapter: Send + Sync + fmt::Debug {
    /// The family name, for logs.
    fn family(&self) -> &'static str;
    /// The JSON request body for `req` (prompt truncated, size and seed made valid).
    fn body(&self, req: &ImageRequest) -> Value;
    /// The PNG bytes of the first image in a response body; by default the
    /// `{"images": [base64...], "error": ...}` answer Titan and Nova Canvas share.
    fn parse(&self, body: &[u8]) -> Result<Vec<u8>, ImageAnswerError> {
        parse_images_body(body)
    }
}

/// The PNG file signature.
pub const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// Why an image answer body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ImageAnswerError {
    /// The body is not JSON.
    #[error("response is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    /// The model answered with an error message.
    #[error("the model reported an error: {0}")]
    Reported(String),
    /// There is no `images[0]` string.
    #[error("response has no images[0] string")]
    NoImage,
    /// `images[0]` is not base64.
    #[error("images[0] is not valid base64: {0}")]
    NotBase64(#[from] base64::DecodeError),
    /// `images[0]` decodes to something other than a PNG.
    #[error("images[0] is not a PNG (bad signature)")]
    NotPng,
}

/// Parse the `{"images": [base64...], "error": ...}` answer shared by Titan and Nova Canvas.
fn parse_images_body(body: &[u8]) -> Result<Vec<u8>, ImageAnswerError> {
    let v: Value = serde_json::from_slice(body)?;
    if let Some(err) = v.get("error").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        return Err(ImageAnswerError::Reported(err.to_string()));
    }
    let first = v
        .get("images")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .ok_or(ImageAnswerError::NoImage)?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(first.trim())?;
    if !bytes.starts_with(PNG_SIGNATURE) {
        return Err(ImageAnswerError::NotPng);
    }
    Ok(bytes)
}

/// Cut `prompt` to at most `max` characters, at a word boundary when one is near.
pub fn truncate_prompt(prompt: &str, max: usize) -> String {
    let prompt = prompt.trim();
    if prompt.chars().count() <= max {
        return prompt.to_string();
    }
    let cut: String = prompt.chars().take(max).collect();
    match cut.rfind(char::is_whitespace) {
        Some(i) if i > max / 2 => cut[..i].trim_end().to_string(),
        _ => cut,
    }
}

/// The `TEXT_IMAGE` body shared by Titan v2 and Nova Canvas.
fn text_image_body(text: String, width: u32, height: u32, seed: u32) -> Value {
    json!({
        "taskType": "TEXT_IMAGE",
        "textToImageParams": { "text": text },
        "imageGenerationConfig": {
            "numberOfImages": 1,
            "width": width,
            "height": height,
            "cfgScale": 6.5,
            "seed": seed,
            "quality": "standard"
        }
    })
}

/// Titan Image Generator v2: prompts up to 512 characters, a fixed list of sizes, seeds up to
/// 2,147,483,646.
#[derive(Debug, Clone, Copy, Default)]
pub struct TitanImageV2;

/// Output sizes Titan Image Generator v2 accepts.
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

impl TitanImageV2 {
    /// The supported size closest to the request: nearest aspect ratio, then nearest area.
    pub fn snap_size(width: u32, height: u32) -> (u32, u32) {
        let w = f64::from(width.max(1));
        let h = f64::from(height.max(1));
        let want_ratio = (w / h).ln();
        let want_area = w * h;
        let mut best = (1024, 1024);
        let mut best_score = (f64::MAX, f64::MAX);
        for &(sw, sh) in TITAN_SIZES {
            let ratio = ((f64::from(sw) / f64::from(sh)).ln() - want_ratio).abs();
            let area = (f64::from(sw) * f64::from(sh) - want_area).abs();
            let score = ((ratio * 100.0).round(), area);
            if score < best_score {
                best_score = score;
                best = (sw, sh);
            }
        }
        best
    }
}

impl ImageBodyAdapter for TitanImageV2 {
    fn family(&self) -> &'static str {
        "titan-image-v2"
    }
    fn body(&self, req: &ImageRequest) -> Value {
        let (w, h) = Self::snap_size(req.width, req.height);
        text_image_body(truncate_prompt(&req.prompt, 512), w, h, req.seed % 2_147_483_647)
    }
}

/// Amazon Nova Canvas: prompts up to 1,024 characters; sides multiples of 16 in 320..=4096,
/// aspect ratio between 1:4 and 4:1, at most 4,194,304 pixels; seeds up to 858,993,459.
#[derive(Debug, Clone, Copy, Default)]
pub struct NovaCanvas;

impl NovaCanvas {
    /// The nearest valid size.
    pub fn snap_size(width: u32, height: u32) -> (u32, u32) {
        let mut w = f64::from(width.clamp(1, 8192));
        let mut h = f64::from(height.clamp(1, 8192));
        // Aspect ratio within 1:4 .. 4:1.
        if w / h > 4.0 {
            h = w / 4.0;
        } else if h / w > 4.0 {
            w = h / 4.0;
        }
        // At most 4,194,304 pixels.
        let area = w * h;
        if area > 4_194_304.0 {
            let k = (4_194_304.0 / area).sqrt();
            w *= k;
            h *= k;
        }
        let side = |v: f64| {
            let r = ((v / 16.0).floor() as u32).saturating_mul(16);
            r.clamp(320, 4096)
        };
        let (mut sw, mut sh) = (side(w), side(h));
        // Clamping small sides up can break the ratio; shrink the long side back within 4:1.
        while sw > sh * 4 {
            sw -= 16;
        }
        while sh > sw * 4 {
            sh -= 16;
        }
        (sw, sh)
    }
}

impl ImageBodyAdapter for NovaCanvas {
    fn family(&self) -> &'static str {
        "nova-canvas"
    }
    fn body(&self, req: &ImageRequest) -> Value {
        let (w, h) = Self::snap_size(req.width, req.height);
        text_image_body(truncate_prompt(&req.prompt, 1024), w, h, req.seed % 858_993_460)
    }
}

/// The adapter for a model id (plain id, inference profile id or ARN), if its family is known.
pub fn adapter_for(model_id: &str) -> Option<Arc<dyn ImageBodyAdapter>> {
    let id = model_id.to_ascii_lowercase();
    if id.contains("nova-canvas") {
        Some(Arc::new(NovaCanvas))
    } else if id.contains("titan-image-generator-v2") {
        Some(Arc::new(TitanImageV2))
    } else {
        None
    }
}

/// Image generation through Bedrock InvokeModel.
#[derive(Clone)]
pub struct BedrockImage {
    client: Client,
    model_id: String,
    adapter: Arc<dyn ImageBodyAdapter>,
    governor: Governor,
}

impl fmt::Debug for BedrockImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BedrockImage")
            .field("model_id", &self.model_id)
            .field("family", &self.adapter.family())
            .finish_non_exhaustive()
    }
}

impl BedrockImage {
    /// An image model for `model_id`, its body adapter chosen by the id; a
    /// [`StageError::Config`] when no adapter knows the family.
    pub fn new(client: Client, model_id: impl Into<String>, governor: Governor) -> StageResult<Self> {
        let model_id = model_id.into();
        let adapter = adapter_for(&model_id).ok_or_else(|| {
            StageError::Config(format!(
                "IMAGE_MODEL_ID {model_id:?}: no request adapter for this model family (supported: Nova Canvas, Titan Image Generator v2)"
            ))
        })?;
        Ok(Self::with_adapter(client, model_id, adapter, governor))
    }

    /// An image model with an explicit adapter.
    pub fn with_adapter(
        client: Client,
        model_id: impl Into<String>,
        adapter: Arc<dyn ImageBodyAdapter>,
        governor: Governor,
    ) -> Self {
        Self { client, model_id: model_id.into(), adapter, governor }
    }

    /// The same model, whose calls (retries included) finish by `deadline`.
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.governor = self.governor.with_deadline(deadline);
        self
    }
}

#[async_trait]
impl ImageModel for BedrockImage {
    fn id(&self) -> ModelId {
        ModelId { provider: "bedrock".into(), model: self.model_id.clone() }
    }

    async fn generate(&self, request: &ImageRequest) -> StageResult<ImageResponse> {
        let subject = request.visual_id.as_str();
        let body = serde_json::to_vec(&self.adapter.body(request))
            .map_err(|e| StageError::model(IMAGE_STAGE, subject, format!("could not encode the request: {e}")))?;
        let info = CallInfo { stage: IMAGE_STAGE, subject, reserve_tokens: 0 };
        let bytes = self
            .governor
            .run(info, || {
                let call = self
                    .client
                    .invoke_model()
                    .model_id(&self.model_id)
                    .content_type("application/json")
                    .accept("application/json")
                    .body(Blob::new(body.clone()));
                async move {
                    match call.send().await {
                        Ok(out) => match self.adapter.parse(out.body().as_ref()) {
                            Ok(png) => Ok((png, 0)),
                            Err(message) => {
                                Err(Failure::Transient { message: format!("malformed image answer: {message}") })
                            }
                        },
                        Err(err) => Err(classify(&err, status_of(&err), IMAGE_STAGE, subject).failure),
                    }
                }
            })
            .await?;
        Ok(ImageResponse { bytes, content_type: "image/png".into(), extension: "png".into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(prompt: &str, w: u32, h: u32, seed: u32) -> ImageRequest {
        ImageRequest { visual_id: "01-02-03".into(), prompt: prompt.into(), width: w, height: h, seed }
    }

    #[test]
    fn adapters_are_chosen_by_model_id() {
        assert_eq!(adapter_for("amazon.nova-canvas-v1:0").unwrap().family(), "nova-canvas");
        assert_eq!(adapter_for("us.amazon.nova-canvas-v1:0").unwrap().family(), "nova-canvas");
        assert_eq!(adapter_for(TITAN_IMAGE_V2_MODEL_ID).unwrap().family(), "titan-image-v2");
        assert!(adapter_for("stability.sd3-large-v1:0").is_none());
    }

    #[test]
    fn nova_body_has_the_text_image_shape_with_valid_size_seed_and_prompt() {
        let long = "word ".repeat(400);
        let b = NovaCanvas.body(&req(&long, 1000, 250, u32::MAX));
        assert_eq!(b["taskType"], "TEXT_IMAGE");
        let text = b["textToImageParams"]["text"].as_str().unwrap();
        assert!(text.chars().count() <= 1024 && !text.ends_with(' '));
        let c = &b["imageGenerationConfig"];
        assert_eq!(c["numberOfImages"], 1);
        let (w, h) = (c["width"].as_u64().unwrap(), c["height"].as_u64().unwrap());
        assert!(w % 16 == 0 && h % 16 == 0 && (320..=4096).contains(&w) && (320..=4096).contains(&h));
        assert!(w <= 4 * h && h <= 4 * w);
        assert!(c["seed"].as_u64().unwrap() <= 858_993_459);
        for (w, h) in [(1, 1), (100_000, 10), (10, 100_000), (4096, 4096), (1024, 1024), (1280, 720)] {
            let (sw, sh) = NovaCanvas::snap_size(w, h);
            assert!(sw % 16 == 0 && sh % 16 == 0, "{w}x{h} -> {sw}x{sh}");
            assert!((320..=4096).contains(&sw) && (320..=4096).contains(&sh), "{w}x{h} -> {sw}x{sh}");
            assert!(sw <= 4 * sh && sh <= 4 * sw, "{w}x{h} -> {sw}x{sh}");
            assert!(u64::from(sw) * u64::from(sh) <= 4_194_304, "{w}x{h} -> {sw}x{sh}");
        }
        assert_eq!(NovaCanvas::snap_size(1024, 1024), (1024, 1024));
    }

    #[test]
    fn titan_body_uses_a_supported_size_and_its_limits() {
        let b = TitanImageV2.body(&req(&"x".repeat(2000), 1280, 720, 3_000_000_000));
        let c = &b["imageGenerationConfig"];
        assert_eq!((c["width"].as_u64().unwrap(), c["height"].as_u64().unwrap()), (1152, 640));
        assert!(b["textToImageParams"]["text"].as_str().unwrap().chars().count() <= 512);
        assert!(c["seed"].as_u64().unwrap() <= 2_147_483_646);
        assert_eq!(TitanImageV2::snap_size(1024, 1024), (1024, 1024));
        assert_eq!(TitanImageV2::snap_size(0, 0), (512, 512));
        assert_eq!(TitanImageV2::snap_size(600, 400), (576, 384));
    }

    #[test]
    fn image_answers_are_decoded_and_checked() {
        let png = [PNG_SIGNATURE.as_slice(), b"rest"].concat();
        let ok = json!({"images": [base64::engine::general_purpose::STANDARD.encode(&png)], "error": null});
        assert_eq!(NovaCanvas.parse(ok.to_string().as_bytes()).unwrap(), png);
        let not_png = json!({"images": [base64::engine::general_purpose::STANDARD.encode(b"GIF89a")]});
        assert!(TitanImageV2.parse(not_png.to_string().as_bytes()).unwrap_err().to_string().contains("PNG"));
        assert!(NovaCanvas.parse(br#"{"images": ["!!!"]}"#).unwrap_err().to_string().contains("base64"));
        assert!(NovaCanvas.parse(br#"{"images": []}"#).is_err());
        assert!(NovaCanvas.parse(br#"{"images": ["#).unwrap_err().to_string().contains("not JSON"));
        assert!(NovaCanvas
            .parse(br#"{"images": [], "error": "blocked by content filter"}"#)
            .unwrap_err()
            .to_string()
            .contains("blocked"));
    }

    #[test]
    fn prompts_are_cut_at_word_boundaries() {
        assert_eq!(truncate_prompt("  short  ", 10), "short");
        assert_eq!(truncate_prompt("alpha beta gamma", 12), "alpha beta");
        assert_eq!(truncate_prompt("abcdefghijkl", 5), "abcde");
        assert_eq!(truncate_prompt("ééééé ééééé", 7).chars().count(), 5);
    }

    #[test]
    fn tool_choice_rejections_are_recognised() {
        assert!(mentions_tool_choice("This model doesn't support the toolConfig.toolChoice.tool field"));
        assert!(mentions_tool_choice("tool_choice is not supported"));
        assert!(!mentions_tool_choice("Malformed input request"));
    }
}
