//! `S3Store` over the wire against a real S3-compatible server (s3s-fs serving a temporary
//! directory) on loopback.

mod common;

use std::sync::Arc;

use coursegen_aws::s3::{s3_client, S3Options, S3Store};
use coursegen_core::store::{BlobStore, BlobStoreExt};

const BUCKET: &str = "coursegen-test";

async fn server() -> s3_local::LocalS3 {
    s3_local::LocalS3::start(BUCKET, common::ACCESS_KEY, common::SECRET_KEY).await.unwrap()
}

fn store(server: &s3_local::LocalS3) -> S3Store {
    let client = s3_client(&common::sdk_config(server.endpoint()), S3Options { force_path_style: true });
    S3Store::new(client, BUCKET).unwrap()
}

#[tokio::test]
async fn put_get_list_delete_round_trip_with_content_type() {
    let server = server().await;
    let s = store(&server);
    assert_eq!(s.describe(), format!("s3://{BUCKET}"));
    s.put("p/lessons/module-02/lesson-01-b.md", b"# B".to_vec(), "text/markdown").await.unwrap();
    s.put("p/lessons/module-01/lesson-01-a.md", b"# A".to_vec(), "text/markdown; charset=utf-8").await.unwrap();
    s.put("p/lessons/module-01/lesson-01-a.md", b"# A2".to_vec(), "text/markdown; charset=utf-8").await.unwrap();
    s.put("q/other.json", b"{}".to_vec(), "application/json").await.unwrap();
    s.put_json("p/course/request.json", &serde_json::json!({"modules": [1, 2]})).await.unwrap();
    assert_eq!(s.get("p/lessons/module-01/lesson-01-a.md").await.unwrap().unwrap(), b"# A2");
    assert_eq!(s.get_text("p/lessons/module-02/lesson-01-b.md").await.unwrap(), "# B");
    assert_eq!(
        s.content_type("p/lessons/module-01/lesson-01-a.md").await.unwrap().as_deref(),
        Some("text/markdown; charset=utf-8")
    );
    assert_eq!(s.content_type("p/course/request.json").await.unwrap().as_deref(), Some("application/json"));
    assert_eq!(s.content_type("p/absent").await.unwrap(), None);
    assert_eq!(
        s.list("p/lessons/").await.unwrap(),
        vec!["p/lessons/module-01/lesson-01-a.md".to_string(), "p/lessons/module-02/lesson-01-b.md".to_string()]
    );
    assert_eq!(s.list("p/").await.unwrap().len(), 3);
    assert!(s.list("nothing/").await.unwrap().is_empty());
    s.delete("p/lessons/module-02/lesson-01-b.md").await.unwrap();
    s.delete("p/lessons/module-02/lesson-01-b.md").await.unwrap();
    assert_eq!(s.get("p/lessons/module-02/lesson-01-b.md").await.unwrap(), None);
    assert_eq!(s.list("p/lessons/").await.unwrap().len(), 1);
}

#[tokio::test]
async fn missing_objects_read_as_none_and_unsafe_keys_are_refused() {
    let server = server().await;
    let s = store(&server);
    assert_eq!(s.get("p/missing.md").await.unwrap(), None);
    assert_eq!(s.get_json::<serde_json::Value>("p/missing.json").await.unwrap(), None);
    assert_eq!(s.get_text("p/missing.md").await.unwrap_err().error_type(), "MissingInput");
    for key in ["../escape", "/abs", "a//b", "a\\b", ""] {
        assert_eq!(s.put(key, b"x".to_vec(), "text/plain").await.unwrap_err().error_type(), "StoreError", "{key:?}");
    }
    // Listing a missing bucket is an error naming the prefix, not an empty list.
    let other = S3Store::new(s.client().clone(), "no-such-bucket").unwrap();
    let err = other.list("p/").await.unwrap_err();
    assert_eq!(err.error_type(), "StoreError");
    assert!(err.to_string().contains("p/") && err.to_string().contains("NoSuchBucket"), "{err}");
}

#[tokio::test]
async fn listing_paginates_beyond_one_thousand_keys() {
    let server = server().await;
    let s = Arc::new(store(&server));
    let mut tasks = Vec::new();
    for chunk in 0..10u32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..125u32 {
                let n = chunk * 125 + i;
                s.put(&format!("p/prompts/module-01/visual-{n:04}.json"), b"{}".to_vec(), "application/json")
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    s.put("p/prompts-other/x.json", b"{}".to_vec(), "application/json").await.unwrap();
    let keys = s.list("p/prompts/").await.unwrap();
    assert_eq!(keys.len(), 1_250);
    assert_eq!(keys.first().unwrap(), "p/prompts/module-01/visual-0000.json");
    assert_eq!(keys.last().unwrap(), "p/prompts/module-01/visual-1249.json");
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
}

#[tokio::test]
async fn put_if_absent_lets_exactly_one_concurrent_writer_win() {
    let server = server().await;
    let s = Arc::new(store(&server));
    assert!(s.put_if_absent("p/book/manifest.json", b"first".to_vec(), "application/json").await.unwrap());
    assert!(!s.put_if_absent("p/book/manifest.json", b"second".to_vec(), "application/json").await.unwrap());
    assert_eq!(s.get("p/book/manifest.json").await.unwrap().unwrap(), b"first");

    for round in 0..5 {
        let key = format!("p/race/object-{round}.json");
        let mut tasks = Vec::new();
        for writer in 0..16u32 {
            let s = s.clone();
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                let won = s.put_if_absent(&key, format!("writer {writer}").into_bytes(), "text/plain").await.unwrap();
                (writer, won)
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            let (writer, won) = t.await.unwrap();
            if won {
                winners.push(writer);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let body = s.get(&key).await.unwrap().unwrap();
        assert_eq!(body, format!("writer {}", winners[0]).into_bytes(), "the winner's body is the one stored");
    }
}

#[tokio::test]
async fn put_if_match_swaps_only_an_unchanged_object() {
    let server = server().await;
    let s = store(&server);
    assert_eq!(s.get_with_etag("p/book/manifest.json").await.unwrap(), None);
    s.put("p/book/manifest.json", b"v1".to_vec(), "application/json").await.unwrap();
    let (body, etag) = s.get_with_etag("p/book/manifest.json").await.unwrap().unwrap();
    assert_eq!(body, b"v1");
    assert!(!etag.is_empty());
    assert!(s.put_if_match("p/book/manifest.json", b"v2".to_vec(), "application/json", &etag).await.unwrap());
    assert!(
        !s.put_if_match("p/book/manifest.json", b"v3".to_vec(), "application/json", &etag).await.unwrap(),
        "the ETag changed with v2"
    );
    assert_eq!(s.get("p/book/manifest.json").await.unwrap().unwrap(), b"v2");
    assert!(!s.put_if_match("p/book/absent.json", b"x".to_vec(), "application/json", &etag).await.unwrap());
    assert_eq!(s.get("p/book/absent.json").await.unwrap(), None);
}
