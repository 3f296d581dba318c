//! `coursegen sfn run`: run any ASL definition locally. The output JSON alone goes to stdout;
//! logs and progress go to stderr.

use std::io::Read;
use std::sync::Arc;

use asl_interpreter::invoker::TaskInvoker;
use asl_interpreter::{ExecutionStatus, Executor, StateMachine};
use coursegen_core::FsStore;
use coursegen_stages::Deps;
use serde_json::{json, Value};

use crate::cli::{FunctionNames, SfnRunArgs};
use crate::exit;
use crate::invokers::{InProcessInvoker, LambdaEndpointInvoker};
use crate::workflow;

fn read_input(args: &SfnRunArgs) -> Result<Value, String> {
    let text = match args.input.as_deref() {
        None => return Ok(json!({})),
        Some(p) if p.as_os_str() == "-" => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(|e| format!("cannot read stdin: {e}"))?;
            s
        }
        Some(p) => std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
    };
    serde_json::from_str(&text).map_err(|e| format!("input is not valid JSON: {e}"))
}

pub async fn run(args: SfnRunArgs) -> i32 {
    let text = match std::fs::read_to_string(&args.definition) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.definition.display());
            return exit::BAD_INPUT;
        }
    };
    let mut subs = workflow::substitutions(args.lambda_endpoint.is_some(), FunctionNames::Binary);
    if let Err(msg) = workflow::apply_overrides(&mut subs, &args.set) {
        eprintln!("error: {msg}");
        return exit::BAD_INPUT;
    }
    let machine = match asl_interpreter::substitute(&text, &subs).and_then(|t| StateMachine::from_json(&t)) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {}: {e}", args.definition.display());
            return exit::BAD_INPUT;
        }
    };
    let input = match read_input(&args) {
        Ok(v) => v,
        Err(msg) => {
            eprintln!("error: {msg}");
            return exit::BAD_INPUT;
        }
    };
    let invoker: Arc<dyn TaskInvoker> = match &args.lambda_endpoint {
        Some(endpoint) => Arc::new(LambdaEndpointInvoker::new(endpoint).await),
        None => Arc::new(InProcessInvoker::new(Arc::new(Deps::offline(Arc::new(FsStore::new(&args.out)))))),
    };
    let name = args.name.clone().unwrap_or_else(|| format!("local-{}", std::process::id()));
    // History costs ~2 KB per event: keep it only when asked for.
    let execution = Executor::new(invoker).with_history(args.history.is_some()).execute(&machine, input, &name).await;
    if let Some(path) = &args.history {
        let events: Vec<Value> = execution.history.iter().map(|e| e.to_json()).collect();
        if let Err(e) = std::fs::write(path, serde_json::to_vec_pretty(&Value::Array(events)).unwrap_or_default()) {
            eprintln!("warning: cannot write history to {}: {e}", path.display());
        }
    }
    match execution.status {
        ExecutionStatus::Succeeded { output } => {
            println!("{}", serde_json::to_string(&output).unwrap_or_else(|_| "null".into()));
            exit::OK
        }
        ExecutionStatus::Failed { error, cause } => {
            println!("{}", json!({ "error": error, "cause": cause }));
            exit::FAILED
        }
    }
}
