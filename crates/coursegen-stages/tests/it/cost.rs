//! The manifest's `cost`: every stage's tokens and images priced with the table, equal to what
//! the models reported times the published prices; unpriced models flagged, the offline
//! provider free, an override applied.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use coursegen_core::cost::CostReport;
use coursegen_core::prices::Prices;
use coursegen_core::{
    ImageModel, ImageRequest, ImageResponse, ModelId, StageResult, TextModel, TextRequest, TextResponse, TextTask,
    Usage,
};
use coursegen_stages::offline::{OfflineImage, OfflineText};
use serde_json::json;

use crate::support::*;

const SONNET_PROFILE: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
/// Claude Sonnet 4 in the built-in table, USD per 1,000 tokens.
const SONNET_IN: f64 = 0.003;
const SONNET_OUT: f64 = 0.015;
/// Nova Canvas, standard quality, up to 1024 × 1024 / up to 2048 × 2048.
const CANVAS_1K: f64 = 0.04;
const CANVAS_2K: f64 = 0.06;

/// The offline drafts under another model's name, with every reported usage kept per task.
struct Reporting {
    id: ModelId,
    seen: Mutex<HashMap<TextTask, Usage>>,
}

impl Reporting {
    fn new(model: &str) -> Arc<Self> {
        Arc::new(Reporting { id: ModelId { provider: "bedrock".into(), model: model.into() }, seen: Mutex::default() })
    }
    fn reported(&self, task: TextTask) -> Usage {
        self.seen.lock().unwrap().get(&task).copied().unwrap_or_default()
    }
}

#[async_trait]
impl TextModel for Reporting {
    fn id(&self) -> ModelId {
        self.id.clone()
    }
    async fn generate(&self, request: &TextRequest) -> StageResult<TextResponse> {
        let mut response = OfflineText.generate(request).await?;
        // Distinct, uneven numbers per call, so a wrong split between stages shows.
        response.usage.input_tokens += 7 * request.prompt.len() as u64 % 113;
        self.seen.lock().unwrap().entry(request.task).or_default().add(&response.usage);
        Ok(response)
    }
}

/// Offline pictures under Nova Canvas's name, counted.
struct Canvas(Mutex<u64>);

#[async_trait]
impl ImageModel for Canvas {
    fn id(&self) -> ModelId {
        ModelId { provider: "bedrock".into(), model: "amazon.nova-canvas-v1:0".into() }
    }
    async fn generate(&self, request: &ImageRequest) -> StageResult<ImageResponse> {
        *self.0.lock().unwrap() += 1;
        OfflineImage.generate(request).await
    }
}

