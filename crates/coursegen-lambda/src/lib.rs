//! Shared wiring for the coursegen Lambda binaries: dependencies from the environment, the
//! stage error reported as a stable `errorType`, and the runtime loop.

use std::sync::Arc;

use async_trait::async_trait;
use coursegen_aws::config::{image_model_with, text_model_with, AwsModelBuilder, ModelBuilder, ProviderConfig};
use coursegen_core::{
    BlobStore, FsStore, ImageModel, ImageRequest, ImageResponse, ModelId, StageError, StageResult, TextModel,
    TextRequest, TextResponse,
};
use coursegen_stages::{Deps, Stage};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;

/// A stage error as the Lambda runtime reports it: `errorType` is the stable name
/// (`ThrottlingException`, `InvalidOutline`, ...) that Step Functions `Retry`/`Catch` match.
#[derive(Debug)]
struct FunctionError(StageError);

impl From<FunctionError> for Diagnostic {
    fn from(e: FunctionError) -> Diagnostic {
        if e.0.to_string().chars().count() > coursegen_core::error::WIRE_MESSAGE_CHARS {
            tracing::error!(error_type = e.0.error_type(), message = %e.0, "stage failed (message clipped on the wire)");
        }
        Diagnostic { error_type: e.0.error_type().into(), error_message: e.0.wire_message() }
    }
}

/// The models a stage's handler calls, read from the handlers in `coursegen-stages`:
/// PrepareCourse and BookBuilder call none, ImagesGen only the image model, the planners and
/// writers only the text model. [`deps_for`] builds exactly these, so a function reads the API
/// key secret (and needs `secretsmanager:GetSecretValue`) only if its stage calls the text model.
/// A stage that calls a model it is not listed for fails with an internal error naming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StageModels {
    /// The stage calls the text model.
    text: bool,
    /// The stage calls the image model.
    image: bool,
}

impl StageModels {
    /// The models `stage` calls.
    fn of(stage: Stage) -> StageModels {
        match stage {
            Stage::PrepareCourse | Stage::BookBuilder => StageModels { text: false, image: false },
            Stage::ContentGen | Stage::VisualPlanner | Stage::LabPlanner | Stage::LabWriter => {
                StageModels { text: true, image: false }
            }
            Stage::ImagesGen => StageModels { text: false, image: true },
        }
    }
}

/// Stands in for a model a stage was built without: calling it is a bug in [`StageModels`].
struct NotBuilt {
    stage: Stage,
    port: &'static str,
}

impl NotBuilt {
    fn id(&self) -> ModelId {
        ModelId { provider: "none".into(), model: format!("no {} model for {}", self.port, self.stage.name()) }
    }
    fn error(&self) -> StageError {
        StageError::Internal(format!(
            "{} called the {} model, which coursegen_lambda::StageModels says it never calls, so none was built",
            self.stage.name(),
            self.port
        ))
    }
}

#[async_trait]
impl TextModel for NotBuilt {
    fn id(&self) -> ModelId {
        NotBuilt::id(self)
    }
    async fn generate(&self, _request: &TextRequest) -> StageResult<TextResponse> {
        Err(self.error())
    }
}

#[async_trait]
impl ImageModel for NotBuilt {
    fn id(&self) -> ModelId {
        NotBuilt::id(self)
    }
    async fn generate(&self, _request: &ImageRequest) -> StageResult<ImageResponse> {
        Err(self.error())
    }
}

/// The dependencies of `stage` over `store`: the models `StageModels::of` lists for it, built
/// by `builder` from `cfg` (offline providers where `cfg` names none), and default settings.
/// Models the stage never calls are not built, so their start-up work (the secret read) never
/// happens in that function.
pub async fn deps_for(
    stage: Stage,
    store: Arc<dyn BlobStore>,
    cfg: &ProviderConfig,
    builder: &dyn ModelBuilder,
) -> Result<Deps, StageError> {
    let uses = StageModels::of(stage);
    let mut deps = Deps::offline(store);
    if uses.text {
        if let Some(text) = text_model_with(cfg, builder).await? {
            deps.text = text;
        }
    } else {
        deps.text = Arc::new(NotBuilt { stage, port: "text" });
    }
    if uses.image {
        if let Some(image) = image_model_with(cfg, builder).await? {
            deps.image = image;
        }
    } else {
        deps.image = Arc::new(NotBuilt { stage, port: "image" });
    }
    Ok(deps)
}

/// The store from the environment: `COURSEGEN_STORE_DIR` for a local directory, else the S3
/// bucket `COURSE_BUCKET`.
async fn store_from_env() -> Result<Arc<dyn BlobStore>, StageError> {
    match (std::env::var("COURSEGEN_STORE_DIR"), std::env::var("COURSE_BUCKET")) {
        (Ok(dir), _) if !dir.is_empty() => Ok(Arc::new(FsStore::new(dir))),
        (_, Ok(bucket)) if !bucket.is_empty() => Ok(Arc::new(coursegen_aws::config::s3_store(&bucket).await?)),
        _ => Err(StageError::Config(
            "set COURSE_BUCKET (the course bucket) or COURSEGEN_STORE_DIR (a local directory)".into(),
        )),
    }
}

