//! The scenario parser at its boundary: every bad file fails with the right position, field
//! and message; every good file parses to the expected model.
//!
//! Bad fixtures live in `tests/scenarios/bad/`, each starting with a header line
//! `# expect: LINE:COLUMN FIELD: FRAGMENT` (`-` for an unknown position or no field).
//! Good fixtures live in `tests/scenarios/good/`, each next to a `.json` snapshot of its
//! model; `GAUNTLET_BLESS=1 cargo test --test scenario_errors` rewrites the snapshots.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gauntlet::scenario::{self, Limits, LoadMode, RouteTarget, Scenario, ScenarioError};

/// `tests/scenarios/good` or `tests/scenarios/bad`.
fn fixtures(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(kind)
}

/// `L:C field: message` (with `-` for what is unknown), the form expectations are written in.
fn summary(e: &ScenarioError) -> String {
    let pos = match (e.line, e.column) {
        (Some(l), Some(c)) => format!("{l}:{c}"),
        _ => "-".to_string(),
    };
    let field = e.field.as_deref().unwrap_or("-");
    format!("{pos} {field}: {}", e.message)
}

/// Parses `yaml` and checks that the first error matches `expected`, written as
/// `L:C field: fragment`: position and field exactly, the message containing the fragment.
/// Every error must also carry a hint.
fn check(yaml: &str, expected: &str) {
    let err = match scenario::parse(yaml, Path::new("x.yaml")) {
        Ok(s) => panic!("expected `{expected}`, but it parsed: {s:#?}\n--- input:\n{yaml}"),
        Err(e) => e,
    };
    let (head, fragment) = expected.split_once(": ").unwrap_or((expected, ""));
    let got = summary(&err);
    let ok = got.starts_with(&format!("{head}: ")) && err.message.contains(fragment);
    assert!(
        ok,
        "expected `{expected}`\n     got `{got}`\n--- full error:\n{err}\n--- input:\n{yaml}"
    );
    for e in err.all() {
        let hint = e.hint.as_deref().unwrap_or("");
        assert!(!hint.is_empty(), "no hint in `{}`", summary(e));
    }
}

