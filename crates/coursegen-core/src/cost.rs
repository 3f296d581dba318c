//! What a course cost (or will cost), per stage and model: a [`CostLedger`] collects tokens
//! and images, and prices them with [`Prices`] into a [`CostReport`], the `cost` object of
//! `book/manifest.json` and of `coursegen validate --estimate`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::{ModelId, Usage};
use crate::prices::{Charge, PriceInfo, Prices, CURRENCY};

/// The stages that call models, in workflow order (reports list stages in this order, any
/// other after them by name).
pub const STAGE_ORDER: [&str; 5] = ["ContentGen", "VisualPlanner", "ImagesGen", "LabPlanner", "LabWriter"];

/// Calls, tokens, images and their cost.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct CostLine {
    /// Model calls (text calls and image requests).
    pub calls: u64,
    /// Input tokens the text models reported.
    pub input_tokens: u64,
    /// Output tokens the text models reported (actual tokens: the price is on these, whatever
    /// output burndown the quota applies).
    pub output_tokens: u64,
    /// Images an image model generated.
    pub images: u64,
    /// USD: the priced part (see [`CostReport::complete`]).
    pub usd: f64,
}

impl CostLine {
    fn add(&mut self, other: &CostLine) {
        self.calls += other.calls;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.images += other.images;
        self.usd += other.usd;
    }

    fn rounded(mut self) -> CostLine {
        self.usd = round_usd(self.usd);
        self
    }
}

/// One model's part of a stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCost {
    /// `bedrock`, `openai`, `offline`, ...
    pub provider: String,
    /// The model id or inference profile called.
    pub model: String,
    /// The price table entry used (the base model of an inference profile); absent when free
    /// or unpriced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priced_as: Option<String>,
    /// Calls, tokens and images; `usd` is the priced part.
    #[serde(flatten)]
    pub line: CostLine,
    /// False when the table has no price for (part of) this model's use.
    pub priced: bool,
}

/// One stage's cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageCost {
    /// `ContentGen`, `VisualPlanner`, ...
    pub stage: String,
    /// The stage's calls, tokens, images and USD (the priced part).
    #[serde(flatten)]
    pub line: CostLine,
    /// By model.
    pub models: Vec<ModelCost>,
}

/// The `cost` object: per stage and in total, with the prices' source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostReport {
    /// Always `USD`.
    pub currency: String,
    /// Where the prices come from (source, as_of, whether overridden).
    pub prices: PriceInfo,
    /// Per stage, in workflow order.
    pub stages: Vec<StageCost>,
    /// The sum of the stages.
    pub total: CostLine,
    /// False when some model had no price: `usd` then counts only the priced part, and
    /// `notes` names what is missing.
    pub complete: bool,
    /// What to know about the figures (unpriced models, the offline provider's zero).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// USD rounded to a millionth of a cent, so sums print cleanly.
pub fn round_usd(usd: f64) -> f64 {
    (usd * 1e8).round() / 1e8
}

#[derive(Debug, Clone, Default)]
struct Entry {
    usage: Usage,
    /// Images by (width, height, quality).
    images: BTreeMap<(u32, u32, String), u64>,
}

/// Tokens and images by stage and model, to be priced.
#[derive(Debug, Clone, Default)]
pub struct CostLedger {
    entries: BTreeMap<(String, String, String), Entry>,
}

