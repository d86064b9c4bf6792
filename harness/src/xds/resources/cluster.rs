//! Clusters (EDS over ADS, with their [`ClusterPolicy`]) and their load assignments.

use std::collections::HashMap;

use envoy_types::pb::envoy::config::cluster::v3::circuit_breakers::{thresholds, Thresholds};
use envoy_types::pb::envoy::config::cluster::v3::{
    cluster, CircuitBreakers as PbCircuitBreakers, Cluster, OutlierDetection as PbOutlierDetection,
};
use envoy_types::pb::envoy::config::core::v3::{
    health_check, HealthCheck as PbHealthCheck, Http1ProtocolOptions, Http2ProtocolOptions,
    HttpProtocolOptions as CommonHttpProtocolOptions, RoutingPriority,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    lb_endpoint, ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints,
};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::http_protocol_options::{
    explicit_http_config::ProtocolConfig, ExplicitHttpConfig, UpstreamProtocolOptions,
};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::HttpProtocolOptions;
use envoy_types::pb::envoy::r#type::v3::{CodecClientType, Percent};
use envoy_types::pb::google::protobuf::Any;
use envoy_types::util::pack_any;
use prost::Name;

use super::{ads_config_source, proto_duration, socket_address, u32_value};
use crate::policy::{CircuitBreakers, HealthCheck, LbPolicy, OutlierDetection};
use crate::xds::model::ClusterSpec;

/// Envoy's default enforcement for `consecutive_5xx` and what we use for gateway failures:
/// eject every host that trips the detector.
const ENFORCE_ALWAYS: u32 = 100;

/// An EDS cluster with the spec's policies; its endpoints go out separately (EDS).
pub(super) fn cluster(spec: &ClusterSpec) -> Cluster {
    let policy = &spec.policy;
    let mut typed_extension_protocol_options = HashMap::new();
    // At most one entry: prost encodes map fields in HashMap order, and change detection
    // compares encoded bytes, so a second entry would need a deterministic encoding.
    if let Some((key, options)) = protocol_options(spec.http2, policy.max_requests_per_connection) {
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
        lb_policy: lb_policy(policy.lb_policy) as i32,
        typed_extension_protocol_options,
        circuit_breakers: policy.circuit_breakers.as_ref().map(circuit_breakers),
        outlier_detection: policy.outlier_detection.as_ref().map(outlier_detection),
        health_checks: policy
            .health_check
            .iter()
            .map(|hc| health_check(hc, spec.http2))
            .collect(),
        // With active health checking Envoy would otherwise keep a host that EDS removed
        // until it fails its checks; a shrunk endpoint list must take effect at once.
        ignore_health_on_host_removal: true,
        ..Default::default()
    }
}

