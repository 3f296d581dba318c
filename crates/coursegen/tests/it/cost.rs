//! What a course costs: `validate --estimate` against what a run through Bedrock (the
//! simulator, on loopback) records in its manifest, for both example outlines; and the
//! manifest's cost against its own tokens times the table's prices.

use crate::support::{example, hermetic_coursegen, project_folder_of, read_json};
use serde_json::Value;

/// Claude Sonnet 4 (the default text model) and Nova Canvas at 1024 × 1024, standard quality,
/// from the built-in table: USD per 1,000 input tokens, per 1,000 output tokens, per image.
const SONNET_IN: f64 = 0.003;
const SONNET_OUT: f64 = 0.015;
const CANVAS: f64 = 0.04;

/// The estimate may be this far from what the run measures, either way.
const TOLERANCE: f64 = 0.25;

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Predicted (input, output, images, usd) of `stage` (all stages when `None`).
fn predicted(estimate: &Value, stage: Option<&str>) -> (u64, u64, u64, f64) {
    let rows = estimate["calls"].as_array().expect("estimate rows");
    rows.iter().filter(|r| stage.is_none_or(|s| r["stage"] == s)).fold((0, 0, 0, 0.0), |acc, r| {
        (acc.0 + u(&r["input_tokens"]), acc.1 + u(&r["output_tokens"]), acc.2 + u(&r["images"]), acc.3 + f(&r["usd"]))
    })
}

/// Measured (input, output, images, usd) of `stage` (all when `None`) in a manifest's cost.
fn measured(cost: &Value, stage: Option<&str>) -> (u64, u64, u64, f64) {
    let lines: Vec<&Value> = match stage {
        None => vec![&cost["total"]],
        Some(s) => cost["stages"].as_array().unwrap().iter().filter(|l| l["stage"] == s).collect(),
    };
    lines.iter().fold((0, 0, 0, 0.0), |acc, l| {
        (acc.0 + u(&l["input_tokens"]), acc.1 + u(&l["output_tokens"]), acc.2 + u(&l["images"]), acc.3 + f(&l["usd"]))
    })
}

fn ratio(estimated: f64, actual: f64) -> f64 {
    if actual == 0.0 {
        if estimated == 0.0 {
            1.0
        } else {
            f64::INFINITY
        }
    } else {
        estimated / actual
    }
}

/// Checks every stage and model line of a manifest's cost against its tokens and images times
/// the table's prices, and the total against the stages.
fn assert_cost_is_tokens_times_prices(cost: &Value) {
    assert_eq!(cost["currency"], "USD");
    assert_eq!(cost["complete"], true, "{cost}");
    let mut sum = 0.0;
    for stage in cost["stages"].as_array().unwrap() {
        let mut stage_sum = 0.0;
        for m in stage["models"].as_array().unwrap() {
            let expected = u(&m["input_tokens"]) as f64 / 1000.0 * SONNET_IN
                + u(&m["output_tokens"]) as f64 / 1000.0 * SONNET_OUT
                + u(&m["images"]) as f64 * CANVAS;
            assert!((f(&m["usd"]) - expected).abs() < 1e-6, "{m}: expected {expected}");
            stage_sum += expected;
        }
        assert!((f(&stage["usd"]) - stage_sum).abs() < 1e-6, "{stage}");
        sum += stage_sum;
    }
    assert!((f(&cost["total"]["usd"]) - sum).abs() < 1e-6, "total {} vs {sum}", cost["total"]["usd"]);
}

/// Estimate, run against the simulator, and compare, for one example outline.
async fn estimate_against_a_simulated_run(outline_file: &str) {
    let sim = bedrock_sim::start(bedrock_sim::Config { seed: 1, ..Default::default() }).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let outline = example(outline_file);
    let outline_arg = outline.to_str().unwrap();
    let env = vec![("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", sim.endpoint_url())];

    let validate =
        hermetic_coursegen(dir.path(), &["validate", outline_arg, "--content", "both", "--estimate", "--json"], &env)
            .await;
    validate.expect_code(0);
    let estimate = validate.stdout_json()["estimate"].clone();
    assert!(dir.path().read_dir().unwrap().all(|e| e.unwrap().file_name() != "out"), "validate writes nothing");

    let run = hermetic_coursegen(
        dir.path(),
        &["run", outline_arg, "--content", "both", "--provider", "bedrock", "--out", "out", "--json"],
        &env,
    )
    .await;
    run.expect_code(0);
    let summary = run.stdout_json();
    assert_eq!(summary["estimate"], estimate, "run shows the same estimate as validate");
    assert!(run.stderr.contains("estimate (no model called"), "run prints the estimate first:\n{}", run.stderr);

    let manifest = read_json(&dir.path().join("out").join(project_folder_of(&outline)).join("book/manifest.json"));
    let cost = &manifest["cost"];
    assert_eq!(&summary["cost"], cost, "run's summary carries the manifest's cost");
    assert_cost_is_tokens_times_prices(cost);
    assert_eq!(u(&cost["total"]["input_tokens"]), u(&manifest["usage"]["input_tokens"]));
    assert_eq!(u(&cost["total"]["output_tokens"]), u(&manifest["usage"]["output_tokens"]));

    let mut report = vec![format!("{outline_file}: estimate / measured")];
    for stage in
        [None, Some("ContentGen"), Some("VisualPlanner"), Some("ImagesGen"), Some("LabPlanner"), Some("LabWriter")]
    {
        let (pi, po, pimg, pusd) = predicted(&estimate, stage);
        let (mi, mo, mimg, musd) = measured(cost, stage);
        report.push(format!(
            "  {:<13} tokens {:>6} / {:>6} = {:.2}  (in {:.2}, out {:.2})  images {:>2} / {:>2}  usd {:.3} / {:.3} = {:.2}",
            stage.unwrap_or("total"),
            pi + po,
            mi + mo,
            ratio((pi + po) as f64, (mi + mo) as f64),
            ratio(pi as f64, mi as f64),
            ratio(po as f64, mo as f64),
            pimg,
            mimg,
            pusd,
            musd,
            ratio(pusd, musd)
        ));
    }
    eprintln!("{}", report.join("\n"));

    let (pi, po, _, pusd) = predicted(&estimate, None);
    let (mi, mo, _, musd) = measured(cost, None);
    let tokens = ratio((pi + po) as f64, (mi + mo) as f64);
    let usd = ratio(pusd, musd);
    let within = |r: f64| (1.0 - TOLERANCE..=1.0 + TOLERANCE).contains(&r);
    assert!(within(tokens), "tokens estimate/measured = {tokens:.3}\n{}", report.join("\n"));
    assert!(within(usd), "cost estimate/measured = {usd:.3}\n{}", report.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_english_examples_estimate_is_within_a_quarter_of_a_simulated_run() {
    estimate_against_a_simulated_run("kubernetes-devops.yaml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spanish_examples_estimate_is_within_a_quarter_of_a_simulated_run() {
    estimate_against_a_simulated_run("analisis-datos-python.yaml").await;
}
