//! Provider configuration from the environment, and the factories that build models and stores.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `COURSEGEN_PROVIDER` | `bedrock`, `openai` or `offline` | `offline` |
//! | `TEXT_MODEL_ID` | Bedrock text model / inference profile id | [`DEFAULT_TEXT_MODEL_ID`] |
//! | `IMAGE_MODEL_ID` | Bedrock image model id (Nova Canvas, Titan Image v2) | [`DEFAULT_IMAGE_MODEL_ID`] for `bedrock` |
//! | `BEDROCK_RPM` / `BEDROCK_TPM` | text requests / tokens per minute budget | none |
//! | `BEDROCK_MAX_CONCURRENCY` | optional explicit ceiling on text calls in flight; without it the quota and throttles decide ([`crate::quota`]) | none |
//! | `BEDROCK_IMAGE_RPM` / `BEDROCK_IMAGE_MAX_CONCURRENCY` | the same for images | none / none |
//! | `BEDROCK_OUTPUT_BURNDOWN` | tokens of `BEDROCK_TPM` one output token uses (reservation: input estimate + `max_tokens` × this; settlement: input + output × this) | [`default_output_burndown`] of the text model: 5 for Claude 3.7 Sonnet and the Claude 4 generation, else 1 |
//! | `QUOTA_TABLE` | DynamoDB table holding the budgets, shared by every process that names it ([`crate::dynamo`]); unset: each process keeps its own budget | none |
//! | `MODEL_DEADLINE_SECONDS` | total time one model call may take, retries included | 600 |
//! | `MODEL_ATTEMPT_TIMEOUT_SECONDS` | time one attempt may take | 300 |
//! | `OPENAI_BASE_URL`, `OPENAI_API_KEY`, `OPENAI_MODEL` | OpenAI-compatible server | `https://api.openai.com/v1`, none, `gpt-4o-mini` |
//! | `OPENAI_API_KEY_SECRET_ARN` | Secrets Manager secret holding the key (wins over `OPENAI_API_KEY`) | none |
//! | `COURSEGEN_S3_FORCE_PATH_STYLE` | `1` forces path-style S3 addressing | on when `AWS_ENDPOINT_URL_S3` is set |
//!
//! Budgets are per model id or inference profile: the text model's requests and tokens, the
//! image model's requests ([`BucketKeys`]).
//!
//! The AWS settings themselves (`AWS_REGION`, `AWS_PROFILE`, credentials,
//! `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_DYNAMODB`, ...)
//! are read by the AWS SDK.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use coursegen_core::error::{StageError, StageResult};
use coursegen_core::model::{ImageModel, TextModel};
use serde_json::Value;

use crate::bedrock::{bedrock_client, BedrockImage, BedrockText, DEFAULT_IMAGE_MODEL_ID, DEFAULT_TEXT_MODEL_ID};
use crate::dynamo::DynamoBuckets;
use crate::openai::{OpenAiSettings, OpenAiText, DEFAULT_BASE_URL, DEFAULT_MODEL};
use crate::quota::{BucketKeys, Governor, Quota, QuotaConfig, RetryPolicy};
use crate::s3::{s3_client, S3Options, S3Store};
use crate::sdk::load_sdk_config;

/// Which model provider to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// Amazon Bedrock (Converse for text, InvokeModel for images).
    Bedrock,
    /// An OpenAI-compatible chat completions server for text.
    OpenAi,
    /// No model: the offline providers of the stages crate.
    Offline,
}

impl FromStr for ProviderKind {
    type Err = StageError;
    fn from_str(s: &str) -> StageResult<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bedrock" => Ok(ProviderKind::Bedrock),
            "openai" => Ok(ProviderKind::OpenAi),
            "offline" => Ok(ProviderKind::Offline),
            other => {
                Err(StageError::Config(format!("COURSEGEN_PROVIDER={other:?} is not one of bedrock, openai, offline")))
            }
        }
    }
}

