//! Shared wiring for the coursegen Lambda binaries.
