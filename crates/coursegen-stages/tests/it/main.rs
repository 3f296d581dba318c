//! The integration tests of the stages, in one binary; `support` holds the shared helpers
//! (outlines, counting and scripted models, a driver running every stage in workflow order).

mod cost;
mod defects;
mod errors;
mod examples;
mod pipeline;
mod quiz;
mod support;
mod visuals;
