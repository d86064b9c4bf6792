//! `gauntlet run` end to end, as a user runs it: the binary, a scenario file, a real Envoy
//! (managed install), mocks, xDS, load, and the result it writes.

mod common;

use common::*;

/// Issue 2: fixed 20 ms upstream, open loop 200 rps for 5 s through Envoy.
#[test]
fn fixed_latency_through_envoy_is_measured_truly() {
    let _serial = serial();
    let dir = scratch("fixed_latency");
    let scenario = scenario_file(
        &dir,
        r#"
name: fixed-latency
envoy: { version: "1.40.0" }
upstreams:
  backend: { endpoints: 2, latency: 20ms }
routes:
  - match: { prefix: / }
    cluster: backend
load:
  rate: 200/s
  connections: 8
  duration: 5s
  warmup: 1s
"#,
    );
    let out = run(&dir, &scenario);
    assert!(out.status.success(), "{}", describe(&out));
    let r = result(&dir);
    assert_eq!(r.envoy.as_ref().map(|e| e.version.as_str()), Some("1.40.0"));
    let envoy = step(&r, "envoy");
    let l = &envoy.load;
    // 200 rps × 5 s measured: about 1000 requests, ±2%.
    assert!(
        (980..=1020).contains(&l.requests),
        "requests {}",
        l.requests
    );
    assert_eq!(
        l.statuses.get("200").copied(),
        Some(l.responses),
        "{:?}",
        l.statuses
    );
    assert_eq!(l.responses, l.requests, "failures {:?}", l.failures);
    assert!(
        (20.0..=23.0).contains(&l.latency.p50_ms),
        "p50 {} ms",
        l.latency.p50_ms
    );
    // The baseline ran too, and added latency is envoy minus baseline.
    let base = step(&r, "baseline");
    assert!((980..=1020).contains(&base.load.requests));
    let added = r.added_latency.expect("added latency");
    assert!((added.p50_ms - (l.latency.p50_ms - base.load.latency.p50_ms)).abs() < 1e-9);
    // Envoy's own counters agree with the mocks' counts.
    let mock_total = envoy.mocks["backend"].requests;
    let envoy_total = envoy.envoy_stats["cluster.backend.upstream_rq_total"];
    assert!(
        mock_total >= l.responses,
        "mock {mock_total} < client {}",
        l.responses
    );
    assert_eq!(
        envoy_total, mock_total,
        "Envoy's upstream_rq_total vs the mock's count"
    );
    // Every resource type was pushed and ACKed.
    for t in ["cluster", "endpoint", "listener", "route"] {
        assert!(
            r.xds
                .iter()
                .any(|p| p.resource_type == t && p.ack_ms.is_some()),
            "no ACKed {t} push in {:?}",
            r.xds
        );
    }
    for file in [
        "envoy.log",
        "windows-envoy.jsonl",
        "report.html",
        "summary.md",
    ] {
        assert!(dir.join("run").join(file).exists(), "{file} missing");
    }
    // Any stored run renders again in every format.
    for format in [
        "terminal", "markdown", "html", "junit", "fortio", "hlog", "json",
    ] {
        let out = gauntlet()
            .args(["report", "--format", format])
            .arg(dir.join("run"))
            .output()
            .unwrap();
        assert!(
            out.status.success() && !out.stdout.is_empty(),
            "{format}: {}",
            describe(&out)
        );
    }
    assert!(processes_mentioning(dir.to_str().unwrap()).is_empty());
}

