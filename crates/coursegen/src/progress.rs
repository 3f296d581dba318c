//! Live progress per module and stage, fed by the executor's history events: bars on a
//! terminal, plain timestamped lines otherwise (CI logs, pipes).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use asl_interpreter::history::{HistoryEvent, Observer};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

/// Shows what the execution is doing, on stderr.
pub(crate) struct Progress {
    start: Instant,
    /// Stamp lines with the events' own times (since the first event) instead of this
    /// process's clock: a history read after the fact (`aws watch`) keeps its timing.
    event_times: Option<Mutex<Option<SystemTime>>>,
    bars: Option<MultiProgress>,
    /// Per module: its bar (terminal mode) and how many steps it has.
    modules: Mutex<HashMap<u32, ProgressBar>>,
    lessons: HashMap<u32, u32>,
    /// Module and lesson of each running task, by (state name, map path).
    open: Mutex<OpenTasks>,
}

/// Module and lesson numbers of running tasks, keyed by (state name, map path).
type OpenTasks = HashMap<(String, Vec<usize>), (Option<u32>, Option<u32>)>;

impl Progress {
    /// `lessons` maps module number → lesson count, to size each module's bar.
    pub(crate) fn new(lessons: HashMap<u32, u32>) -> Self {
        let bars =
            std::io::stderr().is_terminal().then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Self {
            start: Instant::now(),
            event_times: None,
            bars,
            modules: Mutex::new(HashMap::new()),
            lessons,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Lines stamped with the events' times since the first event (see `event_times`).
    pub(crate) fn with_event_times(mut self) -> Self {
        self.event_times = Some(Mutex::new(None));
        self
    }

    fn line(&self, event: &HistoryEvent, text: String) {
        let seconds = match &self.event_times {
            None => self.start.elapsed().as_secs_f64(),
            Some(origin) => {
                let mut origin = origin.lock().unwrap_or_else(|p| p.into_inner());
                let first = *origin.get_or_insert(event.timestamp);
                event.timestamp.duration_since(first).unwrap_or_default().as_secs_f64()
            }
        };
        let stamp = format!("[{seconds:>7.2}s] ");
        match &self.bars {
            Some(m) => {
                let _ = m.println(format!("{stamp}{text}"));
            }
            None => eprintln!("{stamp}{text}"),
        }
    }

    fn module_bar(&self, module: u32) -> Option<ProgressBar> {
        let multi = self.bars.as_ref()?;
        let mut map = self.modules.lock().unwrap_or_else(|p| p.into_inner());
        let bar = map.entry(module).or_insert_with(|| {
            let steps = 2 + u64::from(*self.lessons.get(&module).unwrap_or(&0));
            let bar = multi.add(ProgressBar::new(steps));
            let style = ProgressStyle::with_template("module {prefix:>3} [{bar:24}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(module.to_string());
            bar
        });
        Some(bar.clone())
    }

    /// Clears the bars before the summary is printed.
    pub(crate) fn finish(&self) {
        let map = self.modules.lock().unwrap_or_else(|p| p.into_inner());
        for bar in map.values() {
            bar.finish_and_clear();
        }
    }
}

/// The input of a state-entered event (the executor may store it as JSON or as a JSON string).
fn event_input(event: &HistoryEvent) -> Value {
    match event.details.get("input") {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => Value::Null,
    }
}

fn number(v: &Value, field: &str) -> Option<u32> {
    v.get(field).and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok())
}

/// The stage a Task state runs, from its name (`BothContentGen` → `ContentGen`).
pub(crate) fn stage_of(state: &str) -> &str {
    coursegen_stages::Stage::ALL.iter().map(|s| s.name()).find(|name| state.ends_with(name)).unwrap_or(state)
}

impl Observer for Progress {
    fn on_event(&self, event: &HistoryEvent) {
        if let Some(origin) = &self.event_times {
            origin.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(event.timestamp);
        }
        let state = stage_of(event.state_name.as_deref().unwrap_or(""));
        let key = (event.state_name.clone().unwrap_or_default(), event.map_path.clone());
        match event.event_type.as_str() {
            "TaskStateEntered" => {
                let input = event_input(event);
                let module = number(&input, "module_number");
                let lesson = number(&input, "lesson_number");
                self.open.lock().unwrap_or_else(|p| p.into_inner()).insert(key, (module, lesson));
                match module.map(|m| (m, self.module_bar(m))) {
                    Some((_, Some(bar))) => bar.set_message(state.to_string()),
                    // Plain lines: one per module-level step; lesson-level steps only with -v.
                    Some((m, None)) => match lesson {
                        Some(l) => tracing::info!("module {m} lesson {l}: {state} started"),
                        None => self.line(event, format!("module {m}: {state} started")),
                    },
                    None => self.line(event, format!("{state} started")),
                }
            }
            "TaskStateExited" => {
                let (module, lesson) =
                    self.open.lock().unwrap_or_else(|p| p.into_inner()).remove(&key).unwrap_or((None, None));
                match module.map(|m| (m, self.module_bar(m))) {
                    Some((_, Some(bar))) => {
                        bar.inc(1);
                        bar.set_message(format!("{state} done"));
                    }
                    Some((m, None)) => match lesson {
                        Some(l) => tracing::info!("module {m} lesson {l}: {state} done"),
                        None => self.line(event, format!("module {m}: {state} done")),
                    },
                    None => self.line(event, format!("{state} done")),
                }
            }
            "TaskFailed" | "LambdaFunctionFailed" => {
                let error = event.details.get("error").and_then(Value::as_str).unwrap_or("error");
                self.line(event, format!("{state}: attempt failed with {error} (Retry may run it again)"));
            }
            // A module's or lab's Catch fired: the state records the failure and the others go on.
            "PassStateEntered" => {
                let raw = event.state_name.as_deref().unwrap_or("");
                let Some(failed) = raw.strip_suffix("Failed") else { return };
                let input = event_input(event);
                let error = input.pointer("/failure/Error").and_then(Value::as_str).unwrap_or("error");
                let what = match (number(&input, "module_number"), input.get("lab_id").and_then(Value::as_str)) {
                    (_, Some(lab)) => format!("lab {lab}"),
                    (Some(m), None) => format!("module {m}"),
                    (None, None) => return,
                };
                self.line(event, format!("{what}: {} failed for good ({error}); the others go on", stage_of(failed)));
            }
            "ExecutionFailed" => self.line(event, "execution failed".to_string()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::stage_of;

    #[test]
    fn task_states_map_to_their_stage() {
        assert_eq!(stage_of("BothContentGen"), "ContentGen");
        assert_eq!(stage_of("BookBuilder"), "BookBuilder");
        assert_eq!(stage_of("CombineResults"), "CombineResults");
    }
}
