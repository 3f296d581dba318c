//! Runs a [`StateMachine`]: input/output processing in the Step Functions order, Map and
//! Parallel concurrency, retries, catchers, timeouts, the payload limit, history and stats.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use rand::rngs::SmallRng;
use rand::Rng as _;
use serde_json::{json, Map, Value};

use crate::clock::{Clock, SystemClock};
use crate::definition::{
    Catcher, FailField, IoPath, Kind, MapSpec, Number, Retrier, Scope, State, StateMachine, TaskSpec, TaskTarget,
    WaitSpec,
};
use crate::error::{names, LoadError, StatesError};
use crate::history::{ExecutionStats, HistoryEvent, Observer};
use crate::invoker::{lambda_invoke_envelope, TaskInvoker};
use crate::time::{format_timestamp, parse_timestamp};
use crate::{intrinsics, paths, random};

/// The Step Functions default payload quota: 256 KiB per state input or output.
pub const DEFAULT_PAYLOAD_LIMIT: usize = 262_144;
/// Default cap on concurrent iterations of one inline Map state.
pub const DEFAULT_MAX_MAP_CONCURRENCY: usize = 40;
/// Region used in generated ARNs.
const REGION: &str = "local";
/// Account used in generated ARNs.
const ACCOUNT: &str = "000000000000";
/// Longest back-off delay: the largest number of seconds Step Functions accepts.
const MAX_DELAY: Duration = Duration::from_secs(99_999_999);

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutionStatus {
    /// The machine reached a terminal state; `output` is the execution output.
    Succeeded {
        /// The execution output.
        output: Value,
    },
    /// An error was not handled (or a Fail state was reached).
    Failed {
        /// The error name.
        error: String,
        /// The error cause.
        cause: String,
    },
}

/// The result of [`Executor::execute`].
#[derive(Debug, Clone)]
pub struct Execution {
    /// The execution ARN, also visible as `$$.Execution.Id`.
    pub execution_arn: String,
    /// How the execution ended.
    pub status: ExecutionStatus,
    /// Every event, in order (empty when history recording is off).
    pub history: Vec<HistoryEvent>,
    /// Counters.
    pub stats: ExecutionStats,
}

impl Execution {
    /// The output of a successful execution.
    pub fn output(&self) -> Option<&Value> {
        match &self.status {
            ExecutionStatus::Succeeded { output } => Some(output),
            ExecutionStatus::Failed { .. } => None,
        }
    }

    /// The `(error, cause)` of a failed execution.
    pub fn error(&self) -> Option<(&str, &str)> {
        match &self.status {
            ExecutionStatus::Failed { error, cause } => Some((error, cause)),
            ExecutionStatus::Succeeded { .. } => None,
        }
    }

    /// True when the execution succeeded.
    pub fn succeeded(&self) -> bool {
        matches!(self.status, ExecutionStatus::Succeeded { .. })
    }
}

/// Runs state machines. Cheap to share: every execution has its own history and counters.
#[derive(Clone)]
pub struct Executor {
    invoker: Arc<dyn TaskInvoker>,
    clock: Arc<dyn Clock>,
    observer: Option<Arc<dyn Observer>>,
    payload_limit: usize,
    max_map_concurrency: usize,
    record_history: bool,
    jitter_seed: u64,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("payload_limit", &self.payload_limit)
            .field("max_map_concurrency", &self.max_map_concurrency)
            .field("record_history", &self.record_history)
            .field("jitter_seed", &self.jitter_seed)
            .finish_non_exhaustive()
    }
}

impl Executor {
    /// An executor running tasks through `invoker`, with the system clock, a 256 KiB payload
    /// limit, at most 40 concurrent iterations per Map, history recording on and a random jitter
    /// seed.
    pub fn new(invoker: Arc<dyn TaskInvoker>) -> Self {
        let seed = random::entropy_seed();
        Self {
            invoker,
            clock: Arc::new(SystemClock),
            observer: None,
            payload_limit: DEFAULT_PAYLOAD_LIMIT,
            max_map_concurrency: DEFAULT_MAX_MAP_CONCURRENCY,
            record_history: true,
            jitter_seed: seed,
        }
    }

