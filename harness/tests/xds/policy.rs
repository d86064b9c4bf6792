//! What the policy tests against a real Envoy (`xds_policies.rs`, `xds_policy_config.rs`)
//! share: one listener's config over routes and clusters, and applying it until Envoy has
//! ACKed it. Included with `#[path = "xds/policy.rs"] mod policy;` next to the fixture.

#![allow(dead_code)]

use std::net::SocketAddr;

use gauntlet::policy::{HeaderMatch, HeaderValueMatch, RoutePolicy};
use gauntlet::xds::{ClusterSpec, EnvoyConfig, ListenerSpec, ResourceType, RouteSpec};

use super::fixture::{Fixture, APPLY_TIMEOUT, NODE};

/// The HCM stat prefix of every listener here: Envoy's HTTP stats read `http.ingress.*`.
pub const PREFIX: &str = "ingress";

/// One listener on `listen` with `routes`, over `clusters`.
pub fn envoy_config(
    listen: SocketAddr,
    routes: Vec<RouteSpec>,
    clusters: Vec<ClusterSpec>,
) -> EnvoyConfig {
    let mut l = ListenerSpec::new("ingress", listen);
    l.stat_prefix = PREFIX.to_owned();
    l.routes = routes;
    EnvoyConfig {
        listeners: vec![l],
        clusters,
    }
}

/// A route for everything under `prefix` to `cluster`, with `policy`.
pub fn route(name: &str, prefix: &str, cluster: &str, policy: RoutePolicy) -> RouteSpec {
    RouteSpec {
        policy,
        ..RouteSpec::prefix(name, prefix, cluster)
    }
}

pub fn header(name: &str, value: HeaderValueMatch) -> HeaderMatch {
    HeaderMatch {
        name: name.to_owned(),
        value,
    }
}

/// Sets `config` and waits until Envoy has ACKed all of it; panics with Envoy's message on
/// a NACK. Returns the types that were pushed.
pub async fn apply(fx: &Fixture, config: &EnvoyConfig) -> Vec<ResourceType> {
    let v = fx.control.set_config(NODE, config).unwrap();
    let report = fx
        .control
        .wait_applied(NODE, v, APPLY_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut types: Vec<ResourceType> = report.pushes.iter().map(|p| p.resource_type).collect();
    types.dedup();
    types
}
