//! The shared quota buckets against a real DynamoDB API (`moto_server` on loopback, started by
//! each test). Ignored by default; run with
//! `cargo test -p coursegen-aws --test it -- --ignored dynamo` (scripts/check does).

use std::sync::Arc;
use std::time::Duration;

use coursegen_aws::buckets::{Admission, BucketSpec, BucketStore, LocalBuckets, Take};
use coursegen_aws::config::{quota_for, ProviderConfig};
use coursegen_aws::dynamo::DynamoBuckets;
use coursegen_aws::quota::{AcquireError, BucketKeys, CallInfo, Clock, Governor, ManualClock, Quota, QuotaConfig};

use crate::support::{fast_policy, sdk_config, MotoServer};

const TABLE: &str = "coursegen-quota-test";

/// A moto_server with the quota table, and a fresh store on it ("a process": its own client).
async fn table() -> MotoServer {
    let server = MotoServer::start().await;
    server.create_quota_table(TABLE).await;
    server
}

/// Levels are computed from times in milliseconds since the epoch (about 1.8e12), where an f64
/// resolves a quarter of a microsecond: equal up to that.
#[track_caller]
fn assert_level(got: f64, want: f64) {
    assert!((got - want).abs() < 1e-2, "level {got}, expected {want}");
}

fn process(server: &MotoServer) -> Arc<DynamoBuckets> {
    Arc::new(DynamoBuckets::from_sdk(&sdk_config(server.endpoint()), TABLE))
}

