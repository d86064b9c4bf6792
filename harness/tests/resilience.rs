//! Resilience policies against a real Envoy: every shipped scenario in
//! `scenarios/resilience/` runs and its gates hold, and the figures agree with Envoy's
//! documented semantics and with its own counters. Tolerances come from the binomial
//! distribution (4.5 standard deviations), not from guesses.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use gauntlet_reports::RunResult;

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/resilience/{name}.yaml"))
}

/// Runs a shipped resilience scenario and asserts every gate held.
fn run_shipped(name: &str) -> RunResult {
    let dir = scratch(&format!("resilience-{name}"));
    let out = run(&dir, &shipped(name));
    let r = result(&dir);
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
    assert!(!r.gates.is_empty(), "the scenario has gates");
    assert!(processes_mentioning(dir.to_str().unwrap()).is_empty());
    r
}

/// `observed` is within 4.5 σ of `p` for `n` Bernoulli trials.
fn assert_binomial(observed: f64, p: f64, n: u64, what: &str) {
    let sigma = (p * (1.0 - p) / n as f64).sqrt();
    assert!(
        (observed - p).abs() <= 4.5 * sigma,
        "{what}: observed {observed:.4}, expected {p:.4} ± {:.4} (n = {n})",
        4.5 * sigma
    );
}

fn stat(r: &RunResult, name: &str) -> u64 {
    let s = step(r, "envoy");
    *s.envoy_stats
        .get(name)
        .unwrap_or_else(|| panic!("Envoy has no stat {name}"))
}

fn rate(r: &RunResult, code: &str) -> (f64, u64) {
    let l = &step(r, "envoy").load;
    let ended = l.responses + l.failures.values().sum::<u64>();
    let n = l.statuses.get(code).copied().unwrap_or(0);
    (n as f64 / ended as f64, ended)
}

#[test]
fn retries_absorb_independent_503s() {
    let _serial = serial();
    let r = run_shipped("retries");
    // 30% independent failures per try, 3 tries: 0.3³.
    let (observed, n) = rate(&r, "503");
    assert_binomial(observed, 0.027, n, "client 503 rate");
    // Every retry is one more upstream request: Envoy's counters and the mock's count agree.
    let mock = step(&r, "envoy").mocks["backend"].requests;
    let upstream_total = stat(&r, "cluster.backend.upstream_rq_total");
    let downstream = stat(&r, "http.ingress.downstream_rq_total");
    let retries = stat(&r, "cluster.backend.upstream_rq_retry");
    assert_eq!(
        upstream_total, mock,
        "Envoy's upstream_rq_total vs the mock"
    );
    assert_eq!(
        upstream_total,
        downstream + retries,
        "each retry is one more attempt"
    );
    // Responses that were retried are counted apart from the final ones.
    assert!(stat(&r, "cluster.backend.retry.upstream_rq_503") > 0);
}

#[test]
fn fault_abort_matches_its_percentage() {
    let _serial = serial();
    let r = run_shipped("fault-abort");
    let (observed, n) = rate(&r, "503");
    assert_binomial(observed, 0.20, n, "aborted share");
    // The filter's own count equals the 503s Envoy answered downstream (warmup included
    // in both), and none of them reached the mock.
    let aborts = stat(&r, "http.ingress.fault.aborts_injected");
    let downstream_5xx = stat(&r, "http.ingress.downstream_rq_5xx");
    assert_eq!(aborts, downstream_5xx);
    let s = step(&r, "envoy");
    assert_eq!(
        s.mocks["backend"].requests + aborts,
        stat(&r, "http.ingress.downstream_rq_total")
    );
}

#[test]
fn fault_delay_shows_in_the_latency_distribution() {
    let _serial = serial();
    let r = run_shipped("fault-delay");
    let l = &step(&r, "envoy").load.latency;
    assert!(l.p50_ms < 20.0 && l.p90_ms >= 50.0, "{l:?}");
    let delayed = stat(&r, "http.ingress.fault.delays_injected") as f64;
    let total = stat(&r, "http.ingress.downstream_rq_total");
    assert_binomial(delayed / total as f64, 0.30, total, "delayed share");
}