/// The cluster's endpoints: one locality, one priority, equal weights.
pub(super) fn load_assignment(spec: &ClusterSpec) -> ClusterLoadAssignment {
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

/// `RING_HASH` balances by a hash of the request, which only a route `hash_policy` gives;
/// Gauntlet sets none, so each request hashes differently and ring hash behaves like random.
fn lb_policy(policy: LbPolicy) -> cluster::LbPolicy {
    match policy {
        LbPolicy::RoundRobin => cluster::LbPolicy::RoundRobin,
        LbPolicy::LeastRequest => cluster::LbPolicy::LeastRequest,
        LbPolicy::Random => cluster::LbPolicy::Random,
        LbPolicy::RingHash => cluster::LbPolicy::RingHash,
    }
}

/// Thresholds for the default priority only: Gauntlet's endpoints all have that priority.
fn circuit_breakers(cb: &CircuitBreakers) -> PbCircuitBreakers {
    PbCircuitBreakers {
        thresholds: vec![Thresholds {
            priority: RoutingPriority::Default as i32,
            max_connections: cb.max_connections.map(u32_value),
            max_pending_requests: cb.max_pending_requests.map(u32_value),
            max_requests: cb.max_requests.map(u32_value),
            max_retries: cb.max_retries.map(u32_value),
            track_remaining: cb.track_remaining,
            retry_budget: cb.retry_budget.as_ref().map(|b| thresholds::RetryBudget {
                budget_percent: Some(Percent {
                    value: b.budget_percent,
                }),
                min_retry_concurrency: Some(u32_value(b.min_retry_concurrency)),
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn outlier_detection(od: &OutlierDetection) -> PbOutlierDetection {
    PbOutlierDetection {
        consecutive_5xx: od.consecutive_5xx.map(u32_value),
        consecutive_gateway_failure: od.consecutive_gateway_failure.map(u32_value),
        // Envoy's default enforcement for gateway failures is 0%: detected, counted, never
        // ejected. Asking for the detector means asking for ejections.
        enforcing_consecutive_gateway_failure: od
            .consecutive_gateway_failure
            .map(|_| u32_value(ENFORCE_ALWAYS)),
        interval: od.interval.map(proto_duration),
        base_ejection_time: od.base_ejection_time.map(proto_duration),
        max_ejection_percent: od.max_ejection_percent.map(u32_value),
        ..Default::default()
    }
}

/// An HTTP health check in the cluster's own protocol.
fn health_check(hc: &HealthCheck, http2: bool) -> PbHealthCheck {
    let codec = if http2 {
        CodecClientType::Http2
    } else {
        CodecClientType::Http1
    };
    PbHealthCheck {
        timeout: Some(proto_duration(hc.timeout)),
        interval: Some(proto_duration(hc.interval)),
        // Envoy checks a cluster that has had no traffic yet only every 60 s by default;
        // a test wants verdicts from its first seconds, before and without load.
        no_traffic_interval: Some(proto_duration(hc.interval)),
        unhealthy_threshold: Some(u32_value(hc.unhealthy_threshold)),
        healthy_threshold: Some(u32_value(hc.healthy_threshold)),
        health_checker: Some(health_check::HealthChecker::HttpHealthCheck(
            health_check::HttpHealthCheck {
                path: hc.path.clone(),
                codec_client_type: codec as i32,
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

/// The `typed_extension_protocol_options` entry for a cluster, if it needs one: HTTP/2
/// (prior knowledge) and/or a cap on requests per connection. Envoy requires the protocol
/// to be chosen whenever the options exist, so a capped HTTP/1.1 cluster says HTTP/1.1.
fn protocol_options(
    http2: bool,
    max_requests_per_connection: Option<u32>,
) -> Option<(String, Any)> {
    match (http2, max_requests_per_connection) {
        (false, None) => None,
        (true, max) => Some(explicit_http(
            ProtocolConfig::Http2ProtocolOptions(Http2ProtocolOptions::default()),
            max,
        )),
        (false, max) => Some(explicit_http(
            ProtocolConfig::HttpProtocolOptions(Http1ProtocolOptions::default()),
            max,
        )),
    }
}

/// The `typed_extension_protocol_options` entry that makes a cluster speak HTTP/2 (also the
/// bootstrap's xDS cluster: gRPC needs it).
pub(in crate::xds) fn http2_protocol_options() -> (String, Any) {
    explicit_http(
        ProtocolConfig::Http2ProtocolOptions(Http2ProtocolOptions::default()),
        None,
    )
}

/// `HttpProtocolOptions` with an explicit protocol and an optional request cap, keyed by the
/// name Envoy looks it up by.
fn explicit_http(protocol_config: ProtocolConfig, max_requests: Option<u32>) -> (String, Any) {
    let options = HttpProtocolOptions {
        common_http_protocol_options: max_requests.map(|max| CommonHttpProtocolOptions {
            max_requests_per_connection: Some(u32_value(max)),
            ..Default::default()
        }),
        upstream_protocol_options: Some(UpstreamProtocolOptions::ExplicitHttpConfig(
            ExplicitHttpConfig {
                protocol_config: Some(protocol_config),
            },
        )),
        ..Default::default()
    };
    (HttpProtocolOptions::full_name(), pack_any(options))
}
