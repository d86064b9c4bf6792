//! The single-service phase against real Envoys: the shipped scenario's gates hold and its
//! per-hop figures agree with the mocks' own counts; a service that cannot start, never
//! becomes healthy or dies mid-run fails the run clearly and leaves nothing running.
//!
//! The service under test is `gauntlet-mock` in service mode, found next to the `gauntlet`
//! binary. Cargo builds a test only its own crate's binaries, so `common::mock_binary` builds
//! `gauntlet-mock` first (a no-op when it is up to date).

mod common;

use std::path::Path;

use common::*;

#[test]
fn single_service_scenario_holds_its_gates_and_reports_every_hop() {
    mock_binary();
    let _serial = serial();
    let dir = scratch("phases-single-service");
    // A shorter load, and no warmup, so every request the client sent is in its counts, as
    // it is in Envoy's.
    let yaml = with_load(
        &shipped_text("single-service"),
        "load: { rate: 150/s, connections: 4, duration: 2s, warmup: 0s, request: { path: /checkout } }",
    );
    let r = run_passing(&dir, &yaml);
    let g = r.graph.as_ref().expect("the result has the hops");
    let envoy = step(&r, "envoy");
    let inbound = g.edge("load", "checkout").expect("ingress hop");
    // Every request the client got an answer for went through the ingress listener.
    assert_eq!(inbound.requests, envoy.load.responses, "{inbound:?}");
    assert_eq!(inbound.via, "ingress");
    for dep in ["inventory", "pricing"] {
        let e = g.edge("checkout", dep).expect("egress hop");
        let mock = &envoy.mocks[dep];
        assert_eq!(e.via, "egress");
        // The service calls each dependency once per request it gets.
        assert_eq!(e.requests, inbound.requests, "{e:?}");
        // What went over the wire is what the mock counted, 503s included.
        assert_eq!(e.attempts, mock.requests, "{dep}: {e:?}");
        assert_eq!(e.callee_counted, Some(mock.requests));
        let mock_503 = mock.statuses.get("503").copied().unwrap_or(0);
        assert_eq!(e.attempt_errors, mock_503, "{dep}: {e:?}");
        // The baseline's calls crossed the egress sidecar too: the percentiles are over
        // the step's calls alone.
        assert_eq!(e.latency_samples, Some(e.requests), "{dep}: {e:?}");
    }
    let inventory = g.edge("checkout", "inventory").unwrap();
    // 10% of attempts fail; retries absorb them: retries ≈ failed attempts.
    assert!(inventory.attempt_errors > 0 && inventory.retries > 0);
    assert_eq!(inventory.attempts, inventory.requests + inventory.retries);
    assert!(inventory.caller_errors <= 3, "{inventory:?}");
    // The egress sidecar's counters are the step's (the baseline's calls are not in them).
    let retries = envoy.envoy_stats["cluster.inventory.upstream_rq_retry"];
    assert_eq!(retries, inventory.retries);
    let service = g.nodes.iter().find(|n| n.name == "checkout").unwrap();
    assert!(service.rss_mb.is_some_and(|m| m > 0.0), "{service:?}");
    let log = std::fs::read_to_string(dir.join("run/service-checkout.log")).unwrap();
    assert!(
        log.contains("calls inventory at http://127.0.0.1:"),
        "{log}"
    );
    let html = std::fs::read_to_string(dir.join("run/report.html")).unwrap();
    assert!(html.contains("<section id=\"hops\">") && html.contains("checkout → inventory"));
    assert!(processes_mentioning(dir.to_str().unwrap()).is_empty());
    the_same_service_integrated_compares_hop_by_hop(&dir.join("run"), g);
}

