//! Shared test helpers: an in-process task invoker that maps function names to closures and
//! counts calls, plus small runners.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use asl_interpreter::{lambda_function_name, Execution, Executor, FakeClock, StateMachine, StatesError, TaskInvoker};
use async_trait::async_trait;
use serde_json::{json, Value};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type Handler = Arc<dyn Fn(Value) -> BoxFuture<Result<Value, StatesError>> + Send + Sync>;

/// Maps function names to handlers, records every call.
#[derive(Default)]
pub struct TestInvoker {
    handlers: HashMap<String, Handler>,
    calls: Mutex<Vec<(String, Value)>>,
}

impl TestInvoker {
    pub fn new() -> Self {
        Self::default()
    }

    /// A synchronous handler.
    pub fn on<F>(mut self, name: &str, f: F) -> Self
    where
        F: Fn(Value) -> Result<Value, StatesError> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.handlers.insert(
            name.to_string(),
            Arc::new(move |payload| {
                let f = Arc::clone(&f);
                Box::pin(async move { f(payload) })
            }),
        );
        self
    }

    /// An asynchronous handler.
    pub fn on_async<F, Fut>(mut self, name: &str, f: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, StatesError>> + Send + 'static,
    {
        self.handlers.insert(name.to_string(), Arc::new(move |payload| Box::pin(f(payload))));
        self
    }

    /// Fails `times` times with `error`, then returns `then`.
    pub fn failing(self, name: &str, times: usize, error: &str, then: Value) -> Self {
        let count = AtomicUsize::new(0);
        let error = error.to_string();
        self.on(name, move |_| {
            if count.fetch_add(1, Ordering::SeqCst) < times {
                Err(StatesError::new(error.clone(), "{\"errorMessage\":\"injected failure\"}"))
            } else {
                Ok(then.clone())
            }
        })
    }

    /// Echoes its payload.
    pub fn echo(self, name: &str) -> Self {
        self.on(name, Ok)
    }

    pub fn calls(&self, name: &str) -> usize {
        self.calls.lock().unwrap().iter().filter(|(n, _)| n == name).count()
    }

    pub fn payloads(&self, name: &str) -> Vec<Value> {
        self.calls.lock().unwrap().iter().filter(|(n, _)| n == name).map(|(_, p)| p.clone()).collect()
    }
}

#[async_trait]
impl TaskInvoker for TestInvoker {
    async fn invoke_function(&self, function: &str, payload: Value) -> Result<Value, StatesError> {
        let name = lambda_function_name(function).to_string();
        self.calls.lock().unwrap().push((name.clone(), payload.clone()));
        let handler = self.handlers.get(&name).or_else(|| self.handlers.get(function)).cloned();
        match handler {
            Some(h) => h(payload).await,
            None => {
                Err(StatesError::new("Lambda.ResourceNotFoundException", format!("Function not found: {function}")))
            }
        }
    }
}

pub fn machine(definition: Value) -> StateMachine {
    StateMachine::from_value(definition).expect("definition loads")
}

/// Runs with the given invoker and a fake clock; returns the execution and the clock.
pub async fn run_with(definition: Value, input: Value, invoker: Arc<TestInvoker>) -> (Execution, Arc<FakeClock>) {
    let clock = Arc::new(FakeClock::default());
    let executor = Executor::new(invoker).with_clock(clock.clone()).with_jitter_seed(7);
    let execution = executor.execute(&machine(definition), input, "test").await;
    (execution, clock)
}

/// Runs a machine that needs no tasks.
pub async fn run(definition: Value, input: Value) -> Execution {
    run_with(definition, input, Arc::new(TestInvoker::new())).await.0
}

/// A single-state machine.
pub fn single(state: Value) -> Value {
    json!({ "StartAt": "S", "States": { "S": state } })
}

pub fn output(execution: &Execution) -> Value {
    match execution.output() {
        Some(v) => v.clone(),
        None => panic!("execution failed: {:?}", execution.error()),
    }
}

pub fn error(execution: &Execution) -> (String, String) {
    match execution.error() {
        Some((e, c)) => (e.to_string(), c.to_string()),
        None => panic!("execution succeeded: {:?}", execution.output()),
    }
}

pub fn event_types(execution: &Execution) -> Vec<String> {
    execution.history.iter().map(|e| e.event_type.clone()).collect()
}
