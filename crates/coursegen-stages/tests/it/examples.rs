//! The repository's example outlines go through every stage offline, in their own language.

use crate::support::*;
use coursegen_core::{keys, BlobStore};
use serde_json::json;

async fn build_example(file: &str, project: &str) -> (std::sync::Arc<coursegen_core::MemStore>, Run) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(file);
    let yaml = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("example outline {}: {e}", path.display()));
    let store = mem();
    put_outline(store.as_ref(), project, &yaml).await;
    let deps = coursegen_stages::Deps::offline(store.clone());
    let run = run_all(&deps, raw_request(project, json!("all"), "both", false)).await.unwrap();
    (store, run)
}

#[tokio::test]
async fn the_kubernetes_example_builds_a_complete_book() {
    let (store, run) = build_example("kubernetes-devops.yaml", "kubernetes-for-devops").await;
    let book = run.book.unwrap();
    assert_eq!(book.failed, 0);
    assert!(book.lesson_count >= 8 && book.image_count >= 3 * book.lesson_count && book.lab_count > 0);
    let html = text_of(store.as_ref(), &keys::book_html_key("kubernetes-for-devops")).await;
    assert!(html.contains("Kubernetes core concepts"));
    assert!(store.get(&keys::book_epub_key("kubernetes-for-devops")).await.unwrap().is_some());
}

#[tokio::test]
async fn the_spanish_example_builds_a_spanish_book() {
    let (store, run) = build_example("analisis-datos-python.yaml", "analisis-datos").await;
    let book = run.book.unwrap();
    assert_eq!(book.failed, 0);
    let lesson = text_of(store.as_ref(), &run.content[0].lesson_keys[0]).await;
    assert!(lesson.contains("Objetivos de aprendizaje"), "{lesson}");
    let manifest = manifest_of(store.as_ref(), "analisis-datos").await;
    assert_eq!(manifest.language, "es");
}
