//! The `coursegen` command line as a user runs it: `run`, `validate` and `sfn run`, their exit
//! codes, what they print and what they write.

use std::path::Path;

use crate::support::{
    self, coursegen, example, files_under, is_absent_or_empty, outputs_under, project_folder_of, OutlineCounts,
};
use serde_json::{json, Value};

const OK: i32 = 0;
const FAILED: i32 = 1;
const BAD_INPUT: i32 = 2;

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[test]
fn readme_quick_start_builds_the_book_and_a_manifest_that_matches_the_outline() {
    let tmp = tempfile::tempdir().unwrap();
    let outline = example("kubernetes-devops.yaml");
    let out = tmp.path().join("tmp");
    coursegen(tmp.path(), &["run", path_str(&outline), "--content", "both", "--out", path_str(&out)]).expect_code(OK);

    let course = out.join(project_folder_of(&outline));
    for file in ["book/index.html", "book/course.epub", "book/course.md", "book/manifest.json"] {
        let path = course.join(file);
        let len = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{file}: {e}")).len();
        assert!(len > 0, "{file} is empty");
    }
    let counts = OutlineCounts::of(&outline);
    let manifest = support::read_json(&course.join("book/manifest.json"));
    let totals = &manifest["totals"];
    assert_eq!(counts.lessons(), 12, "the example outline has 12 lessons");
    assert_eq!(totals["lessons"], 12);
    assert_eq!(totals["modules"], counts.modules);
    assert!(counts.labs > 0);
    assert_eq!(totals["labs"], counts.labs, "one lab guide per lab activity of the outline");
    let images = outputs_under(&course.join("images"));
    assert!(!images.is_empty());
    assert_eq!(totals["images"], images.len(), "manifest images vs files under images/: {images:?}");
    assert_eq!(manifest["failures"], json!([]));
    // Every lesson file is in the manifest and on disk.
    let lessons = outputs_under(&course.join("lessons"));
    assert_eq!(lessons.len(), 12, "{lessons:?}");
    let labs: Vec<String> =
        outputs_under(&course.join("labs")).into_iter().filter(|f| f.starts_with("module-")).collect();
    assert_eq!(labs.len(), counts.labs, "{labs:?}");
}

#[test]
fn spanish_example_builds_a_book_marked_as_spanish() {
    let tmp = tempfile::tempdir().unwrap();
    let outline = example("analisis-datos-python.yaml");
    let counts = OutlineCounts::of(&outline);
    assert_eq!(counts.language, "es");
    coursegen(tmp.path(), &["run", path_str(&outline), "--out", "out"]).expect_code(OK);
    let course = tmp.path().join("out").join(project_folder_of(&outline));
    let html = std::fs::read_to_string(course.join("book/index.html")).unwrap();
    assert!(html.contains(r#"<html lang="es""#), "{}", &html[..html.len().min(300)]);
    let manifest = support::read_json(&course.join("book/manifest.json"));
    assert_eq!(manifest["language"], "es");
    assert_eq!(manifest["totals"]["lessons"], counts.lessons());
}

/// Runs `coursegen run ARGS --out OUT` and checks it exits 2, says why, and writes nothing:
/// OUT stays absent when it was absent and empty when it existed empty.
fn assert_bad_input_writes_nothing(args: &[&str], expected_in_stderr: &str) {
    for pre_create in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        if pre_create {
            std::fs::create_dir(&out).unwrap();
        }
        let mut full: Vec<&str> = vec!["run"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--out", path_str(&out)]);
        let result = coursegen(tmp.path(), &full);
        result.expect_code(BAD_INPUT);
        assert!(
            result.stderr.contains(expected_in_stderr),
            "stderr does not mention {expected_in_stderr:?}:\n{}",
            result.stderr
        );
        assert!(is_absent_or_empty(&out), "bad input wrote {:?}", files_under(&out));
        assert_eq!(out.exists(), pre_create);
        // Nothing next to it either (no default ./out, no history, no stray files).
        let others: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "out" && !n.ends_with(".yaml"))
            .collect();
        assert!(others.is_empty(), "bad input wrote {others:?}");
        assert!(result.stdout.is_empty(), "stdout: {}", result.stdout);
    }
}

#[test]
fn malformed_yaml_exits_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.yaml");
    std::fs::write(&bad, "course:\n  title: [unclosed\nmodules: {\n").unwrap();
    assert_bad_input_writes_nothing(&[path_str(&bad)], "invalid YAML");
}

