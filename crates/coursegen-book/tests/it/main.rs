//! The integration tests of coursegen-book, in one binary.

mod learners;
mod render;
mod support;
