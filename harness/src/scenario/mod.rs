//! Scenario files: parse, validate, and resolve into the model everything else takes.

pub mod model;
pub use model::*;