    /// Uses `clock` for timestamps, waits, back-off and timeouts.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sends every history event to `observer` as it happens.
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Sets the largest serialized size, in bytes, of any state input or output; larger ones
    /// fail with `States.DataLimitExceeded`. `usize::MAX` turns the check off.
    pub fn with_payload_limit(mut self, bytes: usize) -> Self {
        self.payload_limit = bytes;
        self
    }

    /// Caps the concurrent iterations of any one Map state (also the limit used when
    /// `MaxConcurrency` is 0, i.e. unlimited). Values below 1 are treated as 1.
    pub fn with_max_map_concurrency(mut self, n: usize) -> Self {
        self.max_map_concurrency = n.max(1);
        self
    }

    /// Turns history recording on or off; counters are always kept and an observer still
    /// receives every event.
    pub fn with_history(mut self, record: bool) -> Self {
        self.record_history = record;
        self
    }

    /// Seeds the random number generator behind `JitterStrategy: FULL`; each execution starts
    /// from this seed, so the same seed gives the same delays.
    pub fn with_jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = seed;
        self
    }

    /// Parses and validates a definition, accepting the task resources this executor's
    /// invoker supports.
    pub fn load(&self, definition_text: &str) -> Result<StateMachine, LoadError> {
        StateMachine::from_json_for(definition_text, self.invoker.as_ref())
    }

    /// Runs `machine` with `input` as the execution named `execution_name`. Must be polled
    /// inside a tokio runtime (tasks are spawned on it and [`SystemClock`] uses its timer).
    pub async fn execute(&self, machine: &StateMachine, input: Value, execution_name: &str) -> Execution {
        let start = self.clock.now();
        let machine_arn = format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{}", machine.name());
        let execution_arn = format!("arn:aws:states:{REGION}:{ACCOUNT}:execution:{}:{execution_name}", machine.name());
        let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/StepFunctionsLocal");
        let run = Run {
            exec: self,
            execution_ctx: json!({
                "Id": execution_arn,
                "Name": execution_name,
                "RoleArn": role_arn,
                "StartTime": format_timestamp(start),
                "RedriveCount": 0,
            }),
            execution_input: input.clone(),
            machine_ctx: json!({ "Id": machine_arn, "Name": machine.name() }),
            emit_events: self.record_history || self.observer.is_some(),
            history: Mutex::new(Vec::new()),
            next_event_id: AtomicU64::new(0),
            transitions: AtomicU64::new(0),
            invocations: AtomicU64::new(0),
            iterations: AtomicU64::new(0),
            max_concurrency: Mutex::new(BTreeMap::new()),
            rng: Mutex::new(random::seeded(self.jitter_seed)),
        };
        let mut track = Track { path: Vec::new(), prev: None };
        run.emit(
            &mut track,
            "ExecutionStarted",
            None,
            || json!({ "input": input, "inputDetails": { "truncated": false }, "roleArn": role_arn }),
        );
        let outcome = match run.check_size(&input, "the execution input") {
            Err(e) => Err(e),
            Ok(()) => {
                let body = run.run_scope(&machine.root, input, &mut track);
                match machine.timeout_seconds {
                    None => body.await,
                    Some(secs) => {
                        tokio::select! {
                            biased;
                            r = body => r,
                            () = self.clock.timer(Duration::from_secs(secs)) => Err(StatesError::new(
                                names::TIMEOUT,
                                format!("The execution exceeded its TimeoutSeconds of {secs} seconds"),
                            )),
                        }
                    }
                }
            }
        };
        let status = match outcome {
            Ok(output) => {
                run.emit(
                    &mut track,
                    "ExecutionSucceeded",
                    None,
                    || json!({ "output": output, "outputDetails": { "truncated": false } }),
                );
                ExecutionStatus::Succeeded { output }
            }
            Err(e) => {
                run.emit(&mut track, "ExecutionFailed", None, || json!({ "error": e.error, "cause": e.cause }));
                ExecutionStatus::Failed { error: e.error, cause: e.cause }
            }
        };
        let stats = ExecutionStats {
            state_transitions: run.transitions.load(Ordering::Relaxed),
            task_invocations: run.invocations.load(Ordering::Relaxed),
            map_iterations: run.iterations.load(Ordering::Relaxed),
            max_observed_concurrency: run.max_concurrency.lock().map(|m| m.clone()).unwrap_or_default(),
        };
        let history = run.history.into_inner().unwrap_or_default();
        Execution { execution_arn, status, history, stats }
    }
}

