//! The `bedrock-sim` binary: readiness line and loopback policy.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_bedrock-sim");

#[test]
fn refuses_non_loopback_listen_address() {
    let output = Command::new(BIN).args(["--listen", "0.0.0.0:0"]).output().expect("binary runs");
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("non-loopback"), "{stderr}");
}

#[test]
fn rejects_out_of_range_fail_rate() {
    let output =
        Command::new(BIN).args(["--listen", "127.0.0.1:0", "--fail-rate", "1.5"]).output().expect("binary runs");
    assert!(!output.status.success());
}

#[test]
fn prints_listening_line_and_serves() {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--seed", "3", "--rpm", "100"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("reads line");
    let addr = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let parsed: std::net::SocketAddr = addr.parse().expect("socket address");
    assert!(parsed.ip().is_loopback());
    assert_ne!(parsed.port(), 0);

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let status = runtime.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        client.get(format!("http://{addr}/_sim/stats")).send().await.map(|r| r.status().as_u16())
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status.expect("stats reachable"), 200);
}
