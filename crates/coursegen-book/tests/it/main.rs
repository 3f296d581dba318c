//! The integration tests of coursegen-book, in one binary.

mod render;
mod support;