/// Where events of one path of execution go: its iteration indices and its last event.
#[derive(Debug)]
struct Track {
    path: Vec<usize>,
    prev: Option<u64>,
}

impl Track {
    fn child(&self, index: usize, prev: Option<u64>) -> Track {
        let mut path = Vec::with_capacity(self.path.len() + 1);
        path.extend_from_slice(&self.path);
        path.push(index);
        Track { path, prev }
    }
}

/// A `Write` sink that only counts bytes and gives up past a limit.
struct SizeCounter {
    written: usize,
    limit: usize,
}

impl io::Write for SizeCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written = self.written.saturating_add(buf.len());
        if self.written > self.limit {
            Err(io::Error::other("payload limit exceeded"))
        } else {
            Ok(buf.len())
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Aborts a spawned invocation when the state stops waiting for it (timeout, cancellation).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// True when a retrier's or catcher's `ErrorEquals` matches `error`. `States.Runtime` is never
/// matched; `States.ALL` matches everything else except `States.DataLimitExceeded`; in a
/// Task, `States.TaskFailed` matches everything except those and `States.Timeout`.
fn error_matches(error_equals: &[String], error: &str, in_task: bool) -> bool {
    if error == names::RUNTIME {
        return false;
    }
    error_equals.iter().any(|e| {
        e == error
            || (e == names::ALL && error != names::DATA_LIMIT_EXCEEDED)
            || (in_task && e == names::TASK_FAILED && error != names::TIMEOUT && error != names::DATA_LIMIT_EXCEEDED)
    })
}

/// A non-negative integer read from a path.
fn read_count(path: &str, input: &Value, ctx: &Value, field: &str) -> Result<u64, StatesError> {
    let value = paths::select(path, input, ctx)?;
    value.as_u64().ok_or_else(|| {
        StatesError::runtime(format!("The value of {field} '{path}' must be a non-negative integer, got {value}"))
    })
}

/// A task's timeout in seconds: TimeoutSeconds, or TimeoutSecondsPath read from the input.
fn task_timeout(spec: &TaskSpec, effective: &Value, ctx: &Value) -> Result<Option<u64>, StatesError> {
    match &spec.timeout {
        None => Ok(None),
        Some(Number::Fixed(n)) => Ok(Some(*n)),
        Some(Number::Path(path)) => match read_count(path, effective, ctx, "TimeoutSecondsPath")? {
            0 => Err(StatesError::runtime("TimeoutSecondsPath must select a positive integer")),
            n => Ok(Some(n)),
        },
    }
}

/// What a Task state calls.
enum TaskCall {
    /// A Lambda function (name or ARN, with any qualifier) and its payload.
    Function(String, Value),
    /// Any other resource ARN and its parameters.
    Resource(String, Value),
}

/// The call a Task makes, with the resource type and resource its history events name.
fn task_call(target: &TaskTarget, params: &Value) -> Result<(TaskCall, &'static str, String), StatesError> {
    match target {
        TaskTarget::LambdaInvoke => {
            let function = match params.get("FunctionName") {
                Some(Value::String(f)) => f.clone(),
                _ => return Err(StatesError::runtime("The Lambda Invoke parameter 'FunctionName' must be a string")),
            };
            let function = match params.get("Qualifier") {
                None => function,
                Some(Value::String(q)) => format!("{function}:{q}"),
                Some(_) => {
                    return Err(StatesError::runtime("The Lambda Invoke parameter 'Qualifier' must be a string"))
                }
            };
            if let Some(t) = params.get("InvocationType") {
                if t.as_str() != Some("RequestResponse") {
                    return Err(StatesError::runtime("Only 'RequestResponse' Lambda invocations are supported"));
                }
            }
            let payload = params.get("Payload").cloned().unwrap_or_else(|| Value::Object(Map::new()));
            Ok((TaskCall::Function(function, payload), "lambda", "invoke".to_string()))
        }
        TaskTarget::LambdaArn(arn) => Ok((TaskCall::Function(arn.clone(), params.clone()), "lambda", arn.clone())),
        TaskTarget::Other(resource) => {
            Ok((TaskCall::Resource(resource.clone(), params.clone()), "resource", resource.clone()))
        }
    }
}

/// Starts the invocation on the runtime (when there is one), so that a timeout or an
/// aborted branch drops it and cancels the spawned task.
fn spawn_invocation(invoker: Arc<dyn TaskInvoker>, call: TaskCall) -> BoxFuture<'static, Result<Value, StatesError>> {
    let invocation = async move {
        match call {
            TaskCall::Function(function, payload) => invoker.invoke_function(&function, payload).await,
            TaskCall::Resource(resource, parameters) => invoker.invoke_resource(&resource, parameters).await,
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            let mut join = AbortOnDrop(handle.spawn(invocation));
            Box::pin(async move {
                match (&mut join.0).await {
                    Ok(result) => result,
                    Err(e) => {
                        Err(StatesError::new(names::TASK_FAILED, format!("the task invocation did not complete: {e}")))
                    }
                }
            })
        }
        Err(_) => Box::pin(invocation),
    }
}

