//! Which sidecars a timeline change reaches: the configs of every sidecar built before and
//! after a change to the live state, compared (no Envoy, no I/O).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::{node_configs, wire, Live};
use crate::policy::{CircuitBreakers, ClusterPolicy};
use crate::scenario::{parse, RouteTarget, Scenario};
use crate::xds::model::{EnvoyConfig, TargetSpec};

/// bff calls inventory (a service) and pricing; inventory calls db.
const YAML: &str = "name: t\nphase: integration\n\
    services:\n  bff: { mock: { calls: [{ service: inventory }, { service: pricing }] } }\n  \
    inventory: { mock: { calls: [{ service: db }] } }\n\
    upstreams: { db: {}, pricing: {} }\n\
    routes:\n  - { name: db, match: { prefix: / }, cluster: db }\n  \
    - { name: pricing, match: { prefix: / }, cluster: pricing }\n\
    load: { rate: 10/s, duration: 2s }\n\
    timeline:\n  - { at: 1s, route: pricing, set: { timeout: 5ms } }\n  \
    - { at: 1s, cluster: db, set: { circuit_breakers: { max_requests: 1 } } }\n  \
    - { at: 1s, upstream: db, scale: 2 }\n";

/// Route, cluster and scale events are valid in this phase (they used to be refused).
fn scenario() -> Scenario {
    parse(YAML, Path::new("t.yaml")).expect("valid scenario")
}

fn live(s: &Scenario) -> Live {
    let addr = |p: u16| vec![SocketAddr::from(([127, 0, 0, 1], p))];
    Live::new(
        s,
        BTreeMap::from([("db".into(), addr(1)), ("pricing".into(), addr(2))]),
    )
}

/// The nodes whose config differs between `a` and `b`.
fn changed(a: &[(String, EnvoyConfig)], b: &[(String, EnvoyConfig)]) -> Vec<String> {
    a.iter()
        .zip(b)
        .filter(|(x, y)| x.1 != y.1)
        .map(|(x, _)| x.0.clone())
        .collect()
}

#[test]
fn a_route_change_reaches_only_the_sidecars_that_call_its_upstream() {
    let s = scenario();
    let wiring = wire(&s).unwrap();
    let configs = node_configs(&s, &wiring);
    let mut live = live(&s);
    let before = configs(&live);
    assert_eq!(before.len(), 2);
    live.routes[1].policy.timeout = Some(Duration::from_millis(5));
    assert_eq!(changed(&before, &configs(&live)), ["gauntlet-bff"]);
}

#[test]
fn a_cluster_change_reaches_only_the_sidecars_with_that_cluster() {
    let s = scenario();
    let wiring = wire(&s).unwrap();
    let configs = node_configs(&s, &wiring);
    let mut live = live(&s);
    let before = configs(&live);
    live.clusters.insert(
        "db".into(),
        ClusterPolicy {
            circuit_breakers: Some(CircuitBreakers {
                max_requests: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    assert_eq!(changed(&before, &configs(&live)), ["gauntlet-inventory"]);
}

#[test]
fn a_retargeted_route_brings_its_new_cluster_into_the_sidecar() {
    let s = scenario();
    let wiring = wire(&s).unwrap();
    let configs = node_configs(&s, &wiring);
    let mut live = live(&s);
    // inventory's calls to db now go to pricing, which only bff called so far.
    live.routes[0].target = RouteTarget::Cluster("pricing".into());
    let after = configs(&live);
    let (_, inventory) = after
        .iter()
        .find(|(n, _)| n == "gauntlet-inventory")
        .unwrap();
    let out_db = inventory
        .listeners
        .iter()
        .find(|l| l.stat_prefix == "out_db")
        .expect("the listener db is called through");
    assert_eq!(
        out_db.routes[0].target,
        TargetSpec::Cluster("pricing".into())
    );
    let pricing = inventory.clusters.iter().find(|c| c.name == "pricing");
    assert_eq!(pricing.map(|c| c.endpoints.len()), Some(1));
}
