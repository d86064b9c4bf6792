//! The single-service and integration phases fully in containers (issue 8): every sidecar
//! its own container of `envoy.image` under `envoy.cpus` / `envoy.memory`, the service from
//! an image, the mock upstreams as containers (`mocks:`). The shipped
//! `scenarios/single-service-containers.yaml` holds its gates with the ingress, service and
//! egress figures read from each container's cgroup; an integration run with its sidecars in
//! containers counts on each edge to an upstream what that upstream's container counted;
//! no container is left behind. A CPU limit without an image is still an error.
//!
//! The run tests need a Docker engine. Without one they FAIL, unless `GAUNTLET_SKIP_DOCKER=1`
//! is set on purpose, and then each prints that it skipped.

mod common;
#[path = "common/docker.rs"]
mod docker_support;

use common::*;
use docker_support::{assert_no_containers, engine, envoy_image, mock_image};
use gauntlet_reports::graph::{GraphNode, ServiceGraph};

const SCENARIO: &str = "single-service-containers";

/// Builds both images the scenarios name, and checks they are the tags named there.
fn images() {
    assert_eq!(
        envoy_image(),
        "gauntlet/envoy:1.40.0",
        "the scenarios name this tag"
    );
    assert_eq!(
        mock_image(),
        "gauntlet/mock:0.1.0",
        "the scenarios name this tag"
    );
}

/// The proxy (sidecar) of the graph named `name`.
fn proxy<'a>(g: &'a ServiceGraph, name: &str) -> &'a GraphNode {
    g.proxies
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no proxy `{name}` in {:#?}", g.proxies))
}

/// A node that ran in a container of `image` under `cpus` and `memory_mb`, with its CPU,
/// memory and throttling read from the container's cgroup.
fn assert_cgroup_figures(n: &GraphNode, image: &str, cpus: f64, memory_mb: f64) {
    let c = n
        .container
        .as_ref()
        .unwrap_or_else(|| panic!("`{}` ran in no container: {n:#?}", n.name));
    assert_eq!(c.image, image, "{n:#?}");
    assert_eq!(
        (c.cpus, c.memory_mb),
        (Some(cpus), Some(memory_mb)),
        "{n:#?}"
    );
    assert!(
        c.cgroup,
        "`{}`'s figures are not its cgroup's: {n:#?}",
        n.name
    );
    let cpu = n.cpu_cores.expect("a CPU figure");
    // The load keeps every node busy, and the CFS quota keeps it under its limit.
    assert!(cpu > 0.0 && cpu < cpus * 1.1, "{n:#?}");
    assert!(n.rss_mb.is_some_and(|m| m > 0.0 && m < memory_mb), "{n:#?}");
    let (periods, throttled) = (
        c.periods.expect("periods"),
        c.throttled_periods.expect("throttled"),
    );
    assert!(periods > 0 && throttled <= periods, "{n:#?}");
}

#[test]
fn everything_in_containers_holds_its_gates_with_cgroup_figures() {
    if !engine() {
        return;
    }
    images();
    let _serial = serial();
    let dir = scratch("phase-containers-single");
    // No warmup: the hops then count exactly what the client and the mocks counted.
    let yaml = with_load(
        &shipped_text(SCENARIO),
        "load: { rate: 100/s, connections: 4, duration: 3s, warmup: 0s, request: { path: /checkout } }",
    );
    let r = run_passing(&dir, &yaml);
    let envoy = r.envoy.as_ref().expect("the sidecars' Envoy");
    let limits = envoy.container.as_ref().expect("the sidecars' container");
    assert_eq!((limits.cpus, limits.memory_mb), (Some(0.5), Some(256.0)));
    let g = r.graph.as_ref().expect("the result has the hops");
    let inbound = g.edge("load", "checkout").expect("the ingress hop");
    assert_eq!(inbound.via, "ingress");
    assert_eq!(
        inbound.requests,
        step(&r, "envoy").load.responses,
        "{inbound:?}"
    );
    for dep in ["inventory", "pricing"] {
        let e = g.edge("checkout", dep).expect("an egress hop");
        assert_eq!(e.callee_counted, Some(e.attempts), "{e:?}");
    }
    assert!(g.edge("checkout", "inventory").unwrap().retries > 0);
    for sidecar in ["ingress", "egress"] {
        assert_cgroup_figures(proxy(g, sidecar), "gauntlet/envoy:1.40.0", 0.5, 256.0);
        let log = dir.join("run").join(sidecar).join("envoy.log");
        assert!(
            log.metadata().is_ok_and(|m| m.len() > 0),
            "{}",
            log.display()
        );
    }
    let service = g.nodes.iter().find(|n| n.name == "checkout").unwrap();
    assert_cgroup_figures(service, "gauntlet/mock:0.1.0", 1.0, 128.0);
    // The mocks ran as containers: each endpoint's container log is in the run directory.
    for log in ["mock-inventory-0.log", "mock-pricing-0.log"] {
        assert!(dir.join("run").join(log).is_file(), "{log}");
    }
    assert_no_containers();
}

