//! The two sidecars of the single-service phase as proto-free Envoy configs.
//!
//! - **Ingress** (node `gauntlet-ingress`): one listener, `ingress`, whose only route sends
//!   everything to the service's port (cluster named after the service). No policies: it
//!   stands for the mesh's inbound side and shows what reaches the service.
//! - **Egress** (node `gauntlet-egress`): one listener per dependency (upstream), named
//!   `egress_<upstream>`, each on its own loopback port, which the service reaches through
//!   `<UPSTREAM>_URL`. A listener per dependency (rather than one listener with host-based
//!   virtual hosts) keeps the service's calls plain `http://127.0.0.1:<port>/…` URLs with no
//!   Host header to get right, and gives each dependency its own listener counters
//!   (`http.egress_<upstream>.downstream_rq_*`: what the service saw, after retries).
//!
//! Each egress listener carries the scenario's routes that name its upstream (in file order,
//! with their policies: retries, timeouts, faults, rate limits), or, when none does, one
//! catch-all route to it. Clusters carry the upstreams' policies as in the benchmark phase.

use std::net::SocketAddr;

use super::config::{route_spec, Live};
use crate::scenario::{Route, RouteTarget, Scenario, UpstreamProtocol};
use crate::xds::model::{ClusterSpec, EnvoyConfig, ListenerSpec, RouteSpec};

/// The ingress sidecar's node id.
pub const INGRESS_NODE: &str = "gauntlet-ingress";
/// The egress sidecar's node id.
pub const EGRESS_NODE: &str = "gauntlet-egress";
/// The ingress listener's name and HTTP stat prefix (`http.ingress.*`).
pub const INGRESS_PREFIX: &str = "ingress";

/// The egress listener's name and stat prefix for a dependency: `egress_<name>`.
pub fn egress_prefix(dependency: &str) -> String {
    format!("egress_{dependency}")
}

/// The egress sidecar's config: a listener per dependency, the upstreams' clusters.
pub fn egress_config(scenario: &Scenario, live: &Live) -> EnvoyConfig {
    let clusters = scenario
        .upstreams
        .iter()
        .map(|u| ClusterSpec {
            name: u.name.clone(),
            endpoints: live.endpoints.get(&u.name).cloned().unwrap_or_default(),
            http2: u.protocol != UpstreamProtocol::Http1,
            connect_timeout: u.connect_timeout,
            policy: live.clusters.get(&u.name).cloned().unwrap_or_default(),
        })
        .collect();
    let listeners = live
        .egress
        .iter()
        .map(|(dep, addr)| ListenerSpec {
            routes: routes_for(dep, &live.routes),
            ..ListenerSpec::new(egress_prefix(dep), *addr)
        })
        .collect();
    EnvoyConfig {
        listeners,
        clusters,
    }
}

/// The routes of `dep`'s egress listener: every route that names it, or a catch-all.
pub(super) fn routes_for(dep: &str, routes: &[Route]) -> Vec<RouteSpec> {
    let mine: Vec<RouteSpec> = routes
        .iter()
        .filter(|r| match &r.target {
            RouteTarget::Cluster(c) => c == dep,
            RouteTarget::Weighted(w) => w.iter().any(|(c, _)| c == dep),
        })
        .map(route_spec)
        .collect();
    if mine.is_empty() {
        vec![RouteSpec::prefix(format!("{dep}-default"), "/", dep)]
    } else {
        mine
    }
}

/// The ingress sidecar's config: `listener` → the service at `service`.
pub fn ingress_config(name: &str, listener: SocketAddr, service: SocketAddr) -> EnvoyConfig {
    EnvoyConfig {
        listeners: vec![ListenerSpec {
            routes: vec![RouteSpec::prefix(format!("{name}-inbound"), "/", name)],
            ..ListenerSpec::new(INGRESS_PREFIX, listener)
        }],
        clusters: vec![ClusterSpec::new(name, vec![service])],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingress_sends_everything_to_the_service() {
        let l = SocketAddr::from(([127, 0, 0, 1], 10000));
        let s = SocketAddr::from(([127, 0, 0, 1], 8080));
        let cfg = ingress_config("checkout", l, s);
        assert_eq!(cfg.listeners[0].stat_prefix, "ingress");
        assert_eq!(cfg.clusters[0].name, "checkout");
        assert_eq!(cfg.clusters[0].endpoints, vec![s]);
    }

    #[test]
    fn each_dependency_gets_its_routes_or_a_catch_all() {
        let routes = vec![Route {
            name: "inv".into(),
            matcher: crate::scenario::RouteMatch::Prefix("/items".into()),
            headers: Vec::new(),
            target: RouteTarget::Cluster("inventory".into()),
            policy: Default::default(),
        }];
        assert_eq!(routes_for("inventory", &routes)[0].name, "inv");
        let other = routes_for("pricing", &routes);
        assert_eq!(other.len(), 1);
        assert_eq!(other[0].name, "pricing-default");
    }
}
