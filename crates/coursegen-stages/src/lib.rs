//! coursegen stage handlers (PrepareCourse, ContentGen, VisualPlanner, ImagesGen, LabPlanner,
//! LabWriter, BookBuilder) and the offline providers.
//!
//! Every handler is a plain async function over the store and model ports in `coursegen-core`:
//! the Lambda binaries and the local runner call the same functions. Handlers raise
//! [`StageError`] on failure (never an error-shaped success), write only under the course
//! folder, build every key with `coursegen_core::keys`, and reuse outputs whose recorded
//! fingerprint matches their inputs unless `force` is set.
//!
//! Where things live: `prepare` (PrepareCourse), `content` (ContentGen and its lesson prompt),
//! `visuals` (VisualPlanner, its JSON Schema and the tag-to-id rewrite), `quiz` (the lesson's
//! quiz, written in the VisualPlanner step beside the plan), `images` (ImagesGen),
//! `labs` (LabPlanner, LabWriter), `book` (BookBuilder and the manifest), `common` (outline
//! loading, sidecars, `[VISUAL: ...]` tags, the call-validate-repair-once loop), `brief` (the
//! structured facts behind every prompt), `offline` and `lang` (the offline providers and their
//! phrases in six languages), `diagram` (deterministic SVG diagrams), `estimate` (a run's calls,
//! tokens and cost predicted from the outline with the stages' own request builders).
//!
//! Invariants: ids are `MM-LL-NN` (course-wide unique); ImagesGen reads only the prompt keys it
//! is given; a lesson sidecar keeps ContentGen's fingerprint, and VisualPlanner records the
//! original tag descriptions next to it (field `visual_plan`) so re-planning never loses them.

#![warn(missing_docs)]

use std::sync::Arc;

use coursegen_core::prices::Prices;
use coursegen_core::{BlobStore, ImageModel, StageError, StageResult, TextModel};
use serde::de::DeserializeOwned;
use serde::Serialize;

mod book;
mod brief;
mod common;
mod content;
mod diagram;
pub mod estimate;
mod images;
mod labs;
mod lang;
pub mod offline;
mod prepare;
mod quiz;
mod read_ahead;
mod visuals;

pub use book::book_builder;
pub use content::content_gen;
pub use images::images_gen;
pub use labs::{lab_planner, lab_writer};
pub use prepare::prepare_course;
pub use quiz::QuizSummary;
pub use visuals::visual_planner;

/// A [`Settings`] concurrency that sets no ceiling of its own.
pub const UNBOUNDED: usize = usize::MAX;

/// Tuning knobs shared by the stages.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// An optional ceiling on the lesson model calls ContentGen runs at once within one
    /// module. The default ([`UNBOUNDED`]) starts every lesson of the module at once: the model
    /// client's limiter (the quota and its in-flight limit) is what bounds the calls.
    pub lesson_concurrency: usize,
    /// An optional ceiling on the images ImagesGen renders at once within one module; the
    /// default ([`UNBOUNDED`]) leaves the bound to the image model client's limiter.
    pub image_concurrency: usize,
    /// Lab guides written at once (for runners that write several labs in one process).
    pub lab_concurrency: usize,
    /// Width of generated illustrations, in pixels.
    pub image_width: u32,
    /// Height of generated illustrations, in pixels.
    pub image_height: u32,
    /// The prices BookBuilder puts on the manifest's usage (the built-in table unless
    /// `COURSEGEN_PRICES` or `coursegen --prices` overrides it).
    pub prices: Arc<Prices>,
}