/// Builds the dependencies of `stage` once per container: the store (see [`store_from_env`]),
/// the models that stage calls ([`deps_for`]; `COURSEGEN_PROVIDER` and the model variables,
/// offline when unset), the concurrency settings and the prices (`COURSEGEN_PRICES`).
async fn deps_from_env(stage: Stage) -> Result<Deps, StageError> {
    let store = store_from_env().await?;
    let cfg = ProviderConfig::from_env()?;
    let mut deps = deps_for(stage, store, &cfg, &AwsModelBuilder::default()).await?;
    deps.settings = coursegen_stages::Settings::from_environment(|name| std::env::var(name).ok())?;
    Ok(deps)
}

/// The stage a deployed function serves, from its `Handler` (the runtime passes it in
/// `_HANDLER`): `content-gen`, `ContentGen` or `ContentGenFunction`. All functions share one
/// `bootstrap`, so a missing or unknown handler is an init error that names the fix.
pub fn stage_from_handler(handler: Option<&str>) -> Result<Stage, StageError> {
    let known = Stage::ALL.iter().map(Stage::binary_name).collect::<Vec<_>>().join(", ");
    match handler.map(str::trim) {
        None | Some("") => Err(StageError::Config(format!(
            "_HANDLER is not set: set the function's Handler to the stage it serves ({known})"
        ))),
        Some(name) => Stage::from_name(name).ok_or_else(|| {
            StageError::Config(format!(
                "_HANDLER={name:?} names no stage: set the function's Handler to one of {known}"
            ))
        }),
    }
}

/// Runs the stage named by `_HANDLER` (the one `bootstrap` every deployed function shares).
pub async fn serve_handler() -> Result<(), lambda_runtime::Error> {
    let stage = stage_from_handler(std::env::var("_HANDLER").ok().as_deref()).inspect_err(|e| {
        // Printed as well as returned: the init error is what a user finds in the function's log.
        eprintln!("coursegen init error: {e}");
    })?;
    serve(stage).await
}

/// Time kept free before the Lambda deadline to report an error instead of being killed.
const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(20);

/// Runs one stage as a Lambda function until the runtime stops.
pub async fn serve(stage: Stage) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deps = Arc::new(deps_from_env(stage).await?);
    tracing::info!(
        stage = stage.name(),
        store = deps.store.describe(),
        text = %deps.text.id(),
        image = %deps.image.id(),
        "ready"
    );
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
        let long = "x".repeat(5_000);
        let d: Diagnostic = FunctionError(StageError::Internal(long)).into();
        assert_eq!(
            d.error_message.chars().count(),
            coursegen_core::error::WIRE_MESSAGE_CHARS,
            "clipped for the payload"
        );
    }

    #[tokio::test]
    async fn a_stage_is_built_only_with_the_models_it_calls_and_calling_another_fails_naming_it() {
        let cfg = ProviderConfig::from_lookup(|_| None).unwrap();
        let store: Arc<dyn BlobStore> = Arc::new(coursegen_core::MemStore::new());
        let images = deps_for(Stage::ImagesGen, store.clone(), &cfg, &AwsModelBuilder::default()).await.unwrap();
        assert_eq!(images.image.id().provider, "offline", "offline provider: offline images");
        let request = TextRequest {
            task: coursegen_core::TextTask::Lesson,
            subject: "module 1 lesson 1".into(),
            system: String::new(),
            prompt: String::new(),
            max_tokens: 1,
            temperature: 0.0,
            json_schema: None,
            brief: serde_json::Value::Null,
        };
        let e = images.text.generate(&request).await.unwrap_err();
        assert_eq!(e.error_type(), "InternalError");
        assert!(e.to_string().contains("ImagesGen called the text model"), "{e}");
        let book = deps_for(Stage::BookBuilder, store, &cfg, &AwsModelBuilder::default()).await.unwrap();
        let image = ImageRequest { visual_id: "01-01-01".into(), prompt: "p".into(), width: 8, height: 8, seed: 1 };
        assert!(book.image.generate(&image).await.unwrap_err().to_string().contains("BookBuilder called the image"));
    }

    #[test]
    fn the_shared_bootstrap_serves_the_stage_its_handler_names() {
        assert_eq!(stage_from_handler(Some("content-gen")).unwrap(), Stage::ContentGen);
        assert_eq!(stage_from_handler(Some("BookBuilderFunction")).unwrap(), Stage::BookBuilder);
        assert_eq!(stage_from_handler(Some(" prepare-course ")).unwrap(), Stage::PrepareCourse);
        for handler in [None, Some(""), Some("bootstrap"), Some("content-writer")] {
            let e = stage_from_handler(handler).unwrap_err();
            assert_eq!(e.error_type(), "ConfigError");
            let text = e.to_string();
            assert!(text.contains("_HANDLER") && text.contains("visual-planner, images-gen"), "{text}");
        }
    }
}
