//! Mock upstream servers for Gauntlet.
//!
//! An endpoint answers every request by its [`Behavior`]: a latency drawn from a
//! distribution, a status drawn from a weighted mix, a fixed-size body, and optionally
//! [`Chaos`]: hung requests, reset or closed connections, trickled bodies. Behaviours swap
//! while the endpoint runs.
//!
//! [`start_upstream`] runs a named group of endpoints for the harness, which can take
//! endpoints down and up again on the same port and start more while it runs; [`serve`]
//! runs one on a listener the caller owns; the `gauntlet-mock` binary runs one standalone
//! with a control API.

pub mod behavior;
mod body;
pub mod chaos;
mod control;
pub mod counters;
pub mod endpoint;
mod error;
pub mod fanout;
pub mod grpc;
pub mod sample;
pub mod server;
mod service;
pub mod spec;
pub mod units;
pub mod upstream;

pub use behavior::{Behavior, Latency, StatusMix};
pub use chaos::{Chaos, SlowBody};
pub use control::PREFIX as CONTROL_PREFIX;
pub use counters::{Counters, EndpointCounts, UpstreamCounts};
pub use endpoint::{EndpointId, EndpointState, Prepared};
pub use error::MockError;
pub use fanout::{
    parse_call, serve_fanout, url_env_var, Call, CallMode, FanoutConfig, FanoutCounts, FanoutStats,
};
pub use grpc::GrpcStatusMix;
pub use server::{serve, serve_with, ServeOptions};
pub use upstream::{start_upstream, UpstreamConfig, UpstreamHandle};
