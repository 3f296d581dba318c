//! Integration tests of coursegen-core, in one test binary: bad input is rejected with every
//! problem at once, and the outline schema agrees with the parser.

mod bad_input;
mod outline_schema;
