//! The xDS control plane: the only module that knows Envoy protos.
//!
//! Callers describe an Envoy in plain data ([`EnvoyConfig`], [`BootstrapSpec`]) and get plain
//! data back ([`Version`], [`PushReport`], [`PushLogEntry`], [`NackEvent`]).
//!
//! - [`model`]: the proto-free input.
//! - `resources`: input → typed Envoy resources.
//! - [`bootstrap`]: the bootstrap Envoy starts with (ADS to us, admin on loopback).
//! - `state`: the ADS protocol as a deterministic state machine, no I/O, no clock.
//! - [`server`]: tonic over the state machine, and the [`XdsControl`] handle.
//!
//! Protocol: ADS, State of the World, one snapshot per Envoy node. A push goes out in the
//! order clusters → endpoints → listeners → routes, and listeners and routes wait until
//! Envoy has ACKed the clusters and endpoints they may point at (make before break).
//!
//! Architecture invariant: no type from `envoy_types` appears in a public signature here.

pub mod bootstrap;
mod log;
pub mod model;
mod resources;
pub mod server;
mod state;

use std::time::Duration;

use serde::Serialize;

pub use bootstrap::{bootstrap_bytes, bootstrap_text, BootstrapSpec};
pub use log::{NackEvent, PushLogEntry, PushReport, Version};
pub use model::{ClusterSpec, EnvoyConfig, ListenerSpec, RouteMatchSpec, RouteSpec, TargetSpec};
pub use server::{run, XdsControl};

/// The four xDS resource types Gauntlet serves, in push order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceType {
    /// CDS: `Cluster`.
    Cluster = 0,
    /// EDS: `ClusterLoadAssignment`.
    Endpoint = 1,
    /// LDS: `Listener`.
    Listener = 2,
    /// RDS: `RouteConfiguration`.
    Route = 3,
}

impl ResourceType {
    /// Every type, in make-before-break push order.
    pub const ALL: [ResourceType; 4] = [Self::Cluster, Self::Endpoint, Self::Listener, Self::Route];

    /// The type URL Envoy puts in its requests.
    pub fn type_url(self) -> &'static str {
        match self {
            Self::Cluster => "type.googleapis.com/envoy.config.cluster.v3.Cluster",
            Self::Endpoint => "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
            Self::Listener => "type.googleapis.com/envoy.config.listener.v3.Listener",
            Self::Route => "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
        }
    }

    /// The type a type URL names, if it is one we serve.
    pub fn from_type_url(url: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.type_url() == url)
    }

    /// Short name for logs and reports: cluster, endpoint, listener, route.
    pub fn short_name(self) -> &'static str {
        match self {
            Self::Cluster => "cluster",
            Self::Endpoint => "endpoint",
            Self::Listener => "listener",
            Self::Route => "route",
        }
    }

    /// LDS and CDS are wildcard subscriptions; RDS and EDS name the resources they want.
    pub fn is_wildcard(self) -> bool {
        matches!(self, Self::Cluster | Self::Listener)
    }
}

impl std::fmt::Display for ResourceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.short_name())
    }
}

/// What can go wrong in the control plane.
#[derive(Debug, thiserror::Error)]
pub enum XdsError {
    /// Envoy rejected a push; `message` is Envoy's own `error_detail`.
    #[error("Envoy (node {node}) rejected {resource_type} version {version}: {message}")]
    Nack {
        /// The Envoy node that rejected it.
        node: String,
        /// The type of the rejected push.
        resource_type: ResourceType,
        /// The version Envoy rejected (a [`Version`]'s text).
        version: String,
        /// Envoy's own explanation.
        message: String,
    },
    /// Envoy did not ACK a snapshot within the bound.
    #[error("Envoy (node {node}) did not apply version {version} within {waited:?}")]
    Timeout {
        /// The node that was waited for.
        node: String,
        /// The snapshot version that was not applied.
        version: Version,
        /// How long we waited.
        waited: Duration,
    },
    /// The version was never set for this node.
    #[error("no version {version} was set for node {node}")]
    UnknownVersion {
        /// The node asked about.
        node: String,
        /// The version asked about.
        version: Version,
    },
    /// The config cannot be expressed as a consistent set of resources.
    #[error("invalid Envoy config: {0}")]
    InvalidConfig(String),
    /// The gRPC server failed.
    #[error("xDS server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}
