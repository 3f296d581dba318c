//! Shared wiring for the coursegen Lambda binaries: dependencies from the environment, the
//! stage error reported as a stable `errorType`, and the runtime loop.

use std::sync::Arc;

use coursegen_core::{BlobStore, FsStore, StageError};
use coursegen_stages::{Deps, Stage};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;

/// A stage error as the Lambda runtime reports it: `errorType` is the stable name
/// (`ThrottlingException`, `InvalidOutline`, ...) that Step Functions `Retry`/`Catch` match.
#[derive(Debug)]
pub struct FunctionError(pub StageError);

impl From<FunctionError> for Diagnostic {
    fn from(e: FunctionError) -> Diagnostic {
        Diagnostic { error_type: e.0.error_type().into(), error_message: e.0.to_string() }
    }
}

fn env_usize(name: &str, default: usize) -> Result<usize, StageError> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| StageError::Config(format!("{name}={v:?}: expected a whole number ≥ 1"))),
    }
}

/// Builds the dependencies once per container: the store (`COURSEGEN_STORE_DIR` for a local
/// directory, else the S3 bucket `COURSE_BUCKET`), the models (`COURSEGEN_PROVIDER` and the
/// model variables; offline when unset), and the concurrency settings.
pub async fn deps_from_env() -> Result<Deps, StageError> {
    let store: Arc<dyn BlobStore> = match (std::env::var("COURSEGEN_STORE_DIR"), std::env::var("COURSE_BUCKET")) {
        (Ok(dir), _) if !dir.is_empty() => Arc::new(FsStore::new(dir)),
        (_, Ok(bucket)) if !bucket.is_empty() => Arc::new(coursegen_aws::config::s3_store(&bucket).await?),
        _ => {
            return Err(StageError::Config(
                "set COURSE_BUCKET (the course bucket) or COURSEGEN_STORE_DIR (a local directory)".into(),
            ))
        }
    };
    let mut deps = Deps::offline(store);
    let cfg = coursegen_aws::config::ProviderConfig::from_env()?;
    if let Some(text) = coursegen_aws::config::build_text_model(&cfg).await? {
        deps.text = text;
    }
    if let Some(image) = coursegen_aws::config::build_image_model(&cfg).await? {
        deps.image = image;
    }
    deps.settings.lesson_concurrency = env_usize("LESSON_CONCURRENCY", deps.settings.lesson_concurrency)?;
    deps.settings.image_concurrency = env_usize("IMAGE_CONCURRENCY", deps.settings.image_concurrency)?;
    Ok(deps)
}

/// Time kept free before the Lambda deadline to report an error instead of being killed.
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(20);

/// Runs one stage as a Lambda function until the runtime stops.
pub async fn serve(stage: Stage) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deps = Arc::new(deps_from_env().await?);
    tracing::info!(stage = stage.name(), store = deps.store.describe(), text = %deps.text.id(), "ready");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let deps = deps.clone();
        // Model retries stop a safety margin before the function would time out, so the
        // handler still raises ThrottlingException for Step Functions to retry.
        let deadline = coursegen_aws::quota::deadline_from_epoch_millis(event.context.deadline, DEADLINE_MARGIN);
        async move {
            coursegen_aws::quota::with_call_deadline(deadline, coursegen_stages::invoke(stage, event.payload, &deps))
                .await
                .map_err(FunctionError)
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_errors_keep_their_stable_error_type_on_the_wire() {
        let d: Diagnostic =
            FunctionError(StageError::Throttling { provider: "bedrock".into(), message: "slow down".into() }).into();
        assert_eq!(d.error_type, "ThrottlingException");
        let d: Diagnostic = FunctionError(StageError::request("modules_to_generate", "module 9 does not exist")).into();
        assert_eq!(d.error_type, "InvalidRequest");
        assert!(d.error_message.contains("modules_to_generate"));
    }
}
