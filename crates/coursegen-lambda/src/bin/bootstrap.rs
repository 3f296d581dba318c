//! The one binary every deployed function runs: it serves the stage named by the function's
//! `Handler` (`_HANDLER`). The per-stage binaries beside it serve one stage each, by name, for
//! local tools (`cargo lambda watch`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    coursegen_lambda::serve_handler().await
}