#[test]
fn bad_fixtures() {
    let mut files: Vec<PathBuf> = fs::read_dir(fixtures("bad"))
        .expect("fixtures dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "only {} bad fixtures", files.len());
    for file in files {
        let text = fs::read_to_string(&file).expect("fixture");
        let expected = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{}: no `# expect:` header", file.display()));
        println!("{}: {expected}", file.display());
        check(&text, expected);
    }
}

/// A valid scenario; cases edit it with `replace` or add sections with [`with`].
const BASE: &str = "name: bench
upstreams:
  backend: { endpoints: 2 }
  canary: {}
load: { rate: 100/s, duration: 10s }
";

/// [`BASE`] with top-level sections appended.
fn with(extra: &str) -> String {
    format!("{BASE}{extra}")
}

#[test]
fn inline_cases() {
    let deep = format!("a: {}", "[".repeat(100));
    let huge = format!("name: bench\n# {}\n", "x".repeat(1 << 20));
    let junk: String = (0u8..=255).map(char::from).collect();
    let cases: Vec<(String, &str)> = vec![
        // Not a scenario at all.
        ("".into(), "- -: the scenario file is empty"),
        ("~\n".into(), "- -: the scenario file is empty"),
        ("just words\n".into(), "1:1 -: the top level must be a mapping"),
        (deep, "1:67 -: nested more than 64 levels deep"),
        (huge, "- -: the file is larger than 1048576 bytes"),
        (junk, "1:1 -: the file contains the character U+0000"),
        ("name: *nope\n".into(), "1:7 -: YAML syntax error: while parsing node, found unknown anchor"),
        ("name: bench\n\tupstreams: {}\n".into(), "1:7 -: YAML syntax error: while scanning a plain scalar, found a tab"),
        // Top level.
        ("upstreams: { b: {} }\nload: { rate: 1, duration: 1s }\n".into(), "1:1 -: missing `name`"),
        ("name: bench\nload: { rate: 1, duration: 1s }\n".into(), "1:1 -: missing `upstreams`"),
        ("name: bench\nupstreams: { b: {} }\n".into(), "1:1 -: missing `load`"),
        (BASE.replace("bench", "\"..\""), "1:7 name: name `..` contains `..`"),
        (BASE.replace("bench", &"a".repeat(65)), "1:7 name: is 65 characters long"),
        (BASE.replace("bench", "\"a\\u0007b\""), "1:7 name: contains the control character"),
        (BASE.replace("bench", "a b"), "1:7 name: name `a b` contains ` `"),
        (with("baseline: \"yes\"\n"), "6:11 baseline: expected `true` or `false`"),
        (with("phase: benchmrk\n"), "6:8 phase: `benchmrk` is not one of"),
        (
            "name:\nupstreams: { b: {} }\nload: { rate: 1, duration: 1s }\n".into(),
            "1:1 name: `name` is empty",
        ),
        (
            BASE.replace("canary: {}", "canary: 5"),
            "4:11 upstreams.canary: expected a mapping",
        ),
        (
            BASE.replace("endpoints: 2", "endpoints: 99999999999999999999"),
            "3:25 upstreams.backend.endpoints: `99999999999999999999` is too large",
        ),
        // Envoy.
        (with("envoy: { version: latest }\n"), "6:19 envoy.version: `latest` is not an Envoy release version"),
        (with("envoy: { log_level: warnng }\n"), "6:21 envoy.log_level: `warnng` is not one of"),
        (with("envoy: { concurrency: 0 }\n"), "6:23 envoy.concurrency: concurrency must be at least 1"),
        (with("envoy: { listen_port: 70000 }\n"), "6:23 envoy.listen_port: listen_port of 70000 is over the limit of 65535"),
        (with("envoy: { image: envoy:latest }\n"), "6:10 envoy.image: unknown field `image`"),
        // Upstreams.
        ("name: bench\nupstreams: {}\nload: { rate: 1, duration: 1s }\n".into(), "2:12 upstreams: no upstreams are declared"),
        (BASE.replace("endpoints: 2", "endpoints: 0"), "3:25 upstreams.backend.endpoints: endpoints must be at least 1"),
        (BASE.replace("endpoints: 2", "endpoints: 65"), "3:25 upstreams.backend.endpoints: endpoints of 65 is over the limit of 64"),
        (BASE.replace("endpoints: 2", "protocol: http3"), "3:24 upstreams.backend.protocol: `http3` is not one of"),
        (BASE.replace("endpoints: 2", "responses: {}"), "3:25 upstreams.backend.responses: no status codes given"),
        (BASE.replace("endpoints: 2", "responses: { 200: 50%, \"200\": 50% }"), "3:37 upstreams.backend.responses.200: duplicate key `200`"),
        (BASE.replace("endpoints: 2", "responses: { 100: 100% }"), "3:27 upstreams.backend.responses.100: `100` is not a final HTTP status code"),
        (BASE.replace("endpoints: 2", "latency: { fixed: 5ms, uniform: [1ms, 2ms] }"), "3:23 upstreams.backend.latency: `fixed` must be the only key"),
        (BASE.replace("endpoints: 2", "latency: { uniform: [5ms, 1ms] }"), "3:34 upstreams.backend.latency.uniform: the minimum is larger than the maximum"),
        (BASE.replace("endpoints: 2", "latency: { p50: 5ms, q99: 1ms }"), "3:35 upstreams.backend.latency.q99: `q99` is not a latency key"),
        (BASE.replace("endpoints: 2", "latency: [5ms]"), "3:23 upstreams.backend.latency: expected a duration or a mapping"),
        (BASE.replace("endpoints: 2", "connect_timeout: 0"), "3:31 upstreams.backend.connect_timeout: must be more than 0"),
        (BASE.replace("endpoints: 2", "body: lots"), "3:20 upstreams.backend.body: `lots` is not a size"),
        (BASE.replace("canary: {}", "canary.v2: {}"), "4:3 upstreams.canary.v2: upstream name `canary.v2` contains `.`"),
        // Routes.
        (with("routes: []\n"), "6:9 routes: no routes are given"),
        (with("routes: [{ match: { prefix: /, path: / }, cluster: backend }]\n"), "6:19 routes[0].match: `prefix` and `path` are both set"),
        (with("routes: [{ match: { path: health }, cluster: backend }]\n"), "6:27 routes[0].match.path: path `health` does not start with `/`"),
        (with("routes: [{ match: { prefix: \"/a b\" }, cluster: backend }]\n"), "6:29 routes[0].match.prefix: contains whitespace"),
        (with("routes: [{ cluster: backend, weighted: { canary: 1 } }]\n"), "6:40 routes[0].weighted: `cluster` and `weighted` are both set"),
        (with("routes: [{ weighted: { backend: 0, canary: 1 } }]\n"), "6:33 routes[0].weighted.backend: weight 0 is not a positive whole number"),
        (with("routes: [{ match: { prefix: / } }]\n"), "6:10 routes[0]: no `cluster` or `weighted` given"),
        (with("routes: [{ cluster: backend, timeout: 0 }]\n"), "6:39 routes[0].timeout: must be more than 0"),
        (with("routes: [{ name: route-1, cluster: backend }, { cluster: canary }]\n"), "6:47 routes[1]: route name `route-1` is already used by routes[0]"),
        // Load.
        (BASE.replace("rate: 100/s", "rate: fast"), "5:15 load.rate: `fast` is not a rate"),
        (BASE.replace("rate: 100/s", "concurrency: 0"), "5:22 load.concurrency: concurrency must be at least 1"),
        (BASE.replace("rate: 100/s", "concurrency: 20000"), "5:22 load.concurrency: concurrency of 20000 is over the limit of 10000"),
        (BASE.replace("rate: 100/s", "rate: 1/s, connections: 20000"), "5:33 load.connections: connections of 20000 is over the limit of 10000"),
        (BASE.replace("duration: 10s", "duration: 25h"), "5:32 load.duration: `25h` is longer than the limit of 24h"),
        (BASE.replace("duration: 10s", "duration: 1s, warmup: -1s"), "5:44 load.warmup: `-1s` is negative"),
        (BASE.replace("duration: 10s", "duration: 1s, workers: 100"), "5:45 load.workers: workers of 100 is over the limit of 64"),
        (BASE.replace("duration: 10s", "duration: 1s, protocol: h2"), "5:46 load.protocol: `h2` is not one of"),
        (with("load: { rate: 1, duration: 1s }\n"), "6:1 load: duplicate key `load`"),
        (BASE.replace("duration: 10s", "duration: 1s, request: { method: get }"), "5:55 load.request.method: method `get` is not upper case"),
        (BASE.replace("duration: 10s", "duration: 1s, request: { method: \"GE T\" }"), "5:55 load.request.method: `GE T` is not an HTTP method"),
        (BASE.replace("duration: 10s", "duration: 1s, request: { headers: { Content-Length: 5 } }"), "5:58 load.request.headers.Content-Length: header `Content-Length` is set by the load client"),
        (BASE.replace("duration: 10s", "duration: 1s, request: { headers: { x-a: 1, X-A: 2 } }"), "5:66 load.request.headers.X-A: header `X-A` is given twice"),
        (BASE.replace("duration: 10s", "duration: 1s, request: { body: 65MiB }"), "5:53 load.request.body: `65MiB` is larger than the limit of 64MiB"),
        (BASE.replace("duration: 10s", "duration: 1s, request: { path: \"/caf\u{e9}\" }"), "5:53 load.request.path: contains non-ASCII characters"),
        // Timeline.
        (with("timeline: [{ at: 1s, set: { latency: 1ms } }]\n"), "6:12 timeline[0]: no `route` or `upstream` given"),
        (with("timeline: [{ at: 1s, route: 0, upstream: backend, set: { latency: 1ms } }]\n"), "6:42 timeline[0].upstream: `route` and `upstream` are both set"),
        (with("timeline: [{ upstream: backend, set: { latency: 1ms } }]\n"), "6:12 timeline[0]: missing `at`"),
        (with("timeline: [{ at: 1s, route: 3, set: { cluster: canary } }]\n"), "6:29 timeline[0].route: route `3` is not defined"),
        (with("timeline: [{ at: 1s, route: main, set: { cluster: canary } }]\n"), "6:29 timeline[0].route: route `main` is not defined"),
        (with("timeline: [{ at: 1s, route: 0 }]\n"), "6:12 timeline[0]: missing `set`"),
        (with("timeline: [{ at: 1s, upstream: backend, set: {} }]\n"), "6:46 timeline[0].set: nothing to set"),
        (with("timeline: [{ at: 1s, upstream: backend, set: { cluster: canary } }]\n"), "6:48 timeline[0].set.cluster: `cluster` applies to route events"),
        (with("timeline: [{ at: 1s, upstream: backend, endpoints: [], set: { body: 1 } }]\n"), "6:52 timeline[0].endpoints: no endpoints listed"),
        (with("timeline: [{ at: 1s, upstream: backend, endpoints: [1, 1], set: { body: 1 } }]\n"), "6:56 timeline[0].endpoints[1]: endpoint 1 is listed twice"),
        (with("timeline: [{ at: 1s, upstream: backend, endpoints: [-1], set: { body: 1 } }]\n"), "6:53 timeline[0].endpoints[0]: endpoint index -1 is out of range"),
        (with("timeline: [{ at: 1s, route: 0, endpoints: [0], set: { cluster: canary } }]\n"), "6:43 timeline[0].endpoints: `endpoints` applies to upstream events"),
        (with("timeline: [{ at: 1s, name: \"\", upstream: backend, set: { body: 1 } }]\n"), "6:28 timeline[0].name: event name `` is empty"),
    ];
    for (yaml, expected) in cases {
        check(&yaml, expected);
    }
}

#[test]
fn display_in_full() {
    let text =
        fs::read_to_string(fixtures("bad").join("dangling_route_cluster.yaml")).expect("fixture");
    let err = scenario::parse(&text, Path::new("scenarios/x.yaml")).expect_err("dangling cluster");
    assert_eq!(
        err.to_string(),
        "scenarios/x.yaml:8:14: routes[0].cluster: cluster `bakend` is not defined\n  \
         hint: defined upstreams are: backend, shadow"
    );

    let text =
        fs::read_to_string(fixtures("bad").join("unknown_upstream_field.yaml")).expect("fixture");
    let err = scenario::parse(&text, Path::new("scenarios/x.yaml")).expect_err("typo");
    assert_eq!(
        err.to_string(),
        "scenarios/x.yaml:5:5: upstreams.backend.endpionts: unknown field `endpionts`; expected one of: \
         endpoints, protocol, latency, responses, body, connect_timeout\n  hint: did you mean `endpoints`?"
    );
}

#[test]
fn several_errors_are_reported_in_file_order() {
    let yaml = "name: bench
upstreams:
  backend: { endpoints: 0, responses: { 200: 90% } }
routes:
  - cluster: nowhere
load: { rate: -1, duration: 10s }
";
    let err = scenario::parse(yaml, Path::new("x.yaml")).expect_err("four errors");
    let all: Vec<String> = err.all().map(summary).collect();
    assert_eq!(
        all,
        [
            "3:25 upstreams.backend.endpoints: endpoints must be at least 1, not 0",
            "3:39 upstreams.backend.responses: percentages add up to 90%, not 100%",
            "5:14 routes[0].cluster: cluster `nowhere` is not defined",
            "6:15 load.rate: rate must be more than 0, not `-1`",
        ]
    );
    // Each further error is displayed as its own block.
    assert_eq!(err.to_string().matches("\n  hint: ").count(), 4);
}

#[test]
fn limits_can_be_raised() {
    let text = fs::read_to_string(fixtures("bad").join("rate_absurd.yaml")).expect("fixture");
    let limits = Limits {
        max_rate: 1e13,
        ..Limits::default()
    };
    let s = scenario::parse_with(&text, Path::new("x.yaml"), &limits).expect("raised limit");
    assert_eq!(s.load.mode, LoadMode::Open { rate: 1e12 });

    let small = Limits {
        max_file_bytes: 10,
        ..Limits::default()
    };
    let err = scenario::parse_with(BASE, Path::new("x.yaml"), &small).expect_err("too large");
    assert_eq!(summary(&err), "- -: the file is larger than 10 bytes");
}

#[test]
fn load_reports_unreadable_files() {
    let dir = std::env::temp_dir().join(format!("gauntlet-scenario-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("temp dir");

    let missing = dir.join("missing.yaml");
    let err = scenario::load(&missing).expect_err("missing");
    assert_eq!(err.file, missing);
    assert!(err.to_string().starts_with(&format!(
        "{}: cannot read the scenario file",
        missing.display()
    )));

    let binary = dir.join("binary.yaml");
    fs::write(&binary, b"name: bench\nupstreams: \xff\xfe\n").expect("write");
    let err = scenario::load(&binary).expect_err("not UTF-8");
    assert_eq!(
        summary(&err),
        "2:12 -: the file is not UTF-8 text (bad byte at offset 23)"
    );

    let big = dir.join("big.yaml");
    fs::write(&big, vec![b'#'; (1 << 20) + 1]).expect("write");
    let err = scenario::load(&big).expect_err("too big");
    assert_eq!(summary(&err), "- -: the file is larger than 1048576 bytes");

    let err = scenario::load(&dir).expect_err("a directory");
    assert!(
        err.message.starts_with("cannot read the scenario file"),
        "{err}"
    );

    let good = dir.join("good.yaml");
    fs::write(&good, BASE).expect("write");
    let s = scenario::load(&good).expect("valid");
    assert_eq!(s.source, good);

    fs::remove_dir_all(&dir).expect("clean up");
}

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

/// The scenarios shipped in the repository's `scenarios/` directory are valid.
#[test]
fn shipped_scenarios_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    for entry in fs::read_dir(&dir).expect("scenarios dir") {
        let file = entry.expect("dir entry").path();
        if file.extension().is_some_and(|x| x == "yaml") {
            if let Err(e) = scenario::load(&file) {
                panic!("{e}");
            }
        }
    }
}

fn parse_good(name: &str) -> Scenario {
    let text = fs::read_to_string(fixtures("good").join(name)).expect("fixture");
    scenario::parse(&text, Path::new(name)).unwrap_or_else(|e| panic!("{e}"))
}
