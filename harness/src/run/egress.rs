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
//! with their policies: retries, timeouts, faults, rate limits, as the timeline has left
//! them), or, when none does, one catch-all route to it. Clusters carry the upstreams'
//! policies as in the benchmark phase.

use std::net::SocketAddr;

use super::config::{route_spec, Live};
use crate::scenario::{Route, RouteTarget, Scenario, Upstream, UpstreamProtocol};
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
        .map(|u| upstream_cluster(u, live))
        .collect();
    let listeners = live
        .egress
        .iter()
        .map(|(dep, addr)| ListenerSpec {
            routes: routes_for(dep, &scenario.routes, &live.routes),
            ..ListenerSpec::new(egress_prefix(dep), *addr)
        })
        .collect();
    EnvoyConfig {
        listeners,
        clusters,
    }
}

/// An upstream's cluster, with the endpoints and policies the timeline has left it.
pub(super) fn upstream_cluster(u: &Upstream, live: &Live) -> ClusterSpec {
    ClusterSpec {
        name: u.name.clone(),
        endpoints: live.endpoints.get(&u.name).cloned().unwrap_or_default(),
        http2: u.protocol != UpstreamProtocol::Http1,
        connect_timeout: u.connect_timeout,
        policy: live.clusters.get(&u.name).cloned().unwrap_or_default(),
    }
}

/// The routes of `dep`'s egress listener: every route the scenario defines toward it, as
/// the timeline has left it (`live`, index for index with `defined`), or a catch-all. A
/// route stays on the listener it was defined for when an event retargets it, so the
/// calls to `dep` then go where the event sends them.
pub(super) fn routes_for(dep: &str, defined: &[Route], live: &[Route]) -> Vec<RouteSpec> {
    let mine: Vec<RouteSpec> = defined
        .iter()
        .zip(live)
        .filter(|(d, _)| names(&d.target, dep))
        .map(|(_, now)| route_spec(now))
        .collect();
    if mine.is_empty() {
        vec![RouteSpec::prefix(format!("{dep}-default"), "/", dep)]
    } else {
        mine
    }
}

/// Whether `target` sends any traffic to `cluster`.
fn names(target: &RouteTarget, cluster: &str) -> bool {
    match target {
        RouteTarget::Cluster(c) => c == cluster,
        RouteTarget::Weighted(w) => w.iter().any(|(c, _)| c == cluster),
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
        assert_eq!(routes_for("inventory", &routes, &routes)[0].name, "inv");
        let other = routes_for("pricing", &routes, &routes);
        assert_eq!(other.len(), 1);
        assert_eq!(other[0].name, "pricing-default");
    }

    #[test]
    fn a_retargeted_route_stays_on_its_listener() {
        let defined = vec![Route {
            name: "inv".into(),
            matcher: crate::scenario::RouteMatch::Prefix("/".into()),
            headers: Vec::new(),
            target: RouteTarget::Cluster("inventory".into()),
            policy: Default::default(),
        }];
        let mut live = defined.clone();
        live[0].target = RouteTarget::Cluster("inventory-canary".into());
        let on_inventory = routes_for("inventory", &defined, &live);
        assert_eq!(on_inventory[0].name, "inv");
        assert_eq!(
            on_inventory[0].target,
            crate::xds::model::TargetSpec::Cluster("inventory-canary".into())
        );
        assert_eq!(
            routes_for("inventory-canary", &defined, &live)[0].name,
            "inventory-canary-default"
        );
    }
}