impl Settings {
    /// The defaults with the optional per-invocation ceilings the functions and the embedded
    /// runner read from their environment (`get` looks a variable up): `LESSON_CONCURRENCY`
    /// (ContentGen's lesson calls at once within one module) and `IMAGE_CONCURRENCY`
    /// (ImagesGen's images at once within one module). Unset or empty means no ceiling;
    /// anything but a whole number ≥ 1 is a configuration error naming the variable.
    pub fn with_ceilings_from(get: impl Fn(&str) -> Option<String>) -> Result<Self, StageError> {
        let ceiling = |name: &str| -> Result<usize, StageError> {
            // Empty counts as unset: a template declares the variable with "" for no ceiling.
            match get(name).filter(|v| !v.trim().is_empty()) {
                None => Ok(UNBOUNDED),
                Some(v) => v.trim().parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    StageError::Config(format!(
                        "{name}={v:?}: expected a whole number ≥ 1, or leave it unset for no ceiling"
                    ))
                }),
            }
        };
        Ok(Settings {
            lesson_concurrency: ceiling("LESSON_CONCURRENCY")?,
            image_concurrency: ceiling("IMAGE_CONCURRENCY")?,
            ..Settings::default()
        })
    }

    /// [`Settings::with_ceilings_from`] plus the prices of `COURSEGEN_PRICES` (a price file's
    /// path, or its JSON), for the deployed functions. An unusable price file does not stop the
    /// function: the built-in table is used and the manifest's cost notes why.
    pub fn from_environment(get: impl Fn(&str) -> Option<String>) -> Result<Self, StageError> {
        let prices = Prices::from_env_or_built_in(&get);
        for note in prices.notes() {
            tracing::warn!(%note, "price override ignored");
        }
        Ok(Settings { prices: Arc::new(prices), ..Settings::with_ceilings_from(get)? })
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            lesson_concurrency: UNBOUNDED,
            image_concurrency: UNBOUNDED,
            lab_concurrency: 4,
            image_width: 1024,
            image_height: 1024,
            prices: Arc::new(Prices::built_in()),
        }
    }
}

/// What every stage needs: the store, the models and the settings. Built once per process.
#[derive(Clone)]
pub struct Deps {
    /// Where outlines, lessons, prompts, images, labs and the book live.
    pub store: Arc<dyn BlobStore>,
    /// The text model (lessons, visual plans, lab plans, lab guides).
    pub text: Arc<dyn TextModel>,
    /// The image model (illustrations; diagrams are always rendered locally).
    pub image: Arc<dyn ImageModel>,
    /// Concurrency and image size.
    pub settings: Settings,
}

impl Deps {
    /// Dependencies with the offline providers (deterministic drafts, SVG illustrations).
    pub fn offline(store: Arc<dyn BlobStore>) -> Deps {
        Deps {
            store,
            text: Arc::new(offline::OfflineText),
            image: Arc::new(offline::OfflineImage),
            settings: Settings::default(),
        }
    }
}

impl std::fmt::Debug for Deps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deps")
            .field("store", &self.store.describe())
            .field("text", &self.text.id())
            .field("image", &self.image.id())
            .field("settings", &self.settings)
            .finish()
    }
}

/// The stages by name, for runners and Lambda binaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Validate the outline and request; write the normalised request.
    PrepareCourse,
    /// Write one module's lessons.
    ContentGen,
    /// Plan one lesson's visuals.
    VisualPlanner,
    /// Render one module's visuals.
    ImagesGen,
    /// Plan the labs of the selected modules.
    LabPlanner,
    /// Write one lab guide.
    LabWriter,
    /// Assemble the book and the manifest.
    BookBuilder,
}

impl Stage {
    /// Every stage, in workflow order.
    pub const ALL: [Stage; 7] = [
        Stage::PrepareCourse,
        Stage::ContentGen,
        Stage::VisualPlanner,
        Stage::ImagesGen,
        Stage::LabPlanner,
        Stage::LabWriter,
        Stage::BookBuilder,
    ];