fn stage<'a>(cost: &'a CostReport, name: &str) -> &'a coursegen_core::cost::StageCost {
    cost.stages.iter().find(|s| s.stage == name).unwrap_or_else(|| panic!("no {name} in {cost:?}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[tokio::test]
async fn the_manifest_cost_is_every_stages_reported_tokens_and_images_times_the_table_prices() {
    let store = mem();
    let yaml = outline_yaml("Priced Course", "en", 2, 2, true);
    put_outline(store.as_ref(), "priced", &yaml).await;
    let text = Reporting::new(SONNET_PROFILE);
    let canvas = Arc::new(Canvas(Mutex::new(0)));
    let deps = deps_with(store.clone(), text.clone(), canvas.clone());
    run_all(&deps, raw_request("priced", json!("all"), "both", false)).await.unwrap();

    let manifest = manifest_of(store.as_ref(), "priced").await;
    let cost = manifest.cost.clone().expect("the manifest has a cost");
    assert_eq!(cost.currency, "USD");
    assert_eq!(cost.prices.source, "https://aws.amazon.com/bedrock/pricing/");
    assert!(!cost.prices.overridden);
    assert!(cost.complete, "{:?}", cost.notes);
    let names: Vec<&str> = cost.stages.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(names, ["ContentGen", "VisualPlanner", "ImagesGen", "LabPlanner", "LabWriter"]);

    let mut total = 0.0;
    // The quiz is written in the VisualPlanner step: its calls count there.
    for (name, tasks) in [
        ("ContentGen", &[TextTask::Lesson][..]),
        ("VisualPlanner", &[TextTask::VisualPlan, TextTask::Quiz][..]),
        ("LabPlanner", &[TextTask::LabPlan][..]),
        ("LabWriter", &[TextTask::LabGuide][..]),
    ] {
        let mut reported = Usage::default();
        for task in tasks {
            reported.add(&text.reported(*task));
        }
        let line = &stage(&cost, name).line;
        assert!(reported.calls > 0, "{name} made calls");
        assert_eq!(
            (line.calls, line.input_tokens, line.output_tokens),
            (reported.calls, reported.input_tokens, reported.output_tokens),
            "{name}: the manifest's tokens are the ones the model reported"
        );
        let usd =
            reported.input_tokens as f64 / 1000.0 * SONNET_IN + reported.output_tokens as f64 / 1000.0 * SONNET_OUT;
        assert!(close(line.usd, usd), "{name}: {} vs {usd}", line.usd);
        assert_eq!(stage(&cost, name).models[0].priced_as.as_deref(), Some("anthropic.claude-sonnet-4-20250514-v1:0"));
        total += usd;
    }
    let images = *canvas.0.lock().unwrap();
    let drawn = stage(&cost, "ImagesGen");
    assert!(images > 0);
    assert_eq!((drawn.line.images, drawn.line.calls), (images, images), "diagrams drawn locally are not images bought");
    assert!(close(drawn.line.usd, images as f64 * CANVAS_1K), "{drawn:?}");
    total += images as f64 * CANVAS_1K;
    assert!(close(cost.total.usd, total), "{} vs {total}", cost.total.usd);
    // The cost is computed from the same numbers as the manifest's usage.
    assert_eq!(
        (cost.total.input_tokens, cost.total.output_tokens, cost.total.calls),
        (manifest.usage.input_tokens, manifest.usage.output_tokens, manifest.usage.calls)
    );

    // Reusing everything calls no model and leaves the book's cost as it was.
    run_all(&deps, raw_request("priced", json!("all"), "both", false)).await.unwrap();
    assert_eq!(manifest_of(store.as_ref(), "priced").await.cost, Some(cost));
}

#[tokio::test]
async fn images_are_priced_at_their_size_and_an_override_replaces_the_table() {
    let store = mem();
    put_outline(store.as_ref(), "big", &outline_yaml("Big Pictures", "en", 1, 2, false)).await;
    let canvas = Arc::new(Canvas(Mutex::new(0)));
    let mut deps = deps_with(store.clone(), Reporting::new(SONNET_PROFILE), canvas.clone());
    deps.settings.image_width = 2048;
    deps.settings.image_height = 2048;
    let file = r#"{"as_of": "2031-05-01", "models": {
        "anthropic.claude-sonnet-4-20250514-v1:0": {"input_per_1k_tokens": 0, "output_per_1k_tokens": 0}}}"#;
    deps.settings.prices = Arc::new(Prices::with_override(file, "--prices cheap.json").unwrap());
    run_all(&deps, raw_request("big", json!("all"), "theory", false)).await.unwrap();

    let cost = manifest_of(store.as_ref(), "big").await.cost.unwrap();
    assert!(cost.prices.overridden);
    assert_eq!(cost.prices.as_of, "2031-05-01");
    assert_eq!(cost.prices.override_from.as_deref(), Some("--prices cheap.json"));
    assert_eq!(stage(&cost, "ContentGen").line.usd, 0.0, "the override made text free");
    let images = *canvas.0.lock().unwrap();
    assert!(close(cost.total.usd, images as f64 * CANVAS_2K), "2048 x 2048 costs the larger tier: {cost:?}");
}

#[tokio::test]
async fn a_model_without_a_price_is_noted_and_the_book_is_still_built() {
    let store = mem();
    put_outline(store.as_ref(), "unpriced", &outline_yaml("Unpriced", "en", 1, 1, false)).await;
    let deps = deps_with(store.clone(), Reporting::new("meta.llama-unknown-v9"), Arc::new(Canvas(Mutex::new(0))));
    let run = run_all(&deps, raw_request("unpriced", json!("all"), "theory", false)).await.unwrap();
    assert_eq!(run.book.unwrap().failed, 0);

    let cost = manifest_of(store.as_ref(), "unpriced").await.cost.unwrap();
    assert!(!cost.complete);
    assert!(
        cost.notes.iter().any(|n| n.contains("no price for model meta.llama-unknown-v9") && n.contains("--prices")),
        "{:?}",
        cost.notes
    );
    let lessons = stage(&cost, "ContentGen");
    assert!(lessons.line.output_tokens > 0 && !lessons.models[0].priced);
    assert!(stage(&cost, "ImagesGen").line.usd > 0.0, "the priced part is still counted");
}

#[tokio::test]
async fn the_offline_provider_costs_nothing_and_says_so() {
    let store = mem();
    put_outline(store.as_ref(), "free", &outline_yaml("Free", "es", 1, 2, true)).await;
    let (deps, _) = counting_deps(store.clone());
    run_all(&deps, raw_request("free", json!("all"), "both", false)).await.unwrap();

    let cost = manifest_of(store.as_ref(), "free").await.cost.unwrap();
    assert_eq!(cost.total.usd, 0.0);
    assert!(cost.total.output_tokens > 0, "the drafts' tokens are still counted");
    assert!(cost.complete);
    assert!(cost.notes.iter().any(|n| n.contains("offline provider") && n.contains("cost 0")), "{:?}", cost.notes);
}
