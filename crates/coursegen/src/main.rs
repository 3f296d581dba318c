//! `coursegen`: run the course workflow locally (the same Step Functions definition that
//! runs on AWS), validate outlines, and run any ASL definition.

mod aws;
mod cli;
mod error;
mod estimate;
mod input;
mod invokers;
mod progress;
mod run;
mod sfn;
mod summary;
mod timing;
mod validate;
mod workflow;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, SfnCommand};
use error::Exit;

/// Exit codes: 0 ok, 1 execution failed, 2 bad input (nothing written), 130 interrupted.
fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Failed.into();
        }
    };
    let exit = runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::Validate(args) => validate::validate(args).await,
            Command::Sfn { command: SfnCommand::Run(args) } => sfn::run(args).await,
            Command::Aws { command } => aws::main(command).await,
        }
    });
    // Exit now, as `process::exit` did: an interrupted run may leave tasks behind.
    runtime.shutdown_background();
    exit.into()
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_env("COURSEGEN_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}