#[test]
fn unknown_module_in_selection_exits_2_and_writes_nothing() {
    let outline = example("kubernetes-devops.yaml");
    assert_bad_input_writes_nothing(&[path_str(&outline), "--modules", "1,9"], "module 9 does not exist");
}

#[test]
fn unsafe_project_folder_exits_2_and_writes_nothing() {
    let outline = example("kubernetes-devops.yaml");
    assert_bad_input_writes_nothing(&[path_str(&outline), "--project", "../x"], "project_folder");
}

#[test]
fn unknown_content_type_exits_2_and_writes_nothing() {
    let outline = example("kubernetes-devops.yaml");
    assert_bad_input_writes_nothing(&[path_str(&outline), "--content", "wrong"], "content_type");
}

#[test]
fn labs_for_an_outline_without_lab_activities_exit_2_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let outline = dir.path().join("no-labs.yaml");
    std::fs::write(&outline, support::outline_yaml("No Labs Here", 2, 2, 0, 30)).unwrap();
    // The same outline is fine for theory.
    coursegen(dir.path(), &["validate", path_str(&outline)]).expect_code(OK);
    for content in ["labs", "both"] {
        assert_bad_input_writes_nothing(&[path_str(&outline), "--content", content], "lab_activities");
    }
}

#[test]
fn missing_outline_file_exits_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.yaml");
    assert_bad_input_writes_nothing(&[path_str(&missing)], "cannot read");
}

#[test]
fn validate_reports_every_problem_with_its_path() {
    let tmp = tempfile::tempdir().unwrap();
    let outline = tmp.path().join("three.yaml");
    std::fs::write(
        &outline,
        r#"course:
  title: ""
  language: en
modules:
  - title: Basics
    lessons:
      - title: ""
        topics: [one]
  - title: More
    lessons:
      - title: Fine
        duration_minutes: -5
"#,
    )
    .unwrap();
    let result = coursegen(tmp.path(), &["validate", path_str(&outline)]);
    result.expect_code(BAD_INPUT);
    for path in ["course.title", "modules[0].lessons[0].title", "modules[1].lessons[0].duration_minutes"] {
        assert!(result.stderr.contains(path), "{path} missing from:\n{}", result.stderr);
    }
    assert!(result.stderr.contains("3 problems"), "{}", result.stderr);
    assert_eq!(files_under(tmp.path()), vec!["three.yaml"], "validate wrote something");
}

#[test]
fn validate_reports_request_problems_alongside_outline_problems() {
    let tmp = tempfile::tempdir().unwrap();
    let outline = tmp.path().join("broken.yaml");
    std::fs::write(&outline, "course:\n  title: \"\"\nmodules: []\n").unwrap();
    let result =
        coursegen(tmp.path(), &["validate", path_str(&outline), "--content", "slides", "--project", "../escape"]);
    result.expect_code(BAD_INPUT);
    for needle in ["course.title", "content_type", "project_folder"] {
        assert!(result.stderr.contains(needle), "{needle} missing from:\n{}", result.stderr);
    }
    assert_eq!(files_under(tmp.path()), vec!["broken.yaml"], "validate wrote something");
}

#[test]
fn validate_accepts_the_examples_and_writes_nothing() {
    for (name, content) in [("kubernetes-devops.yaml", "both"), ("analisis-datos-python.yaml", "theory")] {
        let tmp = tempfile::tempdir().unwrap();
        let outline = example(name);
        let counts = OutlineCounts::of(&outline);
        let result = coursegen(tmp.path(), &["validate", path_str(&outline), "--content", content]);
        result.expect_code(OK);
        assert!(result.stdout.starts_with("ok:"), "{}", result.stdout);
        assert!(result.stdout.contains(&format!("{} lessons", counts.lessons())), "{}", result.stdout);
        assert!(is_absent_or_empty(tmp.path()), "validate wrote {:?}", files_under(tmp.path()));
    }
}

