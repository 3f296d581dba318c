//! The whole pipeline, driven stage by stage: files, ids, book order, manifest, reuse, force,
//! determinism, languages and books that span executions.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::support::*;
use coursegen_core::{keys, BlobStore, FsStore, TextTask};
use serde_json::json;

#[tokio::test]
async fn all_stages_in_order_for_a_three_module_outline_with_labs() {
    let store = mem();
    let project = "k8s";
    let yaml = outline_yaml("Kubernetes for DevOps Engineers", "en", 3, 3, true);
    put_outline(store.as_ref(), project, &yaml).await;
    let (deps, _) = counting_deps(store.clone());
    let run = run_all(&deps, raw_request(project, json!("all"), "both", false)).await.unwrap();
    let outline = coursegen_core::parse_outline(&yaml).unwrap();

    // Every lesson exists at its key, in lesson order.
    let mut all_ids = Vec::new();
    for (mi, module) in outline.modules.iter().enumerate() {
        let m = mi as u32 + 1;
        let out = &run.content[mi];
        assert_eq!(out.module_number, m);
        for (li, lesson) in module.lessons.iter().enumerate() {
            let key = keys::lesson_key(project, m, li as u32 + 1, &lesson.title);
            assert_eq!(out.lesson_keys[li], key);
            let text = text_of(store.as_ref(), &key).await;
            assert!(!text.contains("[VISUAL: D"), "every tag rewritten to an id in {key}");
            let ids = coursegen_book::visual_ids(&text);
            assert!((3..=5).contains(&ids.len()), "{key} has {} visuals", ids.len());
            all_ids.extend(ids);
        }
    }
    // Every visual resolves to an existing image, ids unique course-wide.
    let unique: BTreeSet<&String> = all_ids.iter().collect();
    assert_eq!(unique.len(), all_ids.len(), "visual ids are unique");
    for id in &all_ids {
        let (m, _, _) = keys::parse_visual_id(id).unwrap();
        let key = &run.images[(m - 1) as usize].image_mappings[id];
        assert!(store.get(key).await.unwrap().is_some(), "{id} -> {key} exists");
    }

    // The book has every lesson title in outline order.
    let md = text_of(store.as_ref(), &keys::book_md_key(project)).await;
    let html = text_of(store.as_ref(), &keys::book_html_key(project)).await;
    for doc in [&md, &html] {
        let body_start = doc.find("Topic A of 1.1").expect("lesson text in the book");
        let mut at = body_start.saturating_sub(2000);
        for module in &outline.modules {
            for lesson in &module.lessons {
                let found = doc[at..].find(&lesson.title).unwrap_or_else(|| panic!("{} out of order", lesson.title));
                at += found + lesson.title.len();
            }
        }
    }
    assert!(store.get(&keys::book_epub_key(project)).await.unwrap().is_some());

    // Manifest counts equal what the store holds.
    let all_keys = store.keys();
    let manifest = manifest_of(store.as_ref(), project).await;
    let book = run.book.unwrap();
    assert!(manifest.failures.is_empty(), "{:?}", manifest.failures);
    assert_eq!(manifest.totals.lessons as usize, outputs_under(&all_keys, project, "lessons").len());
    assert_eq!(manifest.totals.images as usize, outputs_under(&all_keys, project, "images").len());
    assert_eq!(manifest.totals.labs as usize, outputs_under(&all_keys, project, "labs").len());
    assert_eq!(manifest.totals.lessons, 9);
    assert_eq!(manifest.totals.labs, 9);
    assert_eq!(manifest.totals.images as usize, all_ids.len());
    assert_eq!(manifest.totals.modules, 3);
    let listed_words: u64 = manifest.modules.iter().flat_map(|m| &m.lessons).map(|l| l.words).sum();
    assert_eq!(manifest.totals.words, listed_words);
    assert_eq!(
        (book.lesson_count, book.image_count, book.lab_count, book.module_count, book.failed, book.word_count),
        (manifest.totals.lessons, manifest.totals.images, manifest.totals.labs, 3, 0, manifest.totals.words)
    );
    assert!(manifest.usage.calls > 0 && manifest.usage.input_tokens > 0 && manifest.usage.output_tokens > 0);
    assert!(manifest.models.iter().any(|m| m.provider == "offline" && m.model == "offline-draft-v1"));
    assert!(md.contains("Offline drafts"), "offline notice in the course language");
    for lab in run.labs {
        let guide = text_of(store.as_ref(), &lab.lab_key).await;
        for section in [
            "## Objectives",
            "## Prerequisites",
            "## Estimated time",
            "## Steps",
            "## Troubleshooting",
            "## Cleanup",
            "Verify:",
        ] {
            assert!(guide.contains(section), "{section} in {}", lab.lab_key);
        }
    }
}

