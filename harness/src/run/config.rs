//! Scenario → the proto-free Envoy config the `xds` module turns into resources.
//!
//! The orchestrator owns the live copy of the routes (the timeline changes them) and asks
//! for a fresh `EnvoyConfig` after each change; the xds module diffs and pushes.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::policy::ClusterPolicy;
use crate::scenario::{Route, RouteMatch, RouteTarget, Scenario, UpstreamProtocol};
use crate::xds::model::{
    ClusterSpec, EnvoyConfig, ListenerSpec, RouteMatchSpec, RouteSpec, TargetSpec,
};

/// Name of the listener, its route configuration and its HTTP stat prefix.
pub const LISTENER: &str = "gauntlet_ingress";
/// HTTP connection manager stat prefix: Envoy stats read `http.ingress.*`.
pub const STAT_PREFIX: &str = "ingress";

/// What the timeline can change in Envoy's config, as it stands now: the routes, each
/// cluster's policies, and the endpoints Envoy is given for each upstream.
#[derive(Debug, Clone)]
pub struct Live {
    pub routes: Vec<Route>,
    pub clusters: BTreeMap<String, ClusterPolicy>,
    pub endpoints: BTreeMap<String, Vec<SocketAddr>>,
    /// Single-service phase: the egress listener of each upstream (the service's
    /// dependencies). When set, [`envoy_config`] builds the egress sidecar's config.
    pub egress: BTreeMap<String, SocketAddr>,
}

impl Live {
    /// The config as the scenario defines it, with the mocks' actual addresses.
    pub fn new(scenario: &Scenario, endpoints: BTreeMap<String, Vec<SocketAddr>>) -> Self {
        Self {
            routes: scenario.routes.clone(),
            clusters: scenario
                .upstreams
                .iter()
                .map(|u| (u.name.clone(), u.policy.clone()))
                .collect(),
            endpoints,
            egress: BTreeMap::new(),
        }
    }
}

/// Builds the whole Envoy config from the scenario and the live state of what the timeline
/// changes.
pub fn envoy_config(scenario: &Scenario, listener: SocketAddr, live: &Live) -> EnvoyConfig {
    if !live.egress.is_empty() {
        return super::egress::egress_config(scenario, live);
    }
    let clusters = scenario
        .upstreams
        .iter()
        .map(|u| ClusterSpec {
            name: u.name.clone(),
            endpoints: live.endpoints.get(&u.name).cloned().unwrap_or_default(),
            // gRPC is HTTP/2: Envoy must speak it to a gRPC upstream.
            http2: matches!(u.protocol, UpstreamProtocol::Http2 | UpstreamProtocol::Grpc),
            connect_timeout: u.connect_timeout,
            policy: live.clusters.get(&u.name).cloned().unwrap_or_default(),
        })
        .collect();
    let routes = &live.routes;
    let listener = ListenerSpec {
        name: LISTENER.to_string(),
        address: listener,
        stat_prefix: STAT_PREFIX.to_string(),
        route_config_name: format!("{LISTENER}_routes"),
        routes: routes.iter().map(route_spec).collect(),
        grpc_timeouts: scenario.load.protocol == crate::scenario::LoadProtocol::Grpc,
        ..ListenerSpec::default()
    };
    EnvoyConfig {
        listeners: vec![listener],
        clusters,
    }
}

pub(super) fn route_spec(r: &Route) -> RouteSpec {
    RouteSpec {
        name: r.name.clone(),
        matcher: match &r.matcher {
            RouteMatch::Prefix(p) => RouteMatchSpec::Prefix(p.clone()),
            RouteMatch::Path(p) => RouteMatchSpec::Path(p.clone()),
        },
        headers: r.headers.clone(),
        target: target_spec(&r.target),
        policy: r.policy.clone(),
    }
}

fn target_spec(t: &RouteTarget) -> TargetSpec {
    match t {
        RouteTarget::Cluster(c) => TargetSpec::Cluster(c.clone()),
        RouteTarget::Weighted(w) => TargetSpec::Weighted(w.clone()),
    }
}

/// Addresses the direct baseline sends to: the endpoints of every cluster the load's route
/// can reach, so the baseline exercises the same mocks as the path through Envoy.
pub fn baseline_targets(
    route: &Route,
    endpoints: &BTreeMap<String, Vec<SocketAddr>>,
) -> Vec<SocketAddr> {
    let clusters: Vec<&String> = match &route.target {
        RouteTarget::Cluster(c) => vec![c],
        RouteTarget::Weighted(w) => w.iter().map(|(c, _)| c).collect(),
    };
    clusters
        .into_iter()
        .filter_map(|c| endpoints.get(c))
        .flatten()
        .copied()
        .collect()
}