/// A small definition with Pass, Choice, Map (with ItemSelector and the Map context) and Fail.
const SMALL_DEFINITION: &str = r#"{
  "Comment": "doubles numbers when asked to",
  "StartAt": "Init",
  "States": {
    "Init": {"Type": "Pass", "Parameters": {"items.$": "$.items", "mode.$": "$.mode"}, "Next": "Route"},
    "Route": {
      "Type": "Choice",
      "Choices": [{"Variable": "$.mode", "StringEquals": "double", "Next": "Each"}],
      "Default": "Refuse"
    },
    "Refuse": {"Type": "Fail", "Error": "BadMode", "Cause": "mode must be double"},
    "Each": {
      "Type": "Map",
      "ItemsPath": "$.items",
      "MaxConcurrency": 2,
      "ItemSelector": {"v.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"},
      "ItemProcessor": {
        "StartAt": "Double",
        "States": {
          "Double": {"Type": "Pass", "Parameters": {"i.$": "$.i", "sum.$": "States.MathAdd($.v, $.v)"}, "End": true}
        }
      },
      "ResultPath": "$.doubled",
      "Next": "Done"
    },
    "Done": {"Type": "Succeed"}
  }
}"#;

fn sfn_run(definition: &str, input: &Value) -> support::Outcome {
    let tmp = tempfile::tempdir().unwrap();
    let def = tmp.path().join("machine.asl.json");
    let inp = tmp.path().join("input.json");
    std::fs::write(&def, definition).unwrap();
    std::fs::write(&inp, input.to_string()).unwrap();
    coursegen(tmp.path(), &["sfn", "run", path_str(&def), "--input", path_str(&inp)])
}

#[test]
fn sfn_run_prints_only_the_output_json_on_stdout() {
    let result = sfn_run(SMALL_DEFINITION, &json!({"items": [1, 2, 3], "mode": "double"}));
    result.expect_code(OK);
    assert_eq!(
        result.stdout_json(),
        json!({
            "items": [1, 2, 3],
            "mode": "double",
            "doubled": [{"i": 0, "sum": 2}, {"i": 1, "sum": 4}, {"i": 2, "sum": 6}]
        })
    );
}

#[test]
fn sfn_run_reports_a_fail_state_as_error_and_cause_and_exits_1() {
    let result = sfn_run(SMALL_DEFINITION, &json!({"items": [1], "mode": "triple"}));
    result.expect_code(FAILED);
    assert_eq!(result.stdout_json(), json!({"error": "BadMode", "cause": "mode must be double"}));
}