/// Settings of the OpenAI-compatible provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAiConfig {
    /// `OPENAI_BASE_URL`.
    pub base_url: String,
    /// `OPENAI_API_KEY`.
    pub api_key: Option<String>,
    /// `OPENAI_API_KEY_SECRET_ARN`: read the key from Secrets Manager instead.
    pub api_key_secret_arn: Option<String>,
    /// `OPENAI_MODEL`.
    pub model: String,
}

/// Everything needed to build the model providers.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderConfig {
    /// `COURSEGEN_PROVIDER`.
    pub provider: ProviderKind,
    /// `TEXT_MODEL_ID` (Bedrock).
    pub text_model_id: String,
    /// `IMAGE_MODEL_ID` (Bedrock); `None` means images are rendered offline.
    pub image_model_id: Option<String>,
    /// Budget of the text model.
    pub text_quota: QuotaConfig,
    /// Budget of the image model.
    pub image_quota: QuotaConfig,
    /// Retry policy of every model call.
    pub retry: RetryPolicy,
    /// OpenAI-compatible settings.
    pub openai: OpenAiConfig,
    /// `QUOTA_TABLE`: the DynamoDB table every process shares the budgets in; `None` keeps
    /// them in the process.
    pub quota_table: Option<String>,
}

/// The output-token burndown factor Bedrock applies to `model_id`'s tokens-per-minute quota:
/// 5 for Anthropic Claude 3.7 Sonnet and the Claude 4 generation (Sonnet, Opus, Haiku 4 and
/// later point releases), whether called by model id, inference profile or ARN; 1 otherwise.
pub fn default_output_burndown(model_id: &str) -> u32 {
    const FIVE_TIMES: &[&str] = &["claude-3-7-sonnet", "claude-sonnet-4", "claude-opus-4", "claude-haiku-4"];
    let id = model_id.to_ascii_lowercase();
    if id.contains("anthropic.") && FIVE_TIMES.iter().any(|m| id.contains(m)) {
        5
    } else {
        1
    }
}

/// Check a DynamoDB table name: 3–255 letters, digits, `_`, `-` or `.`.
fn check_table_name(name: &str) -> StageResult<()> {
    let ok = (3..=255).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StageError::Config(format!(
            "QUOTA_TABLE={name:?} is not a DynamoDB table name (3-255 letters, digits, '_', '-' or '.'): set it to the quota table's name, or unset it for per-process budgets"
        )))
    }
}

