//! Quotas, latency bookkeeping, fault injection and the stats endpoints.

use crate::support::{converse_body, Sim, CLAUDE};
use bedrock_sim::{Config, THROTTLING_MESSAGE};
use serde_json::{json, Value};
use std::time::Duration;

async fn wait_for_in_flight(sim: &Sim, n: u64) {
    for _ in 0..500 {
        if sim.stats().await["in_flight"].as_u64() == Some(n) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("in_flight never reached {n}");
}

#[tokio::test]
async fn rpm_quota_throttles_after_n_requests() {
    let sim = Sim::new(Config { rpm: Some(3), ..Config::default() }).await;
    for _ in 0..3 {
        let resp = sim.post(CLAUDE, &converse_body("hello", 100)).await;
        assert_eq!(resp.status, 200, "{}", resp.text);
    }
    let resp = sim.post(CLAUDE, &converse_body("hello", 100)).await;
    assert_eq!(resp.status, 429);
    assert_eq!(resp.header("x-amzn-errortype").as_deref(), Some("ThrottlingException"));
    assert_eq!(resp.json(), json!({ "message": THROTTLING_MESSAGE }));
    let stats = sim.stats().await;
    assert_eq!(stats["requests"], 4);
    assert_eq!(stats["ok"], 3);
    assert_eq!(stats["throttled"], 1);

    // The timeline lists the four decisions in order, with their times and reservations.
    let calls = sim.calls().await;
    let calls = calls["calls"].as_array().expect("a list of calls");
    let outcomes: Vec<&str> = calls.iter().map(|c| c["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["admitted", "admitted", "admitted", "throttled"]);
    assert!(calls.iter().all(|c| c["kind"] == "text" && c["reserved_tokens"].as_u64().unwrap() >= 100));
    let times: Vec<u64> = calls.iter().map(|c| c["at_ms"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]) && times[0] > 1_600_000_000_000, "{times:?}");

    sim.reset().await;
    assert_eq!(sim.calls().await["calls"], json!([]), "reset clears the timeline");
    let resp = sim.post(CLAUDE, &converse_body("hello", 100)).await;
    assert_eq!(resp.status, 200, "reset refills the buckets");
}

#[tokio::test]
async fn tpm_reserves_max_tokens_and_refunds_unused() {
    let sim = Sim::new(Config { tpm: Some(2500), ..Config::default() }).await;
    // The reservation (input + maxTokens) alone exceeds the minute's capacity.
    let resp = sim.post(CLAUDE, &converse_body("Reply in 10 words", 2600)).await;
    assert_eq!(resp.status, 429);
    assert_eq!(resp.header("x-amzn-errortype").as_deref(), Some("ThrottlingException"));

    // Each request reserves ~2010 of 2500 tokens; only the refund of the
    // unused part of the reservation lets the next one in.
    for _ in 0..3 {
        let resp = sim.post(CLAUDE, &converse_body("Reply in 10 words", 2000)).await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        assert!(resp.json()["usage"]["outputTokens"].as_u64().unwrap() < 200);
    }
    assert_eq!(sim.stats().await["throttled"], 1);
}

#[tokio::test]
async fn tpm_reservation_is_held_while_a_request_runs() {
    let sim = Sim::new(Config { tpm: Some(1000), latency_ms: 1500, ..Config::default() }).await;
    let client = sim.client.clone();
    let url = sim.url(CLAUDE);
    let first = tokio::spawn(async move {
        client.post(url).json(&converse_body("Reply in 10 words", 700)).send().await.map(|r| r.status().as_u16())
    });
    wait_for_in_flight(&sim, 1).await;
    let second = sim.post(CLAUDE, &converse_body("Reply in 10 words", 700)).await;
    assert_eq!(second.status, 429);
    assert_eq!(first.await.unwrap().unwrap(), 200);
    let stats = sim.stats().await;
    assert_eq!(stats["ok"], 1);
    assert_eq!(stats["throttled"], 1);
}

async fn outcomes(config: Config, n: usize) -> (Vec<(u16, bool)>, Value) {
    let sim = Sim::new(config).await;
    let mut out = Vec::new();
    for i in 0..n {
        let resp = sim.post(CLAUDE, &converse_body(&format!("question {i}"), 200)).await;
        let parses = serde_json::from_str::<Value>(&resp.text).is_ok();
        if resp.status == 500 {
            assert_eq!(resp.header("x-amzn-errortype").as_deref(), Some("InternalServerException"));
        }
        if resp.status == 503 {
            assert_eq!(resp.header("x-amzn-errortype").as_deref(), Some("ServiceUnavailableException"));
        }
        out.push((resp.status, parses));
    }
    (out, sim.stats().await)
}

#[tokio::test]
async fn fail_rate_injection_is_counted_and_seeded() {
    let config = Config { fail_rate: 0.5, seed: 42, ..Config::default() };
    let (a, stats) = outcomes(config.clone(), 30).await;
    let (b, _) = outcomes(config.clone(), 30).await;
    assert_eq!(a, b, "same seed, same fault sequence");
    let (c, _) = outcomes(Config { seed: 43, ..config }, 30).await;
    assert_ne!(a, c, "another seed, another sequence");

    let failures = a.iter().filter(|(s, p)| *s != 200 || !p).count() as u64;
    assert!(failures > 0 && failures < 30, "{a:?}");
    assert_eq!(stats["injected_failures"], failures);
    let kinds = &stats["injected_by_kind"];
    let count = |status: u16| a.iter().filter(|(s, _)| *s == status).count() as u64;
    assert_eq!(kinds["internal_server_error"], count(500));
    assert_eq!(kinds["service_unavailable"], count(503));
    assert_eq!(kinds["malformed_body"], a.iter().filter(|(s, p)| *s == 200 && !p).count() as u64);
    assert_eq!(stats["ok"].as_u64().unwrap() + failures, 30);
}

#[tokio::test]
async fn fail_rate_one_fails_everything() {
    let (all, stats) = outcomes(Config { fail_rate: 1.0, seed: 1, ..Config::default() }, 24).await;
    assert!(all.iter().all(|(s, p)| *s != 200 || !p));
    assert_eq!(stats["injected_failures"], 24);
    assert_eq!(stats["ok"], 0);
    for kind in ["internal_server_error", "service_unavailable", "malformed_body"] {
        assert!(stats["injected_by_kind"][kind].as_u64().unwrap() > 0, "{stats}");
    }
}

#[tokio::test]
async fn stats_count_and_reset() {
    let sim = Sim::new(Config { latency_ms: 300, ..Config::default() }).await;
    let body = converse_body("Tell me about bees", 300);
    let futures: Vec<_> = (0..4).map(|_| sim.post(CLAUDE, &body)).collect();
    for resp in futures::future::join_all(futures).await {
        assert_eq!(resp.status, 200);
    }
    sim.post("/model/amazon.titan-text-express-v1/invoke", &json!({"inputText": "hi"})).await;
    sim.post("/v1/chat/completions", &json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})).await;
    sim.post(CLAUDE, &json!({"messages": []})).await;

    let stats = sim.stats().await;
    assert_eq!(stats["requests"], 7);
    assert_eq!(stats["ok"], 6);
    assert_eq!(stats["converse"], 5);
    assert_eq!(stats["invoke"], 1);
    assert_eq!(stats["chat"], 1);
    assert_eq!(stats["validation_errors"], 1);
    assert_eq!(stats["throttled"], 0);
    assert_eq!(stats["injected_failures"], 0);
    assert_eq!(stats["in_flight"], 0);
    assert!(stats["in_flight_max"].as_u64().unwrap() >= 2, "{stats}");
    assert!(stats["tokens_in"].as_u64().unwrap() > 0);
    assert!(stats["tokens_out"].as_u64().unwrap() > 0);

    let after = sim.reset().await;
    for key in [
        "requests",
        "ok",
        "throttled",
        "injected_failures",
        "tokens_in",
        "tokens_out",
        "converse",
        "invoke",
        "chat",
        "in_flight_max",
    ] {
        assert_eq!(after[key], 0, "{key}");
    }
    assert_eq!(sim.stats().await, after);
}

