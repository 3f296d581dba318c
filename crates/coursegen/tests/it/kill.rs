//! Kill and resume: `coursegen run` killed with SIGKILL (no chance to clean up) at seeded random
//! points, several times in a row, then run to completion. The final store equals an
//! uninterrupted run's, no lesson or image that had finished is written again, and no
//! temporary file is left.
//!
//! A kill point is a number of progress lines: the run is killed once it has printed that many.
//! The seed is printed; `COURSEGEN_KILL_SEED=N` repeats a sequence.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use crate::support::{self, is_temporary, snapshot, FileState};

/// Rounds of kills, each in a fresh store, each ending with a run to completion.
const ROUNDS: u32 = 4;
/// Kills per round: 20 kill points in all.
const KILLS_PER_ROUND: u32 = 5;
const PROJECT: &str = "kill-and-resume";

/// splitmix64: a few lines of seeded randomness, the same on every platform.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn seed() -> u64 {
    match std::env::var("COURSEGEN_KILL_SEED") {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("COURSEGEN_KILL_SEED={v:?} is not a number")),
        Err(_) => {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
        }
    }
}

fn args(out: &str) -> Vec<String> {
    ["run", "outline.yaml", "--content", "both", "--concurrency", "2", "--out", out]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Runs to the end; returns the exit code and the number of progress lines printed.
fn run_to_end(cwd: &Path, out: &str) -> (i32, usize) {
    let args = args(out);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let outcome = support::coursegen(cwd, &args);
    let lines = outcome.stderr.lines().filter(|l| is_progress(l)).count();
    (outcome.code, lines)
}

fn is_progress(line: &str) -> bool {
    line.trim_start().starts_with('[')
}

/// Starts a run and kills it (SIGKILL) once it has printed `lines` progress lines. Returns
/// whether it was killed (false: it finished first).
fn run_and_kill_after(cwd: &Path, out: &str, lines: usize) -> bool {
    let args = args(out);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child =
        support::command(cwd, &args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start coursegen");
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut seen = 0;
    let mut killed = false;
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if is_progress(&line) {
            seen += 1;
            if seen >= lines {
                killed = child.kill().is_ok();
                break;
            }
        }
    }
    let status = child.wait().expect("wait for coursegen");
    killed && !status.success() && status.code().is_none()
}

/// True when every `[VISUAL: ...]` tag of a lesson carries a visual id (VisualPlanner is done
/// with it: the lesson file is final).
fn planned(markdown: &[u8]) -> bool {
    let text = String::from_utf8_lossy(markdown);
    text.contains("[VISUAL:")
        && text.split("[VISUAL:").skip(1).all(|rest| {
            let inner = rest.split(']').next().unwrap_or("").trim();
            let parts: Vec<&str> = inner.split('-').collect();
            parts.len() == 3 && parts.iter().all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_digit()))
        })
}

/// The outputs that are finished in `store`: lessons VisualPlanner is done with, images and lab
/// guides, each with its sidecar.
fn finished(store: &BTreeMap<String, FileState>) -> BTreeMap<String, FileState> {
    store
        .iter()
        .filter(|(path, state)| {
            let has_sidecar = store.contains_key(&format!("{path}.meta.json"));
            let lesson = path.starts_with("lessons/") && path.ends_with(".md") && planned(&state.bytes);
            let image = path.starts_with("images/") && (path.ends_with(".svg") || path.ends_with(".png"));
            let lab = path.starts_with("labs/module-") && path.ends_with(".md");
            has_sidecar && (lesson || image || lab)
        })
        .map(|(p, s)| (p.clone(), s.clone()))
        .collect()
}

fn bytes(store: &BTreeMap<String, FileState>) -> BTreeMap<String, Vec<u8>> {
    store.iter().map(|(p, s)| (p.clone(), s.bytes.clone())).collect()
}

#[test]
fn killed_at_twenty_random_points_the_same_command_completes_the_same_store_without_redoing_work() {
    let seed = seed();
    println!("kill-and-resume seed: {seed} (COURSEGEN_KILL_SEED={seed} repeats it)");
    let mut rng = SplitMix(seed);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("outline.yaml"), support::outline_yaml("Kill and Resume", 3, 2, 1, 40)).unwrap();

    let (code, total_lines) = run_to_end(dir.path(), "reference");
    assert_eq!(code, 0, "the uninterrupted run succeeds");
    assert!(total_lines > 10, "{total_lines} progress lines");
    let reference = snapshot(&dir.path().join("reference").join(PROJECT));
    assert!(reference.keys().any(|k| k.starts_with("book/")), "the reference has a book");

    let mut kills = Vec::new();
    let (mut tracked, mut temporaries) = (0, 0);
    for round in 0..ROUNDS {
        let out = format!("round-{round}");
        let root = dir.path().join(&out).join(PROJECT);
        // Every output found finished after a kill, as it was then.
        let mut done: BTreeMap<String, FileState> = BTreeMap::new();
        for _ in 0..KILLS_PER_ROUND {
            let at = 1 + rng.below(total_lines as u64 - 1) as usize;
            let killed = run_and_kill_after(dir.path(), &out, at);
            kills.push((round, at, killed));
            temporaries += support::files_under(&root).iter().filter(|f| is_temporary(f)).count();
            let now = snapshot(&root);
            for (path, state) in finished(&now) {
                if let Some(before) = done.get(&path) {
                    assert_eq!(&state, before, "round {round}, kill at line {at}: finished {path} was written again");
                }
                done.entry(path).or_insert(state);
            }
        }
        tracked += done.len();
        let (code, _) = run_to_end(dir.path(), &out);
        assert_eq!(code, 0, "round {round}: the run after the kills completes (kills: {kills:?})");
        let end = snapshot(&root);
        for (path, before) in &done {
            assert_eq!(end.get(path), Some(before), "round {round}: finished {path} was written again");
        }
        let left: Vec<String> =
            support::files_under(&dir.path().join(&out)).into_iter().filter(|f| is_temporary(f)).collect();
        assert!(left.is_empty(), "round {round}: temporary files left: {left:?}");
        let (expected, actual) = (bytes(&reference), bytes(&end));
        let differing: Vec<&String> =
            expected.keys().chain(actual.keys()).filter(|k| expected.get(*k) != actual.get(*k)).collect();
        let first = differing.iter().find(|k| !k.starts_with("book/")).or(differing.first()).map(|k| {
            let show = |m: &BTreeMap<String, Vec<u8>>| m.get(*k).map(|b| String::from_utf8_lossy(b).into_owned());
            let clip = |s: Option<String>| s.map(|s| s.chars().take(1500).collect::<String>());
            format!("{k}\nuninterrupted: {:?}\nresumed: {:?}", clip(show(&expected)), clip(show(&actual)))
        });
        assert!(
            differing.is_empty(),
            "round {round}: the store differs from the uninterrupted run's: {differing:?}\n{}",
            first.unwrap_or_default()
        );
    }
    println!("kill points (round, progress line, killed before the end): {kills:?}");
    println!("finished outputs checked: {tracked}; temporary files found after kills: {temporaries}");
    assert_eq!(kills.len(), 20);
    assert!(tracked > 0, "no kill left a finished output to check");
}
