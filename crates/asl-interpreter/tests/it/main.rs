//! Integration tests of the interpreter, one binary: each module covers one area of the language.

mod control_flow;
mod errors_retry;
mod fanout_shape;
mod history;
mod io_processing;
mod loading;
mod map_parallel;
mod support;
