//! Quizzes: the offline provider writes a valid quiz in every course language, the book and
//! its exports carry them, and a model's quiz that breaks a rule is repaired or rejected.

use coursegen_core::quiz::{check_questions, Question, Quiz, QUIZ_LAYOUT};
use coursegen_core::{keys, BlobStore, Language};

use crate::support::*;

#[tokio::test]
async fn offline_quizzes_pass_the_checks_in_every_course_language_and_reach_the_book_and_its_exports() {
    for language in Language::ALL {
        let store = mem();
        let (deps, _) = counting_deps(store.clone());
        let project = format!("quiz-{}", language.code());
        put_outline(store.as_ref(), &project, &outline_yaml("Quiz course", language.code(), 2, 2, false)).await;
        let run = run_all(&deps, raw_request(&project, serde_json::json!("all"), "theory", false)).await.unwrap();
        assert!(run.plans.iter().all(|p| p.quiz_questions == QUIZ_LAYOUT.len() as u32), "{:?}", run.plans);
        for (m, l) in [(1, 1), (1, 2), (2, 1), (2, 2)] {
            let quiz: Quiz =
                serde_json::from_str(&text_of(store.as_ref(), &keys::quiz_key(&project, m, l)).await).unwrap();
            let lesson_key =
                run.plans.iter().find(|p| p.lesson_key.contains(&format!("module-{m:02}/lesson-{l:02}"))).unwrap();
            let lesson = text_of(store.as_ref(), &lesson_key.lesson_key).await;
            assert_eq!(check_questions(&quiz.questions, &lesson), Vec::<String>::new(), "{language:?} {m}.{l}");
            let kinds: Vec<_> = quiz.questions.iter().map(Question::kind).collect();
            assert_eq!(kinds, QUIZ_LAYOUT);
            // Asked in the course language: the English prompt's words are absent elsewhere.
            let english = quiz.questions[0].prompt().starts_with("Which of these topics");
            assert_eq!(english, language == Language::En, "{language:?}: {}", quiz.questions[0].prompt());
        }
        let manifest = manifest_of(store.as_ref(), &project).await;
        assert_eq!(manifest.totals.quiz_questions, 4 * QUIZ_LAYOUT.len() as u32);
        assert!(manifest.modules.iter().flat_map(|m| &m.lessons).all(|l| l.quiz_key.is_some()));
        let gift = text_of(store.as_ref(), &keys::book_gift_key(&project)).await;
        assert_eq!(gift.matches("\n$CATEGORY: ").count(), 4, "one category per lesson");
        assert!(store.get(&keys::book_scorm_key(&project)).await.unwrap().is_some(), "the SCORM package is stored");
        assert!(manifest.book_keys.contains(&keys::book_gift_key(&project)));
        assert!(manifest.book_keys.contains(&keys::book_scorm_key(&project)));
        assert!(manifest.failures.is_empty(), "{:?}", manifest.failures);
    }
}

#[tokio::test]
async fn a_lesson_without_its_quiz_is_listed_as_a_failure_and_the_book_still_builds() {
    let store = mem();
    let (deps, _) = counting_deps(store.clone());
    let outline_key = put_outline(store.as_ref(), "noquiz", &outline_yaml("No quiz", "en", 1, 2, false)).await;
    let run = run_all(&deps, raw_request("noquiz", serde_json::json!("all"), "theory", false)).await.unwrap();
    store.delete(&keys::quiz_key("noquiz", 1, 2)).await.unwrap();
    let out = coursegen_stages::book_builder(
        coursegen_core::contracts::BookBuilderInput {
            project_folder: "noquiz".into(),
            outline_key,
            content_type: coursegen_core::ContentType::Theory,
            all_lesson_keys: run.content.iter().flat_map(|c| c.lesson_keys.clone()).collect(),
            all_image_mappings: run.images.iter().map(|i| i.image_mappings.clone()).collect(),
            lab_keys: vec![],
            module_results: vec![],
            lab_results: vec![],
        },
        &deps,
    )
    .await
    .unwrap();
    let manifest = manifest_of(store.as_ref(), "noquiz").await;
    let failure = manifest.failures.iter().find(|f| f.kind == "quiz").expect("quiz failure");
    assert_eq!(failure.id, "01-02");
    assert!(out.incomplete.contains("module(s) 1"), "{}", out.incomplete);
    assert_eq!(manifest.totals.quiz_questions, QUIZ_LAYOUT.len() as u32);
}