/// The same service as a built-in mock service in the integration phase, compared with the
/// single-service run just made: every hop is paired with the stored one into the same
/// service, and the stored figures are carried over exactly.
fn the_same_service_integrated_compares_hop_by_hop(
    stored: &Path,
    single: &gauntlet_reports::graph::ServiceGraph,
) {
    let dir = scratch("phases-compare");
    let yaml = format!(
        "name: checkout-integrated\nphase: integration\nbaseline: false\n\
         compare_with: {}\n\
         services:\n  checkout: {{ mock: {{ calls: [{{ service: inventory, path: /items }}, \
         {{ service: pricing, path: /price }}], latency: 1ms }} }}\n\
         upstreams:\n  inventory: {{ latency: 2ms, responses: {{ 200: 90%, 503: 10% }} }}\n  \
         pricing: {{ latency: 1ms }}\n\
         load: {{ rate: 150/s, connections: 4, duration: 2s, warmup: 0s, request: {{ path: /checkout }} }}\n",
        stored.display()
    );
    let out = run(&dir, &scenario_file(&dir, &yaml));
    assert!(out.status.success(), "{}", describe(&out));
    let r = result(&dir);
    let g = r.graph.as_ref().expect("hops");
    let c = g.compared.as_ref().expect("the comparison");
    assert_eq!(c.phase, "single-service");
    let hops: Vec<(&str, &str)> = c
        .hops
        .iter()
        .map(|h| (h.from.as_str(), h.to.as_str()))
        .collect();
    assert_eq!(
        hops,
        [
            ("load", "checkout"),
            ("checkout", "inventory"),
            ("checkout", "pricing")
        ]
    );
    // Equal to the last bit but for JSON's float parsing, which may round the last one.
    let same = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
        (a, b) => a.is_none() && b.is_none(),
    };
    for h in &c.hops {
        let before = single.edge(&h.other.from, &h.to).expect("the stored hop");
        assert!(same(h.other.p99_ms, before.p99_ms), "{h:?} {before:?}");
        assert!(same(Some(h.other.error_rate), Some(before.error_rate)));
        let now = g.edge(&h.from, &h.to).unwrap();
        let delta = now.p99_ms.zip(before.p99_ms).map(|(a, b)| a - b);
        assert!(same(h.p99_delta_ms, delta), "{h:?}: {delta:?}");
    }
    let md = std::fs::read_to_string(dir.join("run/summary.md")).unwrap();
    assert!(
        md.contains("### Compared") && md.contains("load → checkout"),
        "{md}"
    );
}

/// A single-service scenario around `command`, with no baseline and a short load.
fn with_service(command: &str, extra: &str) -> String {
    format!(
        "name: svc\nphase: single-service\nbaseline: false\n\
         service: {{ name: svc, command: {command}{extra} }}\n\
         upstreams: {{ dep: {{}} }}\n\
         load: {{ rate: 50/s, connections: 2, duration: 5s, warmup: 0s }}\n"
    )
}

/// Runs `yaml`, expecting a run error whose message contains every one of `needles`.
fn assert_run_error(dir: &Path, yaml: &str, needles: &[&str]) {
    let out = run(dir, &scenario_file(dir, yaml));
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let r = result(dir);
    let error = r.error.clone().unwrap_or_default();
    for n in needles {
        assert!(error.contains(n), "`{n}` not in: {error}");
    }
    assert!(processes_mentioning(dir.to_str().unwrap()).is_empty());
}

#[test]
fn a_service_that_fails_to_start_is_a_clear_run_error() {
    mock_binary();
    let dir = scratch("phases-service-exits");
    let yaml = with_service("[sh, -c, 'echo \"config file missing\" >&2; exit 3']", "");
    assert_run_error(
        &dir,
        &yaml,
        &[
            "exited before it became healthy",
            "exit code 3",
            "config file missing",
        ],
    );
}

#[test]
fn a_service_that_never_becomes_healthy_is_stopped() {
    mock_binary();
    let dir = scratch("phases-service-unhealthy");
    // The run directory in its argv lets the test find it if it were left running.
    let marker = dir.to_str().unwrap();
    let yaml = with_service(
        &format!("[python3, -c, 'import time; print(\"warming up\", flush=True); time.sleep(300)', '{marker}']"),
        ", startup_timeout: 1s",
    );
    assert_run_error(
        &dir,
        &yaml,
        &["did not become healthy within 1s", "/healthz", "warming up"],
    );
}

