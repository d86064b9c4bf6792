//! Gauntlet: a load-testing and chaos harness for Envoy.
//!
//! The binary (`main.rs`) is a thin CLI over this library; see ARCHITECTURE.md for the map.

pub mod envoy;
pub mod load;
pub mod scenario;
pub mod xds;
