//! One module whose model calls are refused for good (a content filter): the other modules
//! finish, the book is built with the missing module marked, the run ends in
//! `CourseIncomplete`; the same command, once the refusal is gone, fills in only that module.

use std::collections::BTreeMap;

use crate::support::{assert_complete_book, dir_keys, hermetic_coursegen, outline, sim_stats, stat, FileState};
use coursegen_core::contracts::Manifest;

const PROJECT: &str = "five-modules";
const REFUSED: &str = "Forbidden Topic";

/// Five modules of two lessons; lesson 3.2's title holds the refused text.
fn five_module_outline() -> String {
    let mut yaml = String::from(
        "course:\n  title: Five Modules\n  description: Five modules, one of them refused.\n  language: en\nmodules:\n",
    );
    for m in 1..=5 {
        yaml.push_str(&format!("  - title: Module {m} basics\n    lessons:\n"));
        for l in 1..=2 {
            let title =
                if (m, l) == (3, 2) { format!("{REFUSED} in depth") } else { format!("Topic {m}{l} explained") };
            yaml.push_str(&format!("      - title: {title}\n        topics: [Alpha, Beta]\n"));
        }
    }
    yaml
}

fn run_args() -> Vec<&'static str> {
    vec!["run", "outline.yaml", "--provider", "bedrock", "--out", "out", "--json"]
}

/// Every lesson, prompt and image file (sidecars included) of modules other than 3.
fn other_modules(root: &std::path::Path) -> BTreeMap<String, FileState> {
    crate::support::snapshot(&root.join(PROJECT))
        .into_iter()
        .filter(|(path, _)| {
            ["lessons/", "prompts/", "images/"].iter().any(|p| path.starts_with(p)) && !path.contains("module-03")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_module_leaves_a_marked_partial_book_and_the_same_command_fills_in_only_that_module() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("outline.yaml"), five_module_outline()).unwrap();
    let root = dir.path().join("out");
    let manifest_path = root.join(PROJECT).join("book/manifest.json");

    // First run: module 3 is refused every time.
    let refusing =
        bedrock_sim::start(bedrock_sim::Config { refuse_containing: Some(REFUSED.into()), ..Default::default() })
            .await
            .unwrap();
    let env = vec![("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", refusing.endpoint_url())];
    let first = hermetic_coursegen(dir.path(), &run_args(), &env).await;
    first.expect_code(1);
    let summary = first.stdout_json();
    assert_eq!(summary["error"], "CourseIncomplete", "{summary:#}");
    let cause = summary["cause"].as_str().unwrap();
    assert!(cause.contains("module(s) 3 not complete"), "the cause names the module: {cause}");
    assert!(cause.contains("content_filtered"), "{cause}");
    assert!(first.stderr.lines().any(|l| l.trim() == "error: CourseIncomplete"), "{}", first.stderr);
    assert!(first.stderr.contains("failed: module 03: ContentGen failed: ModelError"), "{}", first.stderr);
    assert!(
        first.stderr.contains("module 3: ContentGen failed for good (ModelError); the others go on"),
        "progress shows the caught failure: {}",
        first.stderr
    );
    assert!(first.stderr.contains(&format!("partial book: out/{PROJECT}/book/index.html")), "{}", first.stderr);
    assert_eq!(summary["book"], format!("out/{PROJECT}/book/index.html"));
    assert!(stat(&sim_stats(&refusing), "refused") > 0);

    // The book has the other four modules complete and module 3 marked where it stands.
    let manifest: Manifest = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    assert_eq!(manifest.modules.iter().map(|m| m.module_number).collect::<Vec<_>>(), [1, 2, 4, 5]);
    assert!(manifest.modules.iter().all(|m| m.lessons.len() == 2));
    let module = manifest.failures.iter().find(|f| f.kind == "module").expect("module failure");
    assert_eq!((module.id.as_str(), module.state.as_deref()), ("03", Some("ContentGen")));
    assert_eq!(module.error.as_deref(), Some("ModelError"));
    let missing: Vec<&str> = manifest.failures.iter().filter(|f| f.kind == "lesson").map(|f| f.id.as_str()).collect();
    assert_eq!(missing, ["03-01", "03-02"]);
    assert!(manifest.failures.iter().all(|f| f.id.starts_with("03")), "{:?}", manifest.failures);
    let markdown = std::fs::read_to_string(root.join(PROJECT).join("book/course.md")).unwrap();
    let contents = markdown.split("\n## ").nth(1).unwrap_or("");
    assert!(contents.contains(&format!("{REFUSED} in depth (not generated)")), "the contents say so:\n{contents}");
    let module3 = markdown.find("Module 3 basics\n").expect("module 3 stands in the book");
    let module4 = markdown.find("Module 4 basics\n").expect("module 4 follows");
    let section = &markdown[module3..module4];
    assert_eq!(section.matches("Not generated: ModelError").count(), 2, "{section}");
    let html = std::fs::read_to_string(root.join(PROJECT).join("book/index.html")).unwrap();
    assert!(html.contains("Not generated: ModelError"), "the HTML edition marks it too");
    let before = other_modules(&root);
    assert_eq!(before.keys().filter(|k| k.starts_with("lessons/") && !k.ends_with(".meta.json")).count(), 8);
    drop(refusing);

    // Second run, the refusal gone: only module 3 is generated, and the book is complete.
    let sim = bedrock_sim::start(bedrock_sim::Config::default()).await.unwrap();
    let env = vec![("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", sim.endpoint_url())];
    let second = hermetic_coursegen(dir.path(), &run_args(), &env).await;
    second.expect_code(0);
    let manifest: Manifest = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    assert_complete_book(&manifest, &outline(&dir.path().join("outline.yaml")), &dir_keys(&root), false);
    assert_eq!(other_modules(&root), before, "no file of a finished module was rewritten");
    let stats = sim_stats(&sim);
    let module3_illustrations =
        manifest.images.iter().filter(|i| i.id.starts_with("03-") && i.key.ends_with(".png")).count() as u64;
    assert_eq!(stats["by_kind"]["text"]["calls"], 2, "one lesson call per lesson of module 3: {stats}");
    assert_eq!(stats["by_kind"]["plan"]["calls"], 4, "one visual plan and one quiz per lesson of module 3: {stats}");
    assert_eq!(stat(&stats, "images"), module3_illustrations, "module 3's illustrations only: {stats}");
    assert_eq!(stat(&stats, "requests"), 6 + module3_illustrations, "{stats}");
    assert!(!markdown_has_marks(&root), "no stand-in is left in the complete book");
}

fn markdown_has_marks(root: &std::path::Path) -> bool {
    std::fs::read_to_string(root.join(PROJECT).join("book/course.md")).unwrap().contains("not generated")
}
