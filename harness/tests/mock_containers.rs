//! Mock upstreams as containers of the locally built `gauntlet/mock` image (`mocks:`): the
//! shipped `scenarios/mocks-in-containers.yaml` passes its gates, each upstream's mock
//! counts equal what Envoy sent it, the timeline's behaviour change reaches the container,
//! endpoints go down and up and the upstream grows, and no container is left whether the
//! run passes, fails or is interrupted.
//!
//! These tests need a Docker engine. Without one they FAIL, unless `GAUNTLET_SKIP_DOCKER=1`
//! is set on purpose, and then each prints that it skipped.

mod common;
#[path = "common/docker.rs"]
mod docker_support;

use common::*;
use docker_support::{
    assert_no_containers, engine, gauntlet_containers, kill_container_labelled, mock_image,
    Background,
};
use gauntlet_reports::{RunResult, RunStatus, StepResult};

/// Envoy's counter for `name`, failing with what there is when it is missing.
fn envoy_stat(step: &StepResult, name: &str) -> u64 {
    *step.envoy_stats.get(name).unwrap_or_else(|| {
        let near: Vec<_> = step
            .envoy_stats
            .keys()
            .filter(|k| k.contains("upstream_rq_total"))
            .collect();
        panic!("no Envoy stat {name}; have {near:?}")
    })
}

/// Every upstream's mock count equals the requests Envoy sent its cluster.
fn assert_counts_match_envoy(r: &RunResult, upstreams: &[&str]) {
    let envoy = step(r, "envoy");
    for u in upstreams {
        let sent = envoy_stat(envoy, &format!("cluster.{u}.upstream_rq_total"));
        let counted = envoy.mocks[*u].requests;
        eprintln!("{u}: Envoy sent {sent}, the mock containers counted {counted}");
        assert!(sent > 0, "{u}: no traffic");
        assert_eq!(
            sent, counted,
            "{u}: Envoy's upstream_rq_total vs the mocks' count"
        );
    }
}

#[test]
fn shipped_scenario_runs_its_mocks_in_containers() {
    if !engine() {
        return;
    }
    let tag = mock_image();
    let _serial = serial();
    let yaml = shipped_text("mocks-in-containers");
    assert!(
        yaml.contains(&format!("image: {tag}")),
        "the shipped scenario names {tag}"
    );
    let dir = scratch("mock-containers-shipped");
    let out = run(&dir, &scenario_file(&dir, &yaml));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let r = result(&dir);
    assert_eq!(r.status, RunStatus::Completed);
    for g in &r.gates {
        eprintln!("gate {}: {} {:?}", g.gate, g.passed, g.measured);
        assert!(g.passed, "{g:?}");
    }
    assert_counts_match_envoy(&r, &["backend", "pricing"]);
    // The baseline goes to the containers directly: they counted every request sent.
    let baseline = step(&r, "baseline");
    let counted: u64 = baseline.mocks.values().map(|m| m.requests).sum();
    // The windows include the warmup, as the mocks' counts do; the summary leaves it out.
    let sent: u64 = baseline.load.windows.iter().map(|w| w.requests).sum();
    assert_eq!(counted, sent, "baseline requests vs the mocks' counts");
    // Both endpoints of `backend` served (one container each, each counted on its own).
    let backend = &step(&r, "envoy").mocks["backend"];
    assert_eq!(backend.endpoints.len(), 2);
    assert!(backend.endpoints.iter().all(|&n| n > 0), "{backend:?}");
    // The timeline's PUT reached pricing's container: 503s only after it.
    let event = &r.events[0];
    assert_eq!(event.error, None, "{event:?}");
    let pricing = &step(&r, "envoy").mocks["pricing"];
    let errors = pricing.statuses.get("503").copied().unwrap_or(0);
    let ok = pricing.statuses.get("200").copied().unwrap_or(0);
    eprintln!(
        "pricing after the change at {:.2}s: {ok} × 200, {errors} × 503",
        event.applied_s
    );
    assert!(errors > 0 && ok > 0, "{pricing:?}");
    let windows = &step(&r, "envoy").load.windows;
    let before: u64 = windows
        .iter()
        .filter(|w| w.t_s + 1.0 <= event.applied_s)
        .map(|w| status_in(w, "503"))
        .sum();
    assert_eq!(before, 0, "no 503 before the change");
    for name in [
        "mock-backend-0.log",
        "mock-backend-1.log",
        "mock-pricing-0.log",
    ] {
        let log = std::fs::read_to_string(dir.join("run").join(name)).unwrap_or_default();
        assert!(log.contains("listening on 127.0.0.1:"), "{name}: {log}");
    }
    assert_no_containers();
}

