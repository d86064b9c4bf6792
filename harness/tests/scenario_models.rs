//! The scenario parser on good files: each good fixture parses to the model in the JSON
//! snapshot next to it (`GAUNTLET_BLESS=1 cargo test --test scenario_models` rewrites the
//! snapshots), defaults, file order, short forms, Istio's spellings and timeline folding,
//! and every shipped scenario is valid. The bad files are `scenario_errors.rs`'s.

#[path = "common/scenario_check.rs"]
mod scenario_check;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gauntlet::scenario::{self, Limits, LoadMode, RouteTarget, Scenario};
use scenario_check::{fixtures, with, BASE};

/// Each good fixture parses, and its model matches the JSON snapshot next to it.
#[test]
fn good_fixtures_match_snapshots() {
    let bless = std::env::var_os("GAUNTLET_BLESS").is_some();
    let mut count = 0;
    for entry in fs::read_dir(fixtures("good")).expect("fixtures dir") {
        let file = entry.expect("dir entry").path();
        if file.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        count += 1;
        let text = fs::read_to_string(&file).expect("fixture");
        let name = file.file_name().expect("file name");
        let s = scenario::parse(&text, Path::new(name)).unwrap_or_else(|e| panic!("{e}"));
        let got = serde_json::to_string_pretty(&s).expect("json") + "\n";
        let snapshot = file.with_extension("json");
        if bless {
            fs::write(&snapshot, &got).expect("write snapshot");
        }
        let want = fs::read_to_string(&snapshot).unwrap_or_else(|_| {
            panic!(
                "no snapshot {}; run with GAUNTLET_BLESS=1",
                snapshot.display()
            )
        });
        assert_eq!(got, want, "{} differs from its snapshot", file.display());
    }
    assert!(count >= 2);
}

#[test]
fn defaults_of_a_minimal_scenario() {
    let s = parse_good("minimal.yaml");
    assert_eq!(s.name, "minimal");
    assert_eq!(s.phase, scenario::Phase::Benchmark);
    assert_eq!(s.envoy.source, scenario::EnvoySource::Default);
    assert_eq!(
        (s.envoy.concurrency, s.envoy.log_level.as_str()),
        (1, "warn")
    );
    let up = &s.upstreams[0];
    assert_eq!((up.name.as_str(), up.endpoints), ("backend", 1));
    assert_eq!(up.behavior, gauntlet_mocks::Behavior::default());
    assert_eq!(up.connect_timeout, Duration::from_secs(1));
    assert_eq!(s.routes.len(), 1);
    assert_eq!(s.routes[0].name, "route-0");
    assert_eq!(
        s.routes[0].matcher,
        scenario::RouteMatch::Prefix("/".into())
    );
    assert_eq!(s.routes[0].target, RouteTarget::Cluster("backend".into()));
    assert_eq!(s.load.mode, LoadMode::Open { rate: 100.0 });
    assert_eq!(s.load.connections, 16);
    assert_eq!(s.load.warmup, Duration::from_secs(1));
    assert_eq!(s.load.timeout, Duration::from_secs(10));
    assert_eq!(s.load.workers, 1);
    assert_eq!(
        (s.load.request.method.as_str(), s.load.request.path.as_str()),
        ("GET", "/")
    );
    assert!(s.baseline);
    assert!(s.timeline.is_empty());
    assert!(s.route_for_load().is_some());
}