#[test]
fn sfn_run_rejects_an_unsupported_field_naming_the_state_and_field() {
    let definition =
        SMALL_DEFINITION.replace(r#""MaxConcurrency": 2,"#, r#""MaxConcurrency": 2, "ToleratedFailurePercentage": 5,"#);
    assert_ne!(definition, SMALL_DEFINITION);
    let result = sfn_run(&definition, &json!({"items": [1], "mode": "double"}));
    result.expect_code(BAD_INPUT);
    assert!(result.stdout.is_empty(), "stdout: {}", result.stdout);
    assert!(result.stderr.contains("\"Each\""), "state not named:\n{}", result.stderr);
    assert!(result.stderr.contains("ToleratedFailurePercentage"), "field not named:\n{}", result.stderr);
}

#[test]
fn json_summary_reports_model_calls_stages_and_the_critical_path() {
    let tmp = tempfile::tempdir().unwrap();
    let outline = example("kubernetes-devops.yaml");
    let result = coursegen(tmp.path(), &["run", path_str(&outline), "--modules", "2", "--out", "out", "--json"]);
    result.expect_code(OK);
    let summary = result.stdout_json();
    assert_eq!(summary["status"], "SUCCEEDED");
    let lessons = OutlineCounts::of(&outline).lessons_per_module[1] as u64;
    // One lesson call, one visual plan and one quiz per lesson; the offline provider draws
    // illustrations.
    assert_eq!(summary["model_calls"]["text"].as_u64(), Some(3 * lessons), "{summary:#}");
    assert!(summary["model_calls"]["image"].as_u64().is_some(), "{summary:#}");
    let stages = summary["stages"].as_object().expect("stages");
    for stage in ["PrepareCourse", "ContentGen", "VisualPlanner", "ImagesGen", "BookBuilder"] {
        assert!(stages.contains_key(stage), "{stage} missing from {stages:?}");
    }
    assert_eq!(stages["VisualPlanner"]["runs"].as_u64(), Some(lessons));
    let path: Vec<&str> = summary["critical_path"]
        .as_array()
        .expect("critical_path")
        .iter()
        .map(|s| s["state"].as_str().expect("state"))
        .collect();
    assert_eq!(path.first(), Some(&"PrepareCourse"), "{path:?}");
    assert_eq!(path.last(), Some(&"BookBuilder"), "{path:?}");
    assert!(path.contains(&"ContentGen"), "{path:?}");
    assert_eq!(summary["result"]["lesson_count"].as_u64(), Some(lessons));
}

#[test]
fn a_bad_price_file_is_bad_input_that_names_the_field_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let prices = dir.path().join("prices.json");
    std::fs::write(
        &prices,
        r#"{"models": {"anthropic.claude-sonnet-4-20250514-v1:0": {"input_per_1k_tokens": 0.003, "output_per_1k_tokens": -0.015}}}"#,
    )
    .unwrap();
    let outline = example("kubernetes-devops.yaml");
    assert_bad_input_writes_nothing(
        &[path_str(&outline), "--prices", path_str(&prices)],
        r#"models["anthropic.claude-sonnet-4-20250514-v1:0"].output_per_1k_tokens: -0.015 is negative"#,
    );
    std::fs::write(&prices, r#"{"model": {}}"#).unwrap();
    assert_bad_input_writes_nothing(
        &[path_str(&outline), "--prices", path_str(&prices)],
        "model: unknown field; did you mean models?",
    );
    // The environment's price file is checked the same way.
    let out = dir.path().join("out");
    let run = support::command(dir.path(), &["run", path_str(&outline), "--out", path_str(&out)])
        .env("COURSEGEN_PRICES", dir.path().join("missing.json"))
        .output()
        .unwrap();
    let run: support::Outcome = run.into();
    run.expect_code(BAD_INPUT);
    assert!(run.stderr.contains("COURSEGEN_PRICES=") && run.stderr.contains("cannot read the file"), "{}", run.stderr);
    assert!(!out.exists());
}

#[test]
fn quota_flags_of_zero_are_rejected_with_the_rule() {
    let outline = example("kubernetes-devops.yaml");
    let dir = tempfile::tempdir().unwrap();
    for (flag, what) in [("--rpm", "requests"), ("--tpm", "tokens")] {
        let out = coursegen(dir.path(), &["validate", path_str(&outline), "--estimate", flag, "0"]);
        out.expect_code(BAD_INPUT);
        assert!(
            out.stderr.contains(&format!("{flag} is {what} per minute and must be at least 1")),
            "{flag}: {}",
            out.stderr
        );
        let out = coursegen(dir.path(), &["validate", path_str(&outline), "--estimate", flag, "many"]);
        out.expect_code(BAD_INPUT);
        assert!(out.stderr.contains("takes a whole number"), "{}", out.stderr);
    }
    // A quota without --estimate has nothing to apply to.
    coursegen(dir.path(), &["validate", path_str(&outline), "--rpm", "5"]).expect_code(BAD_INPUT);
    assert!(is_absent_or_empty(&dir.path().join("out")));
}

#[test]
fn validate_estimates_calls_cost_and_the_quota_time_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let outline = example("kubernetes-devops.yaml");
    let out = coursegen(
        dir.path(),
        &["validate", path_str(&outline), "--modules", "1,2", "--estimate", "--rpm", "6", "--tpm", "100000", "--json"],
    );
    out.expect_code(OK);
    let v = out.stdout_json();
    let est = &v["estimate"];
    let lessons: u64 = OutlineCounts::of(&outline).lessons_per_module[..2].iter().sum::<usize>() as u64;
    let row = |call: &str| est["calls"].as_array().unwrap().iter().find(|r| r["call"] == call).unwrap().clone();
    assert_eq!(row("Lesson")["calls"], lessons);
    assert_eq!(row("Lesson")["stage"], "ContentGen");
    assert_eq!(row("VisualPlan")["calls"], lessons);
    assert_eq!(row("Quiz")["stage"], "VisualPlanner");
    assert!(row("Image")["images"].as_u64().unwrap() > 0);
    assert!(row("Lesson")["model"].as_str().unwrap().contains("claude-sonnet-4"), "Bedrock's default text model");
    let cost = &est["cost"];
    assert_eq!(cost["currency"], "USD");
    assert_eq!(cost["prices"]["source"], "https://aws.amazon.com/bedrock/pricing/");
    assert!(cost["total"]["usd"].as_f64().unwrap() > 0.0);
    let stages: Vec<&str> = cost["stages"].as_array().unwrap().iter().map(|s| s["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["ContentGen", "VisualPlanner", "ImagesGen"], "theory only");
    // The quota time: the slower of (input + 5 × output) ÷ TPM and calls ÷ RPM.
    let q = &est["quota"][0];
    assert_eq!(q["source"], "--rpm/--tpm");
    assert_eq!(q["output_burndown"], 5);
    let text_calls: u64 = est["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["images"] == 0)
        .map(|r| r["calls"].as_u64().unwrap())
        .sum();
    let (input, output): (u64, u64) =
        est["calls"].as_array().unwrap().iter().filter(|r| r["images"] == 0).fold((0, 0), |a, r| {
            (a.0 + r["input_tokens"].as_u64().unwrap(), a.1 + r["output_tokens"].as_u64().unwrap())
        });
    assert_eq!(q["quota_tokens"], input + 5 * output);
    let expected = (text_calls as f64 / 6.0).max((input + 5 * output) as f64 / 100_000.0) * 60.0;
    assert!((q["seconds"].as_f64().unwrap() - expected).abs() < 1e-6, "{q} vs {expected}");
    assert!(files_under(dir.path()).is_empty(), "validate wrote {:?}", files_under(dir.path()));

    // The text form prints the same figures, and the environment's quota too.
    let text = support::command(dir.path(), &["validate", path_str(&outline), "--estimate"])
        .env("BEDROCK_RPM", "20")
        .output()
        .unwrap();
    let text: support::Outcome = text.into();
    text.expect_code(OK);
    assert!(text.stdout.contains("ContentGen    Lesson"), "{}", text.stdout);
    assert!(text.stdout.contains("quota time (environment"), "{}", text.stdout);
    assert!(text.stdout.contains("as of "), "{}", text.stdout);
}

#[test]
fn a_price_override_changes_the_estimate_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let prices = dir.path().join("cheap.json");
    std::fs::write(
        &prices,
        r#"{"as_of": "2030-01-01", "models": {
            "anthropic.claude-sonnet-4-20250514-v1:0": {"input_per_1k_tokens": 0, "output_per_1k_tokens": 0},
            "amazon.nova-canvas-v1:0": {"per_image": [{"quality": "standard", "up_to": "1024x1024", "usd": 1}]}}}"#,
    )
    .unwrap();
    let outline = example("kubernetes-devops.yaml");
    let out =
        coursegen(dir.path(), &["validate", path_str(&outline), "--estimate", "--json", "--prices", path_str(&prices)]);
    out.expect_code(OK);
    let est = &out.stdout_json()["estimate"];
    assert_eq!(est["cost"]["prices"]["overridden"], true);
    assert_eq!(est["cost"]["prices"]["as_of"], "2030-01-01");
    let images = est["cost"]["total"]["images"].as_f64().unwrap();
    assert!((est["cost"]["total"]["usd"].as_f64().unwrap() - images).abs() < 1e-9, "only images cost: {est}");
}

