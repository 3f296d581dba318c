//! `coursegen aws watch`: follow an execution through its history, with the progress and the
//! summary of `coursegen run`.
//!
//! Each poll asks DescribeExecution first and then reads the history to its end, so when the
//! status says the execution closed, every event is already read. Pages are read once: the
//! next poll asks again only for the last, partly filled page (its token), and events at or
//! below the last id already handed on are skipped.

use std::time::Duration;

use asl_interpreter::history::Observer;
use coursegen_core::contracts::BookBuilderOutput;
use serde_json::{json, Value};

use super::api::{ApiError, ExecutionInfo, Executions};
use super::history::Reducer;
use crate::error::Exit;
use crate::summary::{critical_path, path_time, stage_times, task_spans};

/// Where the reader is in the history: the token of the page it is on.
#[derive(Debug, Default)]
pub(crate) struct Cursor {
    token: Option<String>,
}

/// Reads the history from the cursor to its end, handing each new event to `observer`.
pub(crate) async fn read_new(
    sfn: &dyn Executions,
    arn: &str,
    cursor: &mut Cursor,
    reducer: &mut Reducer,
    observer: &dyn Observer,
) -> Result<(), ApiError> {
    loop {
        let page = sfn.history(arn, cursor.token.clone()).await?;
        for event in &page.events {
            if let Some(converted) = reducer.push(event) {
                observer.on_event(converted);
            }
        }
        match page.next_token {
            Some(next) => cursor.token = Some(next),
            None => return Ok(()),
        }
    }
}

/// Follows the execution until it closes; returns its final description.
pub(crate) async fn follow(
    sfn: &dyn Executions,
    arn: &str,
    poll: Duration,
    reducer: &mut Reducer,
    observer: &dyn Observer,
) -> Result<ExecutionInfo, ApiError> {
    let mut cursor = Cursor::default();
    loop {
        let info = sfn.describe(arn).await?;
        read_new(sfn, arn, &mut cursor, reducer, observer).await?;
        if info.status != "RUNNING" && info.status != "PENDING_REDRIVE" {
            return Ok(info);
        }
        tokio::time::sleep(poll).await;
    }
}

