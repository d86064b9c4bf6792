//! Scenario → the proto-free Envoy config the `xds` module turns into resources.
//!
//! The orchestrator owns the live copy of the routes (the timeline changes them) and asks
//! for a fresh `EnvoyConfig` after each change; the xds module diffs and pushes.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::scenario::{Route, RouteMatch, RouteTarget, Scenario, UpstreamProtocol};
use crate::xds::model::{
    ClusterSpec, EnvoyConfig, ListenerSpec, RouteMatchSpec, RouteSpec, TargetSpec,
};

/// Name of the listener, its route configuration and its HTTP stat prefix.
pub const LISTENER: &str = "gauntlet_ingress";
/// HTTP connection manager stat prefix: Envoy stats read `http.ingress.*`.
pub const STAT_PREFIX: &str = "ingress";

/// Builds the whole Envoy config from the scenario, the mocks' addresses and the current
/// routes (which may differ from the scenario's after timeline events).
pub fn envoy_config(
    scenario: &Scenario,
    listener: SocketAddr,
    endpoints: &BTreeMap<String, Vec<SocketAddr>>,
    routes: &[Route],
) -> EnvoyConfig {
    let clusters = scenario
        .upstreams
        .iter()
        .map(|u| ClusterSpec {
            name: u.name.clone(),
            endpoints: endpoints.get(&u.name).cloned().unwrap_or_default(),
            http2: u.protocol == UpstreamProtocol::Http2,
            connect_timeout: u.connect_timeout,
            policy: u.policy.clone(),
        })
        .collect();
    let listener = ListenerSpec {
        name: LISTENER.to_string(),
        address: listener,
        stat_prefix: STAT_PREFIX.to_string(),
        route_config_name: format!("{LISTENER}_routes"),
        routes: routes.iter().map(route_spec).collect(),
        ..ListenerSpec::default()
    };
    EnvoyConfig {
        listeners: vec![listener],
        clusters,
    }
}

fn route_spec(r: &Route) -> RouteSpec {
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