impl ProviderConfig {
    /// Read the configuration from the process environment.
    pub fn from_env() -> StageResult<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Read the configuration through `lookup` (a variable name → its value); unset and empty
    /// values are treated alike. Errors name the offending variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> StageResult<Self> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let provider = match get("COURSEGEN_PROVIDER") {
            Some(v) => v.parse()?,
            None => ProviderKind::Offline,
        };
        let text_model_id = get("TEXT_MODEL_ID").unwrap_or_else(|| DEFAULT_TEXT_MODEL_ID.to_string());
        let image_model_id = match (get("IMAGE_MODEL_ID"), provider) {
            (Some(id), ProviderKind::Bedrock | ProviderKind::OpenAi) => Some(id),
            (None, ProviderKind::Bedrock) => Some(DEFAULT_IMAGE_MODEL_ID.to_string()),
            _ => None,
        };
        let burndown_model = match provider {
            ProviderKind::OpenAi => get("OPENAI_MODEL").unwrap_or_else(|| DEFAULT_MODEL.to_string()),
            _ => text_model_id.clone(),
        };
        let text_quota = QuotaConfig {
            requests_per_minute: parse_opt::<u32>(&get, "BEDROCK_RPM", 1)?,
            tokens_per_minute: parse_opt::<u64>(&get, "BEDROCK_TPM", 1)?,
            max_concurrency: parse_opt::<u32>(&get, "BEDROCK_MAX_CONCURRENCY", 1)?,
            output_burndown: parse_opt::<u32>(&get, "BEDROCK_OUTPUT_BURNDOWN", 1)?
                .unwrap_or_else(|| default_output_burndown(&burndown_model)),
        };
        let image_quota = QuotaConfig {
            requests_per_minute: parse_opt::<u32>(&get, "BEDROCK_IMAGE_RPM", 1)?,
            tokens_per_minute: None,
            max_concurrency: parse_opt::<u32>(&get, "BEDROCK_IMAGE_MAX_CONCURRENCY", 1)?,
            output_burndown: 1,
        };
        let quota_table = get("QUOTA_TABLE");
        if let Some(table) = &quota_table {
            check_table_name(table)?;
        }
        let defaults = RetryPolicy::default();
        let budget =
            parse_opt::<u64>(&get, "MODEL_DEADLINE_SECONDS", 1)?.map(Duration::from_secs).unwrap_or(defaults.budget);
        let attempt_timeout = parse_opt::<u64>(&get, "MODEL_ATTEMPT_TIMEOUT_SECONDS", 1)?
            .map(Duration::from_secs)
            .unwrap_or(defaults.attempt_timeout);
        let retry = RetryPolicy { budget, attempt_timeout, ..defaults };
        let base_url = get("OPENAI_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(StageError::Config(format!(
                "OPENAI_BASE_URL={base_url:?} must start with http:// or https://"
            )));
        }
        let api_key_secret_arn = get("OPENAI_API_KEY_SECRET_ARN");
        if let Some(arn) = &api_key_secret_arn {
            if !arn.starts_with("arn:") {
                return Err(StageError::Config(format!(
                    "OPENAI_API_KEY_SECRET_ARN={arn:?} is not an ARN (arn:aws:secretsmanager:...)"
                )));
            }
        }
        let openai = OpenAiConfig {
            base_url,
            api_key: get("OPENAI_API_KEY"),
            api_key_secret_arn,
            model: get("OPENAI_MODEL").unwrap_or_else(|| DEFAULT_MODEL.to_string()),
        };
        Ok(Self { provider, text_model_id, image_model_id, text_quota, image_quota, retry, openai, quota_table })
    }
}

fn parse_opt<T>(get: &impl Fn(&str) -> Option<String>, name: &str, min: T) -> StageResult<Option<T>>
where
    T: FromStr + PartialOrd + Copy + std::fmt::Display,
{
    match get(name) {
        None => Ok(None),
        Some(raw) => match raw.parse::<T>() {
            Ok(v) if v >= min => Ok(Some(v)),
            _ => Err(StageError::Config(format!("{name}={raw:?} must be a whole number of at least {min}"))),
        },
    }
}

/// The side effects of building the models: reading the API key secret and constructing the
/// providers. [`text_model_with`] and [`image_model_with`] decide *what* to build from the
/// configuration and call these; [`AwsModelBuilder`] performs them against AWS. A caller that
/// needs to know what a process does at start-up (which secret it reads, which models it
/// builds: the Lambda IAM contract test) passes its own builder.
#[async_trait]
pub trait ModelBuilder: Send + Sync {
    /// Read the OpenAI-compatible API key from the Secrets Manager secret `arn`.
    async fn read_api_key_secret(&self, arn: &str) -> StageResult<String>;
    /// The Bedrock text model `cfg.text_model_id`.
    async fn bedrock_text(&self, cfg: &ProviderConfig) -> StageResult<Arc<dyn TextModel>>;
    /// The OpenAI-compatible text model of `cfg.openai`, authenticated with `api_key`.
    async fn openai_text(&self, cfg: &ProviderConfig, api_key: Option<String>) -> StageResult<Arc<dyn TextModel>>;
    /// The Bedrock image model `model_id`.
    async fn bedrock_image(&self, cfg: &ProviderConfig, model_id: &str) -> StageResult<Arc<dyn ImageModel>>;
}

