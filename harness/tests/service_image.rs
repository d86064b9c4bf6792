//! The service under test as a container image (issue 8, point 4): the shipped
//! `scenarios/single-service-image.yaml` runs `checkout` from the locally built
//! `gauntlet/mock` image between real sidecars and holds its gates, with the ingress,
//! service and egress figures in the result; a container that exits or never becomes
//! healthy fails the run with its log's tail. No container is left on any path.
//!
//! These tests need a Docker engine. Without one they FAIL, unless `GAUNTLET_SKIP_DOCKER=1`
//! is set on purpose, and then each prints that it skipped.

mod common;
#[path = "common/docker.rs"]
mod docker_support;

use std::path::Path;

use common::*;
use docker_support::{
    assert_no_containers, engine, kill_container_labelled, mock_image, Background,
};
use gauntlet::service::SERVICE_LABEL;
use gauntlet_reports::RunStatus;

/// The shipped scenario with a shorter load (no warmup, so the client's counts are Envoy's).
fn short_shipped() -> String {
    with_load(
        &shipped_text("single-service-image"),
        "load: { rate: 150/s, connections: 4, duration: 2s, warmup: 0s, request: { path: /checkout } }",
    )
}

/// The shipped scenario for a minute and without a baseline step, for tests that end it.
fn long_shipped() -> String {
    with_load(
        &shipped_text("single-service-image"),
        "load: { rate: 50/s, duration: 60s, warmup: 0s, request: { path: /checkout } }",
    )
    .replace(
        "phase: single-service\n",
        "phase: single-service\nbaseline: false\n",
    )
}

#[test]
fn a_service_image_holds_its_gates_and_reports_every_hop() {
    if !engine() {
        return;
    }
    assert_eq!(
        mock_image(),
        "gauntlet/mock:0.1.0",
        "the scenario names this tag"
    );
    let _serial = serial();
    let dir = scratch("service-image");
    let r = run_passing(&dir, &short_shipped());
    let g = r.graph.as_ref().expect("the result has the hops");
    let envoy = step(&r, "envoy");
    let inbound = g.edge("load", "checkout").expect("ingress hop");
    assert_eq!(inbound.via, "ingress");
    assert_eq!(inbound.requests, envoy.load.responses, "{inbound:?}");
    assert!(inbound.requests > 100, "{inbound:?}");
    for dep in ["inventory", "pricing"] {
        let e = g.edge("checkout", dep).expect("egress hop");
        assert_eq!(e.via, "egress");
        // The containerised service calls each dependency once per request it gets, through
        // the egress listener on 127.0.0.1: the host network means the same address inside.
        assert_eq!(e.requests, inbound.requests, "{dep}: {e:?}");
        assert_eq!(e.callee_counted, Some(envoy.mocks[dep].requests));
    }
    let inventory = g.edge("checkout", "inventory").unwrap();
    assert!(
        inventory.attempt_errors > 0 && inventory.retries > 0,
        "{inventory:?}"
    );
    // The container's main process is visible from the host: its CPU and memory are read.
    let service = g.nodes.iter().find(|n| n.name == "checkout").unwrap();
    assert!(service.rss_mb.is_some_and(|m| m > 0.0), "{service:?}");
    assert!(service.cpu_cores.is_some_and(|c| c > 0.0), "{service:?}");
    let log = std::fs::read_to_string(dir.join("run/service-checkout.log")).unwrap();
    assert!(log.contains("listening on 127.0.0.1:"), "{log}");
    assert!(
        log.contains("calls inventory at http://127.0.0.1:"),
        "{log}"
    );
    assert_no_containers();
}

/// A scenario whose service is the mock image with `args`, waiting `startup_timeout`.
fn image_service(args: &str, startup_timeout: &str) -> String {
    format!(
        "name: bad-image\nphase: single-service\nbaseline: false\n\
         service: {{ name: checkout, image: gauntlet/mock:0.1.0, args: {args}, \
         startup_timeout: {startup_timeout} }}\n\
         upstreams: {{ dep: {{}} }}\nload: {{ rate: 10/s, duration: 1s }}\n"
    )
}

/// Runs `yaml`, expects it to fail as a run error (exit 3), and returns its stderr and the
/// result's error.
fn failing(dir: &Path, yaml: &str) -> String {
    let out = run(dir, &scenario_file(dir, yaml));
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let r = result(dir);
    assert_eq!(r.status, gauntlet_reports::RunStatus::Failed);
    format!("{}\n{:?}", String::from_utf8_lossy(&out.stderr), r.error)
}

