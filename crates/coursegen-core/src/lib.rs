//! coursegen domain: outline, request, stage contracts, store keys, errors and the
//! store/model ports. No AWS SDK here.

pub mod contracts;
pub mod cost;
pub mod error;
pub mod fingerprint;
pub mod keys;
pub mod model;
mod normalize;
pub mod outline;
mod parse;
pub mod prices;
pub mod quiz;
mod request;
pub mod store;

pub use error::{Problem, Problems, StageError, StageResult};
pub use model::{
    ImageModel, ImageRequest, ImageResponse, ModelId, TextModel, TextRequest, TextResponse, TextTask, Usage,
};
pub use normalize::{default_project_folder, normalize_request, parse_module_spec, request_problems_without_outline};
pub use outline::{Course, Item, Language, Lesson, Module, Outline};
pub use parse::parse_outline;
pub use request::{ContentType, RawRequest, Request};
pub use store::{BlobStore, BlobStoreExt, FsStore, MemStore};
