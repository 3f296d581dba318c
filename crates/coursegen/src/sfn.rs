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
use crate::error::{CliError, Exit};
use crate::invokers::{InProcessInvoker, LambdaEndpointInvoker};
use crate::workflow;

/// The definition (placeholders filled) and the execution input.
fn load(args: &SfnRunArgs) -> Result<(StateMachine, Value), CliError> {
    let path = &args.definition;
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Read { path: path.clone(), source })?;
    let machine =
        workflow::load_machine(&text, args.lambda_endpoint.is_some(), FunctionNames::Binary, &args.set, |source| {
            CliError::DefinitionAt { path: path.clone(), source }
        })?;
    Ok((machine, read_input(args)?))
}

fn read_input(args: &SfnRunArgs) -> Result<Value, CliError> {
    let text = match args.input.as_deref() {
        None => return Ok(json!({})),
        Some(p) if p.as_os_str() == "-" => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(CliError::Stdin)?;
            s
        }
        Some(p) => std::fs::read_to_string(p).map_err(|source| CliError::Read { path: p.to_path_buf(), source })?,
    };
    serde_json::from_str(&text).map_err(CliError::InputJson)
}

pub(crate) async fn run(args: SfnRunArgs) -> Exit {
    let (machine, input) = match load(&args) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::BadInput;
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
        workflow::write_history(path, &execution.history);
    }
    match execution.status {
        ExecutionStatus::Succeeded { output } => {
            println!("{}", serde_json::to_string(&output).unwrap_or_else(|_| "null".into()));
            Exit::Ok
        }
        ExecutionStatus::Failed { error, cause } => {
            println!("{}", json!({ "error": error, "cause": cause }));
            Exit::Failed
        }
    }
}