#[test]
fn an_image_service_that_fails_to_start_says_why_and_is_removed() {
    if !engine() {
        return;
    }
    mock_image();
    let _serial = serial();
    // It listens where it should, but answers every request, the health check too, 404.
    let dir = scratch("service-image-unhealthy");
    let text = failing(
        &dir,
        &image_service(
            r#"[--listen, "127.0.0.1:${PORT}", --status, "404"]"#,
            "1500ms",
        ),
    );
    assert!(
        text.contains("service `checkout` did not become healthy within 1.5s"),
        "{text}"
    );
    assert!(text.contains("/healthz: status 404"), "{text}");
    // The log's tail is quoted: what the container printed reached service-checkout.log.
    assert!(text.contains("listening on 127.0.0.1:"), "{text}");
    assert_no_containers();

    // A container that exits at once (a flag its program refuses) says so, with its output.
    let dir = scratch("service-image-exits");
    let text = failing(&dir, &image_service("[--no-such-flag]", "10s"));
    assert!(
        text.contains("service `checkout` exited before it became healthy (exit code 2)"),
        "{text}"
    );
    assert!(text.contains("--no-such-flag"), "{text}");
    assert_no_containers();

    // An image the engine does not have (and no registry to pull from) says, once, how to
    // get one.
    let dir = scratch("service-image-missing");
    let yaml = image_service("[]", "10s").replace("gauntlet/mock:0.1.0", "gauntlet/no-such:0.0.1");
    let text = failing(&dir, &yaml);
    let said = "cannot start service `checkout` in a container: image `gauntlet/no-such:0.0.1` \
                is not in the local Docker engine";
    assert_eq!(text.matches(said).count(), 1, "said once: {text}");
    assert!(text.contains("docker load"), "{text}");
    assert_no_containers();
}

/// Kills the container of service `name` through the engine, as an OOM kill would.
fn kill_service_container(name: &str) {
    kill_container_labelled(&format!("{SERVICE_LABEL}={name}"));
}

#[test]
fn an_interrupted_run_or_a_killed_service_container_leaves_no_container() {
    if !engine() {
        return;
    }
    mock_image();
    let _serial = serial();
    let dir = scratch("service-image-interrupted");
    let run = Background::start(&dir, &long_shipped());
    run.interrupt_and_check(&dir);

    // The engine's exit watch sees the container die and stops the step at once.
    let dir = scratch("service-image-killed");
    let run = Background::start(&dir, &long_shipped());
    kill_service_container("checkout");
    let out = run.wait();
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let r = result(&dir);
    assert_eq!(r.status, RunStatus::Failed);
    let error = r.error.unwrap_or_default();
    assert!(
        error.contains("service `checkout` exited during the run: killed by SIGKILL"),
        "{error}"
    );
    assert_no_containers();
}

/// The integration phase takes the same `image:` for a program service: `bff` runs from the
/// mock image behind its own sidecar and calls a built-in mock service and an upstream.
#[test]
fn an_integration_service_may_be_an_image() {
    if !engine() {
        return;
    }
    mock_image();
    let _serial = serial();
    let dir = scratch("service-image-integration");
    let yaml = "name: integration-image\nphase: integration\nbaseline: false\n\
        services:\n  \
          bff: { image: gauntlet/mock:0.1.0, cpus: 1, memory: 128Mi, args: [--listen, \"127.0.0.1:${PORT}\", \
                 --name, bff, --call, \"inventory=${INVENTORY_URL}/items\", --call, \"db=${DB_URL}/q\"] }\n  \
          inventory: { mock: { calls: [{ service: db, path: /rows }] } }\n\
        upstreams:\n  db: { latency: 1ms }\n\
        load: { rate: 100/s, connections: 4, duration: 2s, warmup: 0s }\n\
        gates: [ \"errors.rate < 1%\" ]\n";
    let out = run(&dir, &scenario_file(&dir, yaml));
    let r = result(&dir);
    assert!(out.status.success(), "{}", describe(&out));
    let g = r.graph.as_ref().expect("the service graph");
    let envoy = step(&r, "envoy");
    for (from, to) in [
        ("load", "bff"),
        ("bff", "inventory"),
        ("bff", "db"),
        ("inventory", "db"),
    ] {
        let e = g
            .edge(from, to)
            .unwrap_or_else(|| panic!("no edge {from} → {to}: {g:#?}"));
        assert_eq!(e.requests, envoy.load.responses, "{from} → {to}: {e:?}");
    }
    let bff = g.nodes.iter().find(|n| n.name == "bff").unwrap();
    assert!(bff.rss_mb.is_some_and(|m| m > 0.0), "{bff:?}");
    assert!(dir.join("run/service-bff.log").is_file());
    assert_no_containers();
}