#[test]
fn full_scenario_keeps_file_order_and_sorts_the_timeline() {
    let s = parse_good("full.yaml");
    let names: Vec<&str> = s.upstreams.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["backend", "canary", "shadow"]);
    let routes: Vec<&str> = s.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(routes, ["api", "route-1", "main"]);
    assert_eq!(s.route_for_load().map(|r| r.name.as_str()), Some("api"));
    let labels: Vec<&str> = s.timeline.iter().map(|e| e.label.as_str()).collect();
    assert_eq!(labels, ["move-to-canary", "event-0", "event-2"]);
    // A `set:` keeps what it does not mention: the body stays 1KiB.
    match &s.timeline[1].action {
        scenario::TimelineAction::SetUpstream {
            behavior,
            endpoints,
            ..
        } => {
            assert_eq!(behavior.body_bytes, 1024);
            assert_eq!(
                behavior.latency,
                gauntlet_mocks::Latency::Fixed(Duration::from_millis(50))
            );
            assert_eq!(endpoints.as_deref(), Some(&[0][..]));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn closed_loop_and_short_forms() {
    let yaml = BASE.replace("rate: 100/s", "concurrency: 32").replace(
        "endpoints: 2",
        "latency: 1ms..5ms, responses: { 200: 33.33%, 404: 33.33%, 503: 33.34% }",
    );
    let s = scenario::parse(&yaml, Path::new("x.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.load.mode, LoadMode::Closed { concurrency: 32 });
    assert_eq!(
        s.load.connections, 32,
        "closed-loop http1 opens one connection per request in flight"
    );
    let b = &s.upstreams[0].behavior;
    assert_eq!(
        b.latency,
        gauntlet_mocks::Latency::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(5)
        }
    );
    let sum: f64 = b.statuses.0.iter().map(|(_, w)| w).sum();
    assert!((sum - 1.0).abs() < 1e-9);

    for (rate, want) in [
        ("2k/s", 2000.0),
        ("2000", 2000.0),
        ("1.5M/s", 1.5e6),
        ("0.5/s", 0.5),
    ] {
        let yaml = BASE.replace("100/s", rate);
        let limits = Limits {
            max_rate: 2e6,
            ..Limits::default()
        };
        let s = scenario::parse_with(&yaml, Path::new("x.yaml"), &limits)
            .unwrap_or_else(|e| panic!("{rate}: {e}"));
        assert_eq!(s.load.mode, LoadMode::Open { rate: want }, "{rate}");
    }
}

/// The scenarios shipped in the repository's `scenarios/` directory (and its subdirectories)
/// are valid.
#[test]
fn shipped_scenarios_parse() {
    fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).expect("scenarios dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                yaml_files(&path, out);
            } else if path.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    yaml_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios"),
        &mut files,
    );
    assert!(!files.is_empty(), "no shipped scenarios found");
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| {
            // `load_file_with` takes multi-phase files (`phases:`) too.
            let limits = scenario::Limits::default();
            scenario::load_file_with(f, &limits)
                .err()
                .map(|e| e.to_string())
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Istio's spellings mean exactly what the native ones do.
#[test]
fn istio_spellings_map_one_to_one() {
    let istio = with(
        "routes:
  - cluster: backend
    timeout: 10s
    retries: { attempts: 3, perTryTimeout: 2s, retryOn: \"gateway-error,connect-failure,503\" }
    fault:
      delay: { fixedDelay: 7s, percentage: { value: 0.1 } }
      abort: { httpStatus: 500, percentage: { value: 50 } }
    mirror: { host: canary }
    mirrorPercentage: { value: 25 }
clusters:
  backend:
    connectionPool:
      tcp: { maxConnections: 100 }
      http: { http1MaxPendingRequests: 10, http2MaxRequests: 1000, maxRetries: 3, maxRequestsPerConnection: 10 }
    outlierDetection: { consecutive5xxErrors: 7, consecutiveGatewayErrors: 3, interval: 5m, baseEjectionTime: 15m, maxEjectionPercent: 30 }
    loadBalancer: { simple: LEAST_REQUEST }
",
    );
    let native = with(
        "routes:
  - cluster: backend
    timeout: 10s
    retries:
      on: [gateway-error, connect-failure, retriable-status-codes]
      retriable_status_codes: [503]
      attempts: 3
      per_try_timeout: 2s
    fault:
      delay: { fixed: 7s, percent: 0.1% }
      abort: { status: 500, percent: 50% }
    mirror: { cluster: canary, percent: 25% }
clusters:
  backend:
    circuit_breakers: { max_connections: 100, max_pending_requests: 10, max_requests: 1000, max_retries: 3 }
    max_requests_per_connection: 10
    outlier_detection: { consecutive_5xx: 7, consecutive_gateway_failure: 3, interval: 5m, base_ejection_time: 15m, max_ejection_percent: 30 }
    lb_policy: least_request
",
    );
    let parse =
        |yaml: &str| scenario::parse(yaml, Path::new("x.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let (istio, native) = (parse(&istio), parse(&native));
    assert_eq!(istio.routes, native.routes);
    assert_eq!(istio.upstreams[0].policy, native.upstreams[0].policy);
    // Istio's `retryOn` carries its codes, so a new `retryOn` in an event replaces them.
    let folded = parse(&with(
        "routes: [{ cluster: backend, retries: { retryOn: \"5xx,503\" } }]
timeline: [{ at: 1s, route: 0, set: { retries: { retryOn: reset } } }]
",
    ));
    match &folded.timeline[0].action {
        scenario::TimelineAction::SetRoute { new, .. } => {
            let r = new.policy.retries.as_ref().expect("retries");
            assert_eq!(
                (r.retry_on.as_slice(), r.retriable_status_codes.as_slice()),
                (&["reset".to_string()][..], &[][..])
            );
        }
        other => panic!("{other:?}"),
    }
    let ring = |yaml: &str| parse(&with(yaml)).upstreams[0].policy.lb_policy;
    assert_eq!(
        ring("clusters: { backend: { loadBalancer: { consistentHash: {} } } }\n"),
        ring("clusters: { backend: { lb_policy: ring_hash } }\n"),
    );
}

/// Events fold in time order, whatever their order in the file; a `set:` changes only what
/// it names, `null` removes, and later events see earlier ones.
#[test]
fn timeline_folds_in_time_order() {
    use gauntlet::policy::{RetryPolicy, RoutePolicy};
    use scenario::TimelineAction;

    let s = parse_good("timeline.yaml");
    let labels: Vec<&str> = s.timeline.iter().map(|e| e.label.as_str()).collect();
    assert_eq!(
        &labels[..3],
        ["mirror-on", "tighten-breakers", "endpoint-0-fails"]
    );
    let route_at = |label: &str| -> RoutePolicy {
        match &s
            .timeline
            .iter()
            .find(|e| e.label == label)
            .expect("event")
            .action
        {
            TimelineAction::SetRoute { route: 0, new } => new.policy.clone(),
            other => panic!("{other:?}"),
        }
    };
    let retries = |p: &RoutePolicy| p.retries.clone().expect("retries");
    let before = retries(&s.routes[0].policy);
    // `retries: { attempts: 0 }` at 20 s keeps the rest of the policy, and the mirror that
    // an event listed earlier in the file, but at 10 s, added.
    let no_retries = route_at("no-retries");
    assert_eq!(
        retries(&no_retries),
        RetryPolicy {
            num_retries: 0,
            ..before
        }
    );
    assert_eq!(no_retries.mirrors.len(), 1);
    assert!(no_retries
        .fault
        .as_ref()
        .is_some_and(|f| f.delay.is_some() && f.abort.is_some()));
    let off = route_at("retries-off");
    assert!(off.retries.is_none() && off.fault.is_none());
    assert_eq!(off.mirrors[0].percent, 100.0);
    assert_eq!(off.timeout, s.routes[0].policy.timeout);
    match &s
        .timeline
        .iter()
        .find(|e| e.label == "loosen-breakers")
        .expect("event")
        .action
    {
        TimelineAction::SetCluster { cluster, policy } => {
            assert_eq!(cluster, "backend");
            let cb = policy.circuit_breakers.as_ref().expect("breakers");
            // 10 from `tighten-breakers`, `max_retries` removed here.
            assert_eq!((cb.max_connections, cb.max_retries), (Some(10), None));
            assert!(policy.outlier_detection.is_none());
        }
        other => panic!("{other:?}"),
    }
    match &s
        .timeline
        .iter()
        .find(|e| e.label == "new-endpoint-fails")
        .expect("event")
        .action
    {
        TimelineAction::SetUpstream {
            endpoints,
            behavior,
            ..
        } => {
            // Endpoint 4 exists after `scale-up`, and starts as the whole upstream last was.
            assert_eq!(endpoints.as_deref(), Some(&[4][..]));
            assert_eq!(
                behavior.latency,
                gauntlet_mocks::Latency::Fixed(Duration::from_millis(5))
            );
            assert_eq!(behavior.chaos.reset, 0.5);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.gates.len(), 4);
}

fn parse_good(name: &str) -> Scenario {
    let text = fs::read_to_string(fixtures("good").join(name)).expect("fixture");
    scenario::parse(&text, Path::new(name)).unwrap_or_else(|e| panic!("{e}"))
}
