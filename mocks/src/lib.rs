//! Mock upstream servers for Gauntlet.

pub mod behavior;
pub use behavior::{Behavior, Latency, StatusMix};
