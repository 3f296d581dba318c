//! The estimate `validate --estimate` and `run` show before any model call: the models a run
//! would use, the prices, the prediction of `coursegen_stages::estimate`, and the time the
//! quota allows (from `--rpm/--tpm`, and from `BEDROCK_RPM/BEDROCK_TPM` when they are set).

use std::path::Path;

use coursegen_aws::config::{ProviderConfig, ProviderKind};
use coursegen_core::prices::Prices;
use coursegen_core::{ModelId, Outline, Request};
use coursegen_stages::estimate::{estimate, quota_time, Estimate, EstimateRequest, Quota};
use coursegen_stages::offline::{OfflineImage, OfflineText};
use coursegen_stages::Settings;

use crate::error::CliError;

/// The prices to use: `--prices FILE` when given, else `COURSEGEN_PRICES` when set, else the
/// built-in table. An unusable file is bad input.
pub(crate) fn load_prices(flag: Option<&Path>) -> Result<Prices, CliError> {
    match flag {
        Some(path) => Prices::from_file(path).map_err(CliError::Prices),
        None => Prices::from_env(|name| std::env::var(name).ok()).map_err(CliError::Prices),
    }
}

/// The provider a real run uses when no `--provider` says: `COURSEGEN_PROVIDER`, else Bedrock
/// (an estimate of the offline provider's free drafts tells nothing).
pub(crate) fn real_run_provider() -> String {
    std::env::var("COURSEGEN_PROVIDER").ok().filter(|p| !p.trim().is_empty()).unwrap_or_else(|| "bedrock".into())
}

/// The provider configuration for `provider` (the rest from the environment).
pub(crate) fn provider_config(provider: &str) -> Result<ProviderConfig, coursegen_core::StageError> {
    ProviderConfig::from_lookup(|name| {
        if name == "COURSEGEN_PROVIDER" {
            Some(provider.to_string())
        } else {
            std::env::var(name).ok()
        }
    })
}

/// The text and image models a run with `cfg` calls, as they name themselves.
fn models(cfg: &ProviderConfig) -> (ModelId, ModelId) {
    use coursegen_core::{ImageModel, TextModel};
    let text = match cfg.provider {
        ProviderKind::Offline => OfflineText.id(),
        ProviderKind::Bedrock => ModelId { provider: "bedrock".into(), model: cfg.text_model_id.clone() },
        ProviderKind::OpenAi => ModelId { provider: "openai".into(), model: cfg.openai.model.clone() },
    };
    let image = match (&cfg.image_model_id, cfg.provider) {
        (Some(id), ProviderKind::Bedrock | ProviderKind::OpenAi) => {
            ModelId { provider: "bedrock".into(), model: id.clone() }
        }
        _ => OfflineImage.id(),
    };
    (text, image)
}

/// The quotas to show the time for: the flags' (`--rpm/--tpm`), then the environment's.
fn quotas(cfg: &ProviderConfig, rpm: Option<u32>, tpm: Option<u64>) -> Vec<Quota> {
    let burndown = cfg.text_quota.output_burndown;
    let mut out = Vec::new();
    if rpm.is_some() || tpm.is_some() {
        out.push(Quota { source: "--rpm/--tpm".into(), rpm, tpm, image_rpm: None, output_burndown: burndown });
    }
    let (env_rpm, env_tpm, env_image) =
        (cfg.text_quota.requests_per_minute, cfg.text_quota.tokens_per_minute, cfg.image_quota.requests_per_minute);
    if env_rpm.is_some() || env_tpm.is_some() || env_image.is_some() {
        out.push(Quota {
            source: "environment (BEDROCK_RPM, BEDROCK_TPM, BEDROCK_IMAGE_RPM)".into(),
            rpm: env_rpm,
            tpm: env_tpm,
            image_rpm: env_image,
            output_burndown: burndown,
        });
    }
    out
}

/// The estimate of `request` on `outline` with the models of `cfg` and `prices`, with the
/// time of every known quota.
pub(crate) fn build(
    outline: &Outline,
    request: &Request,
    cfg: &ProviderConfig,
    prices: &Prices,
    rpm: Option<u32>,
    tpm: Option<u64>,
) -> Result<Estimate, CliError> {
    let (text_model, image_model) = models(cfg);
    let settings = Settings::default();
    let input = EstimateRequest {
        outline,
        modules: &request.modules,
        content: request.content_type,
        text_model,
        image_model,
        image_size: (settings.image_width, settings.image_height),
    };
    let mut est = estimate(&input, prices).map_err(CliError::Estimate)?;
    est.quota = quotas(cfg, rpm, tpm).into_iter().filter_map(|q| quota_time(&est, q)).collect();
    Ok(est)
}

