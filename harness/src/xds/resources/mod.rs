//! `EnvoyConfig` → typed Envoy resources (Cluster, ClusterLoadAssignment, Listener,
//! RouteConfiguration), each packed in an `Any` and keyed by resource name.
//!
//! - `cluster`: clusters (circuit breakers, outlier detection, load balancing, health
//!   check, protocol options) and their load assignments.
//! - `listener`: the listener and its HttpConnectionManager.
//! - `filters`: the HTTP filter chain and the per-route configs of its filters.
//! - `route`: route configurations (matching, timeouts, retries, mirrors, per-route faults
//!   and rate limits), packed with a deterministic encoding.
//!
//! Change detection compares the encoded bytes of two snapshots, so every resource must
//! encode the same way each time it is built from the same spec (see `route::pack`).

mod cluster;
mod filters;
mod listener;
mod route;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::{
    address, config_source, socket_address, Address, AggregatedConfigSource, ApiVersion,
    ConfigSource, RuntimeFractionalPercent, SocketAddress,
};
use envoy_types::pb::envoy::r#type::v3::{fractional_percent::DenominatorType, FractionalPercent};
use envoy_types::pb::google::protobuf::{Any, Duration as PbDuration, UInt32Value};
use envoy_types::util::pack_any;

pub(super) use cluster::http2_protocol_options;

use super::model::EnvoyConfig;
use super::{ResourceType, XdsError};

/// One snapshot's resources: for each type, name → packed resource.
///
/// Names are kept sorted so responses, logs and comparisons are deterministic.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Resources {
    maps: [BTreeMap<String, Any>; 4],
}

impl Resources {
    /// The resources of one type.
    pub(crate) fn of(&self, ty: ResourceType) -> &BTreeMap<String, Any> {
        &self.maps[ty as usize]
    }

    /// Adds a resource; a second resource of the same type and name is a config error,
    /// because Envoy would see only one of them.
    pub(crate) fn insert(
        &mut self,
        ty: ResourceType,
        name: &str,
        resource: Any,
    ) -> Result<(), XdsError> {
        match self.maps[ty as usize].insert(name.to_owned(), resource) {
            None => Ok(()),
            Some(_) => Err(XdsError::InvalidConfig(format!(
                "two {} resources are named {name:?}",
                ty.short_name()
            ))),
        }
    }
}

/// Translates a whole config. Fails only on what would silently collapse in Envoy (duplicate
/// names); everything else is left for Envoy to judge, so its own NACK message reaches the user.
pub(crate) fn build(config: &EnvoyConfig) -> Result<Resources, XdsError> {
    let mut out = Resources::default();
    for spec in &config.clusters {
        out.insert(
            ResourceType::Cluster,
            &spec.name,
            pack_any(cluster::cluster(spec)),
        )?;
        out.insert(
            ResourceType::Endpoint,
            &spec.name,
            pack_any(cluster::load_assignment(spec)),
        )?;
    }
    let mut route_configs = BTreeSet::new();
    for spec in &config.listeners {
        out.insert(
            ResourceType::Listener,
            &spec.name,
            pack_any(listener::listener(spec)),
        )?;
        if !route_configs.insert(spec.route_config_name.as_str()) {
            return Err(XdsError::InvalidConfig(format!(
                "listeners share the route config name {:?}; each needs its own",
                spec.route_config_name
            )));
        }
        out.insert(
            ResourceType::Route,
            &spec.route_config_name,
            route::pack(route::route_config(spec)),
        )?;
    }
    Ok(out)
}

// === shared building blocks (also used by the bootstrap) ===

/// "Get this resource over the ADS stream", in v3.
pub(super) fn ads_config_source() -> ConfigSource {
    ConfigSource {
        resource_api_version: ApiVersion::V3 as i32,
        config_source_specifier: Some(config_source::ConfigSourceSpecifier::Ads(
            AggregatedConfigSource {},
        )),
        ..Default::default()
    }
}

/// A TCP socket address.
pub(super) fn socket_address(addr: SocketAddr) -> Address {
    Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: addr.ip().to_string(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(u32::from(
                addr.port(),
            ))),
            ..Default::default()
        })),
    }
}

/// A protobuf Duration; saturates at i64::MAX seconds, far beyond anything Envoy accepts.
pub(super) fn proto_duration(d: Duration) -> PbDuration {
    PbDuration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        // Always below 1e9, so it fits.
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// A `google.protobuf.UInt32Value`.
fn u32_value(value: u32) -> UInt32Value {
    UInt32Value { value }
}

/// A share of requests, 0.0..=100.0, as the coarsest `FractionalPercent` that holds it
/// exactly to a ten-thousandth of a percent: 25% → 25/HUNDRED, 33.3% → 3330/TEN_THOUSAND,
/// 0.0001% → 1/MILLION. Out-of-range values are clamped (the scenario validated them).
fn fractional_percent(percent: f64) -> FractionalPercent {
    let percent = if percent.is_nan() {
        0.0
    } else {
        percent.clamp(0.0, 100.0)
    };
    // In millionths, rounded: the finest denominator Envoy has. Fits in u32 (≤ 1e6).
    let millionths = (percent * 10_000.0).round() as u32;
    let (numerator, denominator) = if millionths.is_multiple_of(10_000) {
        (millionths / 10_000, DenominatorType::Hundred)
    } else if millionths.is_multiple_of(100) {
        (millionths / 100, DenominatorType::TenThousand)
    } else {
        (millionths, DenominatorType::Million)
    };
    FractionalPercent {
        numerator,
        denominator: denominator as i32,
    }
}

/// A fixed share of requests where Envoy wants a runtime-overridable one. No runtime key:
/// Gauntlet's config is the only source, and an empty key never matches a runtime entry.
fn runtime_percent(percent: f64) -> RuntimeFractionalPercent {
    RuntimeFractionalPercent {
        default_value: Some(fractional_percent(percent)),
        runtime_key: String::new(),
    }
}

#[cfg(test)]
mod tests;