#[test]
fn a_service_that_dies_mid_run_fails_the_run() {
    mock_binary();
    let _serial = serial();
    let dir = scratch("phases-service-dies");
    // Healthy at once, answers 200 to everything, and exits with code 7 after 2.5 s.
    let script = "import http.server, os, threading\n\
        class H(http.server.BaseHTTPRequestHandler):\n  \
          def do_GET(self):\n    \
            self.send_response(200); self.send_header(\"content-length\", \"0\"); self.end_headers()\n  \
          def log_message(self, *a): pass\n\
        s = http.server.ThreadingHTTPServer((\"127.0.0.1\", int(os.environ[\"PORT\"])), H)\n\
        threading.Timer(2.5, lambda: os._exit(7)).start()\n\
        s.serve_forever()\n";
    std::fs::write(dir.join("svc.py"), script).unwrap();
    let yaml = with_service("[python3, svc.py]", "");
    assert_run_error(
        &dir,
        &yaml,
        &["service `svc` exited during the run", "exit code 7"],
    );
    let r = result(&dir);
    let envoy = step(&r, "envoy");
    assert!(
        envoy.load.cut_short && envoy.load.responses > 0,
        "{:?}",
        envoy.load
    );
}

#[test]
fn integration_graph_agrees_with_the_mocks_and_blames_the_flaky_edge() {
    let _serial = serial();
    let dir = scratch("phases-integration");
    let yaml = shipped_text("integration").replace(
        "phase: integration\n",
        "phase: integration\nbaseline: false\n",
    );
    let r = run_passing(&dir, &yaml);
    let g = r.graph.as_ref().expect("the service graph");
    assert_eq!(g.phase, "integration");
    let envoy = step(&r, "envoy");
    let edges = [
        ("load", "bff"),
        ("bff", "inventory"),
        ("bff", "pricing"),
        ("bff", "reviews"),
        ("inventory", "db"),
    ];
    for (from, to) in edges {
        let e = g
            .edge(from, to)
            .unwrap_or_else(|| panic!("no edge {from} → {to}"));
        // What the caller's sidecar sent is what the callee counted itself.
        assert_eq!(Some(e.attempts), e.callee_counted, "{from} → {to}: {e:?}");
        // Every request the client sent fanned out once per call.
        assert_eq!(e.requests, envoy.load.responses, "{from} → {to}: {e:?}");
    }
    let reviews = g.edge("bff", "reviews").unwrap();
    let reviews_503 = envoy.mocks["reviews"]
        .statuses
        .get("503")
        .copied()
        .unwrap_or(0);
    assert!(reviews_503 > 0);
    // The flaky backend's errors are on its edge (no retries there), and only there...
    assert_eq!(reviews.caller_errors, reviews_503, "{reviews:?}");
    for (from, to) in [
        ("bff", "inventory"),
        ("bff", "pricing"),
        ("inventory", "db"),
    ] {
        assert_eq!(g.edge(from, to).unwrap().caller_errors, 0, "{from} → {to}");
    }
    // ...and the BFF turned each into a 502 for the client.
    assert_eq!(g.edge("load", "bff").unwrap().caller_errors, reviews_503);
    assert_eq!(envoy.load.statuses.get("502").copied(), Some(reviews_503));
    let html = std::fs::read_to_string(dir.join("run/report.html")).unwrap();
    assert!(html.contains("aria-label=\"service graph\"") && html.contains("bff → reviews"));
    assert!(processes_mentioning(dir.to_str().unwrap()).is_empty());
}

/// A service that answers 200 to everything until killed; the extra argument marks it.
const ECHO_SERVICE: &str = "import http.server, os\n\
class H(http.server.BaseHTTPRequestHandler):\n  \
  def do_GET(self):\n    \
    self.send_response(200); self.send_header(\"content-length\", \"0\"); self.end_headers()\n  \
  def log_message(self, *a): pass\n\
http.server.ThreadingHTTPServer((\"127.0.0.1\", int(os.environ[\"PORT\"])), H).serve_forever()\n";

#[test]
fn a_sigkilled_gauntlet_takes_its_service_and_sidecars_with_it() {
    let _serial = serial();
    let dir = scratch("phases-sigkill");
    std::fs::write(dir.join("echo.py"), ECHO_SERVICE).unwrap();
    let marker = dir.to_str().unwrap();
    let yaml = with_service(&format!("[python3, echo.py, '{marker}']"), "");
    let mut child = spawn_run(&dir, &scenario_file(&dir, &yaml));
    wait_for_envoy_windows(&dir, &mut child, 1);
    // Both sidecars (their bootstrap is in the run directory) and the service are running.
    assert!(processes_mentioning(marker).len() >= 3);
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !processes_mentioning(marker).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "left running: {:?}",
            processes_mentioning(marker)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