#[tokio::test]
async fn refused_text_is_blocked_like_a_content_filter_every_time_and_other_requests_pass() {
    let sim = Sim::new(Config { refuse_containing: Some("Forbidden Topic".into()), ..Config::default() }).await;
    for _ in 0..2 {
        let resp = sim.post(CLAUDE, &converse_body("Write the lesson Forbidden Topic basics", 300)).await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        assert_eq!(resp.json()["stopReason"], "content_filtered", "{}", resp.text);
    }
    let image = json!({
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {"text": "A diagram of Forbidden Topic"},
        "imageGenerationConfig": {"numberOfImages": 1, "width": 512, "height": 512}
    });
    let resp = sim.post("/model/amazon.titan-image-generator-v2%3A0/invoke", &image).await;
    assert_eq!(resp.status, 400, "{}", resp.text);
    assert_eq!(resp.header("x-amzn-ErrorType").as_deref(), Some("ValidationException"));
    assert!(resp.json()["message"].as_str().unwrap().contains("content filters"), "{}", resp.text);

    let allowed = sim.post(CLAUDE, &converse_body("Write the lesson on allowed topics", 300)).await;
    assert_eq!(allowed.status, 200);
    assert_ne!(allowed.json()["stopReason"], "content_filtered", "{}", allowed.text);

    let stats = sim.stats().await;
    assert_eq!(stats["refused"], 3, "{stats}");
    assert_eq!(stats["ok"], 1, "{stats}");
    assert_eq!(stats["requests"], 4, "{stats}");
}