    /// The stage name as used in the workflow definition (`ContentGen`).
    pub fn name(&self) -> &'static str {
        match self {
            Stage::PrepareCourse => "PrepareCourse",
            Stage::ContentGen => "ContentGen",
            Stage::VisualPlanner => "VisualPlanner",
            Stage::ImagesGen => "ImagesGen",
            Stage::LabPlanner => "LabPlanner",
            Stage::LabWriter => "LabWriter",
            Stage::BookBuilder => "BookBuilder",
        }
    }

    /// The stage's binary name, which is also its function's `Handler` in the template and its
    /// `cargo lambda watch` function name: `ContentGen` → `content-gen`.
    pub fn binary_name(&self) -> String {
        let mut out = String::with_capacity(self.name().len() + 4);
        for (i, c) in self.name().chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        }
        out
    }

    /// Find a stage by name: `ContentGen`, `content-gen`, `content_gen`, `ContentGenFunction`
    /// (case-insensitive).
    pub fn from_name(s: &str) -> Option<Stage> {
        let mut norm: String =
            s.trim().chars().filter(|c| !matches!(c, '-' | '_' | ' ')).flat_map(char::to_lowercase).collect();
        if let Some(stripped) = norm.strip_suffix("function") {
            norm = stripped.to_string();
        }
        Stage::ALL.into_iter().find(|st| st.name().to_ascii_lowercase() == norm)
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn decode<T: DeserializeOwned>(stage: Stage, payload: serde_json::Value) -> StageResult<T> {
    serde_json::from_value(payload)
        .map_err(|e| StageError::request(format!("{} input", stage.name()), format!("invalid payload: {e}")))
}

fn encode<T: Serialize>(value: &T) -> StageResult<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| StageError::Internal(format!("cannot serialise stage output: {e}")))
}

/// Deserialize the JSON payload into the stage's input, run the stage, serialize its output.
/// A payload that does not fit the input type is `StageError::InvalidRequest` with serde's
/// message (which names the field).
pub async fn invoke(stage: Stage, payload: serde_json::Value, deps: &Deps) -> StageResult<serde_json::Value> {
    match stage {
        Stage::PrepareCourse => encode(&prepare_course(decode(stage, payload)?, deps).await?),
        Stage::ContentGen => encode(&content_gen(decode(stage, payload)?, deps).await?),
        Stage::VisualPlanner => encode(&visual_planner(decode(stage, payload)?, deps).await?),
        Stage::ImagesGen => encode(&images_gen(decode(stage, payload)?, deps).await?),
        Stage::LabPlanner => encode(&lab_planner(decode(stage, payload)?, deps).await?),
        Stage::LabWriter => encode(&lab_writer(decode(stage, payload)?, deps).await?),
        Stage::BookBuilder => encode(&book_builder(decode(stage, payload)?, deps).await?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_names_round_trip_in_every_spelling() {
        for st in Stage::ALL {
            assert_eq!(Stage::from_name(st.name()), Some(st));
            assert_eq!(Stage::from_name(&format!("{}Function", st.name())), Some(st));
        }
        assert_eq!(Stage::from_name("content-gen"), Some(Stage::ContentGen));
        assert_eq!(Stage::ContentGen.binary_name(), "content-gen");
        assert_eq!(Stage::BookBuilder.binary_name(), "book-builder");
        for st in Stage::ALL {
            assert_eq!(Stage::from_name(&st.binary_name()), Some(st));
        }
        assert_eq!(Stage::from_name("images_gen"), Some(Stage::ImagesGen));
        assert_eq!(Stage::from_name("BookBuilderFunction"), Some(Stage::BookBuilder));
        assert_eq!(Stage::from_name("nothing"), None);
        assert_eq!(Stage::from_name(""), None);
    }

    #[test]
    fn ceilings_come_from_the_environment_and_bad_values_name_the_variable() {
        let none = Settings::with_ceilings_from(|_| None).unwrap();
        assert_eq!(none, Settings::default());
        assert_eq!((none.lesson_concurrency, none.image_concurrency), (UNBOUNDED, UNBOUNDED));
        let set = Settings::with_ceilings_from(|n| (n == "IMAGE_CONCURRENCY").then(|| " 1 ".to_string())).unwrap();
        assert_eq!((set.lesson_concurrency, set.image_concurrency), (UNBOUNDED, 1));
        // Empty is unset (the template declares the variables with "" for no ceiling).
        let empty = Settings::with_ceilings_from(|_| Some("  ".to_string())).unwrap();
        assert_eq!((empty.lesson_concurrency, empty.image_concurrency), (UNBOUNDED, UNBOUNDED));
        for bad in ["0", "-2", "many", "1.5"] {
            let err = Settings::with_ceilings_from(|n| (n == "LESSON_CONCURRENCY").then(|| bad.to_string()))
                .expect_err("a bad ceiling is a configuration error");
            assert!(err.to_string().contains("LESSON_CONCURRENCY"), "{err}");
        }
    }
}
