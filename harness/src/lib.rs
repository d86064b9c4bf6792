//! Gauntlet: a load-testing and chaos harness for Envoy.
//!
//! The binary (`main.rs`) is a thin CLI over this library; see ARCHITECTURE.md for the map.

pub mod compare;
pub mod container;
pub mod envoy;
pub mod exit;
pub mod gates;
pub mod load;
pub mod logging;
pub mod policy;
pub mod redact;
pub mod run;
pub mod scenario;
pub mod service;
pub mod signals;
pub mod xds;