#[tokio::test]
#[ignore = "needs moto_server (.venv-fidelity); scripts/check runs them"]
async fn dynamo_buckets_follow_the_in_process_arithmetic_step_by_step() {
    let server = table().await;
    let shared = process(&server);
    let local = LocalBuckets::ahead(coursegen_aws::dynamo::AHEAD_MS);
    let req = BucketSpec::per_minute(60.0);
    let tok = BucketSpec { capacity: 6_000.0, per_sec: 100.0 };
    let t0: u64 = 1_800_000_000_000;
    let both = |tokens: f64| {
        vec![Take { key: "m#requests", spec: req, amount: 1.0 }, Take { key: "m#tokens", spec: tok, amount: tokens }]
    };
    let tokens_only = |tokens: f64| vec![Take { key: "m#tokens", spec: tok, amount: tokens }];
    enum Op {
        Take(Vec<Take<'static>>, u64),
        Give(f64, u64),
    }
    let script = vec![
        Op::Take(both(4_000.0), t0),
        // Tokens short: nothing is taken, the wait is the refill time of the deficit.
        Op::Take(both(4_000.0), t0),
        Op::Give(2_000.0, t0),
        Op::Take(both(4_000.0), t0),
        // A call that used more than it reserved leaves a debt.
        Op::Give(-500.0, t0),
        Op::Take(tokens_only(5_500.0), t0 + 10_000),
        Op::Take(tokens_only(500.0), t0 + 10_000),
        // A refund past the capacity is cut when next read.
        Op::Give(1_000_000.0, t0 + 10_000),
        Op::Take(tokens_only(100.0), t0 + 10_000),
        // A process whose clock is 5 s behind refills nothing and does not move time back.
        Op::Take(both(5_000.0), t0 + 5_000),
        Op::Take(both(5_000.0), t0 + 5_000),
        Op::Take(tokens_only(6_000.0), t0 + 20_000),
        // More than the capacity waits for a full bucket, not forever.
        Op::Take(tokens_only(1e9), t0 + 20_000),
        Op::Take(tokens_only(1e9), t0 + 70_000),
    ];
    let mut admissions = Vec::new();
    for (i, op) in script.iter().enumerate() {
        let now = match op {
            Op::Take(takes, now) => {
                let l = local.take(takes, *now).await.unwrap();
                let d = shared.take(takes, *now).await.unwrap();
                assert_eq!(d, l, "step {i}");
                admissions.push(d);
                *now
            }
            Op::Give(amount, now) => {
                local.give("m#tokens", tok, *amount, *now).await.unwrap();
                shared.give("m#tokens", tok, *amount, *now).await.unwrap();
                *now
            }
        };
        for (key, spec) in [("m#requests", req), ("m#tokens", tok)] {
            let l = local.peek(key, spec, now).unwrap();
            let d = shared.level(key, spec, now).await.unwrap();
            assert!((l - d).abs() < 1e-6, "step {i}, {key}: in-process {l}, table {d}");
        }
    }
    // The script exercised every outcome, including the waits the arithmetic predicts: 2 000
    // tokens short at 100/s is 20 s, less the horizon a take is admitted ahead.
    let horizon = coursegen_aws::dynamo::AHEAD_MS as u64;
    assert_eq!(admissions[1], Admission::Wait(Duration::from_millis(20_001 - horizon)));
    let taken = admissions.iter().filter(|a| !matches!(a, Admission::Wait(_))).count();
    assert_eq!(taken, 6, "{admissions:?}");
}

#[tokio::test]
#[ignore = "needs moto_server (.venv-fidelity); scripts/check runs them"]
async fn a_refund_from_another_process_moves_a_queued_turn_sooner_as_in_process() {
    let server = table().await;
    let (queued, refunding) = (process(&server), process(&server));
    let local = LocalBuckets::ahead(coursegen_aws::dynamo::AHEAD_MS);
    // A token is 10 ms of refill.
    let tok = BucketSpec { capacity: 6_000.0, per_sec: 100.0 };
    let t0: u64 = 1_800_000_000_000;
    let take = |amount: f64| [Take { key: "m#tokens", spec: tok, amount }];
    let turn = |a: Admission| match a {
        Admission::TakenAhead(t) => t,
        other => panic!("expected a turn, got {other:?}"),
    };
    // Empty the bucket, then queue 80 tokens: 0.8 s ahead.
    for store in [&*queued as &dyn BucketStore, &local] {
        assert_eq!(store.take(&take(6_000.0), t0).await.unwrap(), Admission::Taken);
    }
    let mut shared_turn = turn(queued.take(&take(80.0), t0).await.unwrap());
    let mut local_turn = turn(local.take(&take(80.0), t0).await.unwrap());
    assert_eq!(shared_turn.delay(t0), Duration::from_millis(801));
    // Another process gives back 50 tokens (a call that used less than it reserved) and charges
    // a debt of 10 (one that used more): the queued turn, looking again, comes 0.5 s sooner.
    for (store, amount) in
        [(&*refunding as &dyn BucketStore, 50.0), (&*refunding, -10.0), (&local, 50.0), (&local, -10.0)]
    {
        store.give("m#tokens", tok, amount, t0).await.unwrap();
    }
    queued.look_again(&mut shared_turn).await.unwrap();
    local.look_again(&mut local_turn).await.unwrap();
    assert_eq!(shared_turn.delay(t0), Duration::from_millis(301));
    assert_eq!(shared_turn.delay(t0), local_turn.delay(t0));
    // A take after the refund queues behind the moved turn: 30 tokens and the debt, 0.4 s.
    let later = turn(refunding.take(&take(30.0), t0).await.unwrap());
    assert_eq!(later.delay(t0), Duration::from_millis(701));
    assert_eq!(later.delay(t0), turn(local.take(&take(30.0), t0).await.unwrap()).delay(t0));
}

#[tokio::test]
#[ignore = "needs moto_server (.venv-fidelity); scripts/check runs them"]
async fn concurrent_takers_in_two_processes_retry_conflicts_and_lose_no_update() {
    let server = table().await;
    let (a, b) = (process(&server), process(&server));
    let req = BucketSpec::per_minute(60.0);
    let tok = BucketSpec { capacity: 1_000.0, per_sec: 1_000.0 / 60.0 };
    let now: u64 = 1_800_000_000_000;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            // Half take from one bucket, half from two buckets of one item (one update each).
            let takes = if i % 4 < 2 {
                vec![Take { key: "single#tokens", spec: tok, amount: 1.0 }]
            } else {
                vec![
                    Take { key: "m#requests", spec: req, amount: 1.0 },
                    Take { key: "m#tokens", spec: tok, amount: 10.0 },
                ]
            };
            for _ in 0..200 {
                match store.take(&takes, now).await.unwrap() {
                    Admission::Taken => return,
                    Admission::TakenAhead(t) => panic!("the buckets hold every take, yet taken ahead: {t:?}"),
                    Admission::Wait(d) => assert!(d <= Duration::from_millis(25), "only contention waits here: {d:?}"),
                }
            }
            panic!("taker {i} was never admitted");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(a.conflicts() + b.conflicts() > 0, "24 simultaneous takers must have collided");
    assert_level(a.level("single#tokens", tok, now).await.unwrap(), 1_000.0 - 12.0);
    assert_level(a.level("m#requests", req, now).await.unwrap(), 60.0 - 12.0);
    assert_level(b.level("m#tokens", tok, now).await.unwrap(), 1_000.0 - 120.0);
}

#[tokio::test]
#[ignore = "needs moto_server (.venv-fidelity); scripts/check runs them"]
async fn two_limiters_sharing_a_table_never_admit_more_than_the_bucket_allows() {
    let server = table().await;
    // Two processes: each its own client and limiter, on one (synchronised) clock.
    let clock = ManualClock::new();
    let dynamic: Arc<dyn Clock> = Arc::new(clock.clone());
    let cfg = QuotaConfig { requests_per_minute: Some(20), ..Default::default() };
    let model = "us.anthropic.claude-sonnet-4-20250514-v1:0";
    let limiters = [
        Quota::with_store(&cfg, dynamic.clone(), process(&server), BucketKeys::text(model)),
        Quota::with_store(&cfg, dynamic.clone(), process(&server), BucketKeys::text(model)),
    ];
    let capacity = 20.0;
    let per_sec = 20.0 / 60.0;

    // Phase 1, one instant: 30 calls, 15 per process, none allowed to wait.
    let start_ms = clock.unix_millis();
    let now = clock.now();
    let mut tasks = Vec::new();
    for i in 0..30 {
        let q = limiters[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            match q.acquire(0, now).await {
                Ok(p) => {
                    p.succeed(0).await;
                    true
                }
                Err(AcquireError::Deadline) => false,
                Err(e) => panic!("{e:?}"),
            }
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        admitted += u32::from(t.await.unwrap());
    }
    assert_eq!(clock.unix_millis(), start_ms, "nobody waited");
    assert!((1..=20).contains(&admitted), "{admitted} admitted at one instant from a bucket of 20");
    let level =
        process(&server).level(&format!("{model}#requests"), BucketSpec::per_minute(20.0), start_ms).await.unwrap();
    // Every admission, and only those, left the shared bucket.
    assert_level(level, capacity - f64::from(admitted));

    // Phase 2: 30 more calls that may wait for the refill; all get through, and over the whole
    // run the two processes together stayed within capacity + elapsed × rate.
    let far = clock.now() + Duration::from_secs(3600);
    let mut tasks = Vec::new();
    for i in 0..30 {
        let q = limiters[i % 2].clone();
        tasks.push(tokio::spawn(async move { q.acquire(0, far).await.unwrap().succeed(0).await }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    admitted += 30;
    let elapsed_s = (clock.unix_millis() - start_ms) as f64 / 1000.0;
    let allowed = capacity + elapsed_s * per_sec;
    assert!(
        f64::from(admitted) <= allowed + 1e-6,
        "{admitted} admitted, the bucket allows {allowed:.2} in {elapsed_s:.1} s"
    );
    assert!(elapsed_s > 0.0, "the second phase had to wait for the refill");
}

#[tokio::test]
#[ignore = "needs moto_server (.venv-fidelity); scripts/check runs them"]
async fn the_burndown_factor_reaches_the_shared_token_bucket() {
    let server = table().await;
    let clock = ManualClock::new();
    let cfg = QuotaConfig { tokens_per_minute: Some(60_000), output_burndown: 5, ..Default::default() };
    let model = "anthropic.claude-3-7-sonnet-20250219-v1:0";
    let q = Quota::with_store(&cfg, Arc::new(clock.clone()), process(&server), BucketKeys::text(model));
    let g = Governor::new("bedrock", q.clone(), fast_policy(Duration::from_secs(60)));
    let key = format!("{model}#tokens");
    let spec = BucketSpec::per_minute(60_000.0);
    let level = || async { process(&server).level(&key, spec, clock.unix_millis()).await.unwrap() };
    let far = clock.now() + Duration::from_secs(60);
    // Reserve 1 000 input + 800 max_tokens × 5.
    let p = q.acquire(g.charge(1_000, 800), far).await.unwrap();
    assert_level(level().await, 55_000.0);
    // Used 1 000 input + 200 output × 5: 3 000 come back through the atomic ADD.
    p.succeed(g.charge(1_000, 200)).await;
    assert_level(level().await, 58_000.0);
    // A throttled call gets its whole reservation back.
    q.acquire(g.charge(1_000, 800), far).await.unwrap().throttled().await;
    assert_level(level().await, 58_000.0);
    // Through the governor: the call's answer counts burndown × its output.
    g.run(
        CallInfo { stage: "ContentGen", subject: "module 1 lesson 1", reserve_tokens: g.charge(500, 1_000) },
        || async { Ok(((), g.charge(500, 100))) },
    )
    .await
    .unwrap();
    assert_level(level().await, 57_000.0);
}

#[tokio::test]
#[ignore = "needs moto_server (.venv-fidelity); scripts/check runs them"]
async fn a_missing_quota_table_fails_the_call_with_a_retryable_store_error() {
    let server = MotoServer::start().await;
    let store = Arc::new(DynamoBuckets::from_sdk(&sdk_config(server.endpoint()), "no-such-table"));
    let cfg = QuotaConfig { requests_per_minute: Some(100), ..Default::default() };
    let q = Quota::with_store(&cfg, Arc::new(ManualClock::new()), store, BucketKeys::image("amazon.nova-canvas-v1:0"));
    let g = Governor::new("bedrock", q, fast_policy(Duration::from_secs(60)));
    let calls = std::sync::atomic::AtomicU32::new(0);
    let err = g
        .run(CallInfo { stage: "ImagesGen", subject: "01-02-03", reserve_tokens: 0 }, || {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Ok(((), 0)) }
        })
        .await
        .unwrap_err();
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0, "no model call without the budget's consent");
    assert_eq!(err.error_type(), "StoreError");
    assert!(err.is_retryable());
    let msg = err.to_string();
    assert!(msg.contains("dynamodb table no-such-table") && msg.contains("amazon.nova-canvas-v1:0#images"), "{msg}");
    assert!(msg.contains("ResourceNotFound"), "{msg}");
}

#[tokio::test]
#[ignore = "needs moto_server (.venv-fidelity); scripts/check runs them"]
async fn quota_table_in_the_environment_puts_each_models_budget_in_the_table() {
    let server = table().await;
    let env = [
        ("COURSEGEN_PROVIDER", "bedrock"),
        ("TEXT_MODEL_ID", "us.anthropic.claude-sonnet-4-20250514-v1:0"),
        ("BEDROCK_RPM", "30"),
        ("BEDROCK_TPM", "90000"),
        ("BEDROCK_IMAGE_RPM", "6"),
        ("QUOTA_TABLE", TABLE),
    ];
    let cfg = ProviderConfig::from_lookup(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).unwrap();
    assert_eq!(cfg.text_quota.output_burndown, 5, "Claude Sonnet 4 counts output 5×");
    let sdk = sdk_config(server.endpoint());
    let text_model = cfg.text_model_id.clone();
    let text = quota_for(&sdk, &cfg, "wiring-test-text", &cfg.text_quota, BucketKeys::text(&text_model));
    let image_model = cfg.image_model_id.clone().unwrap();
    let image = quota_for(&sdk, &cfg, "wiring-test-image", &cfg.image_quota, BucketKeys::image(&image_model));
    assert_eq!(text.store_name(), format!("dynamodb table {TABLE}"));
    let far = std::time::Instant::now() + Duration::from_secs(60);
    text.acquire(text.charge(100, 1_000), far).await.unwrap().succeed(text.charge(100, 10)).await;
    image.acquire(0, far).await.unwrap().succeed(0).await;
    // The levels as written, read a moment later (at most a few milliseconds of refill): one
    // request each; 5 100 tokens reserved (100 + 1 000 × 5), 150 used (100 + 10 × 5).
    let reader = process(&server);
    let now = Clock::unix_millis(&*text.clock());
    let stored = |key: String, spec: BucketSpec| {
        let reader = reader.clone();
        async move { reader.level(&key, spec, now).await.unwrap() }
    };
    let near = |got: f64, want: f64, per_sec: f64| {
        assert!(got >= want && got <= want + per_sec, "level {got}, expected {want} plus at most 1 s of refill");
    };
    near(stored(format!("{text_model}#requests"), BucketSpec::per_minute(30.0)).await, 29.0, 0.5);
    near(stored(format!("{text_model}#tokens"), BucketSpec::per_minute(90_000.0)).await, 90_000.0 - 150.0, 1_500.0);
    near(stored(format!("{image_model}#images"), BucketSpec::per_minute(6.0)).await, 5.0, 0.1);
    // Without the table the budget stays in the process.
    let local = ProviderConfig { quota_table: None, ..cfg.clone() };
    let q = quota_for(&sdk, &local, "wiring-test-local", &local.text_quota, BucketKeys::text(&text_model));
    assert_eq!(q.store_name(), "in-process");
}

/// Needs no server: nothing listens on the port.
#[tokio::test]
async fn an_unreachable_quota_table_fails_the_call_with_a_retryable_store_error_instead_of_hanging() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let store = Arc::new(DynamoBuckets::from_sdk(&sdk_config(&format!("http://127.0.0.1:{port}")), TABLE));
    let cfg = QuotaConfig { tokens_per_minute: Some(10_000), ..Default::default() };
    let q = Quota::with_store(&cfg, Arc::new(ManualClock::new()), store, BucketKeys::text("amazon.nova-pro-v1:0"));
    let g = Governor::new("bedrock", q.clone(), fast_policy(Duration::from_secs(600)));
    let call = g.run(CallInfo { stage: "ContentGen", subject: "module 3 lesson 1", reserve_tokens: 500 }, || async {
        Ok(((), 0))
    });
    // The SDK's connect timeout and bounded retries end it; the bound only guards the test run.
    let err = tokio::time::timeout(Duration::from_secs(120), call).await.expect("the call must not hang").unwrap_err();
    assert_eq!(err.error_type(), "StoreError");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("amazon.nova-pro-v1:0#tokens"), "{err}");
    assert_eq!(q.snapshot().in_flight, 0);
}