/// The items a Map iterates: its ItemsPath selection (or the whole input), which must be an array.
fn map_items(name: &str, spec: &MapSpec, effective: &Value, ctx: &Value) -> Result<Vec<Value>, StatesError> {
    let items = match &spec.items_path {
        None => effective.clone(),
        Some(path) => paths::select(path, effective, ctx)?,
    };
    match items {
        Value::Array(items) => Ok(items),
        other => Err(StatesError::runtime(format!(
            "The ItemsPath '{}' of the Map state '{name}' must select a JSON array, got {}",
            spec.items_path.as_deref().unwrap_or("$"),
            paths::quoted(&other)
        ))),
    }
}

/// The input of one Map iteration: the item, or the ItemSelector expanded with the item in
/// the context object's `Map.Item`.
fn iteration_input(
    spec: &MapSpec,
    index: usize,
    item: Value,
    effective: &Value,
    ctx: &Value,
) -> Result<Value, StatesError> {
    let Some(template) = &spec.item_selector else {
        return Ok(item);
    };
    let item_ctx = if ctx.is_null() {
        Value::Null
    } else {
        let mut c = ctx.clone();
        if let Value::Object(map) = &mut c {
            map.insert("Map".to_string(), json!({ "Item": { "Index": index, "Value": item } }));
        }
        c
    };
    paths::expand_template(template, effective, &item_ctx)
}

/// Gathers `(index, result)` pairs into a vector ordered by index; stops at the first error
/// (dropping the stream cancels the iterations still running).
async fn collect_in_order<S>(mut stream: S, length: usize) -> Result<Vec<Value>, StatesError>
where
    S: futures::Stream<Item = (usize, Result<Value, StatesError>)> + Unpin,
{
    let mut results = vec![Value::Null; length];
    while let Some((index, result)) = stream.next().await {
        let value = result?;
        if let Some(slot) = results.get_mut(index) {
            *slot = value;
        }
    }
    Ok(results)
}

/// One execution in progress.
struct Run<'e> {
    exec: &'e Executor,
    execution_ctx: Value,
    execution_input: Value,
    machine_ctx: Value,
    emit_events: bool,
    history: Mutex<Vec<HistoryEvent>>,
    next_event_id: AtomicU64,
    transitions: AtomicU64,
    invocations: AtomicU64,
    iterations: AtomicU64,
    max_concurrency: Mutex<BTreeMap<String, usize>>,
    rng: Mutex<SmallRng>,
}