/// The real [`ModelBuilder`]: AWS clients from the standard AWS configuration, loaded once.
#[derive(Debug, Default)]
pub struct AwsModelBuilder {
    sdk: tokio::sync::OnceCell<SdkConfig>,
}

impl AwsModelBuilder {
    async fn sdk(&self) -> &SdkConfig {
        self.sdk.get_or_init(load_sdk_config).await
    }
}

#[async_trait]
impl ModelBuilder for AwsModelBuilder {
    async fn read_api_key_secret(&self, arn: &str) -> StageResult<String> {
        read_secret_key(self.sdk().await, arn).await
    }

    async fn bedrock_text(&self, cfg: &ProviderConfig) -> StageResult<Arc<dyn TextModel>> {
        Ok(Arc::new(bedrock_text_from(self.sdk().await, cfg)))
    }

    async fn openai_text(&self, cfg: &ProviderConfig, api_key: Option<String>) -> StageResult<Arc<dyn TextModel>> {
        let settings =
            OpenAiSettings { base_url: cfg.openai.base_url.clone(), api_key, model: cfg.openai.model.clone() };
        let name = format!("openai:{}:{}", settings.base_url, settings.model);
        let quota = quota_for(self.sdk().await, cfg, &name, &cfg.text_quota, BucketKeys::text(&name));
        let governor = Governor::new("openai", quota, cfg.retry.clone());
        Ok(Arc::new(OpenAiText::new(settings, governor)?))
    }

    async fn bedrock_image(&self, cfg: &ProviderConfig, model_id: &str) -> StageResult<Arc<dyn ImageModel>> {
        let sdk = self.sdk().await;
        let quota = quota_for(sdk, cfg, &format!("bedrock:{model_id}"), &cfg.image_quota, BucketKeys::image(model_id));
        let governor = Governor::new("bedrock", quota, cfg.retry.clone());
        Ok(Arc::new(BedrockImage::new(bedrock_client(sdk), model_id.to_string(), governor)?))
    }
}

/// The text model the configuration asks for; `None` for `offline` (use the offline provider).
/// `openai` with `OPENAI_API_KEY_SECRET_ARN` reads the secret now, once.
pub async fn build_text_model(cfg: &ProviderConfig) -> StageResult<Option<Arc<dyn TextModel>>> {
    text_model_with(cfg, &AwsModelBuilder::default()).await
}

/// [`build_text_model`] through `builder`.
pub async fn text_model_with(
    cfg: &ProviderConfig,
    builder: &dyn ModelBuilder,
) -> StageResult<Option<Arc<dyn TextModel>>> {
    match cfg.provider {
        ProviderKind::Offline => Ok(None),
        ProviderKind::Bedrock => Ok(Some(builder.bedrock_text(cfg).await?)),
        ProviderKind::OpenAi => {
            let api_key = match &cfg.openai.api_key_secret_arn {
                Some(arn) => Some(builder.read_api_key_secret(arn).await?),
                None => cfg.openai.api_key.clone(),
            };
            Ok(Some(builder.openai_text(cfg, api_key).await?))
        }
    }
}

/// The budget `config` of the model named `name` (its bucket `keys`): in the DynamoDB table
/// `cfg.quota_table` when set (a client from `sdk`), shared by every process naming that
/// table; else in this process. Either way one [`Quota`] per model and process.
pub fn quota_for(
    sdk: &SdkConfig,
    cfg: &ProviderConfig,
    name: &str,
    config: &QuotaConfig,
    keys: BucketKeys,
) -> Arc<Quota> {
    let quota = match &cfg.quota_table {
        Some(table) => Quota::shared_in(name, config, Arc::new(DynamoBuckets::from_sdk(sdk, table)), keys),
        None => Quota::shared(name, config),
    };
    tracing::info!(
        model = name,
        buckets = %quota.store_name(),
        rpm = ?config.requests_per_minute,
        tpm = ?config.tokens_per_minute,
        output_burndown = config.output_burndown,
        "model budget"
    );
    quota
}

