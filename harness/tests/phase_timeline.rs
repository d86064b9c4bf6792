//! The timeline and the hop figures of the single-service and integration phases against
//! real Envoys: a route change mid-step reaches only the sidecar(s) that route to its
//! upstream and shows on that edge only after the event, and every hop figure covers the
//! measured part of the step alone (no baseline, no warmup), percentiles included.

mod common;

use common::*;
use gauntlet_reports::graph::{GraphEdge, ServiceGraph};
use gauntlet_reports::RunResult;

fn edge<'a>(g: &'a ServiceGraph, from: &str, to: &str) -> &'a GraphEdge {
    g.edge(from, to)
        .unwrap_or_else(|| panic!("no edge {from} → {to} in {:#?}", g.edges))
}

/// Route pushes the xDS server sent to `node` over the run.
fn route_pushes(r: &RunResult, node: &str) -> usize {
    r.xds
        .iter()
        .filter(|p| p.node == node && p.resource_type == "route")
        .count()
}

/// bff calls inventory (a service, which calls db) and pricing; at 1 s every call from bff
/// to pricing is aborted by Envoy's fault filter on bff's sidecar.
const INTEGRATION: &str = "name: integration-timeline
phase: integration
services:
  bff:
    mock: { calls: [{ service: inventory, path: /items }, { service: pricing, path: /price }] }
  inventory: { mock: { calls: [{ service: db, path: /rows }] } }
upstreams:
  db: { latency: 1ms }
  pricing: { latency: 1ms }
routes:
  - { name: db, match: { prefix: / }, cluster: db, timeout: 1s }
  - { name: pricing, match: { prefix: / }, cluster: pricing, timeout: 1s }
load: { rate: 100/s, connections: 4, duration: 3s, warmup: 0s, request: { path: /home } }
timeline:
  - at: 1s
    name: pricing-aborts
    route: pricing
    set: { fault: { abort: { status: 503, percent: 100% } } }
gates:
  - errors.rate < 1% before pricing-aborts
  - errors.rate > 90% after pricing-aborts
";

#[test]
fn integration_route_fault_mid_step_hits_one_edge_after_the_event() {
    let _serial = serial();
    let dir = scratch("phase-timeline-integration");
    let r = run_passing(&dir, INTEGRATION);
    let event = &r.events[0];
    assert!(event.error.is_none() && event.ack_ms.is_some(), "{event:?}");
    assert!(event.action.ends_with("to gauntlet-bff"), "{event:?}");
    // The change went to bff's sidecar only: inventory's never routes to pricing.
    assert_eq!(
        route_pushes(&r, "gauntlet-bff"),
        route_pushes(&r, "gauntlet-inventory") + 1,
        "{:#?}",
        r.xds
    );
    let envoy = step(&r, "envoy");
    let g = r.graph.as_ref().expect("the service graph");
    let pricing = edge(g, "bff", "pricing");
    // Aborted by bff's sidecar: counted as the caller's errors, never sent to the mock.
    assert!(pricing.caller_errors > 0, "{pricing:?}");
    assert_eq!(pricing.attempts + pricing.caller_errors, pricing.requests);
    assert_eq!(pricing.callee_counted, Some(pricing.attempts));
    // Before the event (a third of the step) the calls went through.
    let share = pricing.caller_errors as f64 / pricing.requests as f64;
    assert!((0.5..0.8).contains(&share), "{share}: {pricing:?}");
    for (from, to) in [("bff", "inventory"), ("inventory", "db")] {
        assert_eq!(edge(g, from, to).caller_errors, 0, "{from} → {to}");
    }
    assert_eq!(edge(g, "load", "bff").caller_errors, pricing.caller_errors);
    // The baseline's calls crossed the same sidecars; none is in the step's hops, and the
    // percentiles are over exactly the step's requests on each edge.
    let baseline = step(&r, "baseline");
    assert!(baseline.load.responses > 250, "{:?}", baseline.load);
    for e in &g.edges {
        assert_eq!(e.requests, envoy.load.responses, "{e:?}");
        assert_eq!(e.latency_samples, Some(e.requests), "{e:?}");
        assert!(e.p99_ms.is_some(), "{e:?}");
    }
    assert!(processes_mentioning(dir.to_str().unwrap()).is_empty());
}

/// The service calls inventory (20% 503s, absorbed by the egress retries until the event
/// removes them) and pricing (30 ms until the timeline makes it 1 ms at the step's start,
/// so the baseline's calls to pricing were all slow and the step's are fast).
fn single_service() -> String {
    "name: single-timeline
phase: single-service
service:
  name: checkout
  command: [gauntlet-mock, --listen, \"127.0.0.1:${PORT}\", --name, checkout,
            --call, \"inventory=${INVENTORY_URL}/items\", --call, \"pricing=${PRICING_URL}/price\"]
  health: /healthz
  startup_timeout: 10s
upstreams:
  inventory: { latency: 1ms, responses: { 200: 80%, 503: 20% } }
  pricing: { latency: 30ms }
routes:
  - name: inventory
    match: { prefix: / }
    cluster: inventory
    timeout: 1s
    retries: { on: [5xx], attempts: 4, per_try_timeout: 300ms }
clusters:
  inventory: { circuit_breakers: { max_retries: 100 } }
load: { rate: 150/s, connections: 8, duration: 2s, warmup: 1s, request: { path: /checkout } }
timeline:
  - { at: 0s, name: pricing-fast, upstream: pricing, set: { latency: 1ms } }
  - { at: 2s, name: no-retries, route: inventory, set: { retries: null } }
gates:
  - errors.rate < 2% before no-retries
  - errors.rate > 8% after no-retries
"
    .to_string()
}

#[test]
fn single_service_hops_leave_out_baseline_and_warmup_and_take_route_changes() {
    mock_binary();
    let _serial = serial();
    let dir = scratch("phase-timeline-single");
    let r = run_passing(&dir, &single_service());
    let change = r.events.iter().find(|e| e.label == "no-retries").unwrap();
    assert!(
        change.error.is_none() && change.ack_ms.is_some(),
        "{change:?}"
    );
    assert_eq!(
        route_pushes(&r, "gauntlet-egress"),
        route_pushes(&r, "gauntlet-ingress") + 1
    );
    let g = r.graph.as_ref().expect("the hops");
    let envoy = step(&r, "envoy");
    assert_eq!(g.seconds, envoy.load.duration_s);
    let pricing = edge(g, "checkout", "pricing");
    // Every baseline call to pricing took 30 ms or more; the step's take 1 ms. Envoy's
    // cumulative histogram would put the p99 among the baseline's.
    let p99 = pricing.p99_ms.expect("a p99");
    assert!(p99 < 25.0, "{pricing:?}");
    let inventory = edge(g, "checkout", "inventory");
    assert!(
        inventory.retries > 0 && inventory.caller_errors > 0,
        "{inventory:?}"
    );
    // The window starts at the end of the warmup, with the load running: each figure is
    // the step's measured part to within the requests in flight at that moment (a few; the
    // baseline's 300 and the warmup's 150 are far outside).
    let near = |a: u64, b: u64| a.abs_diff(b) <= (b / 20).max(3);
    for e in &g.edges {
        assert!(
            near(e.requests, envoy.load.responses),
            "{e:?} vs {:?}",
            envoy.load
        );
        let samples = e.latency_samples.expect("samples");
        assert!(near(samples, e.requests), "{e:?}");
    }
    assert!(
        near(pricing.callee_counted.unwrap(), pricing.attempts),
        "{pricing:?}"
    );
    assert!(processes_mentioning(dir.to_str().unwrap()).is_empty());
}