/// `down` removes an endpoint's container (Envoy's connections to it fail), `up` starts a
/// new one on the same port, `scale` starts another; the counts carry across and still
/// match Envoy's.
#[test]
fn endpoints_go_down_up_and_scale_as_containers() {
    if !engine() {
        return;
    }
    let tag = mock_image();
    let _serial = serial();
    let yaml = format!(
        "name: mockupdown\nbaseline: false\nenvoy: {{ version: \"1.40.0\" }}\n\
         mocks: {{ image: \"{tag}\" }}\n\
         upstreams:\n  backend: {{ endpoints: 2 }}\n\
         routes:\n  - {{ match: {{ prefix: / }}, cluster: backend, retries: {{ on: [connect-failure, reset], attempts: 3 }} }}\n\
         load: {{ rate: 100/s, duration: 5s, warmup: 0, connections: 4 }}\n\
         timeline:\n\
         \x20 - {{ at: 1s, name: down, upstream: backend, endpoints: [1], down: true }}\n\
         \x20 - {{ at: 2500ms, name: up, upstream: backend, endpoints: [1], up: true }}\n\
         \x20 - {{ at: 3500ms, name: grow, upstream: backend, scale: 3 }}\n"
    );
    let dir = scratch("mock-containers-updown");
    let out = run(&dir, &scenario_file(&dir, &yaml));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let r = result(&dir);
    for e in &r.events {
        eprintln!(
            "{} at {:.2}s: {} {:?}",
            e.label, e.applied_s, e.action, e.error
        );
        assert_eq!(e.error, None, "{e:?}");
    }
    let backend = &step(&r, "envoy").mocks["backend"];
    eprintln!("backend endpoints: {:?}", backend.endpoints);
    assert_eq!(backend.endpoints.len(), 3, "scaled to 3 containers");
    assert!(backend.endpoints.iter().all(|&n| n > 0), "{backend:?}");
    // Counts carry across the restart. A request Envoy wrote to a connection the stopping
    // mock dropped before reading it is Envoy's but not the mock's: at most one per such
    // connection, which Envoy counts.
    let envoy = step(&r, "envoy");
    let sent = envoy_stat(envoy, "cluster.backend.upstream_rq_total");
    let dropped = envoy_stat(
        envoy,
        "cluster.backend.upstream_cx_destroy_remote_with_active_rq",
    );
    eprintln!(
        "backend: Envoy sent {sent}, the mocks counted {}, connections dropped with a \
         request on them {dropped}",
        backend.requests
    );
    assert!(
        backend.requests <= sent && sent - backend.requests <= dropped,
        "{backend:?}"
    );
    let log = std::fs::read_to_string(dir.join("run/mock-backend-1.log")).unwrap();
    assert_eq!(
        log.matches("listening on").count(),
        2,
        "endpoint 1 ran twice, on the same port: {log}"
    );
    assert_no_containers();
}