/// `12,345`.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1h 02m 03s`, `4m 05s`, `6.0s`.
fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        _ if seconds < 60.0 => format!("{seconds:.1}s"),
        _ if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m {:02}s", s / 3600, (s % 3600) / 60, s % 60),
    }
}

fn usd(x: Option<f64>) -> String {
    match x {
        Some(x) => format!("${x:.2}"),
        None => "no price".to_string(),
    }
}

/// The estimate as lines of text: one line per call model, the total, the quota times and the
/// notes.
pub(crate) fn lines(est: &Estimate) -> Vec<String> {
    let mut out = Vec::new();
    let info = &est.cost.prices;
    out.push(format!(
        "estimate (no model called; a run from scratch, outputs already made are reused for free; language {}: {} chars/token, {} tokens/word):",
        est.language, est.ratios.chars_per_token, est.ratios.tokens_per_word
    ));
    for c in &est.calls {
        let p = &c.prediction;
        let what = if p.images > 0 || c.stage == "ImagesGen" {
            format!("{:>5} images {:>28}", p.images, "")
        } else {
            format!("{:>5} calls {:>10} in {:>10} out", p.calls, thousands(p.input_tokens), thousands(p.output_tokens))
        };
        out.push(format!("  {:<13} {:<11} {what} {:>10}  {}", c.stage, c.call, usd(c.usd), c.model));
    }
    let t = &est.cost.total;
    out.push(format!(
        "  total: {} calls, {} tokens in, {} out, {} images: {} {}{}",
        t.calls,
        thousands(t.input_tokens),
        thousands(t.output_tokens),
        t.images,
        usd(Some(t.usd)),
        est.cost.currency,
        if est.cost.complete { "" } else { " for the priced part" }
    ));
    out.push(format!(
        "  prices: {} as of {}{}",
        info.source,
        info.as_of,
        match &info.override_from {
            Some(o) => format!(", overridden by {o}"),
            None => String::new(),
        }
    ));
    for q in &est.quota {
        let limits: Vec<String> = [
            q.quota.rpm.map(|r| format!("{r} requests/min")),
            q.quota.tpm.map(|t| format!("{} tokens/min", thousands(t))),
            q.quota.image_rpm.map(|r| format!("{r} images/min")),
        ]
        .into_iter()
        .flatten()
        .collect();
        out.push(format!(
            "  quota time ({}: {}; output burndown {}x, {} quota tokens): at least {}, bound by {}",
            q.quota.source,
            limits.join(", "),
            q.quota.output_burndown,
            thousands(q.quota_tokens),
            duration(q.seconds),
            q.bound_by
        ));
    }
    for note in &est.cost.notes {
        out.push(format!("  note: {note}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_readably() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(duration(6.04), "6.0s");
        assert_eq!(duration(245.0), "4m 05s");
        assert_eq!(duration(3723.0), "1h 02m 03s");
    }

    #[test]
    fn the_environments_quota_and_burndown_are_used() {
        let cfg = ProviderConfig::from_lookup(|n| match n {
            "COURSEGEN_PROVIDER" => Some("bedrock".into()),
            "BEDROCK_TPM" => Some("40000".into()),
            _ => None,
        })
        .unwrap();
        let q = quotas(&cfg, Some(10), None);
        assert_eq!(q.len(), 2);
        assert_eq!((q[0].rpm, q[0].tpm), (Some(10), None));
        assert_eq!((q[1].rpm, q[1].tpm), (None, Some(40000)));
        assert_eq!(q[1].output_burndown, 5, "Claude Sonnet 4's output burndown");
        let (text, image) = models(&cfg);
        assert_eq!(text.model, coursegen_aws::bedrock::DEFAULT_TEXT_MODEL_ID);
        assert_eq!(image.model, coursegen_aws::bedrock::DEFAULT_IMAGE_MODEL_ID);
        let offline = ProviderConfig::from_lookup(|_| None).unwrap();
        assert_eq!(models(&offline).0.provider, "offline");
        assert!(quotas(&offline, None, None).is_empty());
    }
}