#[tokio::test]
async fn rerun_makes_no_model_calls_and_force_makes_them_all_again() {
    let store = mem();
    let project = "rerun";
    put_outline(store.as_ref(), project, &outline_yaml("Rerun Course", "en", 2, 2, true)).await;
    let (deps, counter) = counting_deps(store.clone());

    run_all(&deps, raw_request(project, json!("all"), "both", false)).await.unwrap();
    let first = counter.snapshot();
    assert_eq!(counter.text_calls(TextTask::Lesson), 4);
    assert_eq!(counter.text_calls(TextTask::VisualPlan), 4);
    assert_eq!(counter.text_calls(TextTask::LabPlan), 1);
    assert_eq!(counter.text_calls(TextTask::LabGuide), 4);
    assert!(first.1 > 0, "illustrations went to the image model");
    let store_after_first: Vec<(String, Option<Vec<u8>>)> = snapshot(store.as_ref(), &store.keys()).await;

    counter.reset();
    let second = run_all(&deps, raw_request(project, json!("all"), "both", false)).await.unwrap();
    assert_eq!(counter.total_text(), 0, "no text model calls on a rerun");
    assert_eq!(counter.snapshot().1, 0, "no image model calls on a rerun");
    assert_eq!(second.content.iter().map(|c| c.reused).sum::<u32>(), 4);
    assert_eq!(snapshot(store.as_ref(), &store.keys()).await, store_after_first, "a rerun changes nothing");

    counter.reset();
    run_all(&deps, raw_request(project, json!("all"), "both", true)).await.unwrap();
    assert_eq!(counter.snapshot(), first, "force makes every call again");
}

async fn snapshot(store: &dyn BlobStore, keys: &[String]) -> Vec<(String, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    for k in keys {
        out.push((k.clone(), store.get(k).await.unwrap()));
    }
    out
}

#[tokio::test]
async fn offline_runs_are_byte_identical_across_stores() {
    let yaml = outline_yaml("Deterministic Course", "en", 2, 2, true);
    let mut stores = Vec::new();
    for _ in 0..2 {
        let store = mem();
        put_outline(store.as_ref(), "det", &yaml).await;
        let deps = coursegen_stages::Deps::offline(store.clone());
        run_all(&deps, raw_request("det", json!("all"), "both", false)).await.unwrap();
        stores.push(store);
    }
    let keys = stores[0].keys();
    assert_eq!(keys, stores[1].keys());
    assert!(keys.len() > 30);
    assert_eq!(snapshot(stores[0].as_ref(), &keys).await, snapshot(stores[1].as_ref(), &keys).await);
}

#[tokio::test]
async fn a_directory_store_holds_the_same_layout() {
    let dir = std::env::temp_dir().join(format!("coursegen-stages-fs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Arc::new(FsStore::new(&dir));
    put_outline(store.as_ref(), "fs", &outline_yaml("Directory Course", "en", 1, 2, false)).await;
    let deps = coursegen_stages::Deps::offline(store.clone());
    let run = run_all(&deps, raw_request("fs", json!([1]), "theory", false)).await.unwrap();
    assert_eq!(run.book.unwrap().lesson_count, 2);
    assert!(dir.join("fs/book/index.html").is_file());
    assert!(dir.join("fs/book/manifest.json").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_spanish_outline_produces_spanish_drafts() {
    let store = mem();
    let yaml = outline_yaml("Kubernetes para DevOps", "es", 1, 2, true);
    put_outline(store.as_ref(), "es", &yaml).await;
    let deps = coursegen_stages::Deps::offline(store.clone());
    let run = run_all(&deps, raw_request("es", json!("all"), "both", false)).await.unwrap();
    let lesson = text_of(store.as_ref(), &run.content[0].lesson_keys[0]).await;
    for phrase in ["Borrador sin conexión", "## Objetivos de aprendizaje", "## Resumen", "## Preguntas de repaso"] {
        assert!(lesson.contains(phrase), "{phrase:?} in\n{lesson}");
    }
    assert!(!lesson.contains("Learning objectives"));
    let guide = text_of(store.as_ref(), &run.labs[0].lab_key).await;
    for phrase in ["## Requisitos previos", "## Pasos", "Verificación:", "## Limpieza"] {
        assert!(guide.contains(phrase), "{phrase:?} in\n{guide}");
    }
    let prompt: coursegen_core::contracts::VisualPrompt =
        serde_json::from_str(&text_of(store.as_ref(), &run.plans[0].prompt_keys[0]).await).unwrap();
    assert!(prompt.alt_text.starts_with("Diagrama"), "{}", prompt.alt_text);
    let md = text_of(store.as_ref(), &keys::book_md_key("es")).await;
    assert!(md.contains("Borradores sin conexión"));
}

#[tokio::test]
async fn the_book_includes_a_module_generated_by_an_earlier_execution() {
    let store = mem();
    let project = "twice";
    put_outline(store.as_ref(), project, &outline_yaml("Two Executions", "en", 3, 2, false)).await;
    let deps = coursegen_stages::Deps::offline(store.clone());
    run_all(&deps, raw_request(project, json!([1]), "theory", false)).await.unwrap();
    let second = run_all(&deps, raw_request(project, json!("3"), "theory", false)).await.unwrap();
    assert_eq!(second.content.len(), 1, "the second execution generated module 3 only");

    let book = second.book.unwrap();
    assert_eq!(book.module_count, 2);
    assert_eq!(book.lesson_count, 4);
    assert_eq!(book.failed, 0, "module 2 was not selected, so its absence is no failure");
    let manifest = manifest_of(store.as_ref(), project).await;
    let modules: Vec<u32> = manifest.modules.iter().map(|m| m.module_number).collect();
    assert_eq!(modules, [1, 3]);
    assert!(manifest.images.iter().any(|i| i.id.starts_with("01-")), "module 1 images found without mappings");
    let html = text_of(store.as_ref(), &keys::book_html_key(project)).await;
    assert!(html.contains("Lesson 1 of module 1") && html.contains("Lesson 2 of module 3"));
}