/// A missing image fails with the command that builds it; an interrupted run removes its
/// containers.
#[test]
fn failed_and_interrupted_runs_leave_no_mock_container() {
    if !engine() {
        return;
    }
    let tag = mock_image();
    let _serial = serial();
    let base = "upstreams:\n  backend: { endpoints: 2 }\nenvoy: { version: \"1.40.0\" }\n";
    let dir = scratch("mock-containers-missing");
    let yaml = format!(
        "name: missing\nmocks: {{ image: gauntlet/mock:0.0.0 }}\n{base}\
         load: {{ rate: 10/s, duration: 1s }}\n"
    );
    let out = run(&dir, &scenario_file(&dir, &yaml));
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let error = result(&dir).error.unwrap_or_default();
    assert!(error.contains("gauntlet envoy mock-image"), "{error}");
    assert!(error.contains("mock `backend` endpoint"), "{error}");
    assert_no_containers();

    let dir = scratch("mock-containers-sigint");
    let yaml = format!(
        "name: sigint\nbaseline: false\nmocks: {{ image: \"{tag}\" }}\n{base}\
         load: {{ rate: 50/s, duration: 60s, warmup: 0 }}\n"
    );
    let run = Background::start(&dir, &yaml);
    let running = gauntlet_containers();
    assert_eq!(running.len(), 2, "{running:?}");
    run.interrupt_and_check(&dir);
}

/// A gRPC upstream in containers: the behaviour JSON carries the gRPC status mix, the mock
/// answers over h2c, and its per-code counts come back through the control API.
#[test]
fn grpc_upstreams_run_in_containers() {
    if !engine() {
        return;
    }
    let tag = mock_image();
    let _serial = serial();
    let yaml = format!(
        "name: mockgrpc\nbaseline: false\nenvoy: {{ version: \"1.40.0\" }}\n\
         mocks: {{ image: \"{tag}\", cpus: 1, memory: 64Mi }}\n\
         upstreams:\n  payments: {{ endpoints: 2, protocol: grpc, latency: 1ms, \
         responses: {{ ok: 80%, unavailable: 20% }}, body: 64 }}\n\
         load: {{ protocol: grpc, rate: 200/s, connections: 2, streams: 10, duration: 2s, \
         warmup: 0, grpc: {{ method: gauntlet.mock.v1.Mock/Call }} }}\n\
         gates: [\"grpc.unavailable.rate > 5%\", \"grpc.unavailable.rate < 40%\"]\n"
    );
    let dir = scratch("mock-containers-grpc");
    let out = run(&dir, &scenario_file(&dir, &yaml));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let r = result(&dir);
    assert_counts_match_envoy(&r, &["payments"]);
    let mock = &step(&r, "envoy").mocks["payments"];
    let load = &step(&r, "envoy").load;
    eprintln!(
        "mock gRPC statuses {:?}, load {:?}",
        mock.grpc_statuses, load.grpc_statuses
    );
    for code in ["OK", "UNAVAILABLE"] {
        let counted = mock.grpc_statuses.get(code).copied().unwrap_or(0);
        assert!(counted > 0, "{code}: {mock:?}");
    }
    assert_no_containers();
}

/// A mock container killed from outside mid-run stops the run at once with an error that
/// names the mock, and the rest are removed.
#[test]
fn a_mock_container_that_dies_fails_the_run() {
    if !engine() {
        return;
    }
    let tag = mock_image();
    let _serial = serial();
    let dir = scratch("mock-containers-killed");
    let yaml = format!(
        "name: killed\nbaseline: false\nmocks: {{ image: \"{tag}\" }}\n\
         upstreams:\n  backend: {{ endpoints: 2 }}\nenvoy: {{ version: \"1.40.0\" }}\n\
         load: {{ rate: 50/s, duration: 60s, warmup: 0 }}\n"
    );
    let run = Background::start(&dir, &yaml);
    kill_container_labelled("org.gauntlet.mock.endpoint=1");
    let killed = std::time::Instant::now();
    let out = run.wait();
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(
        killed.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        killed.elapsed()
    );
    let r = result(&dir);
    assert_eq!(r.status, RunStatus::Failed);
    let error = r.error.unwrap_or_default();
    assert!(error.contains("mock `backend` endpoint 1"), "{error}");
    assert!(error.contains("mock-backend-1.log"), "{error}");
    assert_no_containers();
}