/// Two built-in mock services, each behind its own sidecar container, calling two mock
/// upstreams that run as containers (one flaky, absorbed by retries).
const INTEGRATION: &str = "name: integration-containers
phase: integration
baseline: false
envoy: { image: gauntlet/envoy:1.40.0, cpus: 0.5, memory: 256Mi }
mocks: { image: gauntlet/mock:0.1.0, memory: 64Mi }
services:
  front:
    mock:
      calls:
        - { service: back, path: /items }
        - { service: pricing, path: /price }
      mode: parallel
  back:
    mock: { calls: [{ service: db, path: /rows }] }
upstreams:
  db: { latency: 1ms, responses: { 200: 90%, 503: 10% } }
  pricing: { latency: 1ms }
routes:
  - { name: db, match: { prefix: / }, cluster: db, timeout: 1s, retries: { on: [5xx], attempts: 3 } }
load: { rate: 100/s, connections: 4, duration: 3s, warmup: 0s, request: { path: /home } }
gates:
  - errors.rate < 1%
  - mocks.db.status.503 > 0
";

#[test]
fn integration_sidecars_in_containers_count_what_the_mocks_count() {
    if !engine() {
        return;
    }
    images();
    let _serial = serial();
    let dir = scratch("phase-containers-integration");
    let r = run_passing(&dir, INTEGRATION);
    let g = r.graph.as_ref().expect("the result has the hops");
    for (from, to) in [("back", "db"), ("front", "pricing")] {
        let e = g.edge(from, to).expect("an edge to an upstream");
        assert!(e.attempts > 0, "{e:?}");
        // What the caller's sidecar sent is what the upstream's container counted.
        assert_eq!(e.callee_counted, Some(e.attempts), "{e:?}");
        assert_eq!(e.via, format!("sidecar:{from}"));
    }
    assert!(g.edge("back", "db").unwrap().retries > 0);
    for sidecar in ["sidecar:front", "sidecar:back"] {
        assert_cgroup_figures(proxy(g, sidecar), "gauntlet/envoy:1.40.0", 0.5, 256.0);
    }
    for log in ["mock-db-0.log", "mock-pricing-0.log"] {
        assert!(dir.join("run").join(log).is_file(), "{log}");
    }
    assert_no_containers();
}

/// `gauntlet validate` of `yaml`: its stderr, which must say it failed.
fn invalid(yaml: &str) -> String {
    let dir = scratch("phase-containers-invalid");
    let out = gauntlet()
        .arg("validate")
        .arg(scenario_file(&dir, yaml))
        .output()
        .expect("spawn gauntlet");
    assert!(!out.status.success(), "{}", describe(&out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_sidecar_limit_needs_an_image_and_sizing_stays_in_the_benchmark() {
    let shipped = shipped_text(SCENARIO);
    let image_line = "  image: gauntlet/envoy:1.40.0";
    let line = shipped.lines().find(|l| l.starts_with(image_line)).unwrap();
    let err = invalid(&shipped.replace(line, "  version: \"1.40.0\""));
    assert!(
        err.contains(":19:3: envoy.cpus: `cpus` limits a container, but `image` is not set"),
        "{err}"
    );
    assert!(err.contains("add `image: gauntlet/envoy:1.40.0`"), "{err}");
    let sweep = format!("{shipped}sweep: {{ rate: [100, 200] }}\n");
    let err = invalid(&sweep);
    assert!(
        err.contains("`sweep:` is only run by `phase: benchmark`"),
        "{err}"
    );
}