impl CostLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record text calls of `stage` to `model`.
    pub fn add_text(&mut self, stage: &str, model: &ModelId, usage: &Usage) {
        self.entry(stage, model).usage.add(usage);
    }

    /// Record `count` images of `width` × `height` at `quality` that `stage` had `model` make.
    pub fn add_images(&mut self, stage: &str, model: &ModelId, count: u64, width: u32, height: u32, quality: &str) {
        if count == 0 {
            return;
        }
        *self.entry(stage, model).images.entry((width, height, quality.to_string())).or_default() += count;
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn entry(&mut self, stage: &str, model: &ModelId) -> &mut Entry {
        self.entries.entry((stage.to_string(), model.provider.clone(), model.model.clone())).or_default()
    }

    /// Price everything recorded.
    pub fn report(&self, prices: &Prices) -> CostReport {
        let mut notes: BTreeSet<String> = prices.notes().iter().cloned().collect();
        let mut stages: BTreeMap<(usize, String), StageCost> = BTreeMap::new();
        for ((stage, provider, model), entry) in &self.entries {
            let id = ModelId { provider: provider.clone(), model: model.clone() };
            let mut line = CostLine {
                calls: entry.usage.calls + entry.images.values().sum::<u64>(),
                input_tokens: entry.usage.input_tokens,
                output_tokens: entry.usage.output_tokens,
                images: entry.images.values().sum(),
                usd: 0.0,
            };
            let mut charges = Vec::new();
            if entry.usage.input_tokens > 0 || entry.usage.output_tokens > 0 {
                charges.push(prices.charge_text(&id, entry.usage.input_tokens, entry.usage.output_tokens));
            }
            for ((w, h, quality), n) in &entry.images {
                charges.push(prices.charge_images(&id, *n, *w, *h, quality));
            }
            let mut priced = true;
            let mut priced_as = None;
            for charge in charges {
                match charge {
                    Charge::Usd { usd, priced_as: key } => {
                        line.usd += usd;
                        priced_as = Some(key);
                    }
                    Charge::Free => {
                        if provider == "offline" {
                            notes.insert(
                                "offline provider: drafts and pictures made without a model cost 0".to_string(),
                            );
                        }
                    }
                    Charge::Unpriced { note } => {
                        priced = false;
                        notes.insert(note);
                    }
                }
            }
            let order = STAGE_ORDER.iter().position(|s| s == stage).unwrap_or(STAGE_ORDER.len());
            let stage_cost = stages.entry((order, stage.clone())).or_insert_with(|| StageCost {
                stage: stage.clone(),
                line: CostLine::default(),
                models: Vec::new(),
            });
            stage_cost.line.add(&line);
            stage_cost.models.push(ModelCost {
                provider: provider.clone(),
                model: model.clone(),
                priced_as,
                line: line.rounded(),
                priced,
            });
        }
        let mut total = CostLine::default();
        let stages: Vec<StageCost> = stages
            .into_values()
            .map(|mut s| {
                total.add(&s.line);
                s.line = s.line.rounded();
                s
            })
            .collect();
        let complete = stages.iter().flat_map(|s| &s.models).all(|m| m.priced);
        CostReport {
            currency: CURRENCY.to_string(),
            prices: prices.info().clone(),
            stages,
            total: total.rounded(),
            complete,
            notes: notes.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(provider: &str, model: &str) -> ModelId {
        ModelId { provider: provider.into(), model: model.into() }
    }

    #[test]
    fn a_report_prices_each_stage_and_model_and_sums_them() {
        let sonnet = id("bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0");
        let canvas = id("bedrock", "amazon.nova-canvas-v1:0");
        let mut ledger = CostLedger::new();
        ledger.add_text("VisualPlanner", &sonnet, &Usage { input_tokens: 1000, output_tokens: 500, calls: 2 });
        ledger.add_text("ContentGen", &sonnet, &Usage { input_tokens: 3000, output_tokens: 10_000, calls: 3 });
        ledger.add_images("ImagesGen", &canvas, 5, 1024, 1024, "standard");
        ledger.add_images("ImagesGen", &id("local", "diagram-svg-v1"), 0, 1024, 1024, "standard");
        let r = ledger.report(&Prices::built_in());
        let names: Vec<&str> = r.stages.iter().map(|s| s.stage.as_str()).collect();
        assert_eq!(names, ["ContentGen", "VisualPlanner", "ImagesGen"]);
        let content = 3.0 * 0.003 + 10.0 * 0.015;
        let plans = 0.003 + 0.5 * 0.015;
        assert!((r.stages[0].line.usd - content).abs() < 1e-9);
        assert!((r.stages[1].line.usd - plans).abs() < 1e-9);
        assert!((r.stages[2].line.usd - 0.2).abs() < 1e-9);
        assert_eq!(r.stages[2].line.images, 5);
        assert!((r.total.usd - (content + plans + 0.2)).abs() < 1e-9);
        assert_eq!(r.total.calls, 10);
        assert_eq!(r.stages[0].models[0].priced_as.as_deref(), Some("anthropic.claude-sonnet-4-20250514-v1:0"));
        assert!(r.complete && r.notes.is_empty(), "{r:?}");
        assert_eq!(r.currency, "USD");
    }

    #[test]
    fn an_unpriced_model_is_flagged_never_a_silent_zero() {
        let mut ledger = CostLedger::new();
        ledger.add_text("ContentGen", &id("openai", "gpt-x"), &Usage { input_tokens: 10, output_tokens: 10, calls: 1 });
        ledger.add_text(
            "ContentGen",
            &id("offline", "offline-draft-v1"),
            &Usage { input_tokens: 10, output_tokens: 10, calls: 1 },
        );
        let r = ledger.report(&Prices::built_in());
        assert!(!r.complete);
        assert!(
            r.notes.iter().any(|n| n.contains("no price for model gpt-x") && n.contains("--prices")),
            "{:?}",
            r.notes
        );
        assert!(r.notes.iter().any(|n| n.contains("offline provider") && n.contains("cost 0")), "{:?}", r.notes);
        let gpt = r.stages[0].models.iter().find(|m| m.model == "gpt-x").unwrap();
        assert!(!gpt.priced && gpt.priced_as.is_none());
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["stages"][0]["input_tokens"], 20, "stage lines are flat: {json}");
        assert_eq!(json["complete"], false);
    }
}
