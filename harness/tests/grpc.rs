//! gRPC end to end against a real Envoy: the shipped `scenarios/grpc.yaml` (retries on
//! `unavailable`), deadlines, and HTTP/2 multiplexing. Tolerances come from the binomial
//! distribution (4.5 standard deviations) or are a factor of several from what a broken
//! implementation would give, never tight timing.

mod common;

use std::path::Path;

use common::*;
use gauntlet_reports::RunResult;

fn stat(r: &RunResult, name: &str) -> u64 {
    let s = step(r, "envoy");
    *s.envoy_stats
        .get(name)
        .unwrap_or_else(|| panic!("Envoy has no stat {name}"))
}

/// Runs `scenario`, asserting that the run succeeded and left nothing behind.
fn run_ok(dir: &Path, scenario: &Path) -> RunResult {
    let out = run(dir, scenario);
    let r = result(dir);
    let failed: Vec<_> = r
        .gates
        .iter()
        .filter(|g| !g.passed)
        .map(|g| &g.detail)
        .collect();
    assert!(
        out.status.success(),
        "failed gates {failed:#?}\n{}",
        describe(&out)
    );
    assert!(processes_mentioning(dir.to_str().unwrap()).is_empty());
    r
}

#[test]
fn retries_on_unavailable_absorb_a_flaky_grpc_service() {
    let _serial = serial();
    let dir = scratch("grpc-retries");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/grpc.yaml");
    let r = run_ok(&dir, &shipped);
    assert!(!r.gates.is_empty(), "the scenario has gates");
    let load = &step(&r, "envoy").load;
    assert_eq!(load.protocol, "grpc");
    // 30% UNAVAILABLE per try, independent; 3 tries: 0.3³ of the calls fail.
    let ended = load.responses + load.failures.values().sum::<u64>();
    let unavailable = load.grpc_statuses.get("UNAVAILABLE").copied().unwrap_or(0);
    let ok = load.grpc_statuses.get("OK").copied().unwrap_or(0);
    assert_eq!(
        ok + unavailable,
        ended,
        "every call ends OK or UNAVAILABLE: {load:?}"
    );
    let p = 0.027;
    let observed = unavailable as f64 / ended as f64;
    let sigma = (p * (1.0 - p) / ended as f64).sqrt();
    assert!(
        (observed - p).abs() <= 4.5 * sigma,
        "client UNAVAILABLE share {observed:.4}, expected {p} ± {:.4} (n = {ended})",
        4.5 * sigma
    );
    assert!(
        (load.error_rate - observed).abs() < 1e-9,
        "non-OK calls are errors"
    );
    // Envoy's counters and the mock's agree: every retry is one more upstream call, every
    // UNAVAILABLE the mock sent was retried or, after the last try, returned.
    let mock = &step(&r, "envoy").mocks["payments"];
    let retries = stat(&r, "cluster.payments.upstream_rq_retry");
    let exhausted = stat(&r, "cluster.payments.upstream_rq_retry_limit_exceeded");
    assert_eq!(
        stat(&r, "cluster.payments.upstream_rq_total"),
        mock.requests
    );
    assert_eq!(
        mock.requests,
        stat(&r, "http.ingress.downstream_rq_total") + retries
    );
    assert_eq!(mock.grpc_statuses["UNAVAILABLE"], retries + exhausted);
    // The gRPC stats filter counts the final statuses Envoy returned (warmup included).
    assert_eq!(
        stat(&r, "cluster.payments.grpc.0"),
        mock.grpc_statuses["OK"]
    );
    assert_eq!(stat(&r, "cluster.payments.grpc.14"), exhausted);
    assert!(stat(&r, "cluster.payments.grpc.14") >= unavailable);
}

#[test]
fn a_deadline_shorter_than_the_service_ends_as_deadline_exceeded() {
    let _serial = serial();
    let dir = scratch("grpc-deadline");
    let scenario = scenario_file(
        &dir,
        "name: grpc-deadline
baseline: false
upstreams:
  slow: { protocol: grpc, latency: 300ms }
routes:
  - cluster: slow
load:
  protocol: grpc
  concurrency: 8
  connections: 1
  duration: 2s
  warmup: 0s
  grpc: { deadline: 50ms }
gates:
  - errors.rate > 99%
",
    );
    let r = run_ok(&dir, &scenario);
    let load = &step(&r, "envoy").load;
    let exceeded = load
        .grpc_statuses
        .get("DEADLINE_EXCEEDED")
        .copied()
        .unwrap_or(0);
    assert!(exceeded > 20, "{load:?}");
    assert_eq!(
        exceeded, load.responses,
        "every call: {:?}",
        load.grpc_statuses
    );
    assert!(load.failures.is_empty(), "{:?}", load.failures);
    // The calls end near the deadline, far before the service would have answered.
    assert!(
        load.latency.p50_ms >= 45.0 && load.latency.p50_ms < 200.0,
        "{:?}",
        load.latency
    );
    // Envoy honoured `grpc-timeout` (the route's max_stream_duration) and answered the
    // calls itself, before the client's grace ran out.
    assert!(stat(&r, "http.ingress.downstream_rq_max_duration_reached") > 0);
    assert!(stat(&r, "cluster.slow.grpc.4") > 0);
}

#[test]
fn streams_on_one_connection_run_concurrently() {
    let _serial = serial();
    let dir = scratch("grpc-multiplex");
    // 100 ms per call, 10 in flight on one connection: about 100 calls a second. Calls
    // queued one at a time would give 10.
    let scenario = scenario_file(
        &dir,
        "name: grpc-multiplex
upstreams:
  mux: { protocol: grpc, latency: 100ms, body: 64 }
routes:
  - cluster: mux
load:
  protocol: grpc
  concurrency: 10
  streams: 10
  duration: 2s
  warmup: 500ms
",
    );
    let r = run_ok(&dir, &scenario);
    for name in ["baseline", "envoy"] {
        let load = &step(&r, name).load;
        assert_eq!(load.connections, 1, "{name}: streams 10 for concurrency 10");
        assert!(
            load.achieved_rps > 60.0 && load.achieved_rps < 110.0,
            "{name}: {} calls/s",
            load.achieved_rps
        );
        assert_eq!(
            load.grpc_statuses.get("OK"),
            Some(&load.responses),
            "{name}"
        );
    }
    assert_eq!(stat(&r, "http.ingress.downstream_cx_total"), 1);
    assert_eq!(
        stat(&r, "cluster.mux.upstream_cx_total"),
        1,
        "Envoy multiplexes too"
    );
}
