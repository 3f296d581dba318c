//! Fan-out benchmark: a pass-only course-shaped workflow (Map over modules → nested Map over
//! lessons → combine) run once; prints one JSON line with wall time, state transitions and
//! peak RSS. Set `FANOUT_JSON_OUT` to also write the definition to that file, and
//! `FANOUT_MODULES` / `FANOUT_LESSONS` to change the size (default 1000 x 10).

use std::sync::Arc;
use std::time::Instant;

use asl_interpreter::bench_support::{fanout_definition, fanout_input};
use asl_interpreter::{Executor, NoopInvoker, StateMachine};
use serde_json::json;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Peak resident set size in KiB (`VmHWM`), when the platform reports it.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let modules = env_usize("FANOUT_MODULES", 1000);
    let lessons = env_usize("FANOUT_LESSONS", 10);
    let definition = fanout_definition(modules, lessons);
    if let Ok(path) = std::env::var("FANOUT_JSON_OUT") {
        let text = serde_json::to_string_pretty(&definition).unwrap_or_default();
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("could not write {path}: {e}");
        }
    }
    let machine = match StateMachine::from_value(definition) {
        Ok(m) => m.with_name("FanoutBench"),
        Err(e) => {
            eprintln!("definition does not load: {e}");
            std::process::exit(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("no runtime: {e}");
            std::process::exit(1);
        }
    };
    // History off first, so its peak RSS is not inflated by the recorded run.
    let mut runs = Vec::new();
    for record_history in [false, true] {
        let input = fanout_input(modules, lessons);
        let executor = Executor::new(Arc::new(NoopInvoker)).with_payload_limit(usize::MAX).with_history(record_history);
        let started = Instant::now();
        let execution = runtime.block_on(executor.execute(&machine, input, "fanout"));
        let wall = started.elapsed();
        let lesson_keys =
            execution.output().and_then(|o| o.get("all_lesson_keys")).and_then(|k| k.as_array()).map_or(0, Vec::len);
        runs.push(json!({
            "history": record_history,
            "succeeded": execution.succeeded(),
            "error": execution.error().map(|(e, c)| format!("{e}: {c}")),
            "lesson_keys": lesson_keys,
            "wall_ms": (wall.as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
            "state_transitions": execution.stats.state_transitions,
            "map_iterations": execution.stats.map_iterations,
            "history_events": execution.history.len(),
            "transitions_per_sec": (execution.stats.state_transitions as f64 / wall.as_secs_f64().max(1e-9)).round(),
            "peak_rss_kib_so_far": peak_rss_kib(),
        }));
    }
    let line = json!({
        "bench": "fanout",
        "modules": modules,
        "lessons_per_module": lessons,
        "runs": runs,
        "peak_rss_kib": peak_rss_kib(),
        "payload_limit": "disabled (with_payload_limit(usize::MAX)); the Step Functions 256 KiB quota would reject the combined output",
    });
    println!("{line}");
}
