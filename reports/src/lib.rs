//! Gauntlet's result model and every renderer of it.
//!
//! Invariant: renderers only format what the model holds; statistics are computed before a
//! `RunResult` is built, so every output format shows the same numbers.

pub mod json;
pub mod junit;
pub mod model;
pub mod terminal;

pub use model::*;
