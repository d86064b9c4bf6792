//! Mock upstream servers for Gauntlet.

pub mod behavior;
pub mod units;

pub use behavior::{Behavior, Latency, StatusMix};