/// Issue 2: a push in the middle of a run moves the route to another cluster.
#[test]
fn live_push_moves_the_route() {
    let _serial = serial();
    let dir = scratch("live_push");
    let scenario = scenario_file(
        &dir,
        r#"
name: live-push
baseline: false
upstreams:
  primary: { responses: { 200: 100% } }
  canary: { responses: { 202: 100% } }
routes:
  - name: main
    match: { prefix: / }
    cluster: primary
load:
  rate: 200/s
  connections: 4
  duration: 4s
  warmup: 0
timeline:
  - at: 2s
    name: shift-to-canary
    route: main
    set: { cluster: canary }
"#,
    );
    let out = run(&dir, &scenario);
    assert!(out.status.success(), "{}", describe(&out));
    let r = result(&dir);
    let event = r.events.first().expect("the timeline event is recorded");
    assert_eq!(event.label, "shift-to-canary");
    assert!(event.applied_s >= 2.0 && event.applied_s < 2.5, "{event:?}");
    let ack = event.ack_ms.expect("push→ACK time recorded");
    assert!(ack > 0.0 && ack < 1000.0, "ack {ack} ms");
    // The route push is in the xDS log, ACKed, after the initial one.
    let route_pushes: Vec<_> = r
        .xds
        .iter()
        .filter(|p| p.resource_type == "route")
        .collect();
    assert!(route_pushes.len() >= 2, "{route_pushes:?}");
    assert!(route_pushes.iter().all(|p| p.acked_at.is_some()));
    let windows = &step(&r, "envoy").load.windows;
    // Before the push every answer is the primary's; from the second after it, the canary's.
    assert!(windows[0].responses > 0 && status_in(&windows[0], "202") == 0);
    assert_eq!(status_in(&windows[0], "200"), windows[0].responses);
    let last = windows.last().unwrap();
    assert!(
        last.responses > 0 && status_in(last, "200") == 0,
        "{last:?}"
    );
    let mocks = &step(&r, "envoy").mocks;
    assert!(mocks["primary"].requests > 0 && mocks["canary"].requests > 0);
}

/// Issue 2: an Envoy named by version installs beside the default one and runs.
#[test]
fn pinned_older_envoy_runs_side_by_side() {
    let _serial = serial();
    let dir = scratch("pinned_1393");
    let scenario = scenario_file(
        &dir,
        r#"
name: pinned-1393
envoy: { version: "1.39.3" }
upstreams:
  backend: {}
load: { rate: 100/s, duration: 2s, warmup: 0, connections: 2 }
"#,
    );
    let out = run(&dir, &scenario);
    assert!(out.status.success(), "{}", describe(&out));
    let r = result(&dir);
    let envoy = r.envoy.as_ref().expect("envoy info");
    assert_eq!(envoy.version, "1.39.3");
    assert_eq!(envoy.source, "managed");
    assert!(envoy.binary.contains("1.39.3"), "{}", envoy.binary);
    let l = &step(&r, "envoy").load;
    assert!(l.responses > 150 && l.error_rate == 0.0, "{l:?}");
    // The default version's install is untouched beside it.
    let list = gauntlet().args(["envoy", "list"]).output().unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains("1.39.3"), "{text}");
}

/// The README's first command: the embedded default scenario, as shipped, with a managed
/// Envoy 1.40.0.
#[test]
fn shipped_benchmark_scenario_runs() {
    let _serial = serial();
    let dir = scratch("shipped_benchmark");
    let scenario =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/benchmark.yaml");
    let out = run(&dir, &scenario);
    assert!(out.status.success(), "{}", describe(&out));
    let r = result(&dir);
    assert_eq!(r.envoy.as_ref().map(|e| e.version.as_str()), Some("1.40.0"));
    for name in ["baseline", "envoy"] {
        let l = &step(&r, name).load;
        assert!(
            (9_800..=10_200).contains(&l.requests),
            "{name}: {}",
            l.requests
        );
        assert_eq!(l.error_rate, 0.0, "{name}: {:?}", l.statuses);
    }
    assert!(r.added_latency.is_some());
    let summary = step(&r, "envoy")
        .resource_summary
        .clone()
        .expect("Envoy CPU and RSS sampled");
    assert!(
        summary.envoy_cpu_mean > 0.0 && summary.envoy_rss_max_mb > 10.0,
        "{summary:?}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("added"), "{stdout}");
}
