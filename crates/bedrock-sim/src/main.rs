//! The `bedrock-sim` binary: see the library documentation.

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = bedrock_sim::Cli::parse();
    bedrock_sim::init_logging();
    match bedrock_sim::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bedrock-sim: {err}");
            ExitCode::from(2)
        }
    }
}