/// A Bedrock text model from `sdk` and `cfg`, drawing on the budget of its model id or
/// inference profile ([`quota_for`]).
pub fn bedrock_text_from(sdk: &SdkConfig, cfg: &ProviderConfig) -> BedrockText {
    let name = format!("bedrock:{}", cfg.text_model_id);
    let quota = quota_for(sdk, cfg, &name, &cfg.text_quota, BucketKeys::text(&cfg.text_model_id));
    let governor = Governor::new("bedrock", quota, cfg.retry.clone());
    BedrockText::new(bedrock_client(sdk), cfg.text_model_id.clone(), governor)
}

/// The image model the configuration asks for; `None` when images are rendered offline
/// (`offline`, or `openai` without an explicit `IMAGE_MODEL_ID`).
pub async fn build_image_model(cfg: &ProviderConfig) -> StageResult<Option<Arc<dyn ImageModel>>> {
    image_model_with(cfg, &AwsModelBuilder::default()).await
}

/// [`build_image_model`] through `builder`.
pub async fn image_model_with(
    cfg: &ProviderConfig,
    builder: &dyn ModelBuilder,
) -> StageResult<Option<Arc<dyn ImageModel>>> {
    let Some(model_id) = &cfg.image_model_id else { return Ok(None) };
    if cfg.provider == ProviderKind::Offline {
        return Ok(None);
    }
    Ok(Some(builder.bedrock_image(cfg, model_id).await?))
}

/// Read the OpenAI key from a Secrets Manager secret: either the plain key, or a JSON object
/// with `OPENAI_API_KEY`, `api_key` or `apiKey`.
pub async fn read_secret_key(sdk: &SdkConfig, arn: &str) -> StageResult<String> {
    let mut builder = aws_sdk_secretsmanager::config::Builder::from(sdk);
    if sdk.http_client().is_none() {
        builder = builder.http_client(crate::sdk::http_client());
    }
    let client = aws_sdk_secretsmanager::Client::from_conf(builder.build());
    let out = client.get_secret_value().secret_id(arn).send().await.map_err(|e| {
        StageError::Config(format!(
            "OPENAI_API_KEY_SECRET_ARN: cannot read the secret: {}",
            aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
        ))
    })?;
    let raw = out.secret_string().map(str::trim).unwrap_or("");
    secret_to_key(raw)
}

/// Extract the key from a secret string (see [`read_secret_key`]).
pub fn secret_to_key(raw: &str) -> StageResult<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(StageError::Config("OPENAI_API_KEY_SECRET_ARN: the secret has no string value".into()));
    }
    if raw.starts_with('{') {
        let v: Value = serde_json::from_str(raw)
            .map_err(|e| StageError::Config(format!("OPENAI_API_KEY_SECRET_ARN: the secret is not valid JSON: {e}")))?;
        for field in ["OPENAI_API_KEY", "api_key", "apiKey"] {
            if let Some(k) = v.get(field).and_then(Value::as_str).filter(|k| !k.trim().is_empty()) {
                return Ok(k.trim().to_string());
            }
        }
        return Err(StageError::Config(
            "OPENAI_API_KEY_SECRET_ARN: the secret JSON has no OPENAI_API_KEY, api_key or apiKey field".into(),
        ));
    }
    Ok(raw.to_string())
}

/// Whether S3 requests should use path-style addressing, from the environment.
pub fn s3_force_path_style(lookup: impl Fn(&str) -> Option<String>) -> StageResult<bool> {
    let endpoint = lookup("AWS_ENDPOINT_URL_S3").is_some_and(|v| !v.trim().is_empty());
    match lookup("COURSEGEN_S3_FORCE_PATH_STYLE").map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(endpoint),
        Some(v) if v.is_empty() => Ok(endpoint),
        Some(v) if v == "1" || v == "true" || v == "yes" => Ok(true),
        Some(v) if v == "0" || v == "false" || v == "no" => Ok(false),
        Some(v) => Err(StageError::Config(format!("COURSEGEN_S3_FORCE_PATH_STYLE={v:?} must be 1 or 0"))),
    }
}