/// The summary of a closed execution, as `run` prints it; returns the exit code.
pub(crate) fn report(info: &ExecutionInfo, reducer: &Reducer, json_out: bool) -> Exit {
    let wall = match (info.start, info.stop) {
        (Some(a), Some(b)) => b.duration_since(a).unwrap_or_default().as_secs_f64(),
        _ => 0.0,
    };
    let counts = reducer.counts;
    if info.status != "SUCCEEDED" {
        let state = reducer.failing_state().unwrap_or_else(|| "?".into());
        let error = info.error.clone().unwrap_or_else(|| format!("States.{}", info.status));
        let cause = info.cause.clone().unwrap_or_default();
        if json_out {
            let summary = json!({
                "status": info.status, "execution": info.arn, "wall_seconds": wall, "state": state,
                "error": error, "cause": cause, "state_transitions": counts.state_transitions,
            });
            println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default());
        }
        eprintln!("execution {} after {wall:.2}s", info.status);
        eprintln!("  failing state: {state}");
        eprintln!("  error: {error}");
        eprintln!("  cause: {cause}");
        eprintln!(
            "Finished outputs are saved in the bucket; fix the cause, then `coursegen aws redrive {}` resumes from the failed state (or start again: nothing finished is regenerated).",
            info.arn
        );
        return Exit::Failed;
    }
    let spans = task_spans(&reducer.events);
    let stages = stage_times(&spans);
    let path = critical_path(&spans);
    let path_times = path_time(&path);
    let output: Value = info.output.as_deref().and_then(|o| serde_json::from_str(o).ok()).unwrap_or(Value::Null);
    let book: Option<BookBuilderOutput> = serde_json::from_value(output).ok();
    let project =
        reducer.project().or_else(|| book.as_ref().and_then(|b| b.manifest_key.split('/').next().map(str::to_string)));
    let location = match &project {
        Some(p) => format!(
            "{} in the course bucket (coursegen aws fetch {p} --stack NAME)",
            coursegen_core::keys::book_html_key(p)
        ),
        None => "in the course bucket".to_string(),
    };
    let summary = json!({
        "status": "SUCCEEDED",
        "execution": info.arn,
        "wall_seconds": wall,
        "state_transitions": counts.state_transitions,
        "task_invocations": counts.task_invocations,
        "map_iterations": counts.map_iterations,
        "model_calls": Value::Null,
        "stages": stages,
        "critical_path": path,
        "critical_path_time": path_times,
        "wall_over_unqueued_chain": Value::Null,
        "project": project,
        "book": location,
        "result": book,
        "tokens": Value::Null,
    });
    if json_out {
        println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default());
    } else {
        crate::run::print_summary(&summary, &path, wall);
    }
    match book {
        Some(b) if b.failed > 0 => {
            eprintln!("error: the book is missing {} item(s); see failures in its manifest.json", b.failed);
            Exit::Failed
        }
        _ => Exit::Ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::api::{ApiResult, Event, HistoryPage};
    use asl_interpreter::history::HistoryEvent;
    use async_trait::async_trait;
    use std::sync::Mutex;
    use std::time::SystemTime;

    /// An execution whose history grows by `per_poll` events at every DescribeExecution,
    /// served in pages of `page` events like GetExecutionHistory.
    struct Growing {
        events: Vec<Event>,
        visible: Mutex<usize>,
        per_poll: usize,
        page: usize,
        served: Mutex<Vec<i64>>,
    }

    #[async_trait]
    impl Executions for Growing {
        async fn start(&self, _: &str, _: &str, _: &str) -> ApiResult<String> {
            unreachable!()
        }
        async fn describe(&self, arn: &str) -> ApiResult<ExecutionInfo> {
            let mut visible = self.visible.lock().unwrap();
            *visible = (*visible + self.per_poll).min(self.events.len());
            let done = *visible == self.events.len();
            Ok(ExecutionInfo {
                arn: arn.into(),
                name: "n".into(),
                status: if done { "FAILED".into() } else { "RUNNING".into() },
                start: Some(SystemTime::UNIX_EPOCH),
                stop: done.then_some(SystemTime::UNIX_EPOCH),
                input: None,
                output: None,
                error: done.then(|| "InvalidOutline".into()),
                cause: None,
                redrive_count: None,
            })
        }
        async fn list(
            &self,
            _: &str,
            _: Option<&str>,
            _: Option<String>,
        ) -> ApiResult<(Vec<ExecutionInfo>, Option<String>)> {
            unreachable!()
        }
        async fn history(&self, _: &str, token: Option<String>) -> ApiResult<HistoryPage> {
            let visible = *self.visible.lock().unwrap();
            let from: usize = token.map(|t| t.parse().unwrap()).unwrap_or(0);
            let to = (from + self.page).min(visible);
            self.served.lock().unwrap().extend(self.events[from..to].iter().map(|e| e.id));
            // Like the API: a token only when the page is full and more may follow.
            let next = (to - from == self.page).then(|| to.to_string());
            Ok(HistoryPage { events: self.events[from..to].to_vec(), next_token: next })
        }
        async fn redrive(&self, _: &str) -> ApiResult<Option<SystemTime>> {
            unreachable!()
        }
        async fn state_machines(&self) -> ApiResult<Vec<(String, String)>> {
            unreachable!()
        }
    }

    #[derive(Default)]
    struct Seen(Mutex<Vec<u64>>);

    impl Observer for Seen {
        fn on_event(&self, event: &HistoryEvent) {
            self.0.lock().unwrap().push(event.id);
        }
    }

    #[tokio::test]
    async fn a_growing_history_is_read_incrementally_and_every_event_observed_once_in_order() {
        let text = include_str!("../../tests/data/history-course-failed.json");
        let events = serde_json::from_str::<HistoryPage>(text).unwrap().events;
        let n = events.len();
        let sfn = Growing { events, visible: Mutex::new(0), per_poll: 4, page: 3, served: Mutex::new(vec![]) };
        let seen = Seen::default();
        let mut reducer = Reducer::default();
        let info =
            follow(&sfn, "arn:execution", Duration::from_millis(1), &mut reducer, &seen).await.expect("followed");
        assert_eq!(info.status, "FAILED");
        assert_eq!(*seen.0.lock().unwrap(), (1..=n as u64).collect::<Vec<_>>());
        // Never back to the start: only the last partly read page is asked for again.
        let served = sfn.served.lock().unwrap().clone();
        let mut counts = std::collections::HashMap::new();
        for id in &served {
            *counts.entry(id).or_insert(0) += 1;
        }
        assert_eq!(counts.get(&1), Some(&1), "the first page is read once: {served:?}");
        assert!(served.len() < 2 * n, "{} events served for {n}", served.len());
        assert_eq!(report(&info, &reducer, false), Exit::Failed);
    }
}