#[test]
fn an_unpriced_model_is_named_in_the_estimate_and_never_free() {
    let dir = tempfile::tempdir().unwrap();
    let outline = example("kubernetes-devops.yaml");
    let out = support::command(dir.path(), &["validate", path_str(&outline), "--estimate", "--json"])
        .env("TEXT_MODEL_ID", "meta.llama-unknown-v9")
        .output()
        .unwrap();
    let out: support::Outcome = out.into();
    out.expect_code(OK);
    let est = &out.stdout_json()["estimate"];
    assert_eq!(est["cost"]["complete"], false);
    let notes = est["cost"]["notes"].to_string();
    assert!(notes.contains("no price for model meta.llama-unknown-v9") && notes.contains("--prices"), "{notes}");
    let lesson = est["calls"].as_array().unwrap().iter().find(|r| r["call"] == "Lesson").unwrap();
    assert!(lesson["usd"].is_null(), "{lesson}");
}

#[test]
fn an_offline_run_shows_the_estimate_and_a_manifest_cost_of_zero_that_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let outline = example("analisis-datos-python.yaml");
    let run = coursegen(dir.path(), &["run", path_str(&outline), "--out", "out", "--json"]);
    run.expect_code(OK);
    assert!(run.stderr.contains("estimate (no model called"), "{}", run.stderr);
    let summary = run.stdout_json();
    assert_eq!(summary["estimate"]["cost"]["total"]["usd"], 0.0);
    let cost = &summary["cost"];
    assert_eq!(cost["total"]["usd"], 0.0);
    assert!(cost["total"]["output_tokens"].as_u64().unwrap() > 0);
    assert!(cost["notes"].to_string().contains("offline provider"), "{cost}");
    let manifest =
        support::read_json(&dir.path().join("out").join(project_folder_of(&outline)).join("book/manifest.json"));
    assert_eq!(&manifest["cost"], cost);
}