impl Run<'_> {
    fn emit(&self, track: &mut Track, event_type: &str, state: Option<&str>, details: impl FnOnce() -> Value) {
        if !self.emit_events {
            return;
        }
        let id = self.next_event_id.fetch_add(1, Ordering::Relaxed) + 1;
        let event = HistoryEvent {
            id,
            previous_event_id: track.prev,
            timestamp: self.exec.clock.now(),
            event_type: event_type.to_string(),
            state_name: state.map(str::to_string),
            map_path: track.path.clone(),
            details: details(),
        };
        track.prev = Some(id);
        if let Some(observer) = &self.exec.observer {
            observer.on_event(&event);
        }
        if self.exec.record_history {
            if let Ok(mut history) = self.history.lock() {
                history.push(event);
            }
        }
    }

    fn check_size(&self, value: &Value, what: &str) -> Result<(), StatesError> {
        let limit = self.exec.payload_limit;
        if limit == usize::MAX {
            return Ok(());
        }
        let mut counter = SizeCounter { written: 0, limit };
        if serde_json::to_writer(&mut counter, value).is_err() {
            return Err(StatesError::new(
                names::DATA_LIMIT_EXCEEDED,
                format!("{what} has a size exceeding the maximum number of bytes service limit ({limit} bytes)"),
            ));
        }
        Ok(())
    }

    /// The context object for a state; `$$.Execution.Input` is only copied in when the state
    /// may read it.
    fn context(&self, name: &str, entered: SystemTime, retry_count: u64, with_input: bool) -> Value {
        let mut execution = self.execution_ctx.clone();
        if with_input {
            if let Value::Object(map) = &mut execution {
                map.insert("Input".to_string(), self.execution_input.clone());
            }
        }
        json!({
            "Execution": execution,
            "State": { "EnteredTime": format_timestamp(entered), "Name": name, "RetryCount": retry_count },
            "StateMachine": self.machine_ctx,
        })
    }

    /// Back-off before retry number `attempt + 1` of retrier `r`.
    fn backoff(&self, r: &Retrier, attempt: u64) -> Duration {
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        let mut seconds = r.interval_seconds as f64 * r.backoff_rate.powi(exponent);
        if let Some(max) = r.max_delay_seconds {
            seconds = seconds.min(max as f64);
        }
        if r.full_jitter {
            let unit = self.rng.lock().map(|mut g| g.random_range(0.0..=1.0)).unwrap_or(1.0);
            seconds *= unit;
        }
        Duration::try_from_secs_f64(seconds).map_or(MAX_DELAY, |d| d.min(MAX_DELAY))
    }

    fn run_scope<'s>(
        &'s self,
        scope: &'s Scope,
        input: Value,
        track: &'s mut Track,
    ) -> BoxFuture<'s, Result<Value, StatesError>> {
        Box::pin(async move {
            let mut current: &str = &scope.start_at;
            let mut input = input;
            loop {
                let Some((name, state)) = scope.states.get_key_value(current) else {
                    return Err(StatesError::runtime(format!("the state '{current}' does not exist")));
                };
                let (output, next) = self.run_state(name, state, input, track).await?;
                match next {
                    Some(next) => {
                        current = next;
                        input = output;
                    }
                    None => return Ok(output),
                }
            }
        })
    }

    /// Runs one state with its retriers and catchers; returns its output and the next state.
    async fn run_state<'s>(
        &'s self,
        name: &'s str,
        state: &'s State,
        input: Value,
        track: &mut Track,
    ) -> Result<(Value, Option<&'s str>), StatesError> {
        self.transitions.fetch_add(1, Ordering::Relaxed);
        let type_name = state.kind.type_name();
        self.emit(track, &format!("{type_name}StateEntered"), Some(name), || json!({ "name": name, "input": input }));
        let entered = self.exec.clock.now();
        let in_task = matches!(state.kind, Kind::Task(_));
        let mut retry_count = 0u64;
        let mut attempts_per_retrier = vec![0u64; state.retry.len()];
        loop {
            let ctx = if state.needs_context {
                self.context(name, entered, retry_count, state.needs_execution_input)
            } else {
                Value::Null
            };
            let error = match self.attempt(name, state, &input, &ctx, track).await {
                Ok((output, next)) => {
                    self.emit(
                        track,
                        &format!("{type_name}StateExited"),
                        Some(name),
                        || json!({ "name": name, "output": output }),
                    );
                    return Ok((output, next));
                }
                Err(error) => error,
            };
            if let Some(index) = state.retry.iter().position(|r| error_matches(&r.error_equals, &error.error, in_task))
            {
                if let (Some(retrier), Some(done)) = (state.retry.get(index), attempts_per_retrier.get_mut(index)) {
                    if *done < retrier.max_attempts {
                        let delay = self.backoff(retrier, *done);
                        *done += 1;
                        retry_count += 1;
                        self.exec.clock.sleep(delay).await;
                        continue;
                    }
                }
            }
            if let Some(catcher) = state.catch.iter().find(|c| error_matches(&c.error_equals, &error.error, in_task)) {
                return self.caught(name, catcher, &input, error);
            }
            return Err(error);
        }
    }

    fn caught<'s>(
        &self,
        name: &str,
        catcher: &'s Catcher,
        input: &Value,
        error: StatesError,
    ) -> Result<(Value, Option<&'s str>), StatesError> {
        let error_output = json!({ "Error": error.error, "Cause": error.cause });
        let result_path = catcher.result_path.as_ref().map(|p| p.as_deref());
        let output = paths::apply_result_path(input, result_path, error_output)?;
        self.check_size(&output, &format!("The output of the state '{name}'"))?;
        Ok((output, Some(catcher.next.as_str())))
    }

    /// One attempt at a state: input processing, the state's work, output processing.
    async fn attempt<'s>(
        &'s self,
        name: &'s str,
        state: &'s State,
        raw: &Value,
        ctx: &Value,
        track: &mut Track,
    ) -> Result<(Value, Option<&'s str>), StatesError> {
        self.check_size(raw, &format!("The input of the state '{name}'"))?;
        let effective: Cow<'_, Value> = match &state.input_path {
            IoPath::Default => Cow::Borrowed(raw),
            IoPath::Null => Cow::Owned(Value::Object(Map::new())),
            IoPath::Path(p) => Cow::Owned(paths::select(p, raw, ctx)?),
        };
        let next = state.next.as_deref();
        let (result, next) = match &state.kind {
            Kind::Pass { result } => match result {
                Some(result) => (Some(result.clone()), next),
                None => (Some(self.parameters(state, &effective, ctx)?.into_owned()), next),
            },
            Kind::Task(spec) => {
                let params = self.parameters(state, &effective, ctx)?;
                self.check_size(&params, &format!("The parameters of the state '{name}'"))?;
                let result = self.task(name, spec, &effective, params.into_owned(), ctx, track).await?;
                self.check_size(&result, &format!("The result of the task '{name}'"))?;
                (Some(self.select_result(state, result, ctx)?), next)
            }
            Kind::Map(spec) => {
                let result = self.map(name, spec, &effective, ctx, track).await?;
                (Some(self.select_result(state, result, ctx)?), next)
            }
            Kind::Parallel { branches } => {
                let params = self.parameters(state, &effective, ctx)?;
                let result = self.parallel(name, branches, &params, track).await?;
                (Some(self.select_result(state, result, ctx)?), next)
            }
            Kind::Choice { rules, default } => {
                let mut chosen = None;
                for rule in rules {
                    if rule.evaluate(&effective, ctx)? {
                        chosen = rule.next();
                        break;
                    }
                }
                match chosen.or(default.as_deref()) {
                    Some(target) => (None, Some(target)),
                    None => {
                        return Err(StatesError::new(
                            names::NO_CHOICE_MATCHED,
                            format!("No Choice Rules matched and no Default was specified in the state '{name}'"),
                        ))
                    }
                }
            }
            Kind::Wait(spec) => {
                let delay = self.wait_duration(spec, &effective, ctx)?;
                self.exec.clock.sleep(delay).await;
                (None, next)
            }
            Kind::Succeed => (None, None),
            Kind::Fail { error, cause } => {
                let error = self.fail_text(error, raw, ctx, "ErrorPath")?;
                let cause = self.fail_text(cause, raw, ctx, "CausePath")?;
                return Err(StatesError::new(error, cause));
            }
        };
        let output = match result {
            Some(result) => {
                let result_path = state.result_path.as_ref().map(|p| p.as_deref());
                paths::apply_result_path(raw, result_path, result)?
            }
            None => effective.into_owned(),
        };
        let output = match &state.output_path {
            IoPath::Default => output,
            IoPath::Null => Value::Object(Map::new()),
            IoPath::Path(p) => paths::select(p, &output, ctx)?,
        };
        self.check_size(&output, &format!("The output of the state '{name}'"))?;
        Ok((output, next))
    }

    fn parameters<'v>(&self, state: &State, effective: &'v Value, ctx: &Value) -> Result<Cow<'v, Value>, StatesError> {
        match &state.parameters {
            Some(template) => Ok(Cow::Owned(paths::expand_template(template, effective, ctx)?)),
            None => Ok(Cow::Borrowed(effective)),
        }
    }

    fn select_result(&self, state: &State, result: Value, ctx: &Value) -> Result<Value, StatesError> {
        match &state.result_selector {
            Some(template) => paths::expand_template(template, &result, ctx),
            None => Ok(result),
        }
    }

    fn fail_text(&self, field: &FailField, input: &Value, ctx: &Value, what: &str) -> Result<String, StatesError> {
        let value = match field {
            FailField::Absent => return Ok(String::new()),
            FailField::Literal(text) => return Ok(text.clone()),
            FailField::Path(path) => paths::select(path, input, ctx)?,
            FailField::Intrinsic(expr) => intrinsics::evaluate(expr, input, ctx)?,
        };
        match value {
            Value::String(text) => Ok(text),
            other => Err(StatesError::runtime(format!("The value of {what} must be a string, got {other}"))),
        }
    }

    fn wait_duration(&self, spec: &WaitSpec, input: &Value, ctx: &Value) -> Result<Duration, StatesError> {
        let until = |target: SystemTime| target.duration_since(self.exec.clock.now()).unwrap_or_default();
        Ok(match spec {
            WaitSpec::Seconds(n) => Duration::from_secs(*n),
            WaitSpec::SecondsPath(path) => Duration::from_secs(read_count(path, input, ctx, "SecondsPath")?),
            WaitSpec::Timestamp(target) => until(*target),
            WaitSpec::TimestampPath(path) => {
                let value = paths::select(path, input, ctx)?;
                let target = value.as_str().and_then(parse_timestamp).ok_or_else(|| {
                    StatesError::runtime(format!(
                        "The value of TimestampPath '{path}' must be an RFC 3339 timestamp, got {value}"
                    ))
                })?;
                until(target)
            }
        })
    }

    async fn task(
        &self,
        name: &str,
        spec: &TaskSpec,
        effective: &Value,
        params: Value,
        ctx: &Value,
        track: &mut Track,
    ) -> Result<Value, StatesError> {
        let timeout = task_timeout(spec, effective, ctx)?;
        let (call, resource_type, resource) = task_call(&spec.target, &params)?;
        self.emit(track, "TaskScheduled", Some(name), || {
            json!({
                "resourceType": resource_type,
                "resource": resource,
                "region": REGION,
                "parameters": params,
                "timeoutInSeconds": timeout,
            })
        });
        self.emit(track, "TaskStarted", Some(name), || json!({ "resourceType": resource_type, "resource": resource }));
        self.invocations.fetch_add(1, Ordering::Relaxed);
        let invocation = spawn_invocation(Arc::clone(&self.exec.invoker), call);
        let outcome = match timeout {
            None => invocation.await,
            Some(secs) => {
                tokio::select! {
                    biased;
                    r = invocation => r,
                    () = self.exec.clock.timer(Duration::from_secs(secs)) => {
                        let error = StatesError::new(
                            names::TIMEOUT,
                            format!("The task '{name}' did not complete within its TimeoutSeconds of {secs} seconds"),
                        );
                        self.emit(track, "TaskTimedOut", Some(name), || {
                            json!({ "resourceType": resource_type, "resource": resource, "error": error.error, "cause": error.cause })
                        });
                        return Err(error);
                    }
                }
            }
        };
        match outcome {
            Ok(payload) => {
                let result = if matches!(spec.target, TaskTarget::LambdaInvoke) {
                    lambda_invoke_envelope(payload, &uuid::Uuid::new_v4().to_string())
                } else {
                    payload
                };
                self.emit(
                    track,
                    "TaskSucceeded",
                    Some(name),
                    || json!({ "resourceType": resource_type, "resource": resource, "output": result }),
                );
                Ok(result)
            }
            Err(error) => {
                self.emit(track, "TaskFailed", Some(name), || {
                    json!({ "resourceType": resource_type, "resource": resource, "error": error.error, "cause": error.cause })
                });
                Err(error)
            }
        }
    }

    async fn map(
        &self,
        name: &str,
        spec: &MapSpec,
        effective: &Value,
        ctx: &Value,
        track: &mut Track,
    ) -> Result<Value, StatesError> {
        let items = map_items(name, spec, effective, ctx)?;
        let limit = self.map_limit(spec, effective, ctx)?;
        let length = items.len();
        self.emit(track, "MapStateStarted", Some(name), || json!({ "length": length }));
        let started = track.prev;
        let in_flight = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let running: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());
        let parent: &Track = track;
        let (in_flight, peak, running) = (&in_flight, &peak, &running);
        let iterations = items.into_iter().enumerate().map(|(index, item)| {
            let mut it_track = parent.child(index, started);
            async move {
                let now = in_flight.fetch_add(1, Ordering::Relaxed) + 1;
                peak.fetch_max(now, Ordering::Relaxed);
                if let Ok(mut r) = running.lock() {
                    r.insert(index);
                }
                let input = iteration_input(spec, index, item, effective, ctx);
                let result = self.map_iteration(name, spec, index, input, &mut it_track).await;
                in_flight.fetch_sub(1, Ordering::Relaxed);
                if let Ok(mut r) = running.lock() {
                    r.remove(&index);
                }
                (index, result)
            }
        });
        let stream = futures::stream::iter(iterations).buffer_unordered(limit);
        let outcome = collect_in_order(stream, length).await;
        if let Ok(mut m) = self.max_concurrency.lock() {
            let observed = peak.load(Ordering::Relaxed);
            let entry = m.entry(name.to_string()).or_insert(0);
            *entry = (*entry).max(observed);
        }
        match outcome {
            Err(error) => {
                let aborted: Vec<usize> = running.lock().map(|r| r.iter().copied().collect()).unwrap_or_default();
                for index in aborted {
                    let mut t = track.child(index, started);
                    self.emit(&mut t, "MapIterationAborted", Some(name), || json!({ "index": index, "name": name }));
                }
                self.emit(
                    track,
                    "MapStateFailed",
                    Some(name),
                    || json!({ "error": error.error, "cause": error.cause }),
                );
                Err(error)
            }
            Ok(results) => {
                self.emit(track, "MapStateSucceeded", Some(name), || json!({}));
                Ok(Value::Array(results))
            }
        }
    }

    /// How many iterations of a Map may run at once: its MaxConcurrency (0 = unbounded),
    /// capped by the executor's limit.
    fn map_limit(&self, spec: &MapSpec, effective: &Value, ctx: &Value) -> Result<usize, StatesError> {
        let requested = match &spec.max_concurrency {
            Number::Fixed(n) => *n,
            Number::Path(path) => read_count(path, effective, ctx, "MaxConcurrencyPath")?,
        };
        let cap = self.exec.max_map_concurrency.max(1);
        Ok(match usize::try_from(requested) {
            Ok(0) | Err(_) => cap,
            Ok(n) => n.min(cap),
        })
    }

    /// Runs one Map iteration on its `input` (or fails with the error preparing it), between
    /// its started and succeeded/failed events.
    async fn map_iteration(
        &self,
        name: &str,
        spec: &MapSpec,
        index: usize,
        input: Result<Value, StatesError>,
        track: &mut Track,
    ) -> Result<Value, StatesError> {
        self.iterations.fetch_add(1, Ordering::Relaxed);
        self.emit(track, "MapIterationStarted", Some(name), || json!({ "index": index, "name": name }));
        // Let the other admitted iterations (and other tasks on the runtime) start before
        // this one runs, even when it has nothing to wait for.
        tokio::task::yield_now().await;
        let result = match input {
            Ok(input) => self.run_scope(&spec.processor, input, track).await,
            Err(e) => Err(e),
        };
        match &result {
            Ok(_) => self.emit(track, "MapIterationSucceeded", Some(name), || json!({ "index": index, "name": name })),
            Err(e) => self.emit(
                track,
                "MapIterationFailed",
                Some(name),
                || json!({ "index": index, "name": name, "error": e.error, "cause": e.cause }),
            ),
        }
        result
    }

    async fn parallel(
        &self,
        name: &str,
        branches: &[Scope],
        input: &Value,
        track: &mut Track,
    ) -> Result<Value, StatesError> {
        self.emit(track, "ParallelStateStarted", Some(name), || json!({ "branches": branches.len() }));
        let started = track.prev;
        let parent: &Track = track;
        let runs = branches.iter().enumerate().map(|(index, branch)| {
            let mut branch_track = parent.child(index, started);
            let branch_input = input.clone();
            async move { self.run_scope(branch, branch_input, &mut branch_track).await }
        });
        let outcome = futures::future::try_join_all(runs).await;
        match outcome {
            Ok(results) => {
                self.emit(track, "ParallelStateSucceeded", Some(name), || json!({}));
                Ok(Value::Array(results))
            }
            Err(error) => {
                self.emit(
                    track,
                    "ParallelStateFailed",
                    Some(name),
                    || json!({ "error": error.error, "cause": error.cause }),
                );
                Err(error)
            }
        }
    }
}
