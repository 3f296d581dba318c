//! `S3Store` over the wire against a real S3-compatible server (s3s-fs serving a temporary
//! directory) on loopback.

use std::sync::Arc;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use coursegen_aws::s3::{s3_client, S3Options, S3Store};
use coursegen_core::store::{BlobStore, BlobStoreExt};
use coursegen_core::StageError;

const BUCKET: &str = "coursegen-test";

async fn server() -> s3_local::LocalS3 {
    s3_local::LocalS3::start(BUCKET, crate::support::ACCESS_KEY, crate::support::SECRET_KEY).await.unwrap()
}

fn store(server: &s3_local::LocalS3) -> S3Store {
    let client = s3_client(&crate::support::sdk_config(server.endpoint()), S3Options { force_path_style: true });
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
    // Listing a missing bucket is an error naming the prefix, not an empty list; a retry would
    // not create the bucket, so it is permanent (every operation: see
    // s3_answers_are_classified_by_status_and_code).
    let other = S3Store::new(s.client().clone(), "no-such-bucket").unwrap();
    let err = other.list("p/").await.unwrap_err();
    assert_eq!(err.error_type(), "StoreAccessDenied");
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

/// A store at `endpoint` whose client signs with `secret_key` and makes one attempt per call
/// (the SDK's own retries would only slow the error tests down).
fn single_attempt_store(endpoint: &str, secret_key: &str) -> S3Store {
    let mut sdk = crate::support::sdk_config(endpoint).into_builder();
    sdk.set_credentials_provider(Some(SharedCredentialsProvider::new(Credentials::new(
        crate::support::ACCESS_KEY,
        secret_key,
        None,
        None,
        "static-test",
    ))));
    sdk.set_retry_config(Some(RetryConfig::disabled()));
    let client = s3_client(&sdk.build(), S3Options { force_path_style: true });
    S3Store::new(client, BUCKET).unwrap()
}

/// Every store operation's error against `s`.
async fn every_error(s: &S3Store) -> Vec<StageError> {
    vec![
        s.get("p/x.md").await.unwrap_err(),
        s.put("p/x.md", b"x".to_vec(), "text/plain").await.unwrap_err(),
        s.put_if_absent("p/x.md", b"x".to_vec(), "text/plain").await.unwrap_err(),
        s.list("p/").await.unwrap_err(),
        s.delete("p/x.md").await.unwrap_err(),
    ]
}

#[tokio::test]
async fn refused_credentials_are_permanent_store_access_denied() {
    let server = server().await;
    let s = single_attempt_store(server.endpoint(), "not-the-secret");
    for err in every_error(&s).await {
        assert_eq!(err.error_type(), "StoreAccessDenied", "{err}");
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("SignatureDoesNotMatch"), "{err}");
    }
    assert_eq!(
        s.content_type("p/x.md").await.unwrap_err().error_type(),
        "StoreAccessDenied",
        "a HEAD refusal has no body, only its 403"
    );
}

#[tokio::test]
async fn a_server_that_is_not_there_is_a_retryable_store_error() {
    // Bind, then close: nothing listens on that port any more.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let s = single_attempt_store(&endpoint, crate::support::SECRET_KEY);
    for err in every_error(&s).await {
        assert_eq!(err.error_type(), "StoreError", "{err}");
        assert!(err.is_retryable());
    }
}

/// A server answering every request with `status` and an S3 error document for `code`.
async fn answering(status: StatusCode, code: &'static str) -> String {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{code} from the test \
         server</Message><RequestId>test</RequestId></Error>"
    );
    let app = Router::new().fallback(move || {
        let body = body.clone();
        async move { (status, [("content-type", "application/xml")], body).into_response() }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn s3_answers_are_classified_by_status_and_code() {
    for (status, code, want) in [
        (StatusCode::SERVICE_UNAVAILABLE, "SlowDown", "StoreError"),
        (StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "StoreError"),
        (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", "StoreError"),
        (StatusCode::FORBIDDEN, "AccessDenied", "StoreAccessDenied"),
        (StatusCode::FORBIDDEN, "InvalidAccessKeyId", "StoreAccessDenied"),
        (StatusCode::BAD_REQUEST, "ExpiredToken", "StoreAccessDenied"),
        (StatusCode::NOT_FOUND, "NoSuchBucket", "StoreAccessDenied"),
    ] {
        let endpoint = answering(status, code).await;
        let s = single_attempt_store(&endpoint, crate::support::SECRET_KEY);
        for err in every_error(&s).await {
            assert_eq!(err.error_type(), want, "{status} {code}: {err}");
            assert_eq!(err.is_retryable(), want == "StoreError");
            assert!(err.to_string().contains(code), "{err}");
        }
    }
}

#[cfg(unix)]
#[tokio::test]
async fn credentials_that_cannot_be_loaded_are_permanent_store_access_denied() {
    let server = server().await;
    // A credential process that fails, as an expired login or a missing profile does.
    let provider = aws_config::credential_process::CredentialProcessProvider::new("exit 1".into());
    let mut sdk = crate::support::sdk_config(server.endpoint()).into_builder();
    sdk.set_credentials_provider(Some(SharedCredentialsProvider::new(provider)));
    sdk.set_retry_config(Some(RetryConfig::disabled()));
    let client = s3_client(&sdk.build(), S3Options { force_path_style: true });
    let s = S3Store::new(client, BUCKET).unwrap();
    for err in every_error(&s).await {
        assert_eq!(err.error_type(), "StoreAccessDenied", "{err}");
        assert!(err.to_string().contains("credentials"), "{err}");
    }
}