#[test]
fn route_timeout_ends_slow_requests_as_504() {
    let _serial = serial();
    let r = run_shipped("timeout");
    let l = &step(&r, "envoy").load;
    // Envoy's route timer can fire a few ms early (it is armed from the event loop's cached
    // clock), so the floor is 95 ms; the upstream's 300 ms would be far above the ceiling.
    assert!((95.0..130.0).contains(&l.latency.p50_ms), "{:?}", l.latency);
    assert_eq!(
        stat(&r, "cluster.backend.upstream_rq_timeout"),
        stat(&r, "http.ingress.downstream_rq_5xx"),
        "every 504 is an upstream timeout"
    );
}

#[test]
fn per_try_timeout_retries_slow_tries() {
    let _serial = serial();
    let r = run_shipped("per-try-timeout");
    let per_try = stat(&r, "cluster.backend.upstream_rq_per_try_timeout");
    let retries = stat(&r, "cluster.backend.upstream_rq_retry");
    assert!(
        per_try > 0 && retries > 0,
        "per-try {per_try}, retries {retries}"
    );
    // A request fails only when all three tries are slow: ~0.49³ with this distribution.
    let l = &step(&r, "envoy").load;
    assert!(
        l.error_rate > 0.05 && l.error_rate < 0.25,
        "{}",
        l.error_rate
    );
}

#[test]
fn circuit_breaker_overflows_are_counted_and_seen() {
    let _serial = serial();
    let r = run_shipped("circuit-breaker");
    let overflow = stat(&r, "cluster.backend.upstream_rq_pending_overflow");
    let (observed, _) = rate(&r, "503");
    assert!(
        overflow > 0 && observed > 0.1,
        "overflow {overflow}, client 503 {observed}"
    );
    // Every downstream 503 is an overflow: the mock itself never answers 503.
    assert_eq!(step(&r, "envoy").mocks["backend"].statuses.get("503"), None);
}

#[test]
fn outlier_detection_ejects_the_failing_endpoint() {
    let _serial = serial();
    let r = run_shipped("outlier-detection");
    assert!(
        stat(
            &r,
            "cluster.backend.outlier_detection.ejections_enforced_total"
        ) >= 1
    );
    let event = &r.events[0];
    assert_eq!(event.label, "endpoint-0-fails");
    assert!((3.0..3.5).contains(&event.applied_s), "{event:?}");
}

#[test]
fn mirror_gets_every_request_and_primary_latency_is_compared() {
    let _serial = serial();
    let r = run_shipped("mirror");
    // While mirrored, the shadow mock saw as many requests as the primary got.
    let shadow_share = r.gates[0].measured.expect("measured");
    let threshold = r.gates[0].threshold.expect("threshold");
    assert!(shadow_share >= threshold, "{:?}", r.gates[0]);
    let s = step(&r, "envoy");
    assert_eq!(
        stat(&r, "cluster.shadow.upstream_rq_total"),
        s.mocks["shadow"].requests
    );
    // Primary latency with and without the mirror, side by side.
    let with = r.gates[1].measured.expect("p90 with mirror");
    let without = r.gates[2].measured.expect("p90 without mirror");
    assert!(
        with < 50.0 && without < 50.0,
        "with {with} ms, without {without} ms"
    );
}

#[test]
fn canary_weights_split_and_shift_live() {
    let _serial = serial();
    let r = run_shipped("canary-weights");
    let event = &r.events[0];
    assert!(event.ack_ms.is_some(), "{event:?}");
    let windows = &step(&r, "envoy").load.windows;
    let share = |ws: &[&gauntlet_reports::Window]| {
        let canary: u64 = ws.iter().map(|w| status_in(w, "201")).sum();
        let all: u64 = ws.iter().map(|w| w.responses).sum();
        (canary as f64 / all as f64, all)
    };
    let before: Vec<_> = windows
        .iter()
        .filter(|w| w.t_s + 1.0 <= event.applied_s)
        .collect();
    let after: Vec<_> = windows
        .iter()
        .filter(|w| w.t_s >= event.applied_s + 0.5)
        .collect();
    let (b, nb) = share(&before);
    let (a, na) = share(&after);
    assert_binomial(b, 0.10, nb, "canary share before the push");
    assert_binomial(a, 0.50, na, "canary share after the push");
}

#[test]
fn rate_limit_answers_429_above_the_limit() {
    let _serial = serial();
    let r = run_shipped("rate-limit");
    let (observed, _) = rate(&r, "429");
    assert!((0.4..0.6).contains(&observed), "{observed}");
}