/// An [`S3Store`] for `bucket` from the standard AWS configuration, path-style when
/// `AWS_ENDPOINT_URL_S3` is set or `COURSEGEN_S3_FORCE_PATH_STYLE=1`.
pub async fn s3_store(bucket: &str) -> StageResult<S3Store> {
    let force_path_style = s3_force_path_style(|n| std::env::var(n).ok())?;
    let sdk = load_sdk_config().await;
    S3Store::new(s3_client(&sdk, S3Options { force_path_style }), bucket)
        .map_err(|e| StageError::Config(format!("bucket: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)]) -> StageResult<ProviderConfig> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ProviderConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_offline_with_documented_models() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.provider, ProviderKind::Offline);
        assert_eq!(c.text_model_id, DEFAULT_TEXT_MODEL_ID);
        assert_eq!(c.image_model_id, None);
        assert_eq!(c.retry.budget, Duration::from_secs(600));
        assert_eq!(c.text_quota.max_concurrency, None, "no fixed cap binds by default");
        assert_eq!(c.image_quota.max_concurrency, None);
        assert_eq!(c.openai.base_url, DEFAULT_BASE_URL);
        let b = cfg(&[("COURSEGEN_PROVIDER", "Bedrock")]).unwrap();
        assert_eq!(b.provider, ProviderKind::Bedrock);
        assert_eq!(b.image_model_id.as_deref(), Some(DEFAULT_IMAGE_MODEL_ID));
    }

    #[test]
    fn every_variable_is_read() {
        let c = cfg(&[
            ("COURSEGEN_PROVIDER", "openai"),
            ("TEXT_MODEL_ID", "amazon.nova-pro-v1:0"),
            ("IMAGE_MODEL_ID", "amazon.titan-image-generator-v2:0"),
            ("BEDROCK_RPM", "50"),
            ("BEDROCK_TPM", "200000"),
            ("BEDROCK_MAX_CONCURRENCY", "4"),
            ("BEDROCK_IMAGE_RPM", "5"),
            ("MODEL_DEADLINE_SECONDS", "120"),
            ("MODEL_ATTEMPT_TIMEOUT_SECONDS", "60"),
            ("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1"),
            ("OPENAI_API_KEY", "sk-x"),
            ("OPENAI_API_KEY_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123:secret:k"),
            ("OPENAI_MODEL", "llama3.1"),
            ("BEDROCK_OUTPUT_BURNDOWN", "3"),
            ("QUOTA_TABLE", "coursegen-quota"),
        ])
        .unwrap();
        assert_eq!(c.provider, ProviderKind::OpenAi);
        assert_eq!(c.text_model_id, "amazon.nova-pro-v1:0");
        assert_eq!(c.image_model_id.as_deref(), Some("amazon.titan-image-generator-v2:0"));
        assert_eq!(
            c.text_quota,
            QuotaConfig {
                requests_per_minute: Some(50),
                tokens_per_minute: Some(200_000),
                max_concurrency: Some(4),
                output_burndown: 3,
            }
        );
        assert_eq!(c.quota_table.as_deref(), Some("coursegen-quota"));
        assert_eq!(c.image_quota.requests_per_minute, Some(5));
        assert_eq!(c.retry.budget, Duration::from_secs(120));
        assert_eq!(c.retry.attempt_timeout, Duration::from_secs(60));
        assert_eq!(c.openai.model, "llama3.1");
        assert_eq!(c.openai.api_key.as_deref(), Some("sk-x"));
        assert!(c.openai.api_key_secret_arn.is_some());
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            ("COURSEGEN_PROVIDER", "azure"),
            ("BEDROCK_RPM", "ten"),
            ("BEDROCK_TPM", "-5"),
            ("BEDROCK_MAX_CONCURRENCY", "0"),
            ("BEDROCK_IMAGE_MAX_CONCURRENCY", "1.5"),
            ("MODEL_DEADLINE_SECONDS", "0"),
            ("MODEL_ATTEMPT_TIMEOUT_SECONDS", "soon"),
            ("OPENAI_BASE_URL", "localhost:11434"),
            ("OPENAI_API_KEY_SECRET_ARN", "my-secret"),
            ("BEDROCK_OUTPUT_BURNDOWN", "0"),
            ("QUOTA_TABLE", "quota table"),
            ("QUOTA_TABLE", "ab"),
        ] {
            let err = cfg(&[(var, value)]).unwrap_err();
            assert_eq!(err.error_type(), "ConfigError", "{var}");
            assert!(err.to_string().contains(var), "{var}: {err}");
        }
        let err =
            s3_force_path_style(|k| (k == "COURSEGEN_S3_FORCE_PATH_STYLE").then(|| "maybe".to_string())).unwrap_err();
        assert!(err.to_string().contains("COURSEGEN_S3_FORCE_PATH_STYLE"));
    }

    #[test]
    fn output_burndown_defaults_by_model_and_the_variable_overrides_it() {
        for (model, factor) in [
            ("anthropic.claude-3-7-sonnet-20250219-v1:0", 5),
            ("us.anthropic.claude-sonnet-4-20250514-v1:0", 5),
            ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.anthropic.claude-opus-4-1-20250805-v1:0", 5),
            ("global.anthropic.claude-haiku-4-5-20251001-v1:0", 5),
            ("anthropic.claude-3-5-sonnet-20240620-v1:0", 1),
            ("amazon.nova-pro-v1:0", 1),
            (DEFAULT_TEXT_MODEL_ID, default_output_burndown(DEFAULT_TEXT_MODEL_ID)),
        ] {
            assert_eq!(default_output_burndown(model), factor, "{model}");
            let c = cfg(&[("COURSEGEN_PROVIDER", "bedrock"), ("TEXT_MODEL_ID", model)]).unwrap();
            assert_eq!(c.text_quota.output_burndown, factor, "{model}");
            assert_eq!(c.image_quota.output_burndown, 1);
        }
        let c =
            cfg(&[("TEXT_MODEL_ID", "us.anthropic.claude-sonnet-4-20250514-v1:0"), ("BEDROCK_OUTPUT_BURNDOWN", "1")])
                .unwrap();
        assert_eq!(c.text_quota.output_burndown, 1, "the variable wins over the table");
        assert_eq!(c.quota_table, None, "no table: per-process budgets");
    }

    #[test]
    fn path_style_follows_the_endpoint_unless_overridden() {
        assert!(!s3_force_path_style(|_| None).unwrap());
        assert!(s3_force_path_style(|k| (k == "AWS_ENDPOINT_URL_S3").then(|| "http://127.0.0.1:9000".into())).unwrap());
        assert!(s3_force_path_style(|k| (k == "COURSEGEN_S3_FORCE_PATH_STYLE").then(|| "1".into())).unwrap());
        let both = |k: &str| match k {
            "AWS_ENDPOINT_URL_S3" => Some("http://127.0.0.1:9000".to_string()),
            "COURSEGEN_S3_FORCE_PATH_STYLE" => Some("0".to_string()),
            _ => None,
        };
        assert!(!s3_force_path_style(both).unwrap());
    }

    #[test]
    fn secrets_hold_a_plain_key_or_json() {
        assert_eq!(secret_to_key(" sk-plain \n").unwrap(), "sk-plain");
        assert_eq!(secret_to_key(r#"{"OPENAI_API_KEY": "sk-json"}"#).unwrap(), "sk-json");
        assert_eq!(secret_to_key(r#"{"api_key": "sk-2"}"#).unwrap(), "sk-2");
        assert!(secret_to_key(r#"{"other": 1}"#).unwrap_err().to_string().contains("OPENAI_API_KEY_SECRET_ARN"));
        assert!(secret_to_key("").is_err());
        assert!(secret_to_key("{broken").is_err());
    }

    /// Records what building asks for; models are the offline stand-ins of the stages' tests.
    #[derive(Default)]
    struct Recorder(std::sync::Mutex<Vec<String>>);

    struct Named(&'static str);

    #[async_trait]
    impl TextModel for Named {
        fn id(&self) -> coursegen_core::ModelId {
            coursegen_core::ModelId { provider: self.0.into(), model: "m".into() }
        }
        async fn generate(&self, _: &coursegen_core::TextRequest) -> StageResult<coursegen_core::TextResponse> {
            Err(StageError::Internal("not called".into()))
        }
    }

    #[async_trait]
    impl ImageModel for Named {
        fn id(&self) -> coursegen_core::ModelId {
            coursegen_core::ModelId { provider: self.0.into(), model: "m".into() }
        }
        async fn generate(&self, _: &coursegen_core::ImageRequest) -> StageResult<coursegen_core::ImageResponse> {
            Err(StageError::Internal("not called".into()))
        }
    }

    #[async_trait]
    impl ModelBuilder for Recorder {
        async fn read_api_key_secret(&self, arn: &str) -> StageResult<String> {
            self.0.lock().unwrap().push(format!("secret {arn}"));
            Ok("sk-from-secret".into())
        }
        async fn bedrock_text(&self, cfg: &ProviderConfig) -> StageResult<Arc<dyn TextModel>> {
            self.0.lock().unwrap().push(format!("bedrock text {}", cfg.text_model_id));
            Ok(Arc::new(Named("bedrock")))
        }
        async fn openai_text(&self, _: &ProviderConfig, api_key: Option<String>) -> StageResult<Arc<dyn TextModel>> {
            self.0.lock().unwrap().push(format!("openai text key={api_key:?}"));
            Ok(Arc::new(Named("openai")))
        }
        async fn bedrock_image(&self, _: &ProviderConfig, model_id: &str) -> StageResult<Arc<dyn ImageModel>> {
            self.0.lock().unwrap().push(format!("bedrock image {model_id}"));
            Ok(Arc::new(Named("bedrock")))
        }
    }

    #[tokio::test]
    async fn only_the_openai_text_model_reads_the_key_secret_and_it_wins_over_the_plain_key() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:k";
        let openai = cfg(&[
            ("COURSEGEN_PROVIDER", "openai"),
            ("OPENAI_API_KEY", "sk-plain"),
            ("OPENAI_API_KEY_SECRET_ARN", arn),
        ])
        .unwrap();
        let r = Recorder::default();
        assert_eq!(text_model_with(&openai, &r).await.unwrap().unwrap().id().provider, "openai");
        assert!(image_model_with(&openai, &r).await.unwrap().is_none(), "openai draws images offline");
        assert_eq!(*r.0.lock().unwrap(), [format!("secret {arn}"), "openai text key=Some(\"sk-from-secret\")".into()]);

        let bedrock = cfg(&[("COURSEGEN_PROVIDER", "bedrock"), ("OPENAI_API_KEY_SECRET_ARN", arn)]).unwrap();
        let r = Recorder::default();
        text_model_with(&bedrock, &r).await.unwrap().unwrap();
        image_model_with(&bedrock, &r).await.unwrap().unwrap();
        assert_eq!(
            *r.0.lock().unwrap(),
            [format!("bedrock text {DEFAULT_TEXT_MODEL_ID}"), format!("bedrock image {DEFAULT_IMAGE_MODEL_ID}")]
        );
    }

    #[tokio::test]
    async fn offline_builds_no_models() {
        let c = cfg(&[]).unwrap();
        assert!(build_text_model(&c).await.unwrap().is_none());
        assert!(build_image_model(&c).await.unwrap().is_none());
    }
}
