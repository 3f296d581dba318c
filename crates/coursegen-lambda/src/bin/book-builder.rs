//! The BookBuilder Lambda function.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    coursegen_lambda::serve(coursegen_stages::Stage::BookBuilder).await
}
