//! Execution history in the shape of `GetExecutionHistory`, live observation of events, and
//! execution counters.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{json, Value};

use crate::time::format_timestamp;

/// One history event, named as `GetExecutionHistory` names its event types
/// (`ExecutionStarted`, `TaskStateEntered`, `TaskScheduled`, `MapIterationStarted`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEvent {
    /// Sequential id, starting at 1, in the order events happened.
    pub id: u64,
    /// The previous event on the same path of execution (the same Map iteration or Parallel
    /// branch), if any.
    pub previous_event_id: Option<u64>,
    /// When the event happened, by the executor's clock.
    pub timestamp: SystemTime,
    /// The `GetExecutionHistory` event type name.
    pub event_type: String,
    /// The state the event belongs to, if any.
    pub state_name: Option<String>,
    /// Map iteration indices (and Parallel branch indices) from the outermost to the
    /// innermost enclosing iteration; empty at the top level.
    pub map_path: Vec<usize>,
    /// Event details, e.g. `{"name": .., "input": ..}` for a state entered event.
    pub details: Value,
}

impl HistoryEvent {
    /// The event as JSON, with an RFC 3339 timestamp.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "previousEventId": self.previous_event_id,
            "timestamp": format_timestamp(self.timestamp),
            "type": self.event_type,
            "stateName": self.state_name,
            "mapPath": self.map_path,
            "details": self.details,
        })
    }
}

/// Receives each history event as it happens, e.g. to show live progress.
pub trait Observer: Send + Sync {
    /// Called once per event, in event order.
    fn on_event(&self, event: &HistoryEvent);
}

/// Counters of one execution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutionStats {
    /// States entered, at every nesting level.
    pub state_transitions: u64,
    /// Task invocations, retries included.
    pub task_invocations: u64,
    /// Map iterations started.
    pub map_iterations: u64,
    /// For each Map state name, the largest number of its iterations in flight at once
    /// within one run of that Map state.
    pub max_observed_concurrency: BTreeMap<String, usize>,
}
