//! `EnvoyConfig` → typed Envoy resources (Cluster, ClusterLoadAssignment, Listener,
//! RouteConfiguration), each packed in an `Any` and keyed by resource name.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use envoy_types::pb::envoy::config::cluster::v3::{cluster, Cluster};
use envoy_types::pb::envoy::config::core::v3::{
    address, config_source, socket_address, Address, AggregatedConfigSource, ApiVersion,
    ConfigSource, Http2ProtocolOptions, SocketAddress,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    lb_endpoint, ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints,
};
use envoy_types::pb::envoy::config::listener::v3::{filter, Filter, FilterChain, Listener};
use envoy_types::pb::envoy::config::route::v3::{
    route, route_action, route_match, weighted_cluster, Route, RouteAction, RouteConfiguration,
    RouteMatch, VirtualHost, WeightedCluster,
};
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    http_connection_manager, http_filter, HttpConnectionManager, HttpFilter, Rds,
};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    http_protocol_options, HttpProtocolOptions,
};
use envoy_types::pb::google::protobuf::{Any, BoolValue, Duration as PbDuration, UInt32Value};
use envoy_types::util::pack_any;
use prost::Name;

use super::model::{ClusterSpec, EnvoyConfig, ListenerSpec, RouteMatchSpec, RouteSpec, TargetSpec};
use super::{ResourceType, XdsError};

/// Well-known extension names Envoy looks typed configs up by.
const HCM_FILTER: &str = "envoy.filters.network.http_connection_manager";
const ROUTER_FILTER: &str = "envoy.filters.http.router";

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
        out.insert(ResourceType::Cluster, &spec.name, pack_any(cluster(spec)))?;
        out.insert(
            ResourceType::Endpoint,
            &spec.name,
            pack_any(load_assignment(spec)),
        )?;
    }
    let mut route_configs = BTreeSet::new();
    for spec in &config.listeners {
        out.insert(ResourceType::Listener, &spec.name, pack_any(listener(spec)))?;
        if !route_configs.insert(spec.route_config_name.as_str()) {
            return Err(XdsError::InvalidConfig(format!(
                "listeners share the route config name {:?}; each needs its own",
                spec.route_config_name
            )));
        }
        out.insert(
            ResourceType::Route,
            &spec.route_config_name,
            pack_any(route_config(spec)),
        )?;
    }
    Ok(out)
}

// === clusters and endpoints ===

fn cluster(spec: &ClusterSpec) -> Cluster {
    let mut typed_extension_protocol_options = std::collections::HashMap::new();
    if spec.http2 {
        // One entry only: prost encodes map fields in HashMap order, and change detection
        // compares encoded bytes, so more entries here would need a deterministic encoding.
        let (key, options) = http2_protocol_options();
        typed_extension_protocol_options.insert(key, options);
    }
    Cluster {
        name: spec.name.clone(),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Eds as i32,
        )),
        eds_cluster_config: Some(cluster::EdsClusterConfig {
            eds_config: Some(ads_config_source()),
            service_name: String::new(),
        }),
        connect_timeout: Some(proto_duration(spec.connect_timeout)),
        lb_policy: cluster::LbPolicy::RoundRobin as i32,
        typed_extension_protocol_options,
        ..Default::default()
    }
}

fn load_assignment(spec: &ClusterSpec) -> ClusterLoadAssignment {
    let lb_endpoints = spec
        .endpoints
        .iter()
        .map(|addr| LbEndpoint {
            host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                address: Some(socket_address(*addr)),
                ..Default::default()
            })),
            ..Default::default()
        })
        .collect();
    ClusterLoadAssignment {
        cluster_name: spec.name.clone(),
        endpoints: vec![LocalityLbEndpoints {
            lb_endpoints,
            ..Default::default()
        }],
        ..Default::default()
    }
}

// === listeners and routes ===

fn listener(spec: &ListenerSpec) -> Listener {
    let router = Router {
        dynamic_stats: Some(BoolValue {
            value: spec.dynamic_stats,
        }),
        ..Default::default()
    };
    let hcm = HttpConnectionManager {
        stat_prefix: spec.stat_prefix.clone(),
        generate_request_id: Some(BoolValue {
            value: spec.generate_request_id,
        }),
        route_specifier: Some(http_connection_manager::RouteSpecifier::Rds(Rds {
            config_source: Some(ads_config_source()),
            route_config_name: spec.route_config_name.clone(),
        })),
        http_filters: vec![HttpFilter {
            name: ROUTER_FILTER.to_owned(),
            // Envoy NACKs a router without a typed config (no implementation for type URL '').
            config_type: Some(http_filter::ConfigType::TypedConfig(pack_any(router))),
            ..Default::default()
        }],
        ..Default::default()
    };
    Listener {
        name: spec.name.clone(),
        address: Some(socket_address(spec.address)),
        filter_chains: vec![FilterChain {
            filters: vec![Filter {
                name: HCM_FILTER.to_owned(),
                config_type: Some(filter::ConfigType::TypedConfig(pack_any(hcm))),
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn route_config(spec: &ListenerSpec) -> RouteConfiguration {
    RouteConfiguration {
        name: spec.route_config_name.clone(),
        virtual_hosts: vec![VirtualHost {
            name: spec.name.clone(),
            domains: vec!["*".to_owned()],
            routes: spec.routes.iter().map(route).collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn route(spec: &RouteSpec) -> Route {
    let path_specifier = match &spec.matcher {
        RouteMatchSpec::Prefix(p) => route_match::PathSpecifier::Prefix(p.clone()),
        RouteMatchSpec::Path(p) => route_match::PathSpecifier::Path(p.clone()),
    };
    let cluster_specifier = match &spec.target {
        TargetSpec::Cluster(name) => route_action::ClusterSpecifier::Cluster(name.clone()),
        TargetSpec::Weighted(split) => {
            route_action::ClusterSpecifier::WeightedClusters(WeightedCluster {
                clusters: split
                    .iter()
                    .map(|(name, weight)| weighted_cluster::ClusterWeight {
                        name: name.clone(),
                        weight: Some(UInt32Value { value: *weight }),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
        }
    };
    Route {
        name: spec.name.clone(),
        r#match: Some(RouteMatch {
            path_specifier: Some(path_specifier),
            ..Default::default()
        }),
        action: Some(route::Action::Route(RouteAction {
            cluster_specifier: Some(cluster_specifier),
            timeout: spec.timeout.map(proto_duration),
            ..Default::default()
        })),
        ..Default::default()
    }
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

/// The `typed_extension_protocol_options` entry that makes a cluster speak HTTP/2.
pub(super) fn http2_protocol_options() -> (String, Any) {
    let options = HttpProtocolOptions {
        upstream_protocol_options: Some(
            envoy_types::pb::envoy::extensions::upstreams::http::v3::http_protocol_options::UpstreamProtocolOptions::ExplicitHttpConfig(
                http_protocol_options::ExplicitHttpConfig {
                    protocol_config: Some(
                        http_protocol_options::explicit_http_config::ProtocolConfig::Http2ProtocolOptions(
                            Http2ProtocolOptions::default(),
                        ),
                    ),
                },
            ),
        ),
        ..Default::default()
    };
    (HttpProtocolOptions::full_name(), pack_any(options))
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

#[cfg(test)]
#[path = "resources_tests.rs"]
mod tests;