#[test]
fn endpoint_down_is_ejected_and_absorbed() {
    let _serial = serial();
    let r = run_shipped("endpoint-down");
    let down = &r.events[0];
    assert_eq!(down.label, "backend-down");
    let s = step(&r, "envoy");
    // The down endpoint got its share before the event and (almost) nothing after it. The
    // mocks count from the step's start (warmup included, as `applied_s` is) and see the
    // retries of the 10% 500s on top of the load: a third of 300/s × 1.1 until the event.
    // Had it kept its share after the event too, it would be near 9 s × 110/s = 990.
    let per_endpoint = &s.mocks["backend"].endpoints;
    let rate = s.load.requests as f64 / 8.0;
    let before_share = rate * 1.1 * down.applied_s / 3.0;
    assert!(
        (per_endpoint[0] as f64) < before_share * 1.25,
        "endpoint 0 kept getting traffic: {per_endpoint:?} (its share until the event \
         is about {before_share:.0})"
    );
}

#[test]
fn chaos_timeline_is_absorbed() {
    let _serial = serial();
    let r = run_shipped("chaos-timeline");
    let labels: Vec<_> = r.events.iter().map(|e| e.label.as_str()).collect();
    assert_eq!(labels, ["endpoint-0-fails", "endpoint-1-down", "recover"]);
    assert!(r.events.iter().all(|e| e.error.is_none()), "{:?}", r.events);
}

/// A failing gate: exit code 1, and a JUnit failure naming the gate, threshold and value.
#[test]
fn failing_gate_gives_exit_code_1_and_junit_failure() {
    let _serial = serial();
    let dir = scratch("failing-gate");
    let scenario = scenario_file(
        &dir,
        r#"
name: failing-gate
baseline: false
upstreams:
  backend: { responses: { 200: 90%, 503: 10% } }
load: { rate: 200/s, duration: 3s, warmup: 0 }
gates:
  - errors.rate < 1%
  - latency.p99 < 1s
"#,
    );
    let junit = dir.join("junit.xml");
    let out = gauntlet()
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(dir.join("run"))
        .arg("--junit")
        .arg(&junit)
        .arg("--quiet")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let r = result(&dir);
    assert_eq!(r.gates.len(), 2);
    assert!(!r.gates[0].passed && r.gates[1].passed, "{:?}", r.gates);
    let measured = r.gates[0].measured.expect("measured");
    assert!(measured > 0.05, "{measured}");
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert!(xml.contains("<failure"), "{xml}");
    assert!(xml.contains("errors.rate &lt; 1%"), "{xml}");
    assert_eq!(xml.matches("<testcase").count(), 2, "{xml}");
}

/// Overflow answers carry `x-envoy-overloaded`: while a run keeps the breaker saturated, raw
/// requests of our own to Envoy's listener get 503s marked by Envoy as overload.
#[test]
fn circuit_breaker_overflow_is_marked_overloaded() {
    use std::io::{Read, Write};
    let _serial = serial();
    let dir = scratch("cb-overloaded");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let scenario = scenario_file(
        &dir,
        &format!(
            r#"
name: cb-overloaded
baseline: false
envoy: {{ listen_port: {port} }}
upstreams:
  backend: {{ latency: 200ms }}
clusters:
  backend:
    circuit_breakers: {{ max_connections: 1, max_pending_requests: 1, max_requests: 1 }}
load: {{ concurrency: 4, duration: 4s, warmup: 0 }}
"#
        ),
    );
    let child = gauntlet()
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(dir.join("run"))
        .arg("--quiet")
        .spawn()
        .unwrap();
    let windows = dir.join("run/windows-envoy.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_to_string(&windows).map_or(0, |t| t.lines().count()) < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the envoy step never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let probes: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                    .unwrap();
                s.write_all(b"GET / HTTP/1.1\r\nhost: probe\r\nconnection: close\r\n\r\n")
                    .unwrap();
                let mut answer = String::new();
                let _ = s.read_to_string(&mut answer);
                answer.to_ascii_lowercase()
            })
        })
        .collect();
    let answers: Vec<String> = probes.into_iter().map(|p| p.join().unwrap()).collect();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        answers
            .iter()
            .any(|a| a.starts_with("http/1.1 503") && a.contains("x-envoy-overloaded: true")),
        "no overflow answer among {answers:#?}"
    );
}
